/*
 * queue_env - envelope helpers, names and parameters.
 */
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "core/xmalloc.h"
#include "queue/queue.h"

void queue_env_set(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? xstrdup(value) : NULL;
}

size_t queue_env_add_rcpt(struct queue_env *env, const char *addr,
			  const char *orcpt, unsigned notify)
{
	struct queue_rcpt *r;

	env->rcpts =
	    xreallocarray(env->rcpts, env->nrcpts + 1, sizeof(*env->rcpts));
	r = &env->rcpts[env->nrcpts];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	r->notify = notify;
	return env->nrcpts++;
}

void queue_env_clear(struct queue_env *env)
{
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].orcpt);
		free(env->rcpts[i].reply);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->envid);
	free(env->client_addr);
	free(env->client_name);
	free(env->helo);
	free(env->auth_name);
	free(env->tls);
	free(env->filter);
	memset(env, 0, sizeof(*env));
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void queue_env_copy(struct queue_env *dst, const struct queue_env *src)
{
	queue_env_clear(dst);
	*dst = *src;
	dst->sender = dup_or_null(src->sender);
	dst->envid = dup_or_null(src->envid);
	dst->client_addr = dup_or_null(src->client_addr);
	dst->client_name = dup_or_null(src->client_name);
	dst->helo = dup_or_null(src->helo);
	dst->auth_name = dup_or_null(src->auth_name);
	dst->tls = dup_or_null(src->tls);
	dst->filter = dup_or_null(src->filter);
	dst->rcpts = NULL;
	if (src->nrcpts > 0) {
		dst->rcpts = xcalloc(src->nrcpts, sizeof(*dst->rcpts));
		for (size_t i = 0; i < src->nrcpts; i++) {
			dst->rcpts[i] = src->rcpts[i];
			dst->rcpts[i].addr = dup_or_null(src->rcpts[i].addr);
			dst->rcpts[i].orcpt = dup_or_null(src->rcpts[i].orcpt);
			dst->rcpts[i].reply = dup_or_null(src->rcpts[i].reply);
		}
	}
}

bool queue_env_done(const struct queue_env *env)
{
	for (size_t i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i].status != QUEUE_RCPT_DELIVERED &&
		    env->rcpts[i].status != QUEUE_RCPT_FAILED)
			return false;
	return true;
}

const char *queue_state_name(enum queue_state s)
{
	switch (s) {
	case QUEUE_INCOMING:
		return "incoming";
	case QUEUE_ACTIVE:
		return "active";
	case QUEUE_DEFERRED:
		return "deferred";
	case QUEUE_HOLD:
		return "hold";
	case QUEUE_CORRUPT:
		return "corrupt";
	}
	return "?";
}

const char *queue_rcpt_status_name(enum queue_rcpt_status s)
{
	switch (s) {
	case QUEUE_RCPT_PENDING:
		return "pending";
	case QUEUE_RCPT_DELIVERED:
		return "delivered";
	case QUEUE_RCPT_DEFERRED:
		return "deferred";
	case QUEUE_RCPT_FAILED:
		return "failed";
	}
	return "?";
}

void queue_params_default(struct queue_params *p)
{
	memset(p, 0, sizeof(*p));
	p->commit_max_batch = 256;
	p->commit_max_delay_ms = 0;
	p->segment_size = 64ull << 20;
	p->large_message_size = 256u << 10;
}

void queue_params_from_conf(struct queue_params *p, const struct conf *conf)
{
	long long v;

	queue_params_default(p);
	v = conf_int(conf, "queue_commit_max_batch");
	if (v > 0)
		p->commit_max_batch = (size_t)v;
	v = conf_int(conf, "queue_commit_max_delay");
	if (v >= 0)
		p->commit_max_delay_ms = (int)(v > 1000 ? 1000 : v);
	v = conf_size(conf, "queue_segment_size");
	if (v > 0)
		p->segment_size = (uint64_t)v;
	v = conf_size(conf, "queue_large_message_size");
	if (v > 0)
		p->large_message_size = (uint64_t)v;
}
