/*
 * imapd-commands.c - the command table, the struct imapd_cmd behind
 * imapd-cmd.h, and the commands that need nothing but the session:
 * CAPABILITY, NOOP, CHECK, LOGOUT, ID, ENABLE, NAMESPACE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "imap/imap_parser.h"
#include "imap/imap_quote.h"

#include "imapd.h"

struct imapd_cmd {
	struct imapd_session *s;
	char *tag;
	char *name;
	bool uid;
	const struct imapd_command_def *def;
	struct imap_command *ic; /* parsed; NULL for internal commands */
	struct buf *out;
	void *state;
	void (*state_free)(void *state);
	enum imapd_cmd_result result;
	unsigned after;
	imapd_cmd_fn *internal;
};

/* ---- The table (sorted only for reading; looked up linearly). */

#define A IMAPD_STATE_NOAUTH
#define U IMAPD_STATE_AUTH
#define S IMAPD_STATE_SELECTED

static enum imapd_cmd_result cmd_capability(struct imapd_cmd *cmd);
static enum imapd_cmd_result cmd_noop(struct imapd_cmd *cmd);
static enum imapd_cmd_result cmd_logout(struct imapd_cmd *cmd);
static enum imapd_cmd_result cmd_id(struct imapd_cmd *cmd);
static enum imapd_cmd_result cmd_enable(struct imapd_cmd *cmd);
static enum imapd_cmd_result cmd_namespace(struct imapd_cmd *cmd);
static enum imapd_cmd_result cmd_compress(struct imapd_cmd *cmd);

static const struct imapd_command_def commands[] = {
    {"CAPABILITY", A | U | S, false, cmd_capability},
    {"NOOP", A | U | S, false, cmd_noop},
    {"LOGOUT", A | U | S, false, cmd_logout},
    {"ID", A | U | S, false, cmd_id},
    {"STARTTLS", A, false, imapd_cmd_starttls},
    {"LOGIN", A, false, imapd_cmd_login},
    {"AUTHENTICATE", A, false, imapd_cmd_authenticate},
    {"ENABLE", U | S, false, cmd_enable},
    {"NAMESPACE", U | S, false, cmd_namespace},
    {"COMPRESS", U | S, false, cmd_compress},
    {"SELECT", U | S, false, imapd_cmd_select},
    {"EXAMINE", U | S, false, imapd_cmd_examine},
    {"CREATE", U | S, false, imapd_cmd_create},
    {"DELETE", U | S, false, imapd_cmd_delete},
    {"RENAME", U | S, false, imapd_cmd_rename},
    {"SUBSCRIBE", U | S, false, imapd_cmd_subscribe},
    {"UNSUBSCRIBE", U | S, false, imapd_cmd_unsubscribe},
    {"LIST", U | S, false, imapd_cmd_list},
    {"LSUB", U | S, false, imapd_cmd_lsub},
    {"STATUS", U | S, false, imapd_cmd_status},
    {"APPEND", U | S, false, imapd_cmd_append},
    {"GETQUOTA", U | S, false, imapd_cmd_getquota},
    {"GETQUOTAROOT", U | S, false, imapd_cmd_getquotaroot},
    {"SETQUOTA", U | S, false, imapd_cmd_setquota},
    {"GETMETADATA", U | S, false, imapd_cmd_getmetadata},
    {"SETMETADATA", U | S, false, imapd_cmd_setmetadata},
    {"IDLE", U | S, false, imapd_cmd_idle},
    {"NOTIFY", U | S, false, imapd_cmd_notify},
    {"CHECK", S, false, cmd_noop},
    {"CLOSE", S, false, imapd_cmd_close},
    {"UNSELECT", S, false, imapd_cmd_unselect},
    {"FETCH", S, true, imapd_cmd_fetch},
    {"STORE", S, true, imapd_cmd_store},
    {"SEARCH", S, true, imapd_cmd_search},
    {"COPY", S, true, imapd_cmd_copy},
    {"MOVE", S, true, imapd_cmd_move},
    {"EXPUNGE", S, true, imapd_cmd_expunge},
    {"SORT", S, true, imapd_cmd_sort},
    {"THREAD", S, true, imapd_cmd_thread},
};

#undef A
#undef U
#undef S

const struct imapd_command_def *imapd_command_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcasecmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* ---- struct imapd_cmd. */

struct imapd_cmd *imapd_cmd_new(struct imapd_session *s, const char *tag,
				const char *name, bool uid,
				const struct imapd_command_def *def)
{
	struct imapd_cmd *cmd = xcalloc(1, sizeof(*cmd));

	cmd->s = s;
	cmd->tag = xstrdup(tag);
	cmd->name = xstrdup(name);
	cmd->uid = uid;
	cmd->def = def;
	cmd->out = buf_new();
	return cmd;
}

