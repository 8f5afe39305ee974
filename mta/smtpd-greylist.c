/*
 * smtpd-greylist.c - check_greylist (smtpd-greylist.h): the triplet
 * table in SQL and the restriction.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "db/db.h"

#include "smtpd-greylist.h"
#include "smtpd-restrict-private.h"

/* The columns' width (schema/ * /004_greylist.sql). */
#define GREYLIST_ADDR_MAX 320

struct smtpd_greylist {
	struct db *db;
	int64_t delay;
	int64_t retry_window;
	int64_t max_age;
	int64_t cleanup_interval;
	long long auto_allow;
	unsigned v4_bits, v6_bits;
	bool tempfail_dunno;
	char *text;
	pthread_mutex_t lock;
	int64_t next_cleanup; /* under lock */
};

struct smtpd_greylist *smtpd_greylist_new(const struct conf *conf,
					  struct db *db, struct error *err)
{
	struct smtpd_greylist *g;
	const char *action = conf_str(conf, "greylist_tempfail_action");
	long long v4 = conf_int(conf, "greylist_ipv4_prefix");
	long long v6 = conf_int(conf, "greylist_ipv6_prefix");

	if (db == NULL) {
		error_set(err, ERR_CONFIG, "needs the database");
		return NULL;
	}
	if (strcasecmp(action, "defer") != 0 &&
	    strcasecmp(action, "dunno") != 0) {
		error_set(err, ERR_CONFIG,
			  "greylist_tempfail_action: \"%s\" is not defer or "
			  "dunno",
			  action);
		return NULL;
	}
	if (v4 < 0 || v4 > 32 || v6 < 0 || v6 > 128) {
		error_set(
		    err, ERR_CONFIG,
		    "greylist_ipv4_prefix (0..32) or greylist_ipv6_prefix "
		    "(0..128) out of range");
		return NULL;
	}
	g = xcalloc(1, sizeof(*g));
	g->db = db;
	g->delay = conf_time(conf, "greylist_delay");
	g->retry_window = conf_time(conf, "greylist_retry_window");
	g->max_age = conf_time(conf, "greylist_max_age");
	g->cleanup_interval = conf_time(conf, "greylist_cleanup_interval");
	g->auto_allow = conf_int(conf, "greylist_auto_allow_count");
	g->v4_bits = (unsigned)v4;
	g->v6_bits = (unsigned)v6;
	g->tempfail_dunno = strcasecmp(action, "dunno") == 0;
	g->text = xstrdup(conf_str(conf, "greylist_text"));
	pthread_mutex_init(&g->lock, NULL);
	return g;
}

void smtpd_greylist_free(struct smtpd_greylist **gp)
{
	struct smtpd_greylist *g = *gp;

	if (g == NULL)
		return;
	*gp = NULL;
	pthread_mutex_destroy(&g->lock);
	free(g->text);
	free(g);
}

static void mask(unsigned char *a, size_t len, unsigned bits)
{
	for (size_t i = 0; i < len; i++) {
		unsigned keep = bits >= 8 ? 8 : bits;
		a[i] &= (unsigned char)(0xff00u >> keep);
		bits -= keep;
	}
}

bool smtpd_greylist_network(const char *addr, unsigned v4_bits,
			    unsigned v6_bits, char *out, size_t size)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, addr, a) == 1) {
		mask(a, 4, v4_bits);
		inet_ntop(AF_INET, a, text, sizeof(text));
		snprintf(out, size, "%s/%u", text, v4_bits);
		return true;
	}
	if (inet_pton(AF_INET6, addr, a) == 1) {
		mask(a, 16, v6_bits);
		inet_ntop(AF_INET6, a, text, sizeof(text));
		snprintf(out, size, "%s/%u", text, v6_bits);
		return true;
	}
	return false;
}

static char *lower_dup(const char *s)
{
	char *d = xstrndup(s != NULL ? s : "", GREYLIST_ADDR_MAX);

	return str_lower(d);
}

