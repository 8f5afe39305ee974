/*
 * lmtp-local - resolution and delivery (lmtp-local.h).
 */
/* O_TMPFILE needs _GNU_SOURCE, which the build defines. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "fts/fts.h"
#include "fts/fts_batch.h"
#include "lmtp-local.h"
#include "lmtp/lmtp_address.h"
#include "map/map.h"
#include "provision/provision.h"
#include "store/store.h"
#include "store/store_name.h"

struct lmtp_backend {
	unsigned refcount;
	struct lmtp_settings set;
	struct db *db;
	struct map_env env;
	struct map *mailboxes;
	struct store *store;
	struct fts_min_free fts_min; /* full_text_min_free */
	/* Why lookups cannot work (kind ERR_NONE when they can). */
	struct error broken;
};

/* A resolved recipient's backend_data (lmtp_local_rcpt). */
struct local_rcpt {
	struct store_mailbox *mbox;
	uint64_t quota_bytes;
};

struct lmtp_backend *lmtp_backend_new(const struct conf *conf,
				      struct error *err)
{
	struct lmtp_backend *be = xcalloc(1, sizeof(*be));

	be->refcount = 1;
	if (lmtp_settings_load(&be->set, conf, err) < 0 ||
	    fts_min_free_parse(conf_str(conf, "full_text_min_free"),
			       &be->fts_min, err) < 0)
		goto fail;
	/* A database that is down does not fail here: lookups then
	 * answer 451 until it is back (db.h).  One that cannot be opened
	 * at all, or a map that cannot be read, does not stop the daemon
	 * either (Postfix's dict_surrogate): every lookup answers 451
	 * 4.3.5 and logs why, until a reload brings a working config. */
	/* Delivery only reads SQL (the mailbox map, the quota): replicas
	 * first when database_read_hosts is set (db_open_read). */
	be->db = db_open_read(conf, &be->broken);
	if (be->db == NULL) {
		error_prefix(&be->broken, "database");
		log_error("%s", be->broken.msg);
	} else {
		/* No conf in the env: sql maps keep env->conf for their
		 * first lookup, and the server's conf is freed by a reload
		 * while this backend lives on.  Sql maps without
		 * connection settings (the default ones) use env.db. */
		be->env.conf = NULL;
		be->env.db = be->db;
		be->mailboxes =
		    map_open(be->set.mailbox_maps, &be->env, &be->broken);
		if (be->mailboxes == NULL) {
			error_prefix(&be->broken, "virtual_mailbox_maps");
			log_error("%s", be->broken.msg);
		}
	}
	struct store_settings ss = {
	    .root = be->set.mail_directory,
	    .hostname = NULL,
	    .quota_permanent = be->set.quota_permanent,
	};
	be->store = store_new(&ss);
	return be;
fail:
	lmtp_backend_unref(&be);
	return NULL;
}

void lmtp_backend_ref(struct lmtp_backend *be)
{
	be->refcount++;
}

void lmtp_backend_unref(struct lmtp_backend **bep)
{
	struct lmtp_backend *be = *bep;
	*bep = NULL;
	if (be == NULL || --be->refcount > 0)
		return;
	map_free(&be->mailboxes);
	store_free(&be->store);
	db_close(&be->db);
	lmtp_settings_clear(&be->set);
	free(be);
}

const struct lmtp_settings *lmtp_backend_settings(const struct lmtp_backend *be)
{
	return &be->set;
}

static void rcpt_tempfail(struct lmtp_recipient *rcpt)
{
	smtp_reply_set(&rcpt->reply, 451, "4.3.0",
		       "<%s>: Temporary lookup failure", rcpt->address);
}

static void rcpt_quota_reply(const struct lmtp_backend *be,
			     struct lmtp_recipient *rcpt)
{
	if (be->set.quota_permanent)
		smtp_reply_set(&rcpt->reply, 552, "5.2.2", "<%s>: Mailbox full",
			       rcpt->address);
	else
		smtp_reply_set(&rcpt->reply, 452, "4.2.2", "<%s>: Mailbox full",
			       rcpt->address);
}

/*
 * The store is short of space (full_text_min_free): empty the
 * recipient's full-text index before its mail needs the space.  Mail
 * comes first; the catch-up refills the index once there is room.  A
 * no-op (a stat) once the index is empty; the delivery that fails for
 * space, or whose spool write does, finds it emptied on its retry.
 */
static void give_back_index_space(const struct lmtp_backend *be,
				  const char *id, struct store_mailbox *mbox)
{
	struct error err = {0};
	const char *path = store_mailbox_path(mbox);
	if (fts_space_check(path, &be->fts_min, &err) != 0)
		return;
	long long freed = fts_reset(path, 200, &err);
	if (freed < 0)
		log_warn("%s: store low on space; emptying the full-text "
			 "index of %s failed: %s", id, path, err.msg);
	else if (freed > 0)
		log_warn("%s: store low on space: full-text index of %s "
			 "emptied, %lld bytes given back to mail (the "
			 "catch-up rebuilds it)", id, path, freed);
}

