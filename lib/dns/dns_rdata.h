/*
 * dns_rdata - our own parsers of record data (RFC 1035 wire format).
 *
 * libunbound hands over each record's rdata uncompressed (no rdlength
 * prefix, no compression pointers, which we refuse).  These parsers are
 * small and check every length against the buffer; they are what
 * tests/fuzz/fuzz_dns_rdata.c exercises.  Pure functions, any thread.
 * Errors: -1 with err (ERR_PERM, "malformed ... rdata").
 */
#ifndef POSTERN_DNS_RDATA_H
#define POSTERN_DNS_RDATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "dns/dns.h"

/*
 * A wire-format domain name at data[0..len) into text (labels joined by
 * '.', no final dot, the root as "."; '.', '\\', and bytes outside
 * printable ASCII escaped as \DDD, as in zone files).  *used_r gets the
 * wire length.  -1 for a label past the end, a compression pointer, a
 * name over 255 octets, or text not fitting size.
 */
int dns_name_from_wire(const uint8_t *data, size_t len, size_t *used_r,
		       char *out, size_t size, struct error *err);

/*
 * Parse one record of `type` into *rr (owned strings and bytes; free with
 * dns_rr_clear).  The whole rdata must be consumed (a trailing byte is an
 * error), except for raw types.  On failure *rr is left empty.
 */
int dns_rdata_parse(uint16_t type, const uint8_t *data, size_t len,
		    struct dns_rr *rr, struct error *err);
void dns_rr_clear(struct dns_rr *rr);

/* Text of a domain name for the wire (tests): "a.b" -> 1a1b0; -1 if a
 * label is empty or over 63 octets, or the name over 255 octets.  No
 * escapes are read. */
int dns_name_to_wire(const char *name, uint8_t *out, size_t size,
		     size_t *len_r);

#endif
