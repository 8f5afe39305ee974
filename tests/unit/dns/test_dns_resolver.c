/*
 * test_dns_resolver - the resolver against sockets of this test on
 * 127.0.0.1: settings refused with ERR_CONFIG, callbacks never run
 * before dns_lookup returns, bad names permanent, a silent server a
 * timeout (temporary) on both the loop and the blocking path, cancel and
 * free with queries pending; and a tiny responder thread that answers
 * every A query with an address computed from the name, for answers on
 * the loop and from many threads blocking at once.
 */
#include "test.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/timeutil.h"
#include "dns/dns.h"
#include "ev/ev.h"

static int silent_fd = -1;
static int silent_port;

static int responder_fd = -1;
static int responder_port;
static pthread_t responder_thread;

/* The address the responder gives NAME: 198.18.<len>.<byte sum>. */
static void expected_addr(const char *name, char out[16])
{
	unsigned sum = 0;
	for (const char *p = name; *p; p++)
		sum += (unsigned char)*p;
	snprintf(out, 16, "198.18.%zu.%u", strlen(name) % 256, sum % 256);
}

/* Answer A queries for any name (NODATA for other types) until the
 * socket is shut down. */
static void *responder(void *arg)
{
	uint8_t q[512], a[600];
	struct sockaddr_storage from;

	for (;;) {
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(responder_fd, q, sizeof(q), 0,
				     (struct sockaddr *)&from, &flen);
		if (n <= 0)
			return NULL;
		if (n < 17)
			continue;
		/* Question: the name from offset 12, then type and class. */
		char name[256];
		size_t pos = 12, o = 0;
		while (pos < (size_t)n && q[pos] != 0 && o < 200) {
			size_t l = q[pos];
			if (pos + 1 + l >= (size_t)n)
				break;
			if (o > 0)
				name[o++] = '.';
			memcpy(name + o, q + pos + 1, l);
			o += l;
			pos += 1 + l;
		}
		name[o] = '\0';
		size_t qend = pos + 5; /* root, type, class */
		if (qend > (size_t)n)
			continue;
		unsigned type = (unsigned)(q[pos + 1] << 8 | q[pos + 2]);
		memcpy(a, q, qend);
		a[2] = 0x81; /* QR, RD */
		a[3] = 0x80; /* RA, NOERROR */
		a[4] = 0, a[5] = 1;
		a[6] = 0, a[7] = type == 1 ? 1 : 0;
		memset(a + 8, 0, 4); /* no authority, no additional (no EDNS) */
		size_t len = qend;
		if (type == 1) {
			char text[16];
			struct in_addr in;
			static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1,
						     0, 0, 0, 60, 0, 4};
			expected_addr(name, text);
			inet_pton(AF_INET, text, &in);
			memcpy(a + len, rr, sizeof(rr));
			len += sizeof(rr);
			memcpy(a + len, &in, 4);
			len += 4;
		}
		sendto(responder_fd, a, len, 0, (struct sockaddr *)&from, flen);
	}
}

