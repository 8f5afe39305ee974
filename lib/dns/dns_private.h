/*
 * dns_private.h - what the files of lib/dns share; not for other layers.
 */
#ifndef POSTERN_DNS_PRIVATE_H
#define POSTERN_DNS_PRIVATE_H

#include "dns/dns.h"

struct ub_result;

/*
 * dns_lookup with a hook for wrappers (dns_mx_hosts): on_cancel(ctx) is
 * called when the query is cancelled or its resolver freed, so the
 * wrapper can free its own state; it is never called after cb.
 */
struct dns_query *dns_lookup_hook(struct dns_resolver *res, const char *name,
				  uint16_t type, unsigned flags,
				  dns_lookup_fn *cb, void *ctx,
				  void (*on_cancel)(void *ctx));

/* The loop the resolver was made with (NULL without one). */
struct ev *dns_resolver_ev(const struct dns_resolver *res);

/* A result from libunbound's answer (ub_err: the async error code, 0 if
 * none); result may be NULL when ub_err is set.  Does not free it. */
struct dns_result *dns_result_from_ub(const char *name, uint16_t type,
				      int ub_err, const struct ub_result *ub);
/* A result with no answer: status set, everything else empty. */
struct dns_result *dns_result_empty(const char *name, uint16_t type,
				    enum dns_status status);

#endif
