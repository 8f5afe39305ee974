/*
 * outmsg - outgoing message bytes: 7-bit downgrade and DKIM (outmsg.h).
 *
 * Threads: outmsg_build() runs on deliver.c's worker threads, several at
 * once.  The SQL handle needs nothing: a struct db is already a pool of
 * connections that threads borrow per call (db.h), so one handle per
 * worker would only open more connections.  The key cache is the one
 * shared, changing thing: one mutex guards the hash and the reference
 * counts, held for a lookup or an insert only, never across the SQL
 * query or a signature, so a slow database stalls only the threads that
 * need a domain not cached (two may then both read it: harmless, the
 * last insert wins).  Entries are reference-counted, so a flush (reload,
 * the size bound) or an expiry replacement never frees keys another
 * thread is signing with.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "dkim/dkim.h"
#include "dkim/dkim_store.h"
#include "mail/address.h"
#include "mail/header.h"
#include "mail/mime_downgrade.h"
#include "outmsg.h"

/* A domain's active keys, parsed (parsing a PEM key costs more than a
 * signature). */
#define OUTMSG_KEY_CACHE_MAX 10000

struct domain_keys {
	unsigned refs;	 /* the cache's + each signer's; under om.lock */
	int64_t expires; /* monotonic ms */
	struct dkim_sign_key keys[4];
	char selectors[4][64];
	struct dkim_secret *secrets[4];
	size_t n;
	char *domain;
};

/* db, dkim and db_error are set by outmsg_init() and cleared by
 * outmsg_fini() on the loop thread while no worker runs (deliver.c joins
 * its threads in dlv_client_fini(), before main.c calls outmsg_fini()). */