static int setup(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	silent_fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (silent_fd < 0 ||
	    bind(silent_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(silent_fd, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	silent_port = ntohs(sin.sin_port);
	sin.sin_port = 0;
	responder_fd = socket(AF_INET, SOCK_DGRAM, 0);
	len = sizeof(sin);
	if (responder_fd < 0 ||
	    bind(responder_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(responder_fd, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	responder_port = ntohs(sin.sin_port);
	return pthread_create(&responder_thread, NULL, responder, NULL);
}

static int teardown(void **state)
{
	close(silent_fd);
	shutdown(responder_fd, SHUT_RDWR);
	pthread_join(responder_thread, NULL);
	close(responder_fd);
	return 0;
}

static struct conf *make_conf_port(int port, const char *extra)
{
	char text[512];
	struct error err;
	struct conf *conf;

	snprintf(text, sizeof(text),
		 "dns_servers = 127.0.0.1@%d\n"
		 "dns_trust_anchor_file =\n"
		 "dns_timeout = 1s\n%s",
		 port, extra);
	conf = conf_load_string("/nonexistent", "test", text, &err);
	if (conf == NULL)
		fail_msg("%s", err.msg);
	return conf;
}

static struct conf *make_conf(const char *extra)
{
	return make_conf_port(silent_port, extra);
}

static void test_bad_settings(void **state)
{
	struct conf *conf = make_conf("dns_servers = 127.0.0.1 bogus!\n");
	struct error err;

	assert_null(dns_resolver_new(NULL, conf, &err));
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "bogus!"));
	conf_free(&conf);
	conf = make_conf("dns_trust_anchor_file = /nonexistent/root.key\n");
	assert_null(dns_resolver_new(NULL, conf, &err));
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "dns_trust_anchor_file"));
	conf_free(&conf);
	/* A file that exists but holds no key is found at start-up too. */
	char path[] = "/tmp/test_dns_ta.XXXXXX", line[128];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a key\n", 10), 10);
	close(fd);
	snprintf(line, sizeof(line), "dns_trust_anchor_file = %s\n", path);
	conf = make_conf(line);
	assert_null(dns_resolver_new(NULL, conf, &err));
	unlink(path);
	assert_int_equal(err.kind, ERR_CONFIG);
	conf_free(&conf);
}

struct answer {
	int calls;
	int ret;
	enum dns_status status;
	enum err_kind kind;
	struct ev *ev;
};

static void got_answer(struct dns_result *r, int ret, const struct error *err,
		       void *ctx)
{
	struct answer *a = ctx;

	a->calls++;
	a->ret = ret;
	a->status = r->status;
	a->kind = err != NULL ? err->kind : ERR_NONE;
	dns_result_free(&r);
	ev_stop(a->ev);
}

static void test_async_badname_and_timeout(void **state)
{
	struct conf *conf = make_conf("");
	struct ev *ev = ev_new();
	struct answer a = {.ev = ev};
	struct error err;
	struct dns_resolver *res = dns_resolver_new(ev, conf, &err);

	assert_non_null(res);
	dns_lookup(res, "a..b", DNS_T_A, 0, got_answer, &a);
	assert_int_equal(a.calls, 0); /* not before returning */
	assert_int_equal(dns_pending(res), 1);
	ev_run(ev);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.ret, -1);
	assert_int_equal(a.status, DNS_BADNAME);
	assert_int_equal(a.kind, ERR_PERM);

	int64_t t0 = time_mono_ms();
	dns_lookup(res, "mx.example", DNS_T_MX, 0, got_answer, &a);
	ev_run(ev);
	int64_t took = time_mono_ms() - t0;
	assert_int_equal(a.calls, 2);
	assert_int_equal(a.ret, -1);
	assert_int_equal(a.status, DNS_TIMEOUT);
	assert_int_equal(a.kind, ERR_TEMP);
	assert_true(took >= 900 && took < 5000);
	assert_int_equal(dns_pending(res), 0);
	dns_resolver_free(&res);
	ev_free(&ev);
	conf_free(&conf);
}

static void mx_never(struct dns_mx_list *l, int ret, const struct error *err,
		     void *ctx)
{
	fail_msg("cancelled MX lookup called back");
}

static void test_cancel_and_free(void **state)
{
	struct conf *conf = make_conf("");
	struct ev *ev = ev_new();
	struct answer a = {.ev = ev};
	struct error err;
	struct dns_resolver *res = dns_resolver_new(ev, conf, &err);
	struct dns_query *q;

	assert_non_null(res);
	q = dns_lookup(res, "a.example", DNS_T_A, 0, got_answer, &a);
	dns_cancel(&q);
	assert_null(q);
	q = dns_lookup(res, "a..b", DNS_T_A, 0, got_answer, &a);
	dns_cancel(&q);
	assert_int_equal(dns_pending(res), 0);
	/* Nothing left: the loop ends at once and nobody was called. */
	ev_stop_when_idle(ev);
	ev_run(ev);
	assert_int_equal(a.calls, 0);
	/* Freeing with lookups pending cancels them (the MX wrapper's state
	 * is freed too: ASan would see a leak). */
	dns_mx_hosts(res, "example.org", mx_never, NULL);
	dns_lookup(res, "b.example", DNS_T_TXT, 0, got_answer, &a);
	assert_int_equal(dns_pending(res), 2);
	dns_resolver_free(&res);
	assert_int_equal(a.calls, 0);
	ev_free(&ev);
	conf_free(&conf);
}

static void test_sync_timeout(void **state)
{
	struct conf *conf = make_conf("");
	struct error err;
	struct dns_resolver *res = dns_resolver_new(NULL, conf, &err);
	struct dns_result *r;

	assert_non_null(res);
	int64_t t0 = time_mono_ms();
	assert_int_equal(dns_lookup_sync(res, "mx.example", DNS_T_MX, 0, &r,
					 &err),
			 -1);
	assert_true(time_mono_ms() - t0 < 5000);
	assert_int_equal(r->status, DNS_TIMEOUT);
	assert_int_equal(err.kind, ERR_TEMP);
	dns_result_free(&r);
	assert_int_equal(dns_lookup_sync(res, "x..y", DNS_T_MX, 0, &r, &err),
			 -1);
	assert_int_equal(r->status, DNS_BADNAME);
	assert_int_equal(err.kind, ERR_PERM);
	dns_result_free(&r);
	dns_resolver_free(&res);
	conf_free(&conf);
}

struct fc_answer {
	int calls, ret;
	enum err_kind kind;
	struct ev *ev;
};

static void fc_got(const char *name, int ret, const struct error *err,
		   void *ctx)
{
	struct fc_answer *a = ctx;

	a->calls++;
	a->ret = ret;
	a->kind = err != NULL ? err->kind : ERR_NONE;
	ev_stop(a->ev);
}

/* fcrdns: an invalid address is reported after returning; a cancelled
 * one never calls back (its PTR query goes to the silent server); a
 * resolver answering NODATA to PTR gives "not confirmed" (permanent). */
static void test_fcrdns(void **state)
{
	struct conf *conf = make_conf("");
	struct ev *ev = ev_new();
	struct fc_answer a = {.ev = ev};
	struct error err;
	struct dns_resolver *res = dns_resolver_new(ev, conf, &err);
	struct dns_fcrdns *f;
	char *name;

	assert_non_null(res);
	dns_fcrdns(res, "999.1.2.3", fc_got, &a);
	assert_int_equal(a.calls, 0);
	ev_run(ev);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.ret, -1);
	assert_int_equal(a.kind, ERR_PERM);
	f = dns_fcrdns(res, "198.18.0.1", fc_got, &a);
	dns_fcrdns_cancel(&f);
	assert_null(f);
	assert_int_equal(dns_pending(res), 0);
	ev_stop_when_idle(ev);
	ev_run(ev);
	assert_int_equal(a.calls, 1);
	dns_resolver_free(&res);
	conf_free(&conf);

	conf = make_conf_port(responder_port, "");
	res = dns_resolver_new(NULL, conf, &err);
	assert_int_equal(dns_fcrdns_sync(res, "198.18.0.1", &name, &err), 0);
	assert_null(name);
	assert_int_equal(err.kind, ERR_PERM);
	assert_int_equal(dns_fcrdns_sync(res, "nonsense", &name, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	dns_resolver_free(&res);
	ev_free(&ev);
	conf_free(&conf);
}

struct answers {
	struct ev *ev;
	int left;
	int good;
};

static void check_answer(struct dns_result *r, int ret,
			 const struct error *err, void *ctx)
{
	struct answers *a = ctx;
	char want[16];

	expected_addr(r->qname, want);
	if (ret == 1 && r->count == 1 && r->rrs[0].type == DNS_T_A &&
	    strcmp(r->rrs[0].addr.text, want) == 0 &&
	    r->security == DNS_INSECURE)
		a->good++;
	else
		print_error("%s: ret %d status %s\n", r->qname, ret,
			    dns_status_name(r->status));
	dns_result_free(&r);
	if (--a->left == 0)
		ev_stop(a->ev);
}

static void test_loop_answers(void **state)
{
	struct conf *conf = make_conf_port(responder_port, "");
	struct ev *ev = ev_new();
	struct answers a = {.ev = ev};
	struct error err;
	struct dns_resolver *res = dns_resolver_new(ev, conf, &err);
	char name[64];

	assert_non_null(res);
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "loop%d.mail.example", i);
		dns_lookup(res, name, DNS_T_A, 0, check_answer, &a);
		a.left++;
	}
	ev_run(ev);
	assert_int_equal(a.good, 50);
	/* NODATA from the responder for other types: permanent. */
	struct dns_result *r;
	dns_resolver_free(&res);
	res = dns_resolver_new(NULL, conf, &err);
	assert_int_equal(dns_lookup_sync(res, "x.mail.example", DNS_T_MX, 0,
					 &r, &err),
			 0);
	assert_int_equal(r->status, DNS_NODATA);
	assert_int_equal(err.kind, ERR_PERM);
	dns_result_free(&r);
	dns_resolver_free(&res);
	ev_free(&ev);
	conf_free(&conf);
}