void imapd_cmd_free(struct imapd_cmd **cmdp)
{
	struct imapd_cmd *cmd = *cmdp;

	if (cmd == NULL)
		return;
	*cmdp = NULL;
	if (cmd->state_free != NULL && cmd->state != NULL)
		cmd->state_free(cmd->state);
	imap_command_free(&cmd->ic);
	buf_free(&cmd->out);
	free(cmd->tag);
	free(cmd->name);
	free(cmd);
}

void imapd_cmd_take_command(struct imapd_cmd *cmd, struct imap_command *ic)
{
	cmd->ic = ic;
}

enum imapd_cmd_result imapd_cmd_run(struct imapd_cmd *cmd)
{
	imapd_cmd_fn *run =
	    cmd->internal != NULL ? cmd->internal : cmd->def->run;

	cmd->result = run(cmd);
	return cmd->result;
}

enum imapd_cmd_result imapd_cmd_result(const struct imapd_cmd *cmd)
{
	return cmd->result;
}

void imapd_cmd_set_internal(struct imapd_cmd *cmd, imapd_cmd_fn *run)
{
	cmd->internal = run;
}

bool imapd_cmd_is_internal(const struct imapd_cmd *cmd)
{
	return cmd->internal != NULL;
}

void imapd_cmd_after(struct imapd_cmd *cmd, unsigned bits)
{
	cmd->after |= bits;
}

void imapd_cmd_clear_after(struct imapd_cmd *cmd, unsigned bits)
{
	cmd->after &= ~bits;
}

unsigned imapd_cmd_after_bits(const struct imapd_cmd *cmd)
{
	return cmd->after;
}

const char *imapd_cmd_tag(const struct imapd_cmd *cmd)
{
	return cmd->tag;
}

const char *imapd_cmd_name(const struct imapd_cmd *cmd)
{
	return cmd->name;
}

bool imapd_cmd_is_uid(const struct imapd_cmd *cmd)
{
	return cmd->uid;
}

const struct imap_arg *imapd_cmd_args(const struct imapd_cmd *cmd)
{
	static const struct imap_arg eol = {.type = IMAP_ARG_EOL};

	return cmd->ic != NULL ? cmd->ic->args : &eol;
}

struct imapd_session *imapd_cmd_session(struct imapd_cmd *cmd)
{
	return cmd->s;
}

struct buf *imapd_cmd_out(struct imapd_cmd *cmd)
{
	return cmd->out;
}

void *imapd_cmd_state(struct imapd_cmd *cmd)
{
	return cmd->state;
}

void imapd_cmd_set_state(struct imapd_cmd *cmd, void *state,
			 void (*free_fn)(void *state))
{
	cmd->state = state;
	cmd->state_free = free_fn;
}

void imapd_cmd_reply(struct imapd_cmd *cmd, const char *status,
		     const char *code, const char *fmt, ...)
{
	va_list ap;

	buf_printf(cmd->out, "%s %s ", cmd->tag, status);
	if (code != NULL)
		buf_printf(cmd->out, "[%s] ", code);
	va_start(ap, fmt);
	buf_vprintf(cmd->out, fmt, ap);
	va_end(ap);
	buf_append_str(cmd->out, "\r\n");
}

/* ---- The session as commands see it. */

struct mindex_folder *imapd_session_folder(struct imapd_session *s)
{
	return s->folder;
}

bool imapd_session_readonly(const struct imapd_session *s)
{
	return s->readonly;
}

unsigned imapd_session_enabled(const struct imapd_session *s)
{
	return s->enabled;
}

void imapd_session_enable(struct imapd_session *s, unsigned bits)
{
	if (bits & IMAPD_ENABLED_QRESYNC)
		bits |= IMAPD_ENABLED_CONDSTORE;
	s->enabled |= bits;
}

const uint32_t *imapd_session_saved(const struct imapd_session *s,
				    size_t *count_r)
{
	*count_r = s->saved_count;
	return s->saved;
}

void imapd_session_set_saved(struct imapd_session *s, const uint32_t *uids,
			     size_t count)
{
	free(s->saved);
	s->saved = count > 0 ? xmemdup(uids, count * sizeof(*uids)) : NULL;
	s->saved_count = count;
}

const char *imapd_session_user(const struct imapd_session *s)
{
	return s->user;
}

unsigned imapd_session_quote_flags(const struct imapd_session *s)
{
	return (s->enabled & (IMAPD_ENABLED_UTF8 | IMAPD_ENABLED_IMAP4REV2))
		   ? IMAP_QUOTE_UTF8
		   : 0;
}

/* ---- Capabilities. */

/*
 * The message commands' capabilities (H5's files), listed only once they
 * work: see imapd/NOTES-H4.md.
 */
const char imapd_extra_capabilities[] =
    " MOVE ESEARCH SEARCHRES SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=ORDEREDSUBJECT PREVIEW OBJECTID BINARY WITHIN METADATA "
    "METADATA-SERVER NOTIFY";

