/*
 * smtpd-verify.c - reject_unverified_sender / _recipient (smtpd-verify.h):
 * the cache in SQL, the probe request to postern-queued, the replies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "queue/submit.h"

#include "smtpd-restrict-private.h"
#include "smtpd-verify.h"

/* The column's width (schema/ * /009_address_verify.sql). */
#define VERIFY_ADDR_MAX 320
/* A background refresh is asked for again after this long. */
#define VERIFY_REFRESH_RETRY 600
/* The longest wait for postern-queued's answer to a request. */
#define VERIFY_REQUEST_TIMEOUT_MS 5000

enum tempfail_action { TF_DEFER_IF_PERMIT, TF_DEFER, TF_DUNNO };

/* The settings of one side (sender or recipient). */
struct side {
	unsigned reject_code, defer_code;
	enum tempfail_action tempfail;
	char *reject_reason; /* "" none */
};

struct smtpd_verify {
	struct db *db;
	char *queue_socket;
	int64_t pos_expire, pos_refresh, neg_expire, neg_refresh;
	bool neg_cache;
	long long poll_count;
	int64_t poll_delay;
	struct side sender, rcpt;
};

static int side_read(const struct conf *conf, const char *who, struct side *s,
		     struct error *err)
{
	char name[80];
	const char *action;
	long long code;

	snprintf(name, sizeof(name), "unverified_%s_reject_code", who);
	code = conf_int(conf, name);
	if (code < 400 || code > 599)
		goto bad_code;
	s->reject_code = (unsigned)code;
	snprintf(name, sizeof(name), "unverified_%s_defer_code", who);
	code = conf_int(conf, name);
	if (code < 400 || code > 499)
		goto bad_code;
	s->defer_code = (unsigned)code;
	snprintf(name, sizeof(name), "unverified_%s_tempfail_action", who);
	action = conf_str(conf, name);
	if (strcasecmp(action, "defer_if_permit") == 0)
		s->tempfail = TF_DEFER_IF_PERMIT;
	else if (strcasecmp(action, "defer") == 0)
		s->tempfail = TF_DEFER;
	else if (strcasecmp(action, "dunno") == 0)
		s->tempfail = TF_DUNNO;
	else
		return error_set(err, ERR_CONFIG,
				 "%s: \"%s\" is not defer_if_permit, defer or "
				 "dunno",
				 name, action);
	snprintf(name, sizeof(name), "unverified_%s_reject_reason", who);
	s->reject_reason = xstrdup(conf_str(conf, name));
	return 0;
bad_code:
	return error_set(err, ERR_CONFIG, "%s: %lld is not a reply code", name,
			 code);
}

struct smtpd_verify *smtpd_verify_new(const struct conf *conf, struct db *db,
				      struct error *err)
{
	struct smtpd_verify *v;

	if (db == NULL) {
		error_set(err, ERR_CONFIG, "needs the database");
		return NULL;
	}
	v = xcalloc(1, sizeof(*v));
	v->db = db;
	v->queue_socket = xstrdup(conf_str(conf, "queue_socket"));
	v->pos_expire = conf_time(conf, "address_verify_positive_expire_time");
	v->pos_refresh =
	    conf_time(conf, "address_verify_positive_refresh_time");
	v->neg_expire = conf_time(conf, "address_verify_negative_expire_time");
	v->neg_refresh =
	    conf_time(conf, "address_verify_negative_refresh_time");
	v->neg_cache = conf_bool(conf, "address_verify_negative_cache");
	v->poll_count = conf_int(conf, "address_verify_poll_count");
	v->poll_delay = conf_time(conf, "address_verify_poll_delay");
	if (v->poll_count < 1)
		v->poll_count = 1;
	if (side_read(conf, "sender", &v->sender, err) < 0 ||
	    side_read(conf, "recipient", &v->rcpt, err) < 0) {
		smtpd_verify_free(&v);
		return NULL;
	}
	return v;
}

