/* pyrepr.h - Python's repr() of a float, as the spec's error messages and result
 * files show numbers ("0.6", "1e-05", "1.2345678901234567e+16", "nan", "-inf").
 * Workload: one call per number of an exported row (millions per task). */
#ifndef LUNA_COMMON_PYREPR_H
#define LUNA_COMMON_PYREPR_H
#include <stddef.h>

/* The most bytes either function writes, the terminating NUL included. */
#define PY_FLOAT_MAX 32

/* repr(v): the shortest digits that read back as v, positional for exponents
 * -4..15, else scientific with at least two exponent digits. Writes a
 * NUL-terminated text to out[PY_FLOAT_MAX]; returns its length. */
size_t py_float_repr(double v, char *out);

/* repr() of the float that a decimal text without an exponent ("-12.50",
 * "0.001") denotes, straight from its digits when it has 1 to 15 significant
 * ones (then the text is the value's shortest form). Writes to
 * out[PY_FLOAT_MAX] and returns the length; 0 when s[0..n) is not such a text
 * (zero included): the caller converts it with strtod and py_float_repr. */
size_t py_decimal_repr(const char *s, size_t n, char *out);

#endif
