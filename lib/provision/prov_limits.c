/*
 * prov_limits.c - per-mailbox daily sending limits (issue 8,
 * docs/ratelimits.md): messages per UTC day and first-time recipients
 * (addresses the mailbox never sent to before) per UTC day.
 *
 * One transaction per charge: read today's counter row and whether each
 * recipient is known, refuse without counting anything when a limit
 * would be passed, else add to the counter (an upsert) and remember the
 * new recipients.  Two sessions of one user charging at the same moment
 * may each pass a check the other then fills (the limit can be passed by
 * the number of concurrent sessions, at most); that is the price of not
 * locking the mailbox row, and harmless against a spray.
 *
 * Recipients are stored as BLAKE2b-128 of the lower-cased address (32
 * hex digits): fixed width, cheap to index, and the table does not list
 * everyone a user writes to.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "prov-private.h"

#define DAY_SECONDS 86400
/* Counter rows kept for looking back (GET shows today's only). */
#define KEEP_DAYS 7

long long prov_send_clock(void)
{
	/* Tests only (docs/ratelimits.md): move the clock to cross a day. */
	const char *off = getenv("POSTERN_TEST_CLOCK_OFFSET");
	long long now = (long long)time(NULL);

	if (off != NULL && *off != '\0')
		now += strtoll(off, NULL, 10);
	return now;
}

