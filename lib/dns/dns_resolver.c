/*
 * dns_resolver - libunbound contexts made from the configuration, the
 * asynchronous lookups on the loop and the blocking ones for workers.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <unbound.h>

#include "conf/conf.h"
#include "core/array.h"
#include "core/list.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "dns/dns_private.h"
#include "ev/ev.h"

struct dns_resolver {
	struct ev *ev;
	struct ub_ctx *ub; /* the loop's context, NULL without a loop */
	int ub_fd;
	int64_t timeout_ms; /* 0: none of our own */
	struct list_node queries;
	size_t pending;

	/* What dns_lookup_sync's own context is made from, lazily. */
	char *servers, *ta_file;
	bool dnssec;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ub_ctx *ub_sync;
	bool sync_polling; /* one waiting thread polls; the others sleep */
};

struct dns_query {
	struct list_node node;
	struct dns_resolver *res;
	char *name;
	uint16_t type;
	unsigned flags;
	int async_id;
	bool in_unbound;
	bool failed; /* unbound refused to start it (not a name problem) */
	dns_lookup_fn *cb;
	void *ctx;
	void (*on_cancel)(void *ctx);
};

/* Refuse what unbound would choke on with a clear message, before asking. */
static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 254 || (n == 254 && name[253] != '.'))
		return false;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)name[i] <= 0x20 || name[i] == 0x7f)
			return false;
		label = name[i] == '.' ? 0 : label + 1;
		if (label > 63) /* RFC 1035 2.3.4 */
			return false;
	}
	return strstr(name, "..") == NULL && (name[0] != '.' || n == 1);
}

static struct ub_ctx *make_ctx(const char *servers, const char *ta_file,
			       bool dnssec, struct error *err)
{
	struct ub_ctx *ub = ub_ctx_create();
	int r;

	if (ub == NULL) {
		error_set(err, ERR_TEMP, "libunbound: cannot create a context");
		return NULL;
	}
	/* A thread, not the default forked helper process: the fork would
	 * copy the whole daemon and break under privilege separation. */
	if ((r = ub_ctx_async(ub, 1)) != 0)
		goto fail;
	/* Forwarders on loopback (a local unbound, the test servers) are
	 * normal; unbound refuses to query 127.0.0.0/8 by default. */
	if ((r = ub_ctx_set_option(ub, "do-not-query-localhost:", "no")) != 0)
		goto fail;
	if (!dnssec) {
		if ((r = ub_ctx_set_option(ub, "module-config:", "iterator")) !=
		    0)
			goto fail;
	} else if (ta_file[0] != '\0') {
		if (access(ta_file, R_OK) != 0) {
			error_set(err, ERR_CONFIG,
				  "dns_trust_anchor_file %s: %s", ta_file,
				  strerror(errno));
			ub_ctx_delete(ub);
			return NULL;
		}
		if ((r = ub_ctx_add_ta_file(ub, ta_file)) != 0) {
			error_set(err, ERR_CONFIG,
				  "dns_trust_anchor_file %s: %s", ta_file,
				  ub_strerror(r));
			ub_ctx_delete(ub);
			return NULL;
		}
	}
	if (servers[0] != '\0') {
		struct array *list = str_split(servers, " ,\t");
		for (size_t i = 0; i < array_len(list); i++) {
			const char *s = array_get(list, i);
			if (s[0] == '\0')
				continue;
			if ((r = ub_ctx_set_fwd(ub, s)) != 0) {
				error_set(err, ERR_CONFIG,
					  "dns_servers: bad address \"%s\": %s",
					  s, ub_strerror(r));
				array_free_with(&list, free);
				ub_ctx_delete(ub);
				return NULL;
			}
		}
		array_free_with(&list, free);
	} else if ((r = ub_ctx_resolvconf(ub, NULL)) != 0) {
		/* No usable resolv.conf: resolve from the root ourselves. */
		log_warn("dns: /etc/resolv.conf: %s; resolving recursively",
			 ub_strerror(r));
	}
	/* libunbound reads its settings (the trust anchors above all) at
	 * the first query.  Ask one it answers from its own local zones, so
	 * a bad file is a start-up error, not a failure of every lookup. */
	struct ub_result *probe = NULL;
	if ((r = ub_resolve(ub, "localhost.", 1, 1, &probe)) != 0) {
		error_set(err, ERR_CONFIG, "libunbound: %s (check "
					   "dns_trust_anchor_file)",
			  ub_strerror(r));
		ub_ctx_delete(ub);
		return NULL;
	}
	ub_resolve_free(probe);
	return ub;
fail:
	error_set(err, ERR_TEMP, "libunbound: %s", ub_strerror(r));
	ub_ctx_delete(ub);
	return NULL;
}