struct sync_job {
	struct dns_resolver *res;
	int thread;
	int good;
};

static void *sync_thread(void *arg)
{
	struct sync_job *j = arg;

	for (int i = 0; i < 25; i++) {
		char name[64], want[16];
		struct dns_result *r;
		struct error err;
		snprintf(name, sizeof(name), "t%d-%d.mail.example", j->thread,
			 i);
		expected_addr(name, want);
		if (dns_lookup_sync(j->res, name, DNS_T_A, 0, &r, &err) == 1 &&
		    r->count == 1 && strcmp(r->rrs[0].addr.text, want) == 0)
			j->good++;
		dns_result_free(&r);
	}
	return NULL;
}

/* Eight threads blocking at once share one context: one polls, the
 * others wait, and every answer reaches its own caller. */
static void test_sync_threads(void **state)
{
	struct conf *conf = make_conf_port(responder_port, "");
	struct error err;
	struct dns_resolver *res = dns_resolver_new(NULL, conf, &err);
	struct sync_job jobs[8];
	pthread_t th[8];

	assert_non_null(res);
	for (int i = 0; i < 8; i++) {
		jobs[i] = (struct sync_job){.res = res, .thread = i};
		pthread_create(&th[i], NULL, sync_thread, &jobs[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(jobs[i].good, 25);
	}
	dns_resolver_free(&res);
	conf_free(&conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_settings),
		cmocka_unit_test(test_async_badname_and_timeout),
		cmocka_unit_test(test_cancel_and_free),
		cmocka_unit_test(test_sync_timeout),
		cmocka_unit_test(test_loop_answers),
		cmocka_unit_test(test_sync_threads),
		cmocka_unit_test(test_fcrdns),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