static void rcpt_hash(const char *addr, char out[33])
{
	unsigned char h[16];
	size_t n = strlen(addr);
	char *low = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)addr[i]);
	low[n] = '\0';
	crypto_generichash(h, sizeof(h), (const unsigned char *)low, n, NULL,
			   0);
	free(low);
	for (size_t i = 0; i < sizeof(h); i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* Mailbox value, else domain value, else the default (NULL: inherit). */
static long long effective(const char *mbox, const char *dom, long long def)
{
	long long v;

	if (mbox != NULL && str_to_i64(mbox, &v))
		return v < 0 ? 0 : v;
	if (dom != NULL && str_to_i64(dom, &v))
		return v < 0 ? 0 : v;
	return def < 0 ? 0 : def;
}

static long long cell_ll(const struct db_result *res, size_t row, size_t col)
{
	const char *v = db_result_value(res, row, col);
	long long n = 0;

	if (v != NULL && !str_to_i64(v, &n))
		n = 0;
	return n;
}

static const char *sql_upsert(enum db_driver drv)
{
	if (drv == DB_MYSQL)
		return "INSERT INTO send_counters (mailbox_id, day, messages,"
		       " new_recipients) VALUES (?, ?, ?, ?) ON DUPLICATE KEY"
		       " UPDATE messages = messages + VALUES(messages),"
		       " new_recipients = new_recipients +"
		       " VALUES(new_recipients)";
	return "INSERT INTO send_counters (mailbox_id, day, messages,"
	       " new_recipients) VALUES (?, ?, ?, ?) ON CONFLICT (mailbox_id,"
	       " day) DO UPDATE SET messages = send_counters.messages +"
	       " excluded.messages, new_recipients ="
	       " send_counters.new_recipients + excluded.new_recipients";
}

static const char *sql_known(enum db_driver drv)
{
	switch (drv) {
	case DB_MYSQL:
		return "INSERT IGNORE INTO known_recipients (mailbox_id,"
		       " rcpt_hash, first_at) VALUES (?, ?, ?)";
	case DB_PGSQL:
		return "INSERT INTO known_recipients (mailbox_id, rcpt_hash,"
		       " first_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING";
	default:
		return "INSERT OR IGNORE INTO known_recipients (mailbox_id,"
		       " rcpt_hash, first_at) VALUES (?, ?, ?)";
	}
}

static int fail(struct db_txn **txn, struct error *err)
{
	if (*txn != NULL)
		db_rollback(txn);
	/* Whatever broke, the sender is to try again later (4xx). */
	err->kind = ERR_TEMP;
	return -1;
}

int prov_send_limits_get(struct db *db, const char *user,
			 const struct prov_send_limits *defaults,
			 struct prov_send_limits *eff_r, char id_r[24],
			 struct error *err)
{
	struct buf *norm = buf_new();
	const char *params[1];
	struct db_result *res = NULL;
	int ret = 0;

	/* A login that is not a valid address is no mailbox: not limited. */
	if (prov_norm_address(user, norm, NULL, err) < 0) {
		buf_free(&norm);
		return 0;
	}
	params[0] = buf_data(norm);
	if (db_query(db,
		     "SELECT m.id, m.daily_message_limit,"
		     " m.daily_new_recipient_limit, d.daily_message_limit,"
		     " d.daily_new_recipient_limit FROM mailboxes m JOIN"
		     " domains d ON d.id = m.domain_id WHERE m.address = ?",
		     params, 1, &res, err) < 0) {
		buf_free(&norm);
		err->kind = ERR_TEMP;
		return -1;
	}
	if (db_result_rows(res) > 0) {
		snprintf(id_r, 24, "%s", db_result_value(res, 0, 0));
		eff_r->messages = effective(db_result_value(res, 0, 1),
					    db_result_value(res, 0, 3),
					    defaults->messages);
		eff_r->new_rcpts = effective(db_result_value(res, 0, 2),
					     db_result_value(res, 0, 4),
					     defaults->new_rcpts);
		ret = 1;
	}
	db_result_free(&res);
	buf_free(&norm);
	return ret;
}

int prov_send_charge(struct db *db, const char *user,
		     const struct prov_send_limits *defaults,
		     bool count_message, const char *const *rcpts,
		     size_t nrcpts, long long now,
		     struct prov_send_result *res_r, struct error *err)
{
	struct prov_send_limits lim;
	char id[24], day[24], old[24], nmsg[24], nnew[24], at[24];
	char(*hashes)[33] = NULL;
	bool *fresh = NULL;
	size_t nfresh = 0;
	struct db_txn *txn = NULL;
	struct db_result *res = NULL;
	long long d = now / DAY_SECONDS;
	int rc;

	memset(res_r, 0, sizeof(*res_r));
	rc = prov_send_limits_get(db, user, defaults, &lim, id, err);
	if (rc <= 0)
		return rc < 0 ? -1 : 1; /* no such mailbox: not limited */
	res_r->limits = lim;
	if (lim.messages == 0 && lim.new_rcpts == 0)
		return 1;
	prov_num(d, day);
	txn = db_begin(db, err);
	if (txn == NULL)
		return fail(&txn, err);
	{
		const char *p[] = {id, day};
		if (db_txn_query(txn,
				 "SELECT messages, new_recipients FROM"
				 " send_counters WHERE mailbox_id = ? AND"
				 " day = ?",
				 p, 2, &res, err) < 0)
			return fail(&txn, err);
		if (db_result_rows(res) > 0) {
			res_r->messages = cell_ll(res, 0, 0);
			res_r->new_rcpts = cell_ll(res, 0, 1);
		} else {
			/* First charge of the day: drop old rows. */
			const char *q[] = {id, prov_num(d - KEEP_DAYS, old)};
			if (db_txn_exec(txn,
					"DELETE FROM send_counters WHERE"
					" mailbox_id = ? AND day < ?",
					q, 2, err) < 0) {
				db_result_free(&res);
				return fail(&txn, err);
			}
		}
		db_result_free(&res);
	}
	hashes = xcalloc(nrcpts + 1, sizeof(*hashes));
	fresh = xcalloc(nrcpts + 1, sizeof(*fresh));
	for (size_t i = 0; i < nrcpts; i++) {
		const char *p[] = {id, hashes[i]};
		bool dup = false;

		rcpt_hash(rcpts[i], hashes[i]);
		for (size_t k = 0; k < i && !dup; k++)
			dup = strcmp(hashes[k], hashes[i]) == 0;
		if (dup)
			continue;
		if (db_txn_query(txn,
				 "SELECT 1 FROM known_recipients WHERE"
				 " mailbox_id = ? AND rcpt_hash = ?",
				 p, 2, &res, err) < 0)
			goto failed;
		fresh[i] = db_result_rows(res) == 0;
		nfresh += fresh[i];
		db_result_free(&res);
	}
	if (count_message && lim.messages > 0 &&
	    res_r->messages + 1 > lim.messages) {
		res_r->over = PROV_SEND_OVER_MESSAGES;
		goto over;
	}
	if (nfresh > 0 && lim.new_rcpts > 0 &&
	    res_r->new_rcpts + (long long)nfresh > lim.new_rcpts) {
		res_r->over = PROV_SEND_OVER_NEW_RCPTS;
		goto over;
	}
	if (count_message || nfresh > 0) {
		const char *p[] = {id, day, prov_num(count_message, nmsg),
				   prov_num((long long)nfresh, nnew)};
		if (db_txn_exec(txn, sql_upsert(db_driver(db)), p, 4, err) < 0)
			goto failed;
	}
	prov_num(now, at);
	for (size_t i = 0; i < nrcpts; i++) {
		const char *p[] = {id, hashes[i], at};
		if (fresh[i] &&
		    db_txn_exec(txn, sql_known(db_driver(db)), p, 3, err) < 0)
			goto failed;
	}
	if (db_commit(&txn, err) < 0)
		goto failed;
	res_r->messages += count_message;
	res_r->new_rcpts += (long long)nfresh;
	free(hashes);
	free(fresh);
	return 1;

over:
	db_rollback(&txn);
	free(hashes);
	free(fresh);
	return 0;
failed:
	free(hashes);
	free(fresh);
	return fail(&txn, err);
}

int prov_send_limits_set(struct db *db, bool domain, const char *name,
			 const struct prov_send_limits_patch *p,
			 const struct prov_actor *who, struct error *err)
{
	struct buf *norm = buf_new();
	struct db_txn *txn = NULL;
	char vm[24], vr[24];
	const char *table = domain ? "domains" : "mailboxes";
	const char *key = domain ? "name" : "address";
	long long rc;
	int ret = -1;

	if ((domain ? prov_norm_domain(name, norm, err)
		    : prov_norm_address(name, norm, NULL, err)) < 0)
		goto out;
	if (!p->set_messages && !p->set_new_rcpts) {
		ret = 0;
		goto out;
	}
	txn = db_begin(db, err);
	if (txn == NULL) {
		prov_db_fail(-1, err, name);
		goto out;
	}
	const char *params[] = {
	    p->messages < 0 ? NULL : prov_num(p->messages, vm),
	    p->new_rcpts < 0 ? NULL : prov_num(p->new_rcpts, vr),
	    buf_data(norm)};
	char *sql = xasprintf(
	    "UPDATE %s SET daily_message_limit = %s,"
	    " daily_new_recipient_limit = %s WHERE %s = ?",
	    table, p->set_messages ? "?" : "daily_message_limit",
	    p->set_new_rcpts ? "?" : "daily_new_recipient_limit", key);
	const char *bound[3];
	size_t n = 0;
	if (p->set_messages)
		bound[n++] = params[0];
	if (p->set_new_rcpts)
		bound[n++] = params[1];
	bound[n++] = params[2];
	rc = db_txn_exec(txn, sql, bound, n, err);
	free(sql);
	if (rc < 0) {
		db_rollback(&txn);
		prov_db_fail(rc, err, name);
		goto out;
	}
	if (rc == 0) {
		db_rollback(&txn);
		error_set_code(err, ERR_PERM, "not_found", "%s %s does not exist",
			       domain ? "domain" : "mailbox", buf_data(norm));
		goto out;
	}
	if (prov_commit_audit(&txn, who,
			      domain ? "domain.limits" : "mailbox.limits",
			      domain ? "domain" : "mailbox", buf_data(norm),
			      err) < 0) {
		if (txn != NULL)
			db_rollback(&txn);
		goto out;
	}
	ret = 0;
out:
	buf_free(&norm);
	return ret;
}

int prov_send_charge_message(struct db *db, const struct conf *conf,
			     const char *user, const char *const *rcpts,
			     size_t nrcpts, const char *log_id,
			     struct error *err)
{
	struct prov_send_limits def = {
	    conf_int(conf, "user_daily_message_limit"),
	    conf_int(conf, "user_daily_new_recipient_limit")};
	struct prov_send_result res;
	struct error e;
	int rc = prov_send_charge(db, user, &def, true, rcpts, nrcpts,
				  prov_send_clock(), &res, &e);

	if (rc < 0) {
		log_warn("%s: sending limits of %s: %s", log_id, user, e.msg);
		return error_set(err, ERR_TEMP, "4.3.0 sending limits: %s",
				 e.msg);
	}
	if (rc == 1)
		return 0;
	if (res.over == PROV_SEND_OVER_MESSAGES) {
		log_warn("%s: daily message limit exceeded: user=%s count=%lld "
			 "limit=%lld",
			 log_id, user, res.messages, res.limits.messages);
		return error_set_code(err, ERR_PERM, "rate_limited",
				      "4.7.1 daily message limit (%lld) "
				      "reached for %s",
				      res.limits.messages, user);
	}
	log_warn("%s: daily new recipient limit exceeded: user=%s count=%lld "
		 "limit=%lld",
		 log_id, user, res.new_rcpts, res.limits.new_rcpts);
	return error_set_code(err, ERR_PERM, "rate_limited",
			      "4.7.1 daily limit of new recipients (%lld) "
			      "reached for %s",
			      res.limits.new_rcpts, user);
}