static void ub_readable(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct dns_resolver *res = ctx;
	int r = ub_process(res->ub);

	if (r != 0)
		log_error("dns: ub_process: %s", ub_strerror(r));
}

struct dns_resolver *dns_resolver_new(struct ev *ev, const struct conf *conf,
				      struct error *err)
{
	struct dns_resolver *res = xcalloc(1, sizeof(*res));

	res->ev = ev;
	res->servers = xstrdup(conf_str(conf, "dns_servers"));
	res->ta_file = xstrdup(conf_str(conf, "dns_trust_anchor_file"));
	res->dnssec = conf_bool(conf, "dns_dnssec");
	res->timeout_ms = conf_time(conf, "dns_timeout") * 1000;
	res->ub_fd = -1;
	list_init(&res->queries);
	pthread_mutex_init(&res->lock, NULL);
	pthread_cond_init(&res->cond, NULL);
	if (ev != NULL) {
		res->ub = make_ctx(res->servers, res->ta_file, res->dnssec,
				   err);
		if (res->ub == NULL)
			goto fail;
		res->ub_fd = ub_fd(res->ub);
		/* Weak: each query holds its own reference on the loop. */
		if (ev_fd_add(ev, res->ub_fd, EV_READ | EV_FD_WEAK,
			      ub_readable, res, err) < 0)
			goto fail;
	} else {
		/* Check the settings now rather than at the first lookup. */
		res->ub_sync = make_ctx(res->servers, res->ta_file,
					res->dnssec, err);
		if (res->ub_sync == NULL)
			goto fail;
	}
	return res;
fail:
	error_prefix(err, "dns");
	dns_resolver_free(&res);
	return NULL;
}

static void query_timeout(struct ev *ev, struct dns_query *q);
static void query_badname(struct ev *ev, struct dns_query *q);

static void query_free(struct dns_query *q)
{
	list_remove(&q->node);
	q->res->pending--;
	if (q->res->ev != NULL) {
		EV_TIMER_DEL(q->res->ev, query_timeout, q);
		EV_TIMER_DEL(q->res->ev, query_badname, q);
		ev_unref(q->res->ev);
	}
	free(q->name);
	free(q);
}

void dns_resolver_free(struct dns_resolver **resp)
{
	struct dns_resolver *res = *resp;
	struct list_node *n, *tmp;

	if (res == NULL)
		return;
	LIST_FOREACH(n, tmp, &res->queries)
	{
		struct dns_query *q = LIST_ENTRY(n, struct dns_query, node);
		dns_cancel(&q);
	}
	if (res->ub != NULL) {
		if (res->ev != NULL && res->ub_fd >= 0)
			ev_fd_del(res->ev, res->ub_fd);
		ub_ctx_delete(res->ub);
	}
	if (res->ub_sync != NULL)
		ub_ctx_delete(res->ub_sync);
	pthread_mutex_destroy(&res->lock);
	pthread_cond_destroy(&res->cond);
	free(res->servers);
	free(res->ta_file);
	free(res);
	*resp = NULL;
}

/* ---- Asynchronous lookups. */

