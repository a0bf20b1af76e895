/* The outbound policy: which hosts, networks and ports a URL written by a
 * client (a zip archive's reference, an S3 source's endpoint, an FTP
 * source's host) may reach. Destinations the operator configures (the
 * handlers service, the S3 result store) are not subject to it.
 *
 * The policy is [OUTBOUND] ALLOW, a comma-separated list of entries:
 *   host.example.com[:port]   that name (case-insensitive)
 *   *.example.com[:port]      any name below example.com (not itself)
 *   10.1.2.3[:port]           that address
 *   10.0.0.0/8[:port]         that IPv4 network
 *   [fd00::1][:port]          that IPv6 address
 *   [fd00::/8][:port]         that IPv6 network (also fd00::/8, without port)
 * An entry without a port allows every port. An empty list allows nothing.
 * A name entry trusts the resolver: it allows whatever addresses the name
 * resolves to; an address or network entry is checked against the address
 * actually connected to, whatever name led there. */
#ifndef LUNA_OUTBOUND_H
#define LUNA_OUTBOUND_H
#include <stddef.h>
#include <sys/socket.h>

/* 0 when spec is well formed; -1 with err naming the first bad entry. */
int outbound_spec_check(const char *spec, char *err, size_t errlen);

enum outbound_verdict {
	OUTBOUND_DENIED = 0,
	OUTBOUND_ALLOWED,        /* a name or address entry matches */
	OUTBOUND_BY_ADDRESS,     /* a name no name entry matches: allowed only if it resolves into a network entry */
};
/* The check before connecting: host is a name or an address literal
 * (IPv6 with or without brackets), port the port to be used. */
enum outbound_verdict outbound_host_verdict(const char *spec, const char *host, int port);

/* The check of the address being connected to (the authoritative one):
 * allowed when an address or network entry holds it (and its port when
 * check_port), or when host (the name in the URL being fetched, may be
 * NULL) matches a name entry. IPv4-mapped IPv6 addresses count as IPv4. */
int outbound_address_allowed(const char *spec, const char *host, const struct sockaddr *sa, int check_port);
#endif
