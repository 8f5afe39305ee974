/*
 * smtp_command - command line splitting, BDAT, HELO, AUTH; see
 * smtp_command.h.  MAIL and RCPT are in smtp_mailrcpt.c.
 */
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "smtp/smtp_command.h"

enum args_rule {
	ARGS_NONE,     /* DATA: nothing may follow */
	ARGS_OPTIONAL, /* NOOP, HELP */
	ARGS_REQUIRED,
};

struct verb_def {
	enum smtp_verb verb;
	const char *name;
	enum args_rule args;
	const char *syntax; /* the 501 text when the arguments are wrong */
};

static const struct verb_def verbs[] = {
    {SMTP_VERB_HELO, "HELO", ARGS_REQUIRED, "Syntax: HELO hostname"},
    {SMTP_VERB_EHLO, "EHLO", ARGS_REQUIRED, "Syntax: EHLO hostname"},
    {SMTP_VERB_LHLO, "LHLO", ARGS_REQUIRED, "Syntax: LHLO hostname"},
    {SMTP_VERB_MAIL, "MAIL", ARGS_REQUIRED, "Syntax: MAIL FROM:<address>"},
    {SMTP_VERB_RCPT, "RCPT", ARGS_REQUIRED, "Syntax: RCPT TO:<address>"},
    {SMTP_VERB_DATA, "DATA", ARGS_NONE, "Syntax: DATA"},
    {SMTP_VERB_BDAT, "BDAT", ARGS_REQUIRED, "Syntax: BDAT size [LAST]"},
    {SMTP_VERB_RSET, "RSET", ARGS_NONE, "Syntax: RSET"},
    {SMTP_VERB_NOOP, "NOOP", ARGS_OPTIONAL, "Syntax: NOOP"},
    {SMTP_VERB_QUIT, "QUIT", ARGS_NONE, "Syntax: QUIT"},
    {SMTP_VERB_VRFY, "VRFY", ARGS_REQUIRED, "Syntax: VRFY address"},
    {SMTP_VERB_EXPN, "EXPN", ARGS_REQUIRED, "Syntax: EXPN mailing-list"},
    {SMTP_VERB_HELP, "HELP", ARGS_OPTIONAL, "Syntax: HELP"},
    {SMTP_VERB_STARTTLS, "STARTTLS", ARGS_NONE, "Syntax: STARTTLS"},
    {SMTP_VERB_AUTH, "AUTH", ARGS_REQUIRED, "Syntax: AUTH mechanism"},
    {SMTP_VERB_XCLIENT, "XCLIENT", ARGS_REQUIRED,
     "Syntax: XCLIENT attribute=value"},
};

#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

const char *smtp_verb_name(enum smtp_verb verb)
{
	for (size_t i = 0; i < N_VERBS; i++)
		if (verbs[i].verb == verb)
			return verbs[i].name;
	return "";
}

int smtp_reply_line_too_long(struct smtp_reply *reply_r)
{
	/* RFC 5321 4.5.3.1.4: "500 Line too long". */
	return smtp_reply_set(reply_r, 500, "5.5.2", "Error: line too long");
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

int smtp_command_parse(const char *line, size_t len, struct smtp_command *cmd_r,
		       struct smtp_reply *reply_r)
{
	const struct verb_def *def = NULL;
	size_t vlen = 0, i;

	cmd_r->verb = SMTP_VERB_UNKNOWN;
	cmd_r->args = line;
	cmd_r->args_len = 0;
	if (len > SMTP_AUTH_LINE_MAX)
		return smtp_reply_line_too_long(reply_r);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		/* NUL, bare CR and LF have no place in a command: they are
		 * how injection and smuggling tricks start. */
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return smtp_reply_set(reply_r, 500, "5.5.2",
					      "Error: bad syntax (control "
					      "character in command)");
	}
	while (len > 0 && is_ws(line[len - 1]))
		len--;
	while (vlen < len && !is_ws(line[vlen]))
		vlen++;
	if (vlen == 0)
		return smtp_reply_set(reply_r, 500, "5.5.2",
				      "Error: bad syntax");
	for (i = 0; i < N_VERBS; i++) {
		if (strlen(verbs[i].name) == vlen &&
		    strncasecmp(verbs[i].name, line, vlen) == 0) {
			def = &verbs[i];
			break;
		}
	}
	if (def == NULL)
		return smtp_reply_set(reply_r, 502, "5.5.2",
				      "Error: command not recognized");
	cmd_r->verb = def->verb;
	if (def->verb != SMTP_VERB_AUTH && len > SMTP_COMMAND_LINE_MAX)
		return smtp_reply_line_too_long(reply_r);
	i = vlen;
	while (i < len && is_ws(line[i]))
		i++;
	cmd_r->args = line + i;
	cmd_r->args_len = len - i;
	if ((def->args == ARGS_NONE && cmd_r->args_len > 0) ||
	    (def->args == ARGS_REQUIRED && cmd_r->args_len == 0))
		return smtp_reply_set(reply_r, 501, "5.5.4", "%s", def->syntax);
	return 0;
}

