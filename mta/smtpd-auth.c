/*
 * smtpd-auth.c - AUTH (RFC 4954) through Cyrus SASL.
 *
 * Cyrus runs the mechanisms (PLAIN, LOGIN: $smtpd_sasl_mechanisms); the
 * password itself is checked by our SASL_CB_SERVER_USERDB_CHECKPASS
 * callback with lib/auth's passdb_verify, so every hash scheme we store
 * works (Cyrus' own auxprop could only compare plaintext).  Options come
 * from SASL_CB_GETOPT and the configuration path points at a folder that
 * does not exist: no /etc/sasl2 file is ever read, tests stay hermetic.
 *
 * Threads: sasl_server_new/start/step run in the worker pool, because the
 * password check hashes (Argon2id: tens of milliseconds and 64 MiB) and
 * queries SQL.  Cyrus keeps process-global state and its default mutex
 * hooks do nothing, so one lock serialises every Cyrus call of the
 * process; that also caps concurrent Argon2 work at one per process.
 *
 * AUTH is offered only over TLS; a client in the middle of the exchange
 * sends base64 lines, "*" aborts (501 5.7.0).
 */
#include <pthread.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passdb.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/worker.h"
#include "tls/io.h"

#include "smtpd.h"

static pthread_mutex_t sasl_lock = PTHREAD_MUTEX_INITIALIZER;

struct smtpd_sasl {
	struct smtpd *smtpd;
	char *mech_list;
	char *confpath;
	char *default_scheme;
	bool upgrade;
	bool initialized;
};

/* The exchange of one AUTH command (one Cyrus connection). */
struct smtpd_auth {
	struct smtpd_session *s;
	sasl_conn_t *conn;
	char mech[SMTP_SASL_MECH_MAX + 1];
	char *service_fqdn;
	/* Job input/output. */
	char *in;
	unsigned inlen;
	bool started;
	int rc;
	char *out; /* base64 challenge or NULL */
	char *username;
	/* Per-connection callbacks; Cyrus keeps the pointer: they live
	 * as long as conn. */
	sasl_callback_t cbs[2];
	/* Set by the checkpass callback (in the job). */
	bool temp_failure;
	bool checked; /* our callback ran (and said no) */
	char errmsg[ERROR_MSG_MAX];
};