static void deliver(struct dns_query *q, struct dns_result *r)
{
	dns_lookup_fn *cb = q->cb;
	void *ctx = q->ctx;
	unsigned flags = q->flags;
	struct error err;
	int ret;

	error_clear(&err);
	query_free(q);
	ret = dns_result_outcome(r, flags, &err);
	if (log_tracing(LOG_TRACE_DNS)) {
		char tbuf[16];
		log_debug(LOG_TRACE_DNS,
			  "dns %s %s: %s %s, %zu records, ttl %u", r->qname,
			  dns_type_name(r->qtype, tbuf),
			  dns_status_name(r->status),
			  dns_security_name(r->security), r->count, r->ttl);
	}
	cb(r, ret, ret == 1 ? NULL : &err, ctx);
}

static void ub_answer(void *mydata, int ub_err, struct ub_result *ub)
{
	struct dns_query *q = mydata;
	struct dns_result *r = dns_result_from_ub(q->name, q->type, ub_err, ub);

	if (ub != NULL)
		ub_resolve_free(ub);
	q->in_unbound = false;
	deliver(q, r);
}

static void query_timeout(struct ev *ev, struct dns_query *q)
{
	if (q->in_unbound)
		ub_cancel(q->res->ub, q->async_id);
	q->in_unbound = false;
	deliver(q, dns_result_empty(q->name, q->type, DNS_TIMEOUT));
}

static void query_badname(struct ev *ev, struct dns_query *q)
{
	deliver(q, dns_result_empty(q->name, q->type,
				    q->failed ? DNS_SERVFAIL : DNS_BADNAME));
}

struct dns_query *dns_lookup_hook(struct dns_resolver *res, const char *name,
				  uint16_t type, unsigned flags,
				  dns_lookup_fn *cb, void *ctx,
				  void (*on_cancel)(void *ctx))
{
	struct dns_query *q = xcalloc(1, sizeof(*q));

	if (res->ub == NULL)
		panic("dns_lookup on a resolver made without a loop");
	q->res = res;
	q->name = xstrdup(name);
	q->type = type;
	q->flags = flags;
	q->cb = cb;
	q->ctx = ctx;
	q->on_cancel = on_cancel;
	list_push_back(&res->queries, &q->node);
	res->pending++;
	ev_ref(res->ev);
	int r = UB_SYNTAX;
	if (!name_ok(name) ||
	    (r = ub_resolve_async(res->ub, name, type, 1 /* IN */, q,
				  ub_answer, &q->async_id)) != 0) {
		if (r != UB_SYNTAX) {
			log_error("dns: %s: %s", name, ub_strerror(r));
			q->failed = true;
		}
		/* Never call back before returning: the caller may not have
		 * stored the handle yet. */
		EV_TIMER_ADD(res->ev, 0, query_badname, q);
		return q;
	}
	q->in_unbound = true;
	if (res->timeout_ms > 0)
		EV_TIMER_ADD(res->ev, res->timeout_ms, query_timeout, q);
	return q;
}

struct dns_query *dns_lookup(struct dns_resolver *res, const char *name,
			     uint16_t type, unsigned flags, dns_lookup_fn *cb,
			     void *ctx)
{
	return dns_lookup_hook(res, name, type, flags, cb, ctx, NULL);
}

void dns_cancel(struct dns_query **qp)
{
	struct dns_query *q = *qp;

	if (q == NULL)
		return;
	if (q->in_unbound)
		ub_cancel(q->res->ub, q->async_id);
	if (q->on_cancel != NULL)
		q->on_cancel(q->ctx);
	query_free(q);
	*qp = NULL;
}

struct ev *dns_resolver_ev(const struct dns_resolver *res)
{
	return res->ev;
}

size_t dns_pending(const struct dns_resolver *res)
{
	return res->pending;
}

/* ---- Blocking lookups, from any thread. */

struct sync_wait {
	bool done;
	int ub_err;
	struct ub_result *ub;
	struct dns_resolver *res;
};

