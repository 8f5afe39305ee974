/*
 * imapd-auth.c - STARTTLS, LOGIN and AUTHENTICATE PLAIN (RFC 4616, with
 * SASL-IR, RFC 4959), checked against the SQL mailboxes (passdb) on the
 * worker, throttled per user and per client address (auth/throttle.h;
 * the address limit is three times auth_throttle_max_failures, since a
 * NAT address may carry many users; a good login clears its user only,
 * so one valid account cannot reset an address that guesses others),
 * failures answered after auth_failure_delay as Dovecot does.
 *
 * PLAIN is decoded by auth/sasl_plain.h (shared with the IMAP proxy)
 * rather than through Cyrus SASL (which smtpd uses): PLAIN is the only
 * mechanism IMAP offers; the password check is the same passdb_verify
 * either way.
 *
 * Plaintext logins are refused before TLS (LOGINDISABLED, no AUTH=PLAIN)
 * unless imapd_plaintext_loopback allows them from a loopback client.
 *
 * Log lines follow Dovecot's (auth/login_log.h), so existing fail2ban
 * filters and log tooling keep working.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "auth/login_log.h"
#include "auth/passdb.h"
#include "auth/sasl_plain.h"
#include "auth/throttle.h"
#include "core/array.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "imap/imap_parser.h"
#include "mail/address.h"
#include "mindex/mindex.h"
#include "store/store.h"

#include "imapd.h"

/* Failed logins on one connection before it is closed. */
#define MAX_SESSION_FAILURES 3

enum imapd_cmd_result imapd_cmd_starttls(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);

	if (!imap_arg_is_eol(imapd_cmd_args(cmd))) {
		imapd_cmd_reply(cmd, "BAD", NULL, "No arguments expected.");
		return IMAPD_CMD_DONE;
	}
	if (s->tls) {
		imapd_cmd_reply(cmd, "BAD", NULL, "TLS is already active.");
		return IMAPD_CMD_DONE;
	}
	if (!s->starttls_ok) {
		imapd_cmd_reply(cmd, "BAD", NULL, "TLS support isn't enabled.");
		return IMAPD_CMD_DONE;
	}
	imapd_cmd_reply(cmd, "OK", NULL, "Begin TLS negotiation now.");
	imapd_cmd_after(cmd, IMAPD_AFTER_STARTTLS);
	return IMAPD_CMD_DONE;
}

static void log_attempt(struct imapd_session *s, const char *what,
			const char *user, const char *method)
{
	login_log(what, user, method, s->peer, s->local, s->tls, s->id);
}

static bool subscriptions_exist(const struct store_mailbox *mbox)
{
	char *path = xasprintf("%s/subscriptions", store_mailbox_path(mbox));
	bool ok = access(path, F_OK) == 0;

	free(path);
	return ok;
}

/* What crashed deliveries and folder creations left in the mailbox's
 * tmp/ goes at login, as Dovecot clears tmp/ when it opens a mailbox;
 * never a reason to refuse the login. */
static void clean_tmp(struct imapd_session *s, const char *user)
{
	struct array *kept = array_new();
	struct error err;

	if (store_tmp_cleanup(s->mbox, kept, &err) < 0)
		log_warn("imap(%s): tmp/ cleanup: %s", user, err.msg);
	for (size_t i = 0; i < array_len(kept); i++)
		log_warn("imap(%s): %s: an unfinished folder creation that "
			 "holds files; left alone",
			 user, (const char *)array_get(kept, i));
	array_free_with(&kept, free);
}

/* Open the user's store and create INBOX and the special-use folders. */
static int open_user(struct imapd_session *s, const char *address,
		     struct error *err)
{
	static const struct mindex_settings mset = {
	    .drafts = "Drafts",
	    .sent = "Sent",
	    .trash = "Trash",
	    .junk = "Junk",
	    .archive = "Archive",
	};
	const char *at = strrchr(address, '@');
	char *local;

	if (at == NULL || at == address) {
		error_set(err, ERR_PERM, "address without a domain");
		return -1;
	}
	local = xstrndup(address, (size_t)(at - address));
	s->mbox = store_mailbox_open(s->imapd->store, at + 1, local, err);
	free(local);
	if (s->mbox == NULL)
		return -1;
	if (store_folder_create(s->mbox, NULL, err) < 0)
		return -1;
	clean_tmp(s, address);
	s->mu = mindex_user_open(s->mbox, &mset, err);
	if (s->mu == NULL)
		return -1;
	/* First login (no Dovecot "subscriptions" file yet): INBOX is
	 * subscribed, as the special-use folders are when created.  A
	 * later UNSUBSCRIBE INBOX is respected. */
	if (!subscriptions_exist(s->mbox) &&
	    mindex_subscribe(s->mu, "INBOX", true, err) < 0)
		return -1;
	if (mindex_special_create(s->mu, err) < 0)
		return -1;
	return 0;
}

void imapd_auth_logout(struct imapd_session *s)
{
	mindex_user_free(&s->mu);
	store_mailbox_free(&s->mbox);
	free(s->user);
	s->user = NULL;
}

