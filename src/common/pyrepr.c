/* Python's repr() of floats (see pyrepr.h). */
#include "common/pyrepr.h"
#include "common/fmt.h"
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes digits[0..nd) with the decimal point decpt places from the start
 * (value = 0.d1d2… × 10^decpt) as Python's repr() does: positional for
 * -4 < decpt <= 16, else scientific with at least two exponent digits.
 * Returns the end of the text. */
static char *put_digits_at(char *p, const char *digits, size_t nd, int decpt)
{
	if (decpt > -4 && decpt <= 16) {
		if (decpt <= 0) {
			*p++ = '0';
			*p++ = '.';
			for (int i = 0; i < -decpt; i++)
				*p++ = '0';
			memcpy(p, digits, nd);
			return p + nd;
		}
		if ((size_t)decpt < nd) {
			memcpy(p, digits, (size_t)decpt);
			p += decpt;
			*p++ = '.';
			memcpy(p, digits + decpt, nd - (size_t)decpt);
			return p + (nd - (size_t)decpt);
		}
		memcpy(p, digits, nd);
		p += nd;
		for (size_t i = nd; i < (size_t)decpt; i++)
			*p++ = '0';
		*p++ = '.';
		*p++ = '0';
		return p;
	}
	*p++ = digits[0];
	if (nd > 1) {
		*p++ = '.';
		memcpy(p, digits + 1, nd - 1);
		p += nd - 1;
	}
	int exp10 = decpt - 1;
	*p++ = 'e';
	*p++ = exp10 < 0 ? '-' : '+';
	return fmt_dec(p, exp10 < 0 ? -(long long)exp10 : exp10, 2);
}

/* A double whose shortest form has at most 15 digits is its 15-digit rounding
 * without trailing zeros; otherwise 16 or 17 digits are needed. */
size_t py_float_repr(double v, char *out)
{
	char buf[40], digits[20], *p = out;
	if (isnan(v) || isinf(v)) {
		const char *t = isnan(v) ? "nan" : v < 0 ? "-inf" : "inf";
		size_t n = strlen(t);
		memcpy(out, t, n + 1);
		return n;
	}
	if (signbit(v))
		*p++ = '-';
	v = fabs(v);
	if (v == 0) {
		memcpy(p, "0.0", 4);
		return (size_t)(p - out) + 3;
	}
	for (int prec = v < DBL_MIN ? 0 : 14; prec <= 16; prec++) {   /* subnormals have fewer digits */
		snprintf(buf, sizeof(buf), "%.*e", prec, v);
		if (prec == 16 || strtod(buf, NULL) == v)
			break;
	}
	/* buf = "d.ddde±x": split into digits and the exponent */
	size_t nd = 0;
	char *q = buf;
	for (; *q && *q != 'e'; q++)
		if (*q != '.')
			digits[nd++] = *q;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	p = put_digits_at(p, digits, nd, atoi(q + 1) + 1);
	*p = '\0';
	return (size_t)(p - out);
}

size_t py_decimal_repr(const char *s, size_t n, char *out)
{
	char digits[16], *p = out;
	size_t nd = 0, i = 0;
	int decpt = 0, seen_point = 0, neg = 0;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	for (; i < n; i++) {
		char c = s[i];
		if (c == '.' && !seen_point) {
			seen_point = 1;
		} else if (c >= '0' && c <= '9') {
			if (nd == 0 && c == '0') {
				decpt -= seen_point;     /* a leading zero */
				continue;
			}
			if (nd == sizeof(digits))
				return 0;
			digits[nd++] = c;
			decpt += !seen_point;
		} else {
			return 0;
		}
	}
	if (nd == 0)
		return 0;                        /* zero: signs and forms vary; let the caller do it */
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (nd > 15)
		return 0;
	if (neg)
		*p++ = '-';
	p = put_digits_at(p, digits, nd, decpt);
	*p = '\0';
	return (size_t)(p - out);
}