int smtp_command_parse_bdat(const char *args, size_t len, uint64_t *size_r,
			    bool *last_r, struct smtp_reply *reply_r)
{
	uint64_t v = 0;
	size_t i = 0;

	*size_r = 0;
	*last_r = false;
	/* RFC 3030 2: chunk-size = 1*DIGIT; 18 digits keep us in range. */
	while (i < len && args[i] >= '0' && args[i] <= '9') {
		if (i >= 18)
			return smtp_reply_set(reply_r, 501, "5.5.4",
					      "Syntax: BDAT size [LAST]");
		v = v * 10 + (uint64_t)(args[i] - '0');
		i++;
	}
	if (i == 0)
		return smtp_reply_set(reply_r, 501, "5.5.4",
				      "Syntax: BDAT size [LAST]");
	if (i < len) {
		size_t j = i;

		while (j < len && args[j] == ' ')
			j++;
		if (j == i || len - j != 4 ||
		    strncasecmp(args + j, "LAST", 4) != 0)
			return smtp_reply_set(reply_r, 501, "5.5.4",
					      "Syntax: BDAT size [LAST]");
		*last_r = true;
	}
	*size_r = v;
	return 0;
}

int smtp_command_parse_helo(const char *args, size_t len, struct buf *out,
			    struct smtp_reply *reply_r)
{
	struct mail_address addr;
	struct buf *mbox;
	int ret = 0;

	if (len == 0)
		return smtp_reply_set(reply_r, 501, "5.5.4",
				      "Syntax: EHLO hostname");
	/* Reuse the address parser's domain and literal checks by asking
	 * it about "x@<name>": one definition of a valid domain. */
	mbox = buf_new_size(len + 3);
	buf_append(mbox, "x@", 2);
	buf_append(mbox, args, len);
	if (len > ADDRESS_DOMAIN_MAX + 2 || memchr(args, '\0', len) != NULL ||
	    address_parse_mailbox(buf_data(mbox), buf_len(mbox), 0, &addr,
				  NULL) < 0) {
		ret = smtp_reply_set(reply_r, 501, "5.5.2", "Invalid hostname");
	} else {
		buf_set_str(out, addr.domain);
		address_clear(&addr);
	}
	buf_free(&mbox);
	return ret;
}

static bool is_base64(const char *s, size_t len)
{
	size_t pad = 0;

	if (len == 1 && s[0] == '=') /* RFC 4954 4: empty response */
		return true;
	if (len == 0 || len % 4 != 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return pad <= 2;
}

int smtp_command_parse_auth(const char *args, size_t len,
			    char mech_r[SMTP_SASL_MECH_MAX + 1],
			    const char **ir_r, size_t *ir_len_r,
			    struct smtp_reply *reply_r)
{
	size_t i = 0, j;

	mech_r[0] = '\0';
	*ir_r = NULL;
	*ir_len_r = 0;
	/* RFC 4422 3.1: sasl-mech = 1*20mech-char, [A-Z0-9-_]. */
	while (i < len && args[i] != ' ') {
		char c = args[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (i >= SMTP_SASL_MECH_MAX ||
		    !((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_')) {
			mech_r[0] = '\0';
			return smtp_reply_set(reply_r, 501, "5.5.4",
					      "Syntax: AUTH mechanism");
		}
		mech_r[i++] = c;
	}
	mech_r[i] = '\0';
	if (i == 0)
		return smtp_reply_set(reply_r, 501, "5.5.4",
				      "Syntax: AUTH mechanism");
	j = i;
	while (j < len && args[j] == ' ')
		j++;
	if (j == len)
		return 0;
	if (!is_base64(args + j, len - j))
		return smtp_reply_set(reply_r, 501, "5.5.2",
				      "Invalid base64 data in initial "
				      "response");
	*ir_r = args + j;
	*ir_len_r = len - j;
	return 0;
}