/* Delete what is too old, once per cleanup_interval per process. */
static void cleanup(struct smtpd_greylist *g, int64_t now)
{
	char t_age[24], t_retry[24];
	const char *p_age[] = {t_age}, *p_retry[] = {t_retry};
	struct error err;
	bool due;

	if (g->cleanup_interval <= 0)
		return;
	pthread_mutex_lock(&g->lock);
	due = now >= g->next_cleanup;
	if (due)
		g->next_cleanup = now + g->cleanup_interval;
	pthread_mutex_unlock(&g->lock);
	if (!due)
		return;
	snprintf(t_age, sizeof(t_age), "%lld", (long long)(now - g->max_age));
	snprintf(t_retry, sizeof(t_retry), "%lld",
		 (long long)(now - g->delay - g->retry_window));
	long long a = db_exec(g->db, "DELETE FROM greylist WHERE last_seen < ?",
			      p_age, 1, &err);
	long long b = a < 0 ? -1
			    : db_exec(g->db,
				      "DELETE FROM greylist WHERE passed_at = 0"
				      " AND first_seen < ?",
				      p_retry, 1, &err);
	long long c =
	    b < 0 ? -1
		  : db_exec(g->db,
			    "DELETE FROM greylist_clients WHERE last_seen < ?",
			    p_age, 1, &err);
	if (c < 0)
		log_warn("greylist: cleanup: %s", err.msg);
	else if (a + b + c > 0)
		log_info("greylist: cleanup: %lld triplets, %lld clients "
			 "removed",
			 a + b, c);
}

/* The client network passed often enough: 1, 0, -1. */
static int auto_allowed(struct smtpd_greylist *g, const char *net,
			const char *now_s, struct error *err)
{
	const char *p[] = {net};
	struct db_result *res;
	int ret = 0;

	if (g->auto_allow <= 0)
		return 0;
	if (db_query(g->db,
		     "SELECT passes FROM greylist_clients WHERE client_net = ?",
		     p, 1, &res, err) < 0)
		return -1;
	if (db_result_rows(res) > 0) {
		const char *v = db_result_value(res, 0, 0);
		ret = v != NULL && atoll(v) >= g->auto_allow;
	}
	db_result_free(&res);
	if (ret == 1) {
		const char *u[] = {now_s, net};
		if (db_exec(g->db,
			    "UPDATE greylist_clients SET last_seen = ? WHERE "
			    "client_net = ?",
			    u, 2, err) < 0)
			return -1;
	}
	return ret;
}

static int count_pass(struct smtpd_greylist *g, const char *net,
		      const char *now_s, struct error *err)
{
	const char *u[] = {now_s, net};
	const char *ins[] = {net, now_s};

	for (int i = 0; i < 2; i++) {
		long long n = db_exec(g->db,
				      "UPDATE greylist_clients SET passes = "
				      "passes + 1, last_seen = ? WHERE "
				      "client_net = ?",
				      u, 2, err);
		if (n != 0)
			return n < 0 ? -1 : 0;
		n = db_exec(g->db,
			    "INSERT INTO greylist_clients (client_net, passes,"
			    " last_seen) VALUES (?, 1, ?)",
			    ins, 2, err);
		if (n != DB_DUPLICATE)
			return n < 0 ? -1 : 0;
		/* Inserted meanwhile by another check: update it. */
	}
	return 0;
}