void smtpd_verify_free(struct smtpd_verify **vp)
{
	struct smtpd_verify *v = *vp;

	if (v == NULL)
		return;
	*vp = NULL;
	free(v->queue_socket);
	free(v->sender.reject_reason);
	free(v->rcpt.reject_reason);
	free(v);
}

int smtpd_verify_request(const char *path, const char *address,
			 struct error *err)
{
	char *req = xasprintf("verify %s", address);
	struct buf *reply = buf_new();
	int ret = submit_control_blocking(path, req, VERIFY_REQUEST_TIMEOUT_MS,
					  reply, err);

	if (ret == 1)
		error_set(err, ERR_TEMP, "postern-queued: %.300s",
			  buf_data(reply));
	buf_free(&reply);
	free(req);
	return ret == 0 ? 0 : -1;
}

/* The cached result: 1 (status, reply, times), 0 none, -1. */
static int cache_get(struct smtpd_verify *v, const char *address, int *status_r,
		     char *reply, size_t size, int64_t *probed_r,
		     int64_t *requested_r, struct error *err)
{
	const char *p[] = {address};
	struct db_result *res = NULL;
	int ret = 0;

	if (db_query(v->db,
		     "SELECT status, reply, probed_at, requested_at FROM "
		     "address_verify WHERE address = ?",
		     p, 1, &res, err) < 0)
		return -1;
	if (db_result_rows(res) > 0) {
		const char *r = db_result_value(res, 0, 1);
		*status_r = atoi(db_result_value(res, 0, 0));
		str_copy(reply, r != NULL ? r : "", size);
		*probed_r = atoll(db_result_value(res, 0, 2));
		*requested_r = atoll(db_result_value(res, 0, 3));
		ret = 1;
	}
	db_result_free(&res);
	return ret;
}

/* What a cached row says now: 1 usable (status set), 0 not; *refresh_r:
 * ask for a new probe. */
static int usable(const struct smtpd_verify *v, int status, int64_t probed,
		  int64_t requested, int64_t now, bool *refresh_r)
{
	int64_t age = now - probed;
	bool recent_request =
	    requested > probed && now - requested < VERIFY_REFRESH_RETRY;

	*refresh_r = false;
	if (probed <= 0)
		return 0;
	if (status == SMTPD_VERIFY_OK) {
		if (age >= v->pos_expire)
			return 0;
		*refresh_r = age >= v->pos_refresh && !recent_request;
		return 1;
	}
	if (status == SMTPD_VERIFY_BAD) {
		if (!v->neg_cache || age >= v->neg_expire)
			return 0;
		*refresh_r = age >= v->neg_refresh && !recent_request;
		return 1;
	}
	/* A temporary failure is kept only until the negative refresh. */
	return age < v->neg_refresh ? 1 : 0;
}

static void request(struct smtpd_verify *v, const char *address,
		    const char *log_id)
{
	struct error err;

	if (smtpd_verify_request(v->queue_socket, address, &err) < 0)
		log_warn("%s: address verification of <%s>: %s", log_id,
			 address, err.msg);
}

static int tempfail(struct rx *e, const struct side *s, const char *address,
		    const char *cls, const char *why)
{
	switch (s->tempfail) {
	case TF_DUNNO:
		return RX_DUNNO;
	case TF_DEFER:
		return rx_reject(e, s->defer_code, "4.1.1",
				 "<%s>: %s rejected: unverified address: %s",
				 address, cls, why);
	case TF_DEFER_IF_PERMIT:
		break;
	}
	return rx_defer_if_permit(e, s->defer_code, "4.1.1",
				  "<%s>: %s rejected: unverified address: %s",
				  address, cls, why);
}

static int answer(struct rx *e, const struct side *s, const char *address,
		  const char *cls, int status, const char *reply)
{
	if (status == SMTPD_VERIFY_OK)
		return RX_DUNNO;
	if (status == SMTPD_VERIFY_TEMP)
		return rx_reject(e, s->defer_code, "4.1.1",
				 "<%s>: %s rejected: unverified address: %s",
				 address, cls, reply);
	if (s->reject_reason[0] != '\0')
		return rx_reject(e, s->reject_code, "x.1.1",
				 "<%s>: %s rejected: %s", address, cls,
				 s->reject_reason);
	return rx_reject(e, s->reject_code, "x.1.1",
			 "<%s>: %s rejected: undeliverable address: %s",
			 address, cls, reply);
}

