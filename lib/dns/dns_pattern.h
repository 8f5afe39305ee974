/*
 * dns_pattern - the DNSBL reply address patterns of Postfix's
 * postscreen_dnsbl_sites and reject_rbl_client & co.: "zone=PATTERN",
 * where PATTERN is four octets separated by dots, each a number 0..255 or
 * a bracketed list of numbers and n..m ranges separated by ';':
 *   127.0.0.2    127.0.0.[2..11]    127.0.[0;1].[2..10;12]
 * A pattern is kept as one 256-bit set per octet, so matching an answer
 * is four bit tests whatever the ranges were.
 *
 * Pure functions on caller-owned structs, no allocation: any thread.
 */
#ifndef POSTERN_DNS_PATTERN_H
#define POSTERN_DNS_PATTERN_H

#include <stdbool.h>
#include <stdint.h>

struct dns_addr_pattern {
	uint8_t octets[4][32];
};

/* Parse TEXT (the whole string) into *p; false on a syntax error (a
 * number above 255, a range n..m with m < n, a missing octet, trailing
 * characters). */
bool dns_addr_pattern_parse(const char *text, struct dns_addr_pattern *p);
/* Does the IPv4 address text ADDR ("127.0.0.2") match?  Anything that
 * is not a dotted-quad IPv4 address does not. */
bool dns_addr_pattern_match(const struct dns_addr_pattern *p, const char *addr);

#endif
