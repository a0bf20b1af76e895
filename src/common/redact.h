/* Credentials out of text that leaves the process: every URL in a log line,
 * an error row or a reply goes through url_redact first.
 *
 * What is redacted, in every `scheme://…` found in the text: the userinfo
 * (`user:password@` becomes `***@`) and the values of query parameters that
 * carry signatures or keys (X-Amz-Signature, X-Amz-Credential,
 * X-Amz-Security-Token, AWSAccessKeyId, Signature, sig, token, key, …,
 * matched case-insensitively), which become `***`. The rest of the text is
 * copied unchanged. */
#ifndef LUNA_REDACT_H
#define LUNA_REDACT_H
#include <stdarg.h>
#include <stddef.h>

/* Copies text into out (outlen > 0 bytes, always NUL-terminated, cut when it
 * does not fit) with its URLs redacted. Returns out. */
char *url_redact(const char *text, char *out, size_t outlen);
/* The same in place, for a NUL-terminated buffer of size bytes. */
void url_redact_inplace(char *buf, size_t size);
/* vsnprintf, with the URLs of the whole formatted text redacted before it is
 * cut to outlen (so a cut never leaves half a password). */
void url_redact_vsnprintf(char *out, size_t outlen, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* A redacted malloc'd copy of text (NULL when text is NULL or out of memory). */
char *url_redact_dup(const char *text);
/* Whether text holds a URL that url_redact would change. */
int url_has_secret(const char *text);
#endif
