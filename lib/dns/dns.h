/*
 * dns - DNS lookups for the MTA and its policy checks, on libunbound.
 *
 * One resolver per process, made from the configuration (dns_servers,
 * dns_trust_anchor_file, dns_dnssec, dns_timeout).  libunbound validates
 * DNSSEC itself, which DANE needs: every answer says whether it was
 * secure, insecure or bogus.  Lookups come in two forms:
 *   - dns_lookup(): asynchronous on the process's event loop.  libunbound
 *     runs its own thread (ub_ctx_async(ctx, 1), never a fork); the loop
 *     watches ub_fd() and calls ub_process(), so callbacks run on the loop
 *     thread.  A timer per query enforces dns_timeout.
 *   - dns_lookup_sync(): blocking, for worker threads (or tools without a
 *     loop).  Any number of threads may call it at once; it uses a second
 *     libunbound context so it never steals the loop's answers.
 *
 * Outcomes follow core/error.h's lookup convention:
 *    1  records found (res->count > 0);
 *    0  nothing: NXDOMAIN or no records of that type (NODATA); err is
 *       filled with ERR_PERM ("not found" is permanent: a 5xx);
 *   -1  temporary failure (ERR_TEMP): SERVFAIL, REFUSED, timeout, or a
 *       bogus answer (DNSSEC validation failed) unless DNS_RAW was asked;
 *       or ERR_PERM for a name that cannot be asked (DNS_BADNAME).
 *
 * Records are parsed by our own bounds-checked rdata parsers
 * (dns_rdata.h): A/AAAA, MX, TXT, TLSA, PTR, CNAME and NS; other types
 * keep their raw rdata.  CNAMEs are followed by unbound: res->canonname
 * names the end of the chain.
 *
 * Ownership: a struct dns_result is owned by whoever receives it and is
 * freed with dns_result_free().  Threading: the resolver is created and
 * freed on the loop thread; dns_lookup/dns_cancel only on the loop thread;
 * dns_lookup_sync from any thread.
 */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/error.h"

struct ev;
struct conf;
struct dns_resolver;
struct dns_query;

/* RR types we parse (others are kept raw). */
enum {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_TLSA = 52,
};

/* Longest domain name in text form: 255 octets on the wire, each may be
 * escaped as \DDD, plus the NUL. */
#define DNS_NAME_TEXT_MAX 1024

/* What the resolver concluded about one answer. */
enum dns_status {
	DNS_NOERROR = 0, /* records, see count */
	DNS_NODATA,      /* the name exists, no records of the type */
	DNS_NXDOMAIN,    /* no such name */
	DNS_SERVFAIL,    /* SERVFAIL or another failing rcode */
	DNS_TIMEOUT,     /* no answer within dns_timeout */
	DNS_BOGUS,       /* DNSSEC validation failed */
	DNS_BADNAME,     /* the name cannot be asked (syntax, length) */
};

/* DNSSEC: was the answer validated? */
enum dns_security {
	DNS_INSECURE = 0, /* no trust anchor covers it, or dnssec off */
	DNS_SECURE,       /* validated from a trust anchor */
	DNS_SECURITY_BOGUS,
};

/* One record.  Strings are NUL-terminated and owned by the result. */
struct dns_rr {
	uint16_t type;
	union {
		struct { /* A, AAAA: also as text */
			struct sockaddr_storage sa;
			char text[46];
		} addr;
		struct { /* MX; host "." is a null MX (RFC 7505) */
			uint16_t pref;
			char *host;
		} mx;
		struct { /* TXT: the strings of one record concatenated
			  * (RFC 7208 3.3, RFC 6376 3.6.2.2); may hold NULs */
			char *data;
			size_t len;
			unsigned nstrings;
		} txt;
		struct { /* TLSA, RFC 6698 */
			uint8_t usage, selector, mtype;
			uint8_t *data;
			size_t len;
		} tlsa;
		char *name; /* PTR, CNAME, NS: the target, without final dot */
		struct {    /* any other type */
			uint8_t *data;
			size_t len;
		} raw;
	};
};

struct dns_result {
	char *qname;     /* as asked */
	uint16_t qtype;
	char *canonname; /* after CNAMEs (== qname without any) */
	enum dns_status status;
	int rcode;       /* the DNS rcode (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN) */
	enum dns_security security;
	char *why_bogus; /* unbound's reason when bogus, else NULL */
	uint32_t ttl;    /* of the answer (negative TTL for NXDOMAIN/NODATA) */
	size_t count;
	struct dns_rr *rrs;
};

/* Flags of a lookup. */
enum {
	/* Deliver bogus answers as they are (status DNS_BOGUS, records
	 * parsed, outcome 1 if any) instead of failing them: for diagnostics
	 * and for the CLI. */
	DNS_RAW = 1 << 0,
};

/*
 * Create the resolver from conf.  ev may be NULL for a process that only
 * uses dns_lookup_sync().  ERR_CONFIG for a bad dns_servers entry or an
 * unreadable trust anchor file.
 */
struct dns_resolver *dns_resolver_new(struct ev *ev, const struct conf *conf,
				      struct error *err);
/* Cancels outstanding lookups (their callbacks are not called); never
 * from inside a dns callback. */
void dns_resolver_free(struct dns_resolver **res);

/*
 * Called once per lookup on the loop thread with the result (owned by the
 * callee, NULL only if ret is -1 before any answer, e.g. a timeout still
 * gives a result) and the outcome: ret 1/0/-1 as above, err filled for 0
 * and -1.
 */