void lmtp_local_rcpt(struct lmtp_backend *be, const char *id,
		     struct lmtp_recipient *rcpt, uint64_t size_hint)
{
	if (be->mailboxes == NULL) {
		log_warn("%s: <%s>: %s", id, rcpt->address, be->broken.msg);
		smtp_reply_set(&rcpt->reply, 451, "4.3.5",
			       "<%s>: Server configuration problem",
			       rcpt->address);
		return;
	}

	char *keys[2];
	size_t nkeys = lmtp_address_keys(rcpt->local, rcpt->domain,
					 be->set.server.recipient_delimiter,
					 keys);
	char *mbox_domain = NULL, *mbox_local = NULL;
	struct buf *value = buf_new();
	struct error err;
	int found = 0;
	size_t i;

	for (i = 0; i < nkeys && found == 0; i++) {
		found = map_lookup(be->mailboxes, keys[i], value, &err);
		if (found < 0)
			log_warn("%s: %s lookup of %s: %s", id,
				 map_spec(be->mailboxes), keys[i], err.msg);
	}
	if (found < 0) {
		rcpt_tempfail(rcpt);
		goto out;
	}
	if (found == 0) {
		smtp_reply_set(&rcpt->reply, 550, "5.1.1",
			       "<%s>: Recipient address rejected: User "
			       "unknown in virtual mailbox table",
			       rcpt->address);
		goto out;
	}
	const char *mailbox = keys[i - 1];
	if (!lmtp_mailbox_parse(buf_data(value), &mbox_domain, &mbox_local)) {
		log_error("%s: %s answers \"%s\" for %s, not DOMAIN/USER/", id,
			  map_spec(be->mailboxes), buf_data(value), mailbox);
		rcpt_tempfail(rcpt);
		goto out;
	}
	rcpt->mailbox = xstrdup(mailbox);
	/* No row: a mailbox from a non-SQL map, without a quota. */
	unsigned long long quota;
	if (prov_mailbox_quota(be->db, mailbox, &quota, &err) < 0) {
		log_warn("%s: quota of %s: %s", id, mailbox, err.msg);
		rcpt_tempfail(rcpt);
		goto out;
	}
	struct store_mailbox *mbox =
	    store_mailbox_open(be->store, mbox_domain, mbox_local, &err);
	if (mbox == NULL) {
		log_error("%s: mailbox %s: %s", id, mailbox, err.msg);
		rcpt_tempfail(rcpt);
		goto out;
	}
	struct local_rcpt *lr = xcalloc(1, sizeof(*lr));
	lr->mbox = mbox;
	lr->quota_bytes = quota;
	rcpt->backend_data = lr;
	if (be->set.full_text_index)
		give_back_index_space(be, id, mbox);
	/* Usage that cannot be read lets the delivery decide (warned). */
	int full = store_over_quota(mbox, lr->quota_bytes, size_hint, &err);
	if (full < 0)
		log_warn("%s: quota usage of %s: %s", id, mailbox, err.msg);
	if (full > 0) {
		rcpt_quota_reply(be, rcpt);
		goto out;
	}
	smtp_reply_set(&rcpt->reply, 250, "2.1.5", "Ok");
out:
	for (i = 0; i < nkeys; i++)
		free(keys[i]);
	free(mbox_domain);
	free(mbox_local);
	buf_free(&value);
}

void lmtp_local_rcpt_free(struct lmtp_recipient *rcpt)
{
	struct local_rcpt *lr = rcpt->backend_data;
	if (lr == NULL)
		return;
	store_mailbox_free(&lr->mbox);
	free(lr);
	rcpt->backend_data = NULL;
}

/* Dovecot's Received line for LMTP, one per recipient ("for"). */
static char *received_header(const struct lmtp_message *msg,
			     const struct lmtp_recipient *rcpt,
			     const char *hostname)
{
	char date[64];
	bool unix_peer = strcmp(msg->peer, "unix") == 0;

	time_format_rfc5322(time(NULL), date, sizeof(date));
	return xasprintf(
	    "Received: from %s (%s%s%s)\r\n"
	    "\tby %s (Postern) with %s id %s\r\n"
	    "\tfor <%s>; %s\r\n",
	    msg->helo[0] != '\0' ? msg->helo : "unknown", unix_peer ? "" : "[",
	    unix_peer ? "unix socket" : msg->peer, unix_peer ? "" : "]",
	    hostname,
	    /* RFC 3848 and RFC 6531 with types: S for TLS. */
	    msg->smtputf8 ? (msg->tls ? "UTF8LMTPS" : "UTF8LMTP")
			  : (msg->tls ? "LMTPS" : "LMTP"),
	    msg->id,
	    rcpt->address, date);
}

