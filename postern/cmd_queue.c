/*
 * cmd_queue - postern queue list | show | flush | delete | hold | release
 * | requeue: the queue tools (Postfix's postqueue -p, postcat -q,
 * postqueue -f and postsuper -d/-h/-H/-r).
 *
 * list and show read the queue directory read-only (lib/queue's
 * QUEUE_READONLY open takes no lock), so they work whether or not
 * postern-queued runs.  Everything that changes the queue is a control
 * request to the running postern-queued over $queue_socket, because one
 * process owns the queue (queue/submit.h, record 'K').
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "postern.h"
#include "queue/queue.h"
#include "queue/submit.h"

static const char usage[] =
    "usage: postern queue list\n"
    "       postern queue show ID\n"
    "       postern queue flush [DOMAIN]\n"
    "       postern queue delete ID|ALL\n"
    "       postern queue hold ID|ALL\n"
    "       postern queue release ID|ALL\n"
    "       postern queue requeue ID|ALL\n"
    "\n"
    "list: the queue in postqueue -p's format (* active, ! on hold);\n"
    "a message's content filter is the line (content_filter: ...).\n"
    "show: one message's envelope and content (postcat).\n"
    "The other commands ask the running postern-queued: flush attempts\n"
    "every deferred message now (with DOMAIN: those with a recipient\n"
    "there still to deliver), also mail of $defer_transports and of\n"
    "destinations backed off as dead; delete removes; hold keeps a message\n"
    "from delivery until release; requeue schedules it again now.\n";

static struct queue *open_ro(const struct conf *conf)
{
	struct queue_params p;
	struct error err;
	struct queue *q;

	queue_params_from_conf(&p, conf);
	p.readonly = true;
	q = queue_open(conf_str(conf, "queue_directory"), NULL, NULL, &p, &err);
	if (q == NULL)
		cli_error("queue: %s", err.msg);
	return q;
}

/* ---- list */

struct list_state {
	size_t n;
	uint64_t bytes;
};

static int list_one(void *ctx, const struct queue_env *env)
{
	struct list_state *st = ctx;
	char when[32];
	time_t t = (time_t)(env->arrival / 1000);
	struct tm tm;
	char mark = env->state == QUEUE_ACTIVE ? '*'
		    : env->state == QUEUE_HOLD ? '!'
					       : ' ';

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
	if (st->n == 0)
		printf("-Queue ID-       --Size-- ----Arrival Time---- "
		       "-Sender/Recipient-------\n");
	printf("%-16s%c%8llu %-20s  %s\n", env->id, mark,
	       (unsigned long long)env->size, when,
	       env->sender[0] != '\0' ? env->sender : "MAILER-DAEMON");
	/* In parentheses like a deferral reason, so a reader of the
	 * postqueue -p format never takes it for a recipient. */
	if (env->filter != NULL)
		printf("%47s(content_filter: %s)\n", "", env->filter);
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];

		if (r->status == QUEUE_RCPT_DELIVERED ||
		    r->status == QUEUE_RCPT_FAILED)
			continue;
		if (r->reply != NULL && r->status == QUEUE_RCPT_DEFERRED)
			printf("%47s(%s)\n", "", r->reply);
		printf("%49s%s\n", "", r->addr);
	}
	printf("\n");
	st->n++;
	st->bytes += env->size;
	return 0;
}

static int queue_list(const struct conf *conf)
{
	struct queue *q = open_ro(conf);
	struct list_state st = {0};

	if (q == NULL)
		return 1;
	queue_scan(q, list_one, &st);
	if (st.n == 0)
		printf("Mail queue is empty\n");
	else
		printf("-- %llu Kbytes in %zu Request%s.\n",
		       (unsigned long long)(st.bytes + 1023) / 1024, st.n,
		       st.n == 1 ? "" : "s");
	queue_close(&q);
	return 0;
}

/* ---- show */

static void show_field(const char *name, const char *value)
{
	if (value != NULL)
		printf("%s: %s\n", name, value);
}

