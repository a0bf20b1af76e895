/* The outbound policy (see outbound.h): the ALLOW list is parsed entry by
 * entry at every check; it is short and checks happen once per connection. */
#include "common/outbound.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ENTRY 300

enum entry_kind { ENTRY_NAME, ENTRY_NET4, ENTRY_NET6 };

struct entry {
	enum entry_kind kind;
	char name[MAX_ENTRY];     /* ENTRY_NAME: lowercase; "*.x" for a wildcard */
	unsigned char addr[16];   /* network address (4 bytes for IPv4) */
	int prefix;               /* prefix length */
	int port;                 /* 0 = any */
};

static int parse_port(const char *s, int *port)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 1 || v > 65535 || !isdigit((unsigned char)*s))
		return -1;
	*port = (int)v;
	return 0;
}

/* "addr" or "addr/len" of a family into e; -1 when it is not one. */
static int parse_net(const char *s, int family, struct entry *e)
{
	char buf[MAX_ENTRY];
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	int max = family == AF_INET ? 32 : 128;
	e->prefix = max;
	if (slash) {
		char *end;
		*slash = 0;
		long v = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || v < 0 || v > max || !isdigit((unsigned char)slash[1]))
			return -1;
		e->prefix = (int)v;
	}
	if (inet_pton(family, buf, e->addr) != 1)
		return -1;
	e->kind = family == AF_INET ? ENTRY_NET4 : ENTRY_NET6;
	return 0;
}

static int name_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_';
}

static int parse_name(const char *s, struct entry *e)
{
	const char *p = strncmp(s, "*.", 2) == 0 ? s + 2 : s;
	if (!*p || *p == '.' || strlen(s) >= sizeof(e->name))
		return -1;
	for (const char *q = p; *q; q++)
		if (!name_char((unsigned char)*q))
			return -1;
	size_t i = 0;
	for (; s[i]; i++)
		e->name[i] = (char)tolower((unsigned char)s[i]);
	e->name[i] = 0;
	e->kind = ENTRY_NAME;
	return 0;
}

/* One entry (already trimmed, NUL-terminated). */
static int parse_entry(char *s, struct entry *e)
{
	memset(e, 0, sizeof(*e));
	if (s[0] == '[') {
		char *close = strchr(s, ']');
		if (!close)
			return -1;
		*close = 0;
		char *rest = close + 1;
		if (*rest == '/') {   /* [addr]/len[:port] */
			char *colon = strchr(rest, ':');
			if (colon) {
				*colon = 0;
				if (parse_port(colon + 1, &e->port))
					return -1;
			}
			char net[MAX_ENTRY];
			snprintf(net, sizeof(net), "%s%s", s + 1, rest);
			return parse_net(net, AF_INET6, e);
		}
		if (*rest && (*rest != ':' || parse_port(rest + 1, &e->port)))
			return -1;
		return parse_net(s + 1, AF_INET6, e);
	}
	char *first = strchr(s, ':');
	if (first && strchr(first + 1, ':'))   /* a bare IPv6 address or network: no port */
		return parse_net(s, AF_INET6, e);
	if (first) {
		*first = 0;
		if (parse_port(first + 1, &e->port))
			return -1;
	}
	if (parse_net(s, AF_INET, e) == 0)
		return 0;
	/* Dotted digits that are no IPv4 address are a mistake, not a name. */
	if (strspn(s, "0123456789./") == strlen(s))
		return -1;
	return parse_name(s, e);
}

/* Calls fn for every entry of spec; stops at the first nonzero return.
 * A malformed entry calls bad (when given) and stops with -1. */