static struct {
	struct db *db;
	struct dkim_ctx *dkim;
	pthread_mutex_t lock; /* cache and every domain_keys' refs */
	struct hash *cache;   /* domain -> struct domain_keys */
	char db_error[200];
} om = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Drop one reference; om.lock held (hash_put and hash_free call it as
 * the cache's value_free). */
static void domain_keys_unref_locked(void *p)
{
	struct domain_keys *dk = p;

	if (--dk->refs > 0)
		return;
	for (size_t i = 0; i < dk->n; i++)
		dkim_secret_free(&dk->secrets[i]);
	free(dk->domain);
	free(dk);
}

static void domain_keys_unref(const struct domain_keys *dk)
{
	pthread_mutex_lock(&om.lock);
	domain_keys_unref_locked((void *)dk);
	pthread_mutex_unlock(&om.lock);
}

int outmsg_init(const struct conf *conf, struct error *err)
{
	struct error e;

	outmsg_fini();
	om.dkim = dkim_ctx_new(NULL, err);
	if (om.dkim == NULL)
		return -1;
	pthread_mutex_lock(&om.lock);
	om.cache = hash_new(HASH_FOLD_CASE, domain_keys_unref_locked);
	pthread_mutex_unlock(&om.lock);
	om.db = db_open(conf, &e);
	if (om.db == NULL) {
		/* Mail that would be signed waits; the rest still goes. */
		str_copy(om.db_error, e.msg, sizeof(om.db_error));
		log_warn("dkim: cannot open the database: %s", e.msg);
	}
	return 0;
}

void outmsg_fini(void)
{
	db_close(&om.db);
	dkim_ctx_free(&om.dkim);
	pthread_mutex_lock(&om.lock);
	hash_free(&om.cache);
	pthread_mutex_unlock(&om.lock);
	om.db_error[0] = '\0';
}

/* om.lock held. */
static void flush_keys_locked(void)
{
	if (om.cache != NULL) {
		hash_free(&om.cache);
		om.cache = hash_new(HASH_FOLD_CASE, domain_keys_unref_locked);
	}
}

void outmsg_flush_keys(void)
{
	pthread_mutex_lock(&om.lock);
	flush_keys_locked();
	pthread_mutex_unlock(&om.lock);
}

bool outmsg_signs(const struct queue_env *env)
{
	/* Sign once, after the filter: the copy the filter gets would
	 * carry a signature its changes break, and the filter's
	 * reinjection is signed instead (env->dkim_sign). */
	if (env->filter != NULL && env->filter[0] != '\0')
		return false;
	/* The submitter does not own the From: address (smtpd's 'V'). */
	if (env->dkim_deny)
		return false;
	return (env->auth_name != NULL && env->auth_name[0] != '\0') ||
	       env->client_addr == NULL || env->dkim_sign;
}

/* The domain of the (first) From address, normalised, into out. */
static bool from_domain(const char *msg, size_t len, struct buf *out)
{
	struct buf *value = buf_new();
	struct header_address *list;
	struct error err;
	bool ok = false;

	if (!header_get(msg, len, "From", value)) {
		buf_free(&value);
		return false;
	}
	list = header_address_parse(buf_data(value), buf_len(value), 1);
	if (list != NULL && !list->invalid && list->host != NULL)
		ok = address_domain_normalize(list->host, strlen(list->host),
					      ADDRESS_IDN, out, &err) == 0;
	header_address_free(&list);
	buf_free(&value);
	return ok;
}

/* The active keys of domain, from the cache or SQL: 0 with a reference
 * in *dk_r (domain_keys_unref() it), or -1. */
static int keys_of(const char *domain, const struct domain_keys **dk_r,
		   struct error *err)
{
	struct domain_keys *dk;
	int64_t now = time_mono_ms();

	pthread_mutex_lock(&om.lock);
	dk = om.cache != NULL ? hash_get(om.cache, domain) : NULL;
	if (dk != NULL && now < dk->expires) {
		dk->refs++;
		pthread_mutex_unlock(&om.lock);
		*dk_r = dk;
		return 0;
	}
	pthread_mutex_unlock(&om.lock);
	if (om.db == NULL)
		return error_set(err, ERR_TEMP, "DKIM keys unavailable: %s",
				 om.db_error);
	/* SQL and the PEM parsing run unlocked (see the top). */
	struct dkim_store_key *keys;
	size_t n;
	if (dkim_store_active(om.db, domain, &keys, &n, err) < 0) {
		if (err->kind == ERR_TEMP)
			return -1; /* the database is down: defer */
		/* An SQL error that will not fix itself (a database not
		 * migrated to dkim_keys yet): mail goes unsigned rather
		 * than waiting forever; said once a minute per domain. */
		log_warn("dkim: keys of %s: %s (sending unsigned; run "
			 "`postern db migrate`?)",
			 domain, err->msg);
		keys = NULL;
		n = 0;
	}
	dk = xcalloc(1, sizeof(*dk));
	dk->domain = xstrdup(domain);
	for (size_t i = 0; i < n && dk->n < 4; i++) {
		struct error kerr;
		struct dkim_secret *s =
		    dkim_secret_load(keys[i].alg, keys[i].private_pem, &kerr);
		if (s == NULL) {
			/* Not fatal for the domain's other key. */
			log_error("dkim: key %s._domainkey.%s: %s",
				  keys[i].selector, domain, kerr.msg);
			continue;
		}
		size_t k = dk->n++;
		str_copy(dk->selectors[k], keys[i].selector,
			 sizeof(dk->selectors[k]));
		dk->secrets[k] = s;
		dk->keys[k].domain = dk->domain;
		dk->keys[k].selector = dk->selectors[k];
		dk->keys[k].secret = s;
	}
	dkim_store_keys_free(&keys, n);
	dk->expires = now + OUTMSG_KEY_TTL_MS;
	dk->refs = 2; /* the cache's and the caller's */
	pthread_mutex_lock(&om.lock);
	/* Authenticated users choose their From: a bound on the domains
	 * remembered, most of them without keys. */
	if (om.cache != NULL && hash_count(om.cache) >= OUTMSG_KEY_CACHE_MAX)
		flush_keys_locked();
	if (om.cache != NULL)
		hash_put(om.cache, domain, dk);
	else
		dk->refs = 1;
	pthread_mutex_unlock(&om.lock);
	*dk_r = dk;
	return 0;
}

/* Append the signature fields for msg to sigs (nothing when the From
 * domain has no keys). */
static int sign(const char *msg, size_t len, struct buf *sigs,
		struct error *err)
{
	const struct domain_keys *dk = NULL;
	struct buf *domain = buf_new();
	int rc = 0;

	if (!from_domain(msg, len, domain) ||
	    (rc = keys_of(buf_data(domain), &dk, err)) < 0 || dk->n == 0)
		goto out;
	rc = dkim_sign_msg(om.dkim, dk->keys, dk->n, msg, len, sigs, err);
	if (rc < 0)
		/* OpenSSL failing to sign is not the message's fault. */
		err->kind = ERR_TEMP;
out:
	if (dk != NULL)
		domain_keys_unref(dk);
	buf_free(&domain);
	return rc;
}

int outmsg_build(const struct queue_env *env, const char *msg, size_t len,
		 bool need_7bit, struct buf *out, bool *changed_r,
		 struct error *err)
{
	struct buf *conv = NULL, *sigs = buf_new();
	const char *body = msg;
	size_t blen = len;
	int rc = -1;

	buf_reset(out);
	*changed_r = false;
	if (need_7bit && mime_is_8bit(msg, len)) {
		conv = buf_new_size(len + len / 4);
		if (mime_downgrade_7bit(msg, len, conv, err) < 0)
			goto out;
		body = buf_data(conv);
		blen = buf_len(conv);
		*changed_r = true;
	}
	if (om.dkim != NULL && outmsg_signs(env) &&
	    sign(body, blen, sigs, err) < 0)
		goto out;
	if (buf_len(sigs) > 0)
		*changed_r = true;
	buf_append(out, buf_data(sigs), buf_len(sigs));
	buf_append(out, body, blen);
	rc = 0;
out:
	buf_free(&conv);
	buf_free(&sigs);
	return rc;
}