static int sasl_getopt(void *context, const char *plugin_name,
		       const char *option, const char **result, unsigned *len)
{
	struct smtpd_sasl *sasl = context;

	if (strcmp(option, "mech_list") == 0)
		*result = sasl->mech_list;
	else if (strcmp(option, "pwcheck_method") == 0)
		/* Only our callback; never saslauthd or sasldb. */
		*result = "auxprop";
	else if (strcmp(option, "auxprop_plugin") == 0)
		*result = "postern-none";
	else if (strcmp(option, "log_level") == 0)
		*result = "1";
	else
		return SASL_FAIL;
	if (len != NULL)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

static int sasl_getconfpath(void *context, const char **path)
{
	struct smtpd_sasl *sasl = context;

	*path = sasl->confpath;
	return SASL_OK;
}

/* Cyrus' own lines are debug output: after our checkpass callback
 * refuses, it tries its (absent) verifiers and complains at error level
 * about each; the outcome is logged by auth_done in Postfix's form. */
static int sasl_log(void *context, int level, const char *message)
{
	log_debug(LOG_TRACE_IO, "SASL[%d]: %s", level, message);
	return SASL_OK;
}

static int userdb_checkpass(sasl_conn_t *conn, void *context, const char *user,
			    const char *pass, unsigned passlen,
			    struct propctx *propctx)
{
	struct smtpd_auth *a = context;
	struct smtpd_sasl *sasl = a->s->smtpd->sasl;
	struct passdb_opts opts = {
	    .default_scheme = sasl->default_scheme,
	    .upgrade = sasl->upgrade,
	};
	char *password = xstrndup(pass, passlen);
	struct error err;
	int ret;

	a->checked = true;
	/* The hash from a replica (primary as fallback), a rehash to the
	 * primary: logins work with the primary down. */
	ret = passdb_verify_split(a->s->smtpd->lookup_db, a->s->smtpd->db, user,
				 password, &opts, &err);
	explicit_bzero(password, passlen);
	free(password);
	if (ret < 0) {
		a->temp_failure = err.kind == ERR_TEMP;
		snprintf(a->errmsg, sizeof(a->errmsg), "%s", err.msg);
		return a->temp_failure ? SASL_UNAVAIL : SASL_FAIL;
	}
	return ret == 1 ? SASL_OK : SASL_BADAUTH;
}

struct smtpd_sasl *smtpd_sasl_new(struct smtpd *smtpd, struct error *err)
{
	static sasl_callback_t callbacks[] = {
	    {SASL_CB_GETOPT, NULL, NULL},
	    {SASL_CB_GETCONFPATH, NULL, NULL},
	    {SASL_CB_LOG, NULL, NULL},
	    {SASL_CB_LIST_END, NULL, NULL},
	};
	const struct conf *conf = server_conf(smtpd->srv);
	struct smtpd_sasl *sasl = xcalloc(1, sizeof(*sasl));
	int rc;

	sasl->smtpd = smtpd;
	sasl->mech_list = xstrdup(smtpd->set->sasl_mechanisms);
	/* A folder that does not exist: Cyrus finds no config file. */
	sasl->confpath =
	    xasprintf("%s/sasl2-unused", conf_str(conf, "config_directory"));
	sasl->default_scheme =
	    xstrdup(conf_str(conf, "default_password_scheme"));
	sasl->upgrade = conf_bool(conf, "password_upgrade");
	callbacks[0].proc = (int (*)(void))(void (*)(void))sasl_getopt;
	callbacks[0].context = sasl;
	callbacks[1].proc = (int (*)(void))(void (*)(void))sasl_getconfpath;
	callbacks[1].context = sasl;
	callbacks[2].proc = (int (*)(void))(void (*)(void))sasl_log;
	rc = sasl_server_init(callbacks, "postern-smtpd");
	if (rc != SASL_OK) {
		error_set(err, ERR_CONFIG, "sasl_server_init: %s",
			  sasl_errstring(rc, NULL, NULL));
		smtpd_sasl_free(&sasl);
		return NULL;
	}
	sasl->initialized = true;
	/* The mechanisms are plugins (Debian: libsasl2-modules); without
	 * them AUTH would be offered and always fail. */
	const char **mechs = sasl_global_listmech();
	bool any = false;
	for (size_t i = 0; mechs != NULL && mechs[i] != NULL; i++)
		any = any || strstr(sasl->mech_list, mechs[i]) != NULL;
	if (!any) {
		error_set(err, ERR_CONFIG,
			  "none of the SASL mechanisms \"%s\" is available "
			  "(Cyrus SASL plugins not installed?)",
			  sasl->mech_list);
		smtpd_sasl_free(&sasl);
		return NULL;
	}
	return sasl;
}

void smtpd_sasl_free(struct smtpd_sasl **saslp)
{
	struct smtpd_sasl *sasl = *saslp;

	if (sasl == NULL)
		return;
	*saslp = NULL;
	if (sasl->initialized)
		sasl_server_done();
	free(sasl->mech_list);
	free(sasl->confpath);
	free(sasl->default_scheme);
	free(sasl);
}

static void auth_struct_free(struct smtpd_auth *a)
{
	free(a->service_fqdn);
	free(a->in);
	free(a->out);
	free(a->username);
	free(a);
}

/* Worker: dispose of the Cyrus connection, then of a, whose callback
 * array the connection points to. */
static void dispose_work(void *ctx)
{
	struct smtpd_auth *a = ctx;

	pthread_mutex_lock(&sasl_lock);
	sasl_dispose(&a->conn);
	pthread_mutex_unlock(&sasl_lock);
	auth_struct_free(a);
}

void smtpd_auth_free(struct smtpd_session *s)
{
	struct smtpd_auth *a = s->auth;

	if (a == NULL)
		return;
	s->auth = NULL;
	if (a->conn != NULL) {
		/* Not on the loop: a job may hold the lock for a while. */
		a->s = NULL;
		worker_submit(s->smtpd->workers, dispose_work, NULL, a);
		return;
	}
	auth_struct_free(a);
}

/* Worker: one Cyrus step (the first one creates the connection). */
static void auth_work(void *ctx)
{
	struct smtpd_auth *a = ctx;
	const char *out = NULL;
	unsigned outlen = 0;

	pthread_mutex_lock(&sasl_lock);
	if (a->conn == NULL) {
		sasl_security_properties_t sec = {
		    .min_ssf = 0,
		    .max_ssf = 0, /* no security layer: TLS is below us */
		    .maxbufsize = 0,
		    .security_flags = SASL_SEC_NOANONYMOUS,
		};
		a->rc = sasl_server_new("smtp", a->service_fqdn, NULL, NULL,
					NULL, a->cbs, 0, &a->conn);
		if (a->rc == SASL_OK)
			a->rc = sasl_setprop(a->conn, SASL_SEC_PROPS, &sec);
		if (a->rc != SASL_OK)
			goto out;
	}
	if (!a->started) {
		a->started = true;
		a->rc = sasl_server_start(a->conn, a->mech, a->in, a->inlen,
					  &out, &outlen);
	} else {
		a->rc =
		    sasl_server_step(a->conn, a->in, a->inlen, &out, &outlen);
	}
	free(a->out);
	a->out = NULL;
	if (a->rc == SASL_CONTINUE) {
		unsigned cap = 4 * (outlen / 3 + 1) + 1, n = 0;

		a->out = xmalloc(cap);
		if (sasl_encode64(out, outlen, a->out, cap, &n) != SASL_OK)
			a->rc = SASL_FAIL;
	} else if (a->rc == SASL_OK) {
		const void *user = NULL;

		if (sasl_getprop(a->conn, SASL_USERNAME, &user) == SASL_OK &&
		    user != NULL)
			a->username = xstrdup(user);
		else
			a->rc = SASL_FAIL;
	}
out:
	pthread_mutex_unlock(&sasl_lock);
}

static void auth_reset(struct smtpd_session *s)
{
	smtpd_auth_free(s);
	if (s->state == SMTPD_STATE_AUTH)
		s->state = SMTPD_STATE_HELO;
}

/* Loop: the outcome of one step. */
static void auth_done(void *ctx)
{
	struct smtpd_auth *a = ctx;
	struct smtpd_session *s = a->s;

	free(a->in);
	a->in = NULL;
	if (s->dead) {
		smtpd_session_release(s);
		return;
	}
	switch (a->rc) {
	case SASL_CONTINUE:
		s->state = SMTPD_STATE_AUTH;
		smtpd_reply_raw(s, "334 ");
		smtpd_reply_raw(s, a->out);
		smtpd_reply_raw(s, "\r\n");
		break;
	case SASL_OK:
		log_info("%s: client=unknown[%s], sasl_method=%s, "
			 "sasl_username=%s",
			 s->id, s->peer, a->mech, a->username);
		free(s->auth_user);
		s->auth_user = xstrdup(a->username);
		auth_reset(s);
		smtpd_reply(s, 235, "2.7.0", "Authentication successful");
		break;
	default:
		if (a->temp_failure) {
			log_warn("%s: unknown[%s]: SASL %s authentication "
				 "failed: %s",
				 s->id, s->peer, a->mech, a->errmsg);
			auth_reset(s);
			smtpd_error(s, 454, "4.7.0",
				    "Temporary authentication failure");
			break;
		}
		log_warn("%s: unknown[%s]: SASL %s authentication failed: %s",
			 s->id, s->peer, a->mech,
			 a->checked	   ? "authentication failure"
			 : a->conn != NULL ? sasl_errdetail(a->conn)
					   : sasl_errstring(a->rc, NULL, NULL));
		auth_reset(s);
		s->auth_failures++;
		smtpd_error(s, 535, "5.7.8", "Error: authentication failed");
		break;
	}
	smtpd_session_release(s);
	smtpd_session_resume(s);
}

static void auth_step(struct smtpd_session *s)
{
	s->pending++;
	smtpd_session_suspend(s);
	worker_submit(s->smtpd->workers, auth_work, auth_done, s->auth);
}

/* Decode base64 into a->in; false (and replied) when it is not. */
static bool auth_input(struct smtpd_session *s, const char *b64, size_t len)
{
	struct smtpd_auth *a = s->auth;
	unsigned cap = (unsigned)(len / 4 * 3 + 4), n = 0;

	free(a->in);
	a->in = xmalloc(cap);
	if (len == 1 && b64[0] == '=') {
		/* RFC 4954 4: "=" is an empty initial response. */
		a->inlen = 0;
		return true;
	}
	if (len > 0 &&
	    sasl_decode64(b64, (unsigned)len, a->in, cap, &n) != SASL_OK) {
		auth_reset(s);
		smtpd_error(s, 501, "5.5.2", "Error: invalid base64 data");
		return false;
	}
	a->inlen = n;
	return true;
}

void smtpd_cmd_auth(struct smtpd_session *s, const struct smtp_command *cmd)
{
	struct smtp_reply r;
	char mech[SMTP_SASL_MECH_MAX + 1];
	const char *ir;
	size_t irlen;
	struct smtpd_auth *a;

	if (!(smtpd_extensions(s) & SMTP_EXT_AUTH)) {
		smtpd_error(s, 503, "5.5.1",
			    "Error: authentication not enabled");
		return;
	}
	if (s->state == SMTPD_STATE_CONNECTED) {
		smtpd_error(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if (s->auth_user != NULL) {
		smtpd_error(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	if (s->txn != NULL) {
		smtpd_error(s, 503, "5.5.1",
			    "Error: MAIL transaction in progress");
		return;
	}
	if (smtpd_anvil_auth(s))
		return;
	if (smtp_command_parse_auth(cmd->args, cmd->args_len, mech, &ir, &irlen,
				    &r) < 0) {
		smtpd_reply_error(s, &r);
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->s = s;
	snprintf(a->mech, sizeof(a->mech), "%s", mech);
	a->service_fqdn = xstrdup(s->set->myhostname);
	a->cbs[0].id = SASL_CB_SERVER_USERDB_CHECKPASS;
	a->cbs[0].proc = (int (*)(void))(void (*)(void))userdb_checkpass;
	a->cbs[0].context = a;
	a->cbs[1].id = SASL_CB_LIST_END;
	s->auth = a;
	if (ir != NULL) {
		if (!auth_input(s, ir, irlen))
			return;
	} else {
		a->in = NULL;
		a->inlen = 0;
	}
	auth_step(s);
}

void smtpd_auth_line(struct smtpd_session *s, const char *line, size_t len)
{
	if (s->auth == NULL) {
		s->state = SMTPD_STATE_HELO;
		return;
	}
	if (len == 1 && line[0] == '*') {
		auth_reset(s);
		smtpd_error(s, 501, "5.7.0", "Error: authentication aborted");
		return;
	}
	if (!auth_input(s, line, len))
		return;
	auth_step(s);
}