static void sync_answer(void *mydata, int ub_err, struct ub_result *ub)
{
	struct sync_wait *w = mydata;

	pthread_mutex_lock(&w->res->lock);
	w->done = true;
	w->ub_err = ub_err;
	w->ub = ub;
	pthread_cond_broadcast(&w->res->cond);
	pthread_mutex_unlock(&w->res->lock);
}

int dns_lookup_sync(struct dns_resolver *res, const char *name, uint16_t type,
		    unsigned flags, struct dns_result **result_r,
		    struct error *err)
{
	struct sync_wait w = {.res = res};
	int64_t deadline = res->timeout_ms > 0
			       ? time_mono_ms() + res->timeout_ms
			       : INT64_MAX;
	enum dns_status status = DNS_NOERROR;
	int id;

	*result_r = NULL;
	if (!name_ok(name)) {
		*result_r = dns_result_empty(name, type, DNS_BADNAME);
		return dns_result_outcome(*result_r, flags, err);
	}
	pthread_mutex_lock(&res->lock);
	if (res->ub_sync == NULL) {
		res->ub_sync = make_ctx(res->servers, res->ta_file, res->dnssec,
					err);
		if (res->ub_sync == NULL) {
			pthread_mutex_unlock(&res->lock);
			*result_r = dns_result_empty(name, type, DNS_SERVFAIL);
			return -1;
		}
	}
	pthread_mutex_unlock(&res->lock);
	/* Outside our lock: unbound takes its own, and another thread's
	 * ub_process may call sync_answer (which takes ours) meanwhile. */
	int r = ub_resolve_async(res->ub_sync, name, type, 1, &w, sync_answer,
				 &id);
	if (r != 0) {
		if (r != UB_SYNTAX)
			log_error("dns: %s: %s", name, ub_strerror(r));
		*result_r = dns_result_empty(name, type,
					     r == UB_SYNTAX ? DNS_BADNAME
							    : DNS_SERVFAIL);
		return dns_result_outcome(*result_r, flags, err);
	}
	pthread_mutex_lock(&res->lock);
	/*
	 * One waiter at a time polls the context's descriptor and runs
	 * ub_process, which calls back every finished query (its own or
	 * another thread's); the rest sleep on the condition.  Slices of at
	 * most 100 ms let each waiter check its own deadline.
	 */
	while (!w.done) {
		int64_t now = time_mono_ms();
		if (now >= deadline) {
			/* If the answer is being delivered right now, cancel
			 * fails and the callback is about to set done. */
			pthread_mutex_unlock(&res->lock);
			int c = ub_cancel(res->ub_sync, id);
			pthread_mutex_lock(&res->lock);
			if (c == 0) {
				status = DNS_TIMEOUT;
				break;
			}
			deadline = INT64_MAX;
			continue;
		}
		int64_t slice = deadline - now < 100 ? deadline - now : 100;
		if (!res->sync_polling) {
			struct pollfd pfd = {.fd = ub_fd(res->ub_sync),
					     .events = POLLIN};
			res->sync_polling = true;
			pthread_mutex_unlock(&res->lock);
			if (poll(&pfd, 1, (int)slice) > 0)
				ub_process(res->ub_sync);
			pthread_mutex_lock(&res->lock);
			res->sync_polling = false;
			pthread_cond_broadcast(&res->cond);
		} else {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += slice * 1000000;
			ts.tv_sec += ts.tv_nsec / 1000000000;
			ts.tv_nsec %= 1000000000;
			pthread_cond_timedwait(&res->cond, &res->lock, &ts);
		}
	}
	pthread_mutex_unlock(&res->lock);
	if (status == DNS_TIMEOUT)
		*result_r = dns_result_empty(name, type, DNS_TIMEOUT);
	else
		*result_r = dns_result_from_ub(name, type, w.ub_err, w.ub);
	if (w.ub != NULL)
		ub_resolve_free(w.ub);
	return dns_result_outcome(*result_r, flags, err);
}
