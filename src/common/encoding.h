/* Byte encodings met on the wire: hex digits of escapes, base64 text as
 * clients and services send it, and the little-endian float32 arrays that
 * carry descriptor vectors.
 * (Encoding base64 is left to libcrypto's EVP_EncodeBlock; its decoder
 * wants the standard alphabet with padding, which these inputs may lack.) */
#ifndef LUNA_ENCODING_H
#define LUNA_ENCODING_H
#include <stddef.h>

/* The value of a hex digit of either case; -1 for any other character. */
int hex_digit_value(int c);

/* A buffer of this many bytes holds the decoding of n base64 characters. */
#define BASE64_DECODED_MAX(n) ((n) / 4 * 3 + 3)

/* Decodes the n characters at s, in the standard or the URL-safe alphabet
 * (the two may mix), into out (BASE64_DECODED_MAX(n) bytes); *outlen gets
 * the number of bytes. Padding is the caller's to strip; bits of a last
 * character that make no whole byte are dropped. 0 ok; -1 on a character
 * outside both alphabets ('=' included). */
int base64_decode(const char *s, size_t n, unsigned char *out, size_t *outlen);

/* The n little-endian float32 values at p, in host order. */
void floats_from_le32(float *out, const unsigned char *p, size_t n);
#endif