static void delivery_reply(const struct lmtp_backend *be, const char *id,
			   struct lmtp_recipient *rcpt,
			   const struct store_delivery *d,
			   const struct error *err)
{
	if (err->kind == ERR_NONE) {
		rcpt->saved_name = xstrdup(d->name);
		smtp_reply_set(&rcpt->reply, 250, "2.0.0", "<%s> Saved",
			       rcpt->address);
		return;
	}
	if (err->code != NULL && strcmp(err->code, STORE_ERR_QUOTA) == 0) {
		if (err->kind == ERR_PERM)
			smtp_reply_set(&rcpt->reply, 552, "5.2.2",
				       "<%s>: Mailbox full", rcpt->address);
		else
			smtp_reply_set(&rcpt->reply, 452, "4.2.2",
				       "<%s>: Mailbox full", rcpt->address);
		return;
	}
	(void)be;
	log_error("%s: delivery to %s: %s", id, rcpt->mailbox, err->msg);
	if (err->code != NULL && strcmp(err->code, STORE_ERR_NOSPACE) == 0)
		smtp_reply_set(&rcpt->reply, 452, "4.3.1",
			       "Insufficient system storage");
	else
		smtp_reply_set(&rcpt->reply, 451, "4.3.0",
			       "Temporary local problem");
}

/*
 * Keep a delivered message for the full-text index (lmtp-index.h): an
 * open file of it, read after the reply.  A mailbox over its quota is
 * not indexed (its owner must make room first; the catch-up does it).
 */
static void keep_for_index(const struct lmtp_backend *be,
			   struct fts_batch **index, const char *id,
			   const struct store_delivery *d)
{
	struct store_name parsed;
	struct error err = {0};
	if (store_name_parse(d->name, &parsed, &err) < 0)
		return;
	if (*index == NULL)
		*index = fts_batch_new();
	/* Low on space: the batch empties the index instead (mail first;
	 * fts_batch.h). */
	if (fts_space_check(store_mailbox_path(d->mbox), &be->fts_min,
			    &err) == 0) {
		fts_batch_add_reset(*index, store_mailbox_path(d->mbox));
		return;
	}
	if (d->quota.bytes > 0 &&
	    store_over_quota(d->mbox, d->quota.bytes, 0, &err) != 0)
		return;
	char *path = xasprintf("%s/new/%s", store_mailbox_path(d->mbox),
			       d->name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* moved by an IMAP client already: the catch-up has it */
		log_info("%s: full-text index: open %s: %s (left for "
			 "catch-up)", id, path, strerror(errno));
		free(path);
		return;
	}
	free(path);
	char unique[STORE_NAME_MAX];
	snprintf(unique, sizeof(unique), "%.*s", (int)parsed.unique_len,
		 d->name);
	fts_batch_add(*index, store_mailbox_path(d->mbox), NULL, unique, fd);
}

const struct fts_min_free *lmtp_backend_fts_min(const struct lmtp_backend *be)
{
	return &be->fts_min;
}

void lmtp_local_deliver(struct lmtp_backend *be, const struct lmtp_message *msg,
			int fd, struct fts_batch **index)
{
	size_t n = msg->nrcpts;
	struct store_delivery *ds = xcalloc(n, sizeof(*ds));
	struct error *errs = xcalloc(n, sizeof(*errs));
	char **received = xcalloc(n, sizeof(*received));
	struct store_input in;

	for (size_t i = 0; i < n; i++) {
		struct lmtp_recipient *r = msg->rcpts[i];
		const struct local_rcpt *lr = r->backend_data;
		received[i] = received_header(msg, r, be->set.server.hostname);
		ds[i].mbox = lr->mbox;
		ds[i].return_path = msg->from;
		ds[i].delivered_to = r->address;
		ds[i].extra_headers = received[i];
		ds[i].quota.bytes = lr->quota_bytes;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		struct error err;
		error_set(&err, ERR_TEMP, "spool: lseek: %s", strerror(errno));
		for (size_t i = 0; i < n; i++)
			errs[i] = err;
	} else {
		store_input_fd(&in, &fd);
		store_deliver_many(ds, n, &in, errs);
	}
	for (size_t i = 0; i < n; i++) {
		delivery_reply(be, msg->id, msg->rcpts[i], &ds[i], &errs[i]);
		if (!be->set.full_text_index || index == NULL) {
			/* not indexing */
		} else if (errs[i].kind == ERR_NONE) {
			keep_for_index(be, index, msg->id, &ds[i]);
		} else if (errs[i].code != NULL &&
			   strcmp(errs[i].code, STORE_ERR_NOSPACE) == 0) {
			/* the index must not keep the space mail needs */
			if (*index == NULL)
				*index = fts_batch_new();
			fts_batch_add_reset(*index,
					    store_mailbox_path(ds[i].mbox));
		}
		free(received[i]);
	}
	free(received);
	free(errs);
	free(ds);
}

int lmtp_spool_open(const char *dir, struct error *err)
{
	if (fs_mkdir_p(dir, 0700, err) < 0)
		return -1;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return error_set(err, ERR_TEMP, "open %s (O_TMPFILE): %s", dir,
				 strerror(errno));
	char *path = xasprintf("%s/.lmtp-spool-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		error_set(err, ERR_TEMP, "mkstemp %s: %s", path,
			  strerror(errno));
	} else {
		(void)unlink(path);
	}
	free(path);
	return fd;
}