/* Check user/password and log in: the tagged reply is appended. */
static void do_login(struct imapd_cmd *cmd, const char *user,
		     const char *password, const char *method)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct imapd *d = s->imapd;
	struct passdb_opts opts = {
	    .default_scheme = s->set->default_scheme,
	    .upgrade = s->set->password_upgrade,
	};
	struct buf *norm = buf_new();
	char *ipkey, *userkey;
	time_t now = time(NULL);
	struct error err;
	int r;

	if (address_normalize(user, ADDRESS_IDN | ADDRESS_LOWER_LOCAL, norm,
			      NULL) < 0)
		buf_set_str(norm, user);
	ipkey = xasprintf("ip:%s", s->peer);
	userkey = xasprintf("user:%s", buf_data(norm));
	if (auth_throttle_blocked(d->throttle_ip, ipkey, now) ||
	    auth_throttle_blocked(d->throttle, userkey, now)) {
		log_attempt(s, "Aborted login (too many failures)", user,
			    method);
		imapd_cmd_reply(cmd, "NO", "UNAVAILABLE",
				"Too many failed logins, try again later.");
		imapd_cmd_after(cmd, IMAPD_AFTER_DELAY);
		goto out;
	}
	r = passdb_verify_split(d->read_db, d->db, user, password, &opts, &err);
	if (r < 0) {
		log_warn("imap-login: %s: passdb: %s", s->peer, err.msg);
		imapd_cmd_reply(cmd, "NO", "UNAVAILABLE",
				"Temporary authentication failure.");
		goto out;
	}
	if (r == 0) {
		auth_throttle_failure(d->throttle_ip, ipkey, now);
		auth_throttle_failure(d->throttle, userkey, now);
		log_attempt(s, "Login failed", user, method);
		imapd_cmd_reply(cmd, "NO", "AUTHENTICATIONFAILED",
				"Authentication failed.");
		imapd_cmd_after(cmd, IMAPD_AFTER_DELAY);
		if (++s->auth_failures >= MAX_SESSION_FAILURES) {
			buf_append_str(imapd_cmd_out(cmd),
				       "* BYE Too many invalid logins.\r\n");
			imapd_cmd_after(cmd, IMAPD_AFTER_CLOSE);
		}
		goto out;
	}
	auth_throttle_success(d->throttle, userkey);
	s->user = xstrdup(buf_data(norm));
	if (open_user(s, s->user, &err) < 0) {
		log_error("imap(%s): cannot open the mailbox: %s", s->user,
			  err.msg);
		imapd_auth_logout(s);
		imapd_cmd_reply(cmd, "NO", "SERVERBUG",
				"Internal error occurred. Refer to server log "
				"for more information.");
		goto out;
	}
	s->state = IMAPD_STATE_AUTH;
	log_attempt(s, "Login", s->user, method);
	buf_printf(imapd_cmd_out(cmd), "%s OK [CAPABILITY ",
		   imapd_cmd_tag(cmd));
	imapd_capability(s, imapd_cmd_out(cmd));
	buf_append_str(imapd_cmd_out(cmd), "] Logged in\r\n");
	imapd_cmd_after(cmd, IMAPD_AFTER_LOGIN);
out:
	free(ipkey);
	free(userkey);
	buf_free(&norm);
}

static bool refuse_plaintext(struct imapd_cmd *cmd)
{
	if (imapd_session_login_allowed(imapd_cmd_session(cmd)))
		return false;
	imapd_cmd_reply(cmd, "NO", "PRIVACYREQUIRED",
			"Plaintext authentication disallowed on non-secure "
			"(SSL/TLS) connections.");
	return true;
}

enum imapd_cmd_result imapd_cmd_login(struct imapd_cmd *cmd)
{
	const struct imap_arg *args = imapd_cmd_args(cmd);
	const char *user, *password;

	if (!imap_arg_get_astring(&args[0], &user) ||
	    !imap_arg_get_astring(&args[1], &password) ||
	    !imap_arg_is_eol(&args[2])) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"Invalid arguments: LOGIN user password.");
		return IMAPD_CMD_DONE;
	}
	if (refuse_plaintext(cmd))
		return IMAPD_CMD_DONE;
	do_login(cmd, user, password, "PLAIN");
	return IMAPD_CMD_DONE;
}

static void plain_response(struct imapd_cmd *cmd, const char *resp)
{
	char *user = NULL, *password = NULL;

	if (sasl_response_cancelled(resp)) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Authentication aborted.");
		return;
	}
	/* One answer for every refusal (the proxy tells them apart). */
	if (sasl_plain_decode(resp, &user, &password) != SASL_PLAIN_OK) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"Invalid base64 or PLAIN response.");
		return;
	}
	do_login(cmd, user, password, "PLAIN");
	sasl_secret_free(&password);
	free(user);
}

enum imapd_cmd_result imapd_cmd_authenticate(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	const char *mech, *ir = NULL;

	if (s->auth_response != NULL) {
		/* The continuation: the client's response line. */
		char *resp = s->auth_response;

		s->auth_response = NULL;
		imapd_cmd_clear_after(cmd, IMAPD_AFTER_AUTH_CONT);
		plain_response(cmd, resp);
		sasl_secret_free(&resp);
		return IMAPD_CMD_DONE;
	}
	if (!imap_arg_get_atom(&args[0], &mech) ||
	    (!imap_arg_is_eol(&args[1]) && (!imap_arg_get_atom(&args[1], &ir) ||
					    !imap_arg_is_eol(&args[2])))) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"Invalid arguments: AUTHENTICATE mechanism "
				"[initial-response].");
		return IMAPD_CMD_DONE;
	}
	if (strcasecmp(mech, "PLAIN") != 0) {
		imapd_cmd_reply(cmd, "NO", NULL,
				"Unsupported authentication mechanism.");
		return IMAPD_CMD_DONE;
	}
	if (refuse_plaintext(cmd))
		return IMAPD_CMD_DONE;
	if (ir == NULL) {
		buf_append_str(imapd_cmd_out(cmd), "+ \r\n");
		imapd_cmd_after(cmd, IMAPD_AFTER_AUTH_CONT);
		return IMAPD_CMD_DONE;
	}
	plain_response(cmd, sasl_initial_response(ir));
	return IMAPD_CMD_DONE;
}