bool imapd_session_login_allowed(const struct imapd_session *s)
{
	/* A trusted proxy counts as secured, as Dovecot's
	 * login_trusted_networks: it did TLS with the client itself. */
	return s->tls || s->trusted ||
	       (s->loopback && s->set->plaintext_loopback);
}

void imapd_capability(const struct imapd_session *s, struct buf *out)
{
	buf_append_str(out, "IMAP4rev1 IMAP4rev2");
	if (s->state == IMAPD_STATE_NOAUTH) {
		if (s->starttls_ok && !s->tls)
			buf_append_str(out, " STARTTLS");
		if (imapd_session_login_allowed(s))
			buf_append_str(out, " AUTH=PLAIN");
		else
			buf_append_str(out, " LOGINDISABLED");
		buf_append_str(out, " SASL-IR");
	}
	buf_append_str(out, " LITERAL+ ID ENABLE IDLE NAMESPACE UNSELECT "
			    "CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE "
			    "UIDPLUS QUOTA QUOTA=RES-STORAGE STATUS=SIZE "
			    "CONDSTORE QRESYNC UTF8=ACCEPT");
	if (s->state != IMAPD_STATE_NOAUTH)
		buf_append_str(out, " COMPRESS=DEFLATE");
	buf_printf(out, " APPENDLIMIT=%llu",
		   (unsigned long long)s->set->append_limit);
	buf_append_str(out, imapd_extra_capabilities);
}

/* ---- Simple commands. */

static enum imapd_cmd_result cmd_capability(struct imapd_cmd *cmd)
{
	if (!imap_arg_is_eol(imapd_cmd_args(cmd))) {
		imapd_cmd_reply(cmd, "BAD", NULL, "No arguments expected.");
		return IMAPD_CMD_DONE;
	}
	buf_append_str(cmd->out, "* CAPABILITY ");
	imapd_capability(cmd->s, cmd->out);
	buf_append_str(cmd->out, "\r\n");
	imapd_cmd_reply(cmd, "OK", NULL, "Capability completed.");
	return IMAPD_CMD_DONE;
}

static enum imapd_cmd_result cmd_noop(struct imapd_cmd *cmd)
{
	if (!imap_arg_is_eol(imapd_cmd_args(cmd))) {
		imapd_cmd_reply(cmd, "BAD", NULL, "No arguments expected.");
		return IMAPD_CMD_DONE;
	}
	if (cmd->s->folder != NULL && imapd_cmd_sync(cmd, true) < 0) {
		imapd_cmd_reply(cmd, "NO", "SERVERBUG",
				"Cannot read the mailbox now.");
		return IMAPD_CMD_DONE;
	}
	imapd_cmd_reply(cmd, "OK", NULL, "%s completed.", cmd->name);
	return IMAPD_CMD_DONE;
}

static enum imapd_cmd_result cmd_logout(struct imapd_cmd *cmd)
{
	buf_append_str(cmd->out, "* BYE Logging out.\r\n");
	imapd_cmd_reply(cmd, "OK", NULL, "Logout completed.");
	imapd_cmd_after(cmd, IMAPD_AFTER_CLOSE);
	return IMAPD_CMD_DONE;
}

/*
 * The client address a trusted proxy forwards in ID (Dovecot's
 * x-originating-ip/-port): from now on it is the session's peer in logs
 * and login throttling.  Only before login, once, and only from
 * imapd_trusted_networks: anyone else could forge their address.  The
 * proxy's own address stays in proxy_peer; the old string is not freed
 * here because the loop may read it while this runs on a worker.
 */
static void id_forwarded(struct imapd_session *s, const char *ip,
			 const char *port)
{
	unsigned long long p = 0;

	if (ip == NULL || !s->trusted || s->proxy_peer != NULL ||
	    s->state != IMAPD_STATE_NOAUTH || strlen(ip) >= 64 ||
	    strspn(ip, "0123456789abcdefABCDEF.:") != strlen(ip))
		return;
	if (port != NULL && (!str_to_u64(port, &p) || p > 65535))
		p = 0;
	log_info("imap-login: proxied: rip=%s, rport=%llu, proxy=%s, "
		 "session=<%s>",
		 ip, p, s->peer, s->id);
	s->proxy_peer = s->peer;
	s->peer = xstrdup(ip);
	s->peer_port = (unsigned)p;
}

/* ID (RFC 2971): log what the client says, tell our name. */
static enum imapd_cmd_result cmd_id(struct imapd_cmd *cmd)
{
	const struct imap_arg *args = imapd_cmd_args(cmd), *list;
	const char *fwd_ip = NULL, *fwd_port = NULL;
	size_t count, i;
	struct buf *logline;