typedef void dns_lookup_fn(struct dns_result *result, int ret,
			   const struct error *err, void *ctx);

/*
 * Start a lookup of (name, type) in class IN.  Never calls cb before
 * returning; a bad name is reported through cb (ERR_PERM) on the next
 * loop iteration.  The handle is valid until cb runs or dns_cancel().
 */
struct dns_query *dns_lookup(struct dns_resolver *res, const char *name,
			     uint16_t type, unsigned flags, dns_lookup_fn *cb,
			     void *ctx);
/* Cancel a pending lookup: cb will not be called.  *q becomes NULL. */
void dns_cancel(struct dns_query **q);
/* Lookups started and not yet completed. */
size_t dns_pending(const struct dns_resolver *res);

/* Blocking form, from any thread: *result_r is always set (free it). */
int dns_lookup_sync(struct dns_resolver *res, const char *name, uint16_t type,
		    unsigned flags, struct dns_result **result_r,
		    struct error *err);

void dns_result_free(struct dns_result **result);
/* The outcome (1/0/-1 with err) for a result, as the lookups give it. */
int dns_result_outcome(const struct dns_result *result, unsigned flags,
		       struct error *err);

/* "A", "MX", ... or "TYPE<n>"; and back (also "TYPE<n>"; 0 if unknown). */
const char *dns_type_name(uint16_t type, char buf[16]);
uint16_t dns_type_from_name(const char *name);
const char *dns_status_name(enum dns_status status);
const char *dns_security_name(enum dns_security sec);

/* ---- Name helpers (pure functions, any thread). */

/*
 * The PTR name of an IPv4 or IPv6 address given as text:
 * "192.0.2.1" -> "1.2.0.192.in-addr.arpa", IPv6 as 32 nibbles under
 * ip6.arpa.  -1 with err (ERR_PERM) for an invalid address or a too small
 * out (DNS_NAME_TEXT_MAX always fits).
 */
int dns_reverse_name(const char *ip, char *out, size_t size,
		     struct error *err);
/* The DNSBL query name of ip in zone: "2.0.0.127.zen.example" (IPv6:
 * nibbles, RFC 5782).  A trailing dot of zone is ignored. */
int dns_dnsbl_name(const char *ip, const char *zone, char *out, size_t size,
		   struct error *err);

/* ---- Mail exchangers (RFC 5321 5.1, RFC 7505). */

struct dns_mx_host {
	uint16_t pref;
	char *host;
};

struct dns_mx_list {
	char *domain;
	size_t count;
	struct dns_mx_host *hosts; /* by preference, stable within one */
	bool implicit;             /* no MX: the domain itself, pref 0 */
	bool null_mx;              /* MX 0 "." : the domain takes no mail */
	enum dns_security security;
	uint32_t ttl;
};

/*
 * Mail exchangers of domain, ordered by preference (the caller shuffles
 * equal preferences).  Outcome 1 with hosts; 0 (ERR_PERM, list kept) when
 * the domain takes no mail: NXDOMAIN, or a null MX; -1 ERR_TEMP.  With no
 * MX records the domain is its own implicit MX (implicit = true); the
 * caller's A/AAAA lookup then decides.  A bogus MX answer is a
 * temporary failure.
 */
typedef void dns_mx_fn(struct dns_mx_list *list, int ret,
		       const struct error *err, void *ctx);
struct dns_query *dns_mx_hosts(struct dns_resolver *res, const char *domain,
			       dns_mx_fn *cb, void *ctx);
int dns_mx_hosts_sync(struct dns_resolver *res, const char *domain,
		      struct dns_mx_list **list_r, struct error *err);
/* Build the list from an MX answer (shared by both forms; for tests). */
int dns_mx_from_result(const struct dns_result *result, const char *domain,
		       struct dns_mx_list **list_r, struct error *err);
void dns_mx_list_free(struct dns_mx_list **list);

/* ---- Forward-confirmed reverse DNS (Postfix's verified client name). */

/* Most PTR names checked for one address, as Postfix limits them. */
#define DNS_FCRDNS_MAX_NAMES 10

struct dns_fcrdns;

/*
 * The verified host name of ip: a PTR name of ip whose own A (IPv4) or
 * AAAA (IPv6) records include ip (an IPv4-mapped IPv6 address counts as
 * IPv4).  cb gets the name (borrowed, valid during the call; NULL unless
 * ret is 1) and the outcome: 1 confirmed; 0 not (ERR_PERM: no PTR, or no
 * PTR name leads back to ip), the case reject_unknown_client_hostname
 * refuses with 5xx; -1 ERR_TEMP when a lookup failed and no name was
 * confirmed (4xx), or ERR_PERM for an invalid ip.  The first confirmed
 * name in PTR answer order wins; the forward lookups run in parallel.
 */
typedef void dns_fcrdns_fn(const char *name, int ret, const struct error *err,
			   void *ctx);
struct dns_fcrdns *dns_fcrdns(struct dns_resolver *res, const char *ip,
			      dns_fcrdns_fn *cb, void *ctx);
/* Stop it: cb is not called.  *f becomes NULL.  Cancel any pending one
 * before dns_resolver_free(). */
void dns_fcrdns_cancel(struct dns_fcrdns **f);
/* Blocking form; *name_r is malloc'd (NULL unless 1). */
int dns_fcrdns_sync(struct dns_resolver *res, const char *ip, char **name_r,
		    struct error *err);

#endif
