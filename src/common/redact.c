/* Redaction of credentials in URLs (see redact.h). */
#include "common/redact.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MASK "***"

/* Query parameters whose values are secrets (signed URLs, API keys). */
static int secret_param(const char *name, size_t n)
{
	static const char *const names[] = {
		"x-amz-signature", "x-amz-credential", "x-amz-security-token", "awsaccesskeyid", "signature", "sig",
		"x-goog-signature", "x-goog-credential", "token", "access_token", "api_key", "apikey", "key",
		"password", "passwd", "secret", NULL,
	};
	for (size_t i = 0; names[i]; i++)
		if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0)
			return 1;
	return 0;
}

/* Characters that end a URL inside a message. */
static int ends_url(unsigned char c)
{
	return c == 0 || isspace(c) || iscntrl(c) || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' ||
	       c == '\\';
}

static int scheme_char(unsigned char c)
{
	return isalnum(c) || c == '+' || c == '-' || c == '.';
}

struct out {
	char *p;
	size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len + 1 >= o->cap)
		return;
	if (n > o->cap - 1 - o->len)
		n = o->cap - 1 - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = 0;
}

/* The query part [q, end) with secret values masked. */
static void put_query(struct out *o, const char *q, const char *end)
{
	while (q < end) {
		const char *amp = q;
		while (amp < end && *amp != '&' && *amp != ';')
			amp++;
		const char *eq = memchr(q, '=', (size_t)(amp - q));
		if (eq && secret_param(q, (size_t)(eq - q))) {
			put(o, q, (size_t)(eq + 1 - q));
			put(o, MASK, strlen(MASK));
		} else {
			put(o, q, (size_t)(amp - q));
		}
		if (amp < end)
			put(o, amp, 1);
		q = amp + 1;
	}
}

/* One URL from just after "://" to its end; returns where it ended. */
static const char *put_url_rest(struct out *o, const char *p)
{
	const char *end = p;
	while (!ends_url((unsigned char)*end))
		end++;
	const char *query = memchr(p, '?', (size_t)(end - p));
	const char *frag = memchr(p, '#', (size_t)(end - p));
	const char *stop = query && (!frag || query < frag) ? query : frag ? frag : end;
	/* The userinfo ends at the last '@' before the query: a password with an
	 * unencoded '/' or '@' is masked as a whole. */
	const char *at = NULL;
	for (const char *s = p; s < stop; s++)
		if (*s == '@')
			at = s;
	if (at) {
		put(o, MASK, strlen(MASK));
		p = at;
	}
	if (query && (!frag || query < frag)) {
		const char *qend = frag && frag > query ? frag : end;
		put(o, p, (size_t)(query + 1 - p));
		put_query(o, query + 1, qend);
		p = qend;
	}
	put(o, p, (size_t)(end - p));
	return end;
}

char *url_redact(const char *text, char *out, size_t outlen)
{
	struct out o = {out, 0, outlen};
	if (!outlen)
		return out;
	out[0] = 0;
	if (!text)
		return out;
	const char *p = text;
	const char *sep;
	while ((sep = strstr(p, "://")) != NULL) {
		const char *scheme = sep;
		while (scheme > p && scheme_char((unsigned char)scheme[-1]))
			scheme--;
		if (scheme == sep || !isalpha((unsigned char)*scheme)) {
			put(&o, p, (size_t)(sep + 3 - p));
			p = sep + 3;
			continue;
		}
		put(&o, p, (size_t)(sep + 3 - p));
		p = put_url_rest(&o, sep + 3);
	}
	put(&o, p, strlen(p));
	return out;
}

/* Only a URL with userinfo ('@') or a query ('?') can lose anything to
 * url_redact: text without both is its own redaction. */
static int may_need_redaction(const char *text)
{
	const char *sep = strstr(text, "://");
	return sep && strpbrk(sep, "@?") != NULL;
}

void url_redact_inplace(char *buf, size_t size)
{
	if (!buf || !size || !may_need_redaction(buf))
		return;
	char *redacted = url_redact_dup(buf);
	if (!redacted) {
		buf[0] = 0;   /* nothing rather than a secret */
		return;
	}
	snprintf(buf, size, "%s", redacted);
	free(redacted);
}

/* Every mask adds at most 3 bytes to at least 4 of the input ("x://@",
 * "k=&"), so twice the length always holds the redacted text. */
char *url_redact_dup(const char *text)
{
	if (!text)
		return NULL;
	size_t n = strlen(text) * 2 + 16;
	char *out = malloc(n);
	return out ? url_redact(text, out, n) : NULL;
}

int url_has_secret(const char *text)
{
	if (!text || !may_need_redaction(text))
		return 0;
	char *out = url_redact_dup(text);
	if (!out)
		return 1;
	int changed = strcmp(out, text) != 0;
	free(out);
	return changed;
}

void url_redact_vsnprintf(char *out, size_t outlen, const char *fmt, va_list ap)
{
	if (!outlen)
		return;
	/* The common case formats once, in place: the whole text fits and holds
	 * nothing to redact. */
	va_list again;
	va_copy(again, ap);
	int n = vsnprintf(out, outlen, fmt, ap);
	if (n >= 0 && (size_t)n < outlen && !may_need_redaction(out)) {
		va_end(again);
		return;
	}
	/* Otherwise the whole text is redacted before it is cut, so a cut never
	 * leaves half a password. */
	char *full = NULL;
	int failed = vasprintf(&full, fmt, again) < 0;
	va_end(again);
	if (failed) {
		out[0] = 0;
		return;
	}
	char *redacted = url_redact_dup(full);
	snprintf(out, outlen, "%s", redacted ? redacted : "");
	free(redacted);
	free(full);
}