typedef int (*entry_fn)(const struct entry *e, void *ud);
static int each_entry(const char *spec, entry_fn fn, void *ud, char *err, size_t errlen)
{
	const char *p = spec ? spec : "";
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char buf[MAX_ENTRY];
		while (n && isspace((unsigned char)*p))
			p++, n--;
		while (n && isspace((unsigned char)p[n - 1]))
			n--;
		if (n) {
			struct entry e;
			if (n >= sizeof(buf)) {
				snprintf(err, errlen, "entry '%.40s…' is too long", p);
				return -1;
			}
			memcpy(buf, p, n);
			buf[n] = 0;
			if (parse_entry(buf, &e)) {
				memcpy(buf, p, n);   /* parse_entry cut it */
				buf[n] = 0;
				snprintf(err, errlen, "'%s' is not host[:port], address[/len][:port] or [ipv6[/len]][:port]",
					 buf);
				return -1;
			}
			int rc = fn(&e, ud);
			if (rc)
				return rc;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

static int accept_any(const struct entry *e, void *ud)
{
	(void)e, (void)ud;
	return 0;
}

int outbound_spec_check(const char *spec, char *err, size_t errlen)
{
	return each_entry(spec, accept_any, NULL, err, errlen) < 0 ? -1 : 0;
}

/* ---- Matching ---------------------------------------------------------------- */

static int name_matches(const char *pattern, const char *host)
{
	if (strncmp(pattern, "*.", 2) == 0) {
		size_t n = strlen(host), m = strlen(pattern + 1);   /* ".example.com" */
		return n > m && strcasecmp(host + n - m, pattern + 1) == 0;
	}
	return strcasecmp(pattern, host) == 0;
}

static int prefix_matches(const unsigned char *net, const unsigned char *addr, int bits)
{
	int whole = bits / 8, rest = bits % 8;
	if (memcmp(net, addr, (size_t)whole) != 0)
		return 0;
	if (!rest)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (net[whole] & mask) == (addr[whole] & mask);
}

struct target {
	const char *host;          /* name, or NULL */
	int family;                /* AF_INET / AF_INET6 when addr is set, else 0 */
	unsigned char addr[16];
	int port;                  /* 0: not checked */
	int name_allowed, address_allowed, by_address;
};

static int port_ok(const struct entry *e, int port)
{
	return !e->port || !port || e->port == port;
}

static int match_entry(const struct entry *e, void *ud)
{
	struct target *t = ud;
	if (!port_ok(e, t->port))
		return 0;
	if (e->kind == ENTRY_NAME) {
		if (t->host && name_matches(e->name, t->host))
			t->name_allowed = 1;
		return 0;
	}
	t->by_address = 1;   /* some network entry could hold what a name resolves to */
	if ((e->kind == ENTRY_NET4 && t->family == AF_INET) || (e->kind == ENTRY_NET6 && t->family == AF_INET6))
		if (prefix_matches(e->addr, t->addr, e->prefix))
			t->address_allowed = 1;
	return 0;
}

/* An address literal (IPv6 with or without brackets) into t; 0 when it is one. */
static int literal_address(const char *host, struct target *t)
{
	char buf[64];
	size_t n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return -1;
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = 0;
	} else {
		snprintf(buf, sizeof(buf), "%s", host);
	}
	char *zone = strchr(buf, '%');
	if (zone)
		*zone = 0;
	if (inet_pton(AF_INET, buf, t->addr) == 1)
		t->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, t->addr) == 1)
		t->family = AF_INET6;
	else
		return -1;
	return 0;
}

/* IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address. */
static void unmap_v4(struct target *t)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (t->family == AF_INET6 && memcmp(t->addr, mapped, 12) == 0) {
		memmove(t->addr, t->addr + 12, 4);
		t->family = AF_INET;
	}
}

enum outbound_verdict outbound_host_verdict(const char *spec, const char *host, int port)
{
	char err[16];
	struct target t = {.port = port};
	if (!host || !host[0])
		return OUTBOUND_DENIED;
	if (literal_address(host, &t) == 0)
		unmap_v4(&t);
	else
		t.host = host;
	if (each_entry(spec, match_entry, &t, err, sizeof(err)))
		return OUTBOUND_DENIED;
	if (t.name_allowed || t.address_allowed)
		return OUTBOUND_ALLOWED;
	return t.host && t.by_address ? OUTBOUND_BY_ADDRESS : OUTBOUND_DENIED;
}

int outbound_address_allowed(const char *spec, const char *host, const struct sockaddr *sa, int check_port)
{
	char err[16];
	struct target t = {.host = host};
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		t.family = AF_INET;
		memcpy(t.addr, &in->sin_addr, 4);
		t.port = check_port ? ntohs(in->sin_port) : 0;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		t.family = AF_INET6;
		memcpy(t.addr, &in6->sin6_addr, 16);
		t.port = check_port ? ntohs(in6->sin6_port) : 0;
		unmap_v4(&t);
	} else {
		return 0;
	}
	if (host && literal_address(host, &(struct target){0}) == 0)
		t.host = NULL;   /* a literal is judged by the address alone */
	if (each_entry(spec, match_entry, &t, err, sizeof(err)))
		return 0;
	return t.name_allowed || t.address_allowed;
}
