/* Hex digits, base64 decoding and little-endian float32 arrays (see encoding.h). */
#include "common/encoding.h"
#include <stdint.h>
#include <string.h>

int hex_digit_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 1 + the 6-bit value of a character of either alphabet; 0 for any other. */
static const unsigned char base64_values[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8, ['I'] = 9,
	['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
	['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27,
	['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45,
	['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
	['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63,
	['-'] = 63, ['/'] = 64, ['_'] = 64
};

static int base64_value(int c)
{
	return base64_values[c] - 1;
}

/* Four characters make three bytes: the loop takes whole groups, the tail
 * (2 or 3 characters) gives 1 or 2 bytes. */
int base64_decode(const char *s, size_t n, unsigned char *out, size_t *outlen)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k = 0;
	for (; i + 4 <= n; i += 4) {
		int a = base64_values[u[i]], b = base64_values[u[i + 1]], c = base64_values[u[i + 2]],
		    d = base64_values[u[i + 3]];
		if (!a || !b || !c || !d)
			return -1;
		uint32_t v = (uint32_t)(a - 1) << 18 | (uint32_t)(b - 1) << 12 | (uint32_t)(c - 1) << 6 | (uint32_t)(d - 1);
		out[k++] = (unsigned char)(v >> 16);
		out[k++] = (unsigned char)(v >> 8);
		out[k++] = (unsigned char)v;
	}
	uint32_t acc = 0;
	int bits = 0;
	for (; i < n; i++) {
		int v = base64_value(u[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[k++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*outlen = k;
	return 0;
}

void floats_from_le32(float *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++, p += 4) {
		uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		memcpy(&out[i], &u, sizeof(out[i]));
	}
}