static int queue_show(const struct conf *conf, const char *id)
{
	struct queue *q = open_ro(conf);
	struct queue_env env = {0};
	struct buf *body;
	struct error err;
	char when[64];

	if (q == NULL)
		return 1;
	if (queue_env_get(q, id, &env) != 1) {
		queue_close(&q);
		return cli_error("%s: no such message", id);
	}
	body = buf_new();
	if (queue_body_get(q, id, body, &err) < 0) {
		buf_free(&body);
		queue_env_clear(&env);
		queue_close(&q);
		return cli_fail(&err);
	}
	time_format_rfc5322((time_t)(env.arrival / 1000), when, sizeof(when));
	printf("*** ENVELOPE RECORDS %s ***\n", id);
	printf("queue_state: %s\n", queue_state_name(env.state));
	printf("message_size: %llu\n", (unsigned long long)env.size);
	printf("message_arrival_time: %s\n", when);
	printf("sender: %s\n", env.sender);
	show_field("envid", env.envid);
	if (env.ret != QUEUE_RET_NONE)
		printf("ret: %s\n",
		       env.ret == QUEUE_RET_FULL ? "FULL" : "HDRS");
	if (env.body != QUEUE_BODY_NONE)
		printf("body: %s\n", env.body == QUEUE_BODY_7BIT ? "7BIT"
				     : env.body == QUEUE_BODY_8BITMIME
					 ? "8BITMIME"
					 : "BINARYMIME");
	if (env.smtputf8)
		printf("smtputf8: yes\n");
	show_field("client_address", env.client_addr);
	show_field("client_name", env.client_name);
	show_field("helo_name", env.helo);
	show_field("sasl_username", env.auth_name);
	show_field("tls", env.tls);
	/* Postfix's postcat prints its filter record the same way. */
	show_field("content_filter", env.filter);
	if (env.dkim_sign)
		printf("dkim_sign: yes\n");
	if (env.dkim_deny)
		printf("dkim_deny: yes\n");
	for (size_t i = 0; i < env.nrcpts; i++) {
		const struct queue_rcpt *r = &env.rcpts[i];

		printf("recipient: %s (%s)\n", r->addr,
		       queue_rcpt_status_name(r->status));
		show_field("  original_recipient", r->orcpt);
		show_field("  last_reply", r->reply);
	}
	printf("*** MESSAGE CONTENTS %s ***\n", id);
	fwrite(buf_data(body), 1, buf_len(body), stdout);
	if (buf_len(body) > 0 && buf_data(body)[buf_len(body) - 1] != '\n')
		printf("\n");
	printf("*** MESSAGE FILE END %s ***\n", id);
	buf_free(&body);
	queue_env_clear(&env);
	queue_close(&q);
	return 0;
}

/* ---- control requests */

static int queue_control(const struct conf *conf, const char *request)
{
	const char *path = conf_str(conf, "queue_socket");
	struct buf *reply = buf_new();
	struct error err;
	const char *p;
	int rc, ret = submit_control_blocking(path, request, 0, reply, &err);

	p = buf_data(reply);
	if (ret < 0 && err.kind == ERR_TEMP) {
		cli_error("temporary failure: postern-queued is not running "
			  "or not answering (%s)",
			  err.msg);
		rc = 75;
	} else if (ret < 0) {
		rc = cli_error("queue_socket: %s", err.msg);
	} else if (ret == 0) {
		printf("%s\n", p);
		rc = 0;
	} else if (p[0] == '4') {
		cli_error("temporary failure: %s", p);
		rc = 75;
	} else {
		/* Skip the enhanced code: "5.5.4 text". */
		const char *sp = strchr(p, ' ');
		rc = cli_error("%s", sp != NULL ? sp + 1 : p);
	}
	buf_free(&reply);
	return rc;
}

int cmd_queue(struct cli *cli, int argc, char **argv)
{
	static const struct cli_verb rules[] = {
	    {"list", 0, 0},    {"show", 1, 1}, {"flush", 0, 1},
	    {"delete", 1, 1},  {"hold", 1, 1}, {"release", 1, 1},
	    {"requeue", 1, 1},
	};
	struct conf *conf;
	char request[256];
	int rc;

	if (cli_help(argc, argv, usage))
		return 0;
	if (cli_check_verb(argc, argv, "queue", rules,
			   sizeof(rules) / sizeof(rules[0])) != 0)
		return 1;
	conf = cli_conf(cli);
	if (conf == NULL)
		return 1;
	if (strcmp(argv[1], "list") == 0) {
		rc = queue_list(conf);
	} else if (strcmp(argv[1], "show") == 0) {
		rc = queue_show(conf, argv[2]);
	} else {
		snprintf(request, sizeof(request), "%s%s%s", argv[1],
			 argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
		rc = queue_control(conf, request);
	}
	conf_free(&conf);
	return rc;
}