int smtpd_greylist_check(struct smtpd_greylist *g, const char *client_addr,
			 const char *sender, const char *recipient, int64_t now,
			 int64_t *wait_r, struct error *err)
{
	char net[INET6_ADDRSTRLEN + 8], now_s[24];
	char *snd, *rcpt;
	struct db_result *res = NULL;
	int ret = -1;

	*wait_r = 0;
	if (!smtpd_greylist_network(client_addr, g->v4_bits, g->v6_bits, net,
				    sizeof(net)))
		str_copy(net, client_addr, sizeof(net));
	snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
	cleanup(g, now);
	ret = auto_allowed(g, net, now_s, err);
	if (ret != 0)
		return ret;

	snd = lower_dup(sender);
	rcpt = lower_dup(recipient);
	const char *key[] = {net, snd, rcpt};
	if (db_query(g->db,
		     "SELECT first_seen, last_seen, passed_at FROM greylist "
		     "WHERE client_net = ? AND sender = ? AND recipient = ?",
		     key, 3, &res, err) < 0)
		goto out;
	if (db_result_rows(res) == 0) {
		const char *ins[] = {net, snd, rcpt, now_s, now_s};
		long long n = db_exec(g->db,
				      "INSERT INTO greylist (client_net, "
				      "sender, recipient, first_seen, "
				      "last_seen, passed_at) VALUES "
				      "(?, ?, ?, ?, ?, 0)",
				      ins, 5, err);
		/* DB_DUPLICATE: a parallel attempt inserted it first. */
		ret = n < 0 && n != DB_DUPLICATE ? -1 : 0;
		*wait_r = g->delay;
		goto out;
	}
	int64_t first = atoll(db_result_value(res, 0, 0));
	int64_t last = atoll(db_result_value(res, 0, 1));
	int64_t passed = atoll(db_result_value(res, 0, 2));
	const char *upd_args[] = {now_s, now_s, net, snd, rcpt};
	const char *upd;

	if (passed > 0 && now - last <= g->max_age) {
		/* first_seen <= ?: always true, it keeps one argument
		 * list for every case. */
		upd = "UPDATE greylist SET last_seen = ? WHERE first_seen <= ? "
		      "AND client_net = ? AND sender = ? AND recipient = ?";
		ret = 1;
	} else if (passed == 0 && now - first < g->delay) {
		*wait_r = g->delay - (now - first);
		ret = 0;
		goto out;
	} else if (passed == 0 && now - first <= g->delay + g->retry_window) {
		upd = "UPDATE greylist SET last_seen = ?, passed_at = ? WHERE "
		      "client_net = ? AND sender = ? AND recipient = ?";
		ret = 1;
		if (count_pass(g, net, now_s, err) < 0) {
			ret = -1;
			goto out;
		}
	} else {
		/* Retried too late, or not seen for max_age: start over. */
		upd = "UPDATE greylist SET first_seen = ?, last_seen = ?, "
		      "passed_at = 0 WHERE client_net = ? AND sender = ? AND "
		      "recipient = ?";
		*wait_r = g->delay;
		ret = 0;
	}
	if (db_exec(g->db, upd, upd_args, 5, err) < 0)
		ret = -1;
out:
	db_result_free(&res);
	free(snd);
	free(rcpt);
	return ret;
}

int rx_greylist(struct rx *e, const struct ritem *it)
{
	const struct smtpd_restrict_input *in = e->in;
	struct smtpd_greylist *g = e->r->greylist;
	struct error err;
	int64_t wait;
	int ret;

	(void)it;
	/* Only a recipient makes a triplet. */
	if (g == NULL || in->recipient == NULL || in->client_addr == NULL)
		return RX_DUNNO;
	ret =
	    smtpd_greylist_check(g, in->client_addr, in->sender, in->recipient,
				 (int64_t)time(NULL), &wait, &err);
	if (ret == 1)
		return RX_DUNNO;
	if (ret < 0) {
		log_warn("%s: check_greylist: %s%s", in->log_id, err.msg,
			 g->tempfail_dunno ? " (greylist_tempfail_action = "
					     "dunno: not greylisted)"
					   : "");
		if (g->tempfail_dunno)
			return RX_DUNNO;
		return rx_reject(e, 451, "4.3.0",
				 "<%s>: Recipient address rejected: Temporary "
				 "lookup failure",
				 in->recipient);
	}
	log_info("%s: greylist: client=%s from=<%s> to=<%s>: wait %lld s",
		 in->log_id, in->client_addr,
		 in->sender != NULL ? in->sender : "", in->recipient,
		 (long long)wait);
	/* As postgrey's DEFER_IF_PERMIT: a later reject still wins. */
	return rx_defer_if_permit(e, e->r->codes.defer_code, "4.7.1",
				  "<%s>: Recipient address rejected: %s",
				  in->recipient, g->text);
}
