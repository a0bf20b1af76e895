/* Number formatting without printf, for the per-request hot paths: printf
 * takes glibc's slow path in these processes (libquadmath, pulled in by
 * OpenBLAS, registers printf hooks). */
#ifndef LUNA_FMT_H
#define LUNA_FMT_H

/* Writes v in decimal, zero-padded to width like "%0*lld" (a minus sign
 * counts in the width); no NUL. Returns the end. */
static inline char *fmt_dec(char *p, long long v, int width)
{
	char digits[20];
	int n = 0;
	unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0) {
		*p++ = '-';
		width--;
	}
	for (int i = n; i < width; i++)
		*p++ = '0';
	while (n)
		*p++ = digits[--n];
	return p;
}
#endif