int rx_verify(struct rx *e, const struct ritem *it)
{
	const struct smtpd_restrict_input *in = e->in;
	struct smtpd_verify *v = e->r->verify;
	bool is_sender = it->kind == RK_UNVERIFIED_SENDER;
	const struct side *s = is_sender ? &v->sender : &v->rcpt;
	const char *cls = is_sender ? "Sender address" : "Recipient address";
	const char *address = is_sender ? in->sender : in->recipient;
	/* The polls earlier runs of this check made (each waited
	 * poll_delay on the loop after). */
	unsigned polls = rx_verify_polls(e);
	char reply[600];
	struct error err;
	int local = 0, status = 0, rc;
	int64_t probed = 0, requested = 0, now;
	bool refresh;

	/* Postfix never verifies the null sender. */
	if (v == NULL || address == NULL || *address == '\0')
		return RX_DUNNO;
	if (strlen(address) > VERIFY_ADDR_MAX)
		return answer(e, s, address, cls, SMTPD_VERIFY_BAD,
			      "address too long");
	if (in->is_local != NULL) {
		local = in->is_local(in->is_local_ctx, address, &err);
		if (local < 0) {
			log_warn("%s: %s: %s", in->log_id, address, err.msg);
			return rx_reject(e, 451, "4.3.0",
					 "<%s>: %s rejected: Temporary lookup "
					 "failure",
					 address, cls);
		}
	}
	if (local == 1 && !is_sender) {
		/* Hosted: the resolution after the lists answers (250, or 550
		 * 5.1.1 as CONTRACT.md says), not a 450 from here. */
		return RX_DUNNO;
	}
	if (local == 1) {
		/* Hosted: the SQL maps know the answer. */
		struct smtp_reply r;
		if (in->verify_local == NULL ||
		    in->verify_local(in->is_local_ctx, address, &r) == 0)
			return RX_DUNNO;
		snprintf(reply, sizeof(reply), "%u %s %s", r.code, r.enhanced,
			 r.text);
		return answer(e, s, address, cls,
			      r.code >= 500 ? SMTPD_VERIFY_BAD
					    : SMTPD_VERIFY_TEMP,
			      reply);
	}
	/* One look at the cache per run; a run that replays what an
	 * earlier one did asks for no probe again. */
	now = (int64_t)time(NULL);
	rc = cache_get(v, address, &status, reply, sizeof(reply), &probed,
		       &requested, &err);
	if (rc < 0) {
		log_warn("%s: address verification cache: %s", in->log_id,
			 err.msg);
		return tempfail(e, s, address, cls,
				"Address verification in progress");
	}
	if (rc == 1 &&
	    usable(v, status, probed, requested, now, &refresh) == 1) {
		if (refresh && polls == 0 && !rx_replaying(e))
			request(v, address, in->log_id);
		if (!rx_replaying(e))
			log_info("%s: address verification: <%s>: "
				 "%s (cached %llds ago)",
				 in->log_id, address,
				 status == SMTPD_VERIFY_OK    ? "deliverable"
				 : status == SMTPD_VERIFY_BAD ? "undeliverable"
							      : "deferred",
				 (long long)(now - probed));
		return answer(e, s, address, cls, status, reply);
	}
	if (polls == 0 && !rx_replaying(e))
		request(v, address, in->log_id);
	if ((long long)polls + 1 < v->poll_count && rx_can_wait(e)) {
		/* Never sleep on a worker (other sessions' checks wait for
		 * it): the caller runs the check again after the delay. */
		return rx_verify_wait(e, polls + 1, v->poll_delay * 1000);
	}
	if (!rx_replaying(e))
		log_info("%s: address verification: <%s>: in progress",
			 in->log_id, address);
	return tempfail(e, s, address, cls, "Address verification in progress");
}