	if (imap_arg_is_nil(&args[0])) {
		count = 0;
		list = NULL;
	} else if (!imap_arg_get_list(&args[0], &list, &count) ||
		   count % 2 != 0 || count > 60) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Invalid ID parameters.");
		return IMAPD_CMD_DONE;
	}
	if (!imap_arg_is_eol(&args[1])) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Invalid ID parameters.");
		return IMAPD_CMD_DONE;
	}
	logline = buf_new();
	for (i = 0; i + 1 < count; i += 2) {
		const char *k, *v;

		if (!imap_arg_get_string(&list[i], &k) ||
		    !imap_arg_get_nstring(&list[i + 1], &v)) {
			buf_free(&logline);
			imapd_cmd_reply(cmd, "BAD", NULL,
					"Invalid ID parameters.");
			return IMAPD_CMD_DONE;
		}
		if (strcasecmp(k, "x-originating-ip") == 0)
			fwd_ip = v;
		else if (strcasecmp(k, "x-originating-port") == 0)
			fwd_port = v;
		if (strlen(k) <= 30 && (v == NULL || strlen(v) <= 1024))
			buf_printf(logline, " %.30s=%.100s", k,
				   v != NULL ? v : "NIL");
	}
	if (buf_len(logline) > 0)
		log_info("imap-login: ID from %s:%s", cmd->s->peer,
			 buf_data(logline));
	buf_free(&logline);
	id_forwarded(cmd->s, fwd_ip, fwd_port);
	buf_append_str(cmd->out, "* ID (\"name\" \"Postern\" \"vendor\" "
				 "\"Postern\")\r\n");
	imapd_cmd_reply(cmd, "OK", NULL, "ID completed.");
	return IMAPD_CMD_DONE;
}

/* ENABLE (RFC 5161): answer with what was newly enabled. */
static enum imapd_cmd_result cmd_enable(struct imapd_cmd *cmd)
{
	const struct imap_arg *args = imapd_cmd_args(cmd);
	struct buf *enabled = buf_new();
	size_t i;

	if (imap_arg_is_eol(&args[0])) {
		buf_free(&enabled);
		imapd_cmd_reply(cmd, "BAD", NULL, "Missing capability.");
		return IMAPD_CMD_DONE;
	}
	for (i = 0; !imap_arg_is_eol(&args[i]); i++) {
		const char *name;
		unsigned bit = 0;

		if (!imap_arg_get_atom(&args[i], &name)) {
			buf_free(&enabled);
			imapd_cmd_reply(cmd, "BAD", NULL,
					"Invalid capability name.");
			return IMAPD_CMD_DONE;
		}
		if (strcasecmp(name, "CONDSTORE") == 0)
			bit = IMAPD_ENABLED_CONDSTORE;
		else if (strcasecmp(name, "QRESYNC") == 0)
			bit = IMAPD_ENABLED_QRESYNC;
		else if (strcasecmp(name, "UTF8=ACCEPT") == 0)
			bit = IMAPD_ENABLED_UTF8;
		else if (strcasecmp(name, "IMAP4rev2") == 0)
			bit = IMAPD_ENABLED_IMAP4REV2;
		if (bit == 0 || (cmd->s->enabled & bit) == bit)
			continue;
		imapd_session_enable(cmd->s, bit);
		buf_printf(enabled, " %s", name);
	}
	buf_printf(cmd->out, "* ENABLED%s\r\n", buf_data(enabled));
	buf_free(&enabled);
	imapd_cmd_reply(cmd, "OK", NULL, "Enabled.");
	return IMAPD_CMD_DONE;
}

/* NAMESPACE (RFC 2342): one personal namespace, "." separator, as
 * Dovecot's default Maildir++ layout. */
static enum imapd_cmd_result cmd_namespace(struct imapd_cmd *cmd)
{
	buf_append_str(cmd->out, "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n");
	imapd_cmd_reply(cmd, "OK", NULL, "Namespace completed.");
	return IMAPD_CMD_DONE;
}

/* COMPRESS (RFC 4978): the io deflates from after this OK on. */
static enum imapd_cmd_result cmd_compress(struct imapd_cmd *cmd)
{
	const struct imap_arg *args = imapd_cmd_args(cmd);

	if (!imap_arg_atom_equals(&args[0], "DEFLATE") ||
	    !imap_arg_is_eol(&args[1])) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"Unsupported compression mechanism.");
		return IMAPD_CMD_DONE;
	}
	if (cmd->s->compressed) {
		imapd_cmd_reply(cmd, "NO", "COMPRESSIONACTIVE",
				"Compression is already active.");
		return IMAPD_CMD_DONE;
	}
	imapd_cmd_reply(cmd, "OK", NULL, "DEFLATE active");
	imapd_cmd_after(cmd, IMAPD_AFTER_COMPRESS);
	return IMAPD_CMD_DONE;
}
