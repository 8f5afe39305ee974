/*
 * cmd_tlsrpt.c - `postern tlsrpt`: SMTP TLS Reporting (RFC 8460), the
 * sending side.
 *
 *   postern tlsrpt send [--day YYYY-MM-DD] [--dry-run]
 *   postern tlsrpt show [--day YYYY-MM-DD]
 *
 * send: for each policy domain counted on that UTC day (default:
 * yesterday) by postern-queued (tlsrpt_counters, queued/tlsrpt.c) and not
 * yet reported (tlsrpt_reports), look up "_smtp._tls.DOMAIN" TXT; with
 * one valid "v=TLSRPTv1" record, build the JSON report, gzip it, and
 * queue a multipart/report; report-type="tlsrpt" message to its mailto:
 * rua addresses through `postern sendmail` (the maildrop, so the normal
 * queue, DKIM signing and retries apply), and POST it to its https: rua
 * URIs (RFC 8460 5.4, libcurl, verified against the system trust store
 * plus $smtp_tls_CAfile/CApath, the host's address from our resolver).
 * Each rua URI's state is kept in tlsrpt_deliveries (migration 013): a
 * row per URI before the first attempt, delivered once POSTed (2xx) or
 * queued (mailto:).  When one fails the domain is left unmarked and the
 * next run sends the same report (same report-id) to the URIs that have
 * not taken it only.  Right before sending, the run claims each URI
 * (tlsrpt_deliveries.claimed_at, migration 014: one conditional UPDATE,
 * so of two runs at once, on this node or another sharing the database,
 * one sends and the other says so and leaves the domain, exit 75).
 * Runs that began the report together settle on one report-id first.
 * A domain without a record is marked too, so that a
 * second run sends nothing; a failed DNS lookup is left for the next run.
 * Then rows older than $tlsrpt_retention_days are deleted.
 *
 * Exit status 0; 1 for a usage or permanent error; 75 when the database,
 * DNS or the queue failed for some domain, or another run was sending
 * one of its reports (try again later).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <zlib.h>

#include "core/array.h"
#include "core/buf.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "dns/dns.h"
#include "mail/mime_decode.h"
#include "postern.h"
#include "rewrite/rewrite.h"
#include "smtp/tlsrpt.h"

#define EX_TEMPFAIL 75

static const char usage[] =
    "usage: postern [-c DIR] tlsrpt send [--day YYYY-MM-DD] [--dry-run]\n"
    "       postern [-c DIR] tlsrpt show [--day YYYY-MM-DD]\n"
    "\n"
    "SMTP TLS Reporting (RFC 8460): the counts of outbound TLS sessions\n"
    "that postern-queued keeps with smtp_tlsrpt_enable=yes.\n"
    "  send       mail the report of DAY (default: yesterday, UTC) to\n"
    "             each policy domain that publishes _smtp._tls TXT\n"
    "             \"v=TLSRPTv1; rua=mailto:...\" (mailed) or https:...\n"
    "             (POSTed), once; then delete rows\n"
    "             older than $tlsrpt_retention_days\n"
    "  --dry-run  print each report's JSON instead of sending it\n"
    "  show       print the counters of DAY (tab-separated)\n";

struct rpt_ctx {
	struct conf *conf;
	struct db *db;
	struct dns_resolver *dns;
	struct cli *cli;
	char day[11];
	time_t start;
	char submitter[256], sender[320], contact[320];
	bool dry_run;
	bool curl_ready;
};

/* An https: POST may take this long (connect included). */
#define HTTPS_TIMEOUT_MS 30000L

/* "YYYY-MM-DD" -> its 00:00:00 UTC; -1 if malformed. */
static time_t parse_day(const char *s)
{
	struct tm tm;
	char check[11];
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 10)
		return -1;
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	time_t t = timegm(&tm);
	strftime(check, sizeof(check), "%Y-%m-%d", gmtime_r(&t, &tm));
	return strcmp(check, s) == 0 ? t : -1;
}

/* gzip (RFC 1952) of in, appended to out. */
static int gzip_buf(const char *in, size_t len, struct buf *out)
{
	z_stream z;
	unsigned char chunk[16384];
	int ret;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (unsigned char *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	do {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		ret = deflate(&z, Z_FINISH);
		buf_append(out, chunk, sizeof(chunk) - z.avail_out);
	} while (ret == Z_OK);
	deflateEnd(&z);
	return ret == Z_STREAM_END ? 0 : -1;
}

/*
 * The TLSRPT record of domain: 1 found (rec filled), 0 none (no TXT, no
 * or several v=TLSRPTv1 records, or an invalid one: RFC 8460 3), -1 a
 * temporary DNS failure.
 */
static int lookup_record(struct rpt_ctx *r, const char *domain,
			 struct tlsrpt_record *rec)
{
	char qname[300];
	struct dns_result *res = NULL;
	struct error err;
	const struct dns_rr *found = NULL;
	size_t n = 0;
	int ret;

	snprintf(qname, sizeof(qname), "_smtp._tls.%s", domain);
	ret = dns_lookup_sync(r->dns, qname, DNS_T_TXT, 0, &res, &err);
	if (ret < 0) {
		fprintf(stderr, "postern: %s: TXT lookup failed: %s\n", qname,
			err.msg);
		dns_result_free(&res);
		return -1;
	}
	for (size_t i = 0; ret == 1 && i < res->count; i++) {
		const struct dns_rr *rr = &res->rrs[i];

		if (rr->type == DNS_T_TXT &&
		    tlsrpt_record_is_tlsrpt(rr->txt.data, rr->txt.len)) {
			found = rr;
			n++;
		}
	}
	if (n != 1) {
		if (n > 1)
			printf(
			    "%s: %zu TLSRPT records, none used (RFC 8460 3)\n",
			    domain, n);
		dns_result_free(&res);
		return 0;
	}
	ret = tlsrpt_record_parse(found->txt.data, found->txt.len, rec, &err);
	dns_result_free(&res);
	if (ret < 0) {
		printf("%s: invalid TLSRPT record: %s\n", domain, err.msg);
		return 0;
	}
	return 1;
}

/* The rows of (day, domain) as the report's policies; the strings live
 * in res until it is freed. */
struct rpt_policies {
	struct tlsrpt_policy *p;
	size_t n;
	struct tlsrpt_failure *f; /* all details; p[i].details points in */
	size_t nf;
};

static int load_policies(struct rpt_ctx *r, const char *domain,
			 struct db_result **res_r, struct rpt_policies *out,
			 struct error *err)
{
	const char *params[] = {r->day, domain};
	struct db_result *res;
	size_t rows;

	memset(out, 0, sizeof(*out));
	if (db_query(r->db,
		     "SELECT policy_type, mx_host, result, sending_ip, "
		     "receiving_ip, policy_string, sessions, "
		     "receiving_mx_helo FROM tlsrpt_counters WHERE day = ? AND "
		     "policy_domain = ? "
		     "ORDER BY policy_type, mx_host, result, sending_ip, "
		     "receiving_ip",
		     params, 2, &res, err) < 0)
		return -1;
	rows = db_result_rows(res);
	out->p = xcalloc(rows + 1, sizeof(*out->p));
	out->f = xcalloc(rows + 1, sizeof(*out->f));
	for (size_t i = 0; i < rows; i++) {
		const char *type = db_result_value(res, i, 0);
		const char *mx = db_result_value(res, i, 1);
		const char *result = db_result_value(res, i, 2);
		const char *ps = db_result_value(res, i, 5);
		unsigned long long count = 0;
		struct tlsrpt_policy *p =
		    out->n > 0 ? &out->p[out->n - 1] : NULL;

		str_to_u64(db_result_value(res, i, 6), &count);
		/* One policy per (type, MX host): the rows are sorted. */
		if (p == NULL || strcmp(p->type, type) != 0 ||
		    strcmp(p->mx_host, mx) != 0) {
			p = &out->p[out->n++];
			p->type = type;
			p->domain = domain;
			p->mx_host = mx;
			p->policy_string = ps;
			p->details = &out->f[out->nf];
		}
		/* Failures before the records were known have none. */
		if (strlen(ps) > strlen(p->policy_string))
			p->policy_string = ps;
		if (result[0] == '\0') {
			p->successes += count;
			continue;
		}
		p->failures += count;
		out->f[out->nf++] = (struct tlsrpt_failure){
		    .result_type = result,
		    .sending_ip = db_result_value(res, i, 3),
		    .receiving_mx = mx,
		    .receiving_ip = db_result_value(res, i, 4),
		    .count = count,
		    .receiving_helo = db_result_value(res, i, 7),
		};
		p->ndetails++;
	}
	*res_r = res;
	return 0;
}

/* Hand the message to `postern sendmail -i -f SENDER RCPT...`. */
static int inject(struct rpt_ctx *r, const struct buf *msg, struct array *rcpts)
{
	char self[4096];
	int fds[2], status;
	pid_t pid;
	size_t off = 0;

	snprintf(self, sizeof(self), "%s/postern", cli_program_dir(r->cli));
	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		size_t n = array_len(rcpts);
		char **argv = xcalloc(n + 9, sizeof(*argv));
		size_t k = 0;

		dup2(fds[0], 0);
		close(fds[0]);
		close(fds[1]);
		argv[k++] = self;
		argv[k++] = "-c";
		argv[k++] = (char *)(uintptr_t)r->cli->config_dir;
		argv[k++] = "sendmail";
		argv[k++] = "-i";
		argv[k++] = "-f";
		argv[k++] = r->sender;
		argv[k++] = "--";
		for (size_t i = 0; i < n; i++)
			argv[k++] = array_get(rcpts, i);
		execv(self, argv);
		_exit(127);
	}
	close(fds[0]);
	while (off < buf_len(msg)) {
		ssize_t w =
		    write(fds[1], buf_data(msg) + off, buf_len(msg) - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fds[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return off == buf_len(msg) && WIFEXITED(status) &&
		       WEXITSTATUS(status) == 0
		   ? 0
		   : -1;
}

/* ---- https: rua (RFC 8460 5.4). */

/* Add $smtp_tls_CAfile/CApath to the system trust store curl loaded, as
 * queued/mta_sts.c does for policy fetches. */
static CURLcode on_ssl_ctx(CURL *curl, void *ssl_ctx, void *ctx)
{
	const struct conf *conf = ctx;
	X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);
	const char *file = conf_str(conf, "smtp_tls_CAfile");
	const char *path = conf_str(conf, "smtp_tls_CApath");

	(void)curl;
	if (file[0] != '\0' && !X509_STORE_load_file(store, file))
		fprintf(stderr, "postern: cannot load smtp_tls_CAfile %s\n",
			file);
	if (path[0] != '\0' && !X509_STORE_load_path(store, path))
		fprintf(stderr, "postern: cannot load smtp_tls_CApath %s\n",
			path);
	return CURLE_OK;
}

static size_t on_reply(char *data, size_t size, size_t n, void *ctx)
{
	(void)data;
	(void)ctx;
	return size * n; /* the answer's body is not used */
}

/* The address of host for CURLOPT_RESOLVE ("[v6]" bracketed) from our
 * resolver, so the POST never asks the system's: 0, or -1 (printed). */
static int https_addr(struct rpt_ctx *r, const char *host, char *out,
		      size_t size)
{
	static const uint16_t types[] = {DNS_T_A, DNS_T_AAAA};
	bool temp = false;

	for (size_t t = 0; t < 2; t++) {
		struct dns_result *res = NULL;
		struct error err;
		int ret =
		    dns_lookup_sync(r->dns, host, types[t], 0, &res, &err);

		for (size_t i = 0; ret == 1 && i < res->count; i++)
			if (res->rrs[i].type == types[t]) {
				snprintf(out, size,
					 types[t] == DNS_T_AAAA ? "[%s]" : "%s",
					 res->rrs[i].addr.text);
				dns_result_free(&res);
				return 0;
			}
		if (ret < 0) {
			temp = true;
			fprintf(stderr, "postern: %s: lookup failed: %s\n",
				host, err.msg);
		}
		dns_result_free(&res);
	}
	if (!temp)
		fprintf(stderr, "postern: %s: no address\n", host);
	return -1;
}

/* POST the gzip'd report to uri: 0 on a 2xx answer, else -1 (printed). */
static int post_https(struct rpt_ctx *r, const char *domain, const char *uri,
		      const struct buf *gz)
{
	char host[256], addr[80], resolve[400];
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *rl = NULL, *hdr = NULL;
	unsigned port;
	long status = 0;
	struct error err;
	CURLcode rc;
	CURL *c;

	if (tlsrpt_https_host(uri, host, sizeof(host), &port, &err) < 0) {
		fprintf(stderr, "postern: %s: %s: %s\n", domain, uri, err.msg);
		return -1;
	}
	if (!r->curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			fprintf(stderr, "postern: libcurl failed to start\n");
			return -1;
		}
		r->curl_ready = true;
	}
	c = curl_easy_init();
	if (c == NULL)
		return -1;
	if (strchr(host, ':') == NULL &&
	    strspn(host, "0123456789.") != strlen(host)) {
		if (https_addr(r, host, addr, sizeof(addr)) < 0) {
			curl_easy_cleanup(c);
			return -1;
		}
		snprintf(resolve, sizeof(resolve), "%s:%u:%s", host, port,
			 addr);
		rl = curl_slist_append(NULL, resolve);
		curl_easy_setopt(c, CURLOPT_RESOLVE, rl);
	}
	hdr = curl_slist_append(NULL, "Content-Type: application/tlsrpt+gzip");
	curl_easy_setopt(c, CURLOPT_URL, uri);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, buf_data(gz));
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)buf_len(gz));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, HTTPS_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, HTTPS_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, r->conf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "postern-tlsrpt");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(rl);
	curl_slist_free_all(hdr);
	if (rc != CURLE_OK) {
		fprintf(stderr, "postern: %s: POST to %s failed: %s\n", domain,
			uri,
			errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		return -1;
	}
	if (status < 200 || status > 299) {
		fprintf(stderr, "postern: %s: POST to %s: HTTP status %ld\n",
			domain, uri, status);
		return -1;
	}
	printf("%s: report posted to %s (HTTP %ld)\n", domain, uri, status);
	return 0;
}

/* The multipart/report (RFC 8460 5.3) carrying the gzip'd JSON. */
static void build_message(struct rpt_ctx *r, const char *domain,
			  const char *report_id, const struct buf *gz,
			  struct array *rcpts, struct buf *msg)
{
	char date[64], boundary[64];
	unsigned char rnd[8];
	time_t now = time(NULL);

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0x5a, sizeof(rnd));
	snprintf(boundary, sizeof(boundary),
		 "tlsrpt-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	time_format_rfc5322(now, date, sizeof(date));
	buf_printf(msg, "From: <%s>\r\nDate: %s\r\nTo: ", r->sender, date);
	for (size_t i = 0; i < array_len(rcpts); i++)
		buf_printf(msg, "%s<%s>", i > 0 ? ",\r\n " : "",
			   (const char *)array_get(rcpts, i));
	buf_printf(msg,
		   "\r\nSubject: Report Domain: %s Submitter: %s Report-ID: "
		   "<%s>\r\n"
		   "TLS-Report-Domain: %s\r\n"
		   "TLS-Report-Submitter: %s\r\n"
		   "Message-ID: <%s>\r\n"
		   "Auto-Submitted: auto-generated\r\n"
		   "MIME-Version: 1.0\r\n"
		   "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
		   "\tboundary=\"%s\"\r\n\r\n",
		   domain, r->submitter, report_id, domain, r->submitter,
		   report_id, boundary);
	buf_printf(msg,
		   "This is a multipart message in MIME format.\r\n\r\n"
		   "--%s\r\n"
		   "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
		   "This is an aggregate TLS report (RFC 8460) from %s\r\n"
		   "for %s, %s UTC.\r\n\r\n",
		   boundary, r->submitter, domain, r->day);
	buf_printf(msg,
		   "--%s\r\n"
		   "Content-Type: application/tlsrpt+gzip\r\n"
		   "Content-Transfer-Encoding: base64\r\n"
		   "Content-Disposition: attachment;\r\n"
		   "\tfilename=\"%s!%s!%lld!%lld.json.gz\"\r\n\r\n",
		   boundary, r->submitter, domain, (long long)r->start,
		   (long long)r->start + 86399);
	mime_base64_encode(buf_data(gz), buf_len(gz), true, msg);
	if (buf_len(msg) > 0 && buf_data(msg)[buf_len(msg) - 1] != '\n')
		buf_append_str(msg, "\r\n");
	buf_printf(msg, "\r\n--%s--\r\n", boundary);
}

/* The message to the mailto: rua addresses, queued: 0 or -1. */
static int inject_report(struct rpt_ctx *r, const char *domain,
			 const char *report_id, const struct buf *gz,
			 struct array *rcpts, struct buf *msg)
{
	build_message(r, domain, report_id, gz, rcpts, msg);
	return inject(r, msg, rcpts);
}

static int mark_sent(struct rpt_ctx *r, const char *domain,
		     const char *report_id, const char *rua, struct error *err)
{
	char now[32];

	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	const char *params[] = {r->day, domain, report_id, rua, now};
	long long n = db_exec(r->db,
			      "INSERT INTO tlsrpt_reports (day, policy_domain, "
			      "report_id, rua, sent_at) VALUES (?, ?, ?, ?, ?)",
			      params, 5, err);
	return n == DB_DUPLICATE ? 0 : n < 0 ? -1 : 0;
}

/* ---- Per-URI state (tlsrpt_deliveries, migration 013). */

/* The rows of (day, domain): rua, report_id, delivered_at. */
static int load_deliveries(struct rpt_ctx *r, const char *domain,
			   struct db_result **res_r, struct error *err)
{
	const char *params[] = {r->day, domain};

	return db_query(r->db,
			"SELECT rua, report_id, delivered_at FROM "
			"tlsrpt_deliveries WHERE day = ? AND policy_domain = ?",
			params, 2, res_r, err);
}

/* uri's row in res: -1 none, 0 not delivered yet, 1 delivered. */
static int delivery_state(const struct db_result *res, const char *uri)
{
	for (size_t i = 0; i < db_result_rows(res); i++)
		if (strcmp(db_result_value(res, i, 0), uri) == 0)
			return strcmp(db_result_value(res, i, 2), "0") != 0;
	return -1;
}

/* A row for uri before its first attempt (another run's row is fine). */
static int note_pending(struct rpt_ctx *r, const char *domain, const char *uri,
			const char *report_id, struct error *err)
{
	const char *params[] = {r->day, domain, uri, report_id};
	long long n = db_exec(r->db,
			      "INSERT INTO tlsrpt_deliveries (day, "
			      "policy_domain, rua, report_id, delivered_at) "
			      "VALUES (?, ?, ?, ?, 0)",
			      params, 4, err);

	return n == DB_DUPLICATE ? 0 : n < 0 ? -1 : 0;
}

static int note_delivered(struct rpt_ctx *r, const char *domain,
			  const char *uri)
{
	char now[32];
	struct error err;

	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	const char *params[] = {now, r->day, domain, uri};
	if (db_exec(r->db,
		    "UPDATE tlsrpt_deliveries SET delivered_at = ? WHERE "
		    "day = ? AND policy_domain = ? AND rua = ?",
		    params, 4, &err) < 0) {
		/* The next run sends to it again: say so. */
		fprintf(stderr,
			"postern: %s: delivered to %s, but not noted: %s\n",
			domain, uri, err.msg);
		return -1;
	}
	return 0;
}

/* ---- Claims: two runs at once (cron and a hand, or two nodes sharing
 * the database) never both send to a URI. */

/* A claim older than this was made by a run that died: the URI is sent
 * again.  A run holds a URI for one POST (30 s at most) or queueing. */
#define CLAIM_SECS (15 * 60)

/*
 * Runs that began the report at the same moment wrote the rows with
 * their own report-id (UNIXTIME differs).  Once each has written a row
 * for every URI the set is final, and all settle on the least id, so
 * the report has one id whoever sends it.  report_id: in and out.
 */
static int agree_report_id(struct rpt_ctx *r, const char *domain,
			   char *report_id, size_t size, struct error *err)
{
	const char *params[] = {r->day, domain};
	struct db_result *res;

	if (db_query(r->db,
		     "SELECT MIN(report_id) FROM tlsrpt_deliveries WHERE "
		     "day = ? AND policy_domain = ?",
		     params, 2, &res, err) < 0)
		return -1;
	if (db_result_rows(res) == 1 && db_result_value(res, 0, 0) != NULL)
		str_copy(report_id, db_result_value(res, 0, 0), size);
	db_result_free(&res);
	const char *up[] = {report_id, r->day, domain, report_id};
	return db_exec(r->db,
		       "UPDATE tlsrpt_deliveries SET report_id = ? WHERE "
		       "day = ? AND policy_domain = ? AND report_id <> ?",
		       up, 4, err) < 0
		   ? -1
		   : 0;
}

/*
 * Take uri for this run: one UPDATE, so of two runs exactly one gets
 * it.  1 taken; 0 not (said): delivered meanwhile, or *busy_r when
 * another run holds it; -1 with err.
 */
static int claim_uri(struct rpt_ctx *r, const char *domain, const char *uri,
		     const char *report_id, time_t now, bool *busy_r,
		     struct error *err)
{
	char at[32], stale[32], since[32] = "?";
	struct db_result *res;
	struct tm tm;
	long long n;

	snprintf(at, sizeof(at), "%lld", (long long)now);
	snprintf(stale, sizeof(stale), "%lld", (long long)now - CLAIM_SECS);
	const char *params[] = {at, r->day, domain, uri, stale};
	n = db_exec(r->db,
		    "UPDATE tlsrpt_deliveries SET claimed_at = ? WHERE day = ? "
		    "AND policy_domain = ? AND rua = ? AND delivered_at = 0 "
		    "AND claimed_at < ?",
		    params, 5, err);
	if (n != 0)
		return n > 0 ? 1 : -1;
	const char *q[] = {r->day, domain, uri};
	if (db_query(r->db,
		     "SELECT delivered_at, claimed_at FROM tlsrpt_deliveries "
		     "WHERE day = ? AND policy_domain = ? AND rua = ?",
		     q, 3, &res, err) < 0)
		return -1;
	if (db_result_rows(res) == 1 &&
	    strcmp(db_result_value(res, 0, 0), "0") != 0) {
		printf("%s: report %s already delivered to %s\n", domain,
		       report_id, uri);
	} else {
		long long t = 0;

		if (db_result_rows(res) == 1 &&
		    str_to_i64(db_result_value(res, 0, 1), &t)) {
			time_t tt = (time_t)t;
			strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S UTC",
				 gmtime_r(&tt, &tm));
		}
		fprintf(stderr,
			"postern: %s: another run is sending report %s to %s "
			"(since %s); not sent by this one\n",
			domain, report_id, uri, since);
		*busy_r = true;
	}
	db_result_free(&res);
	return 0;
}

/* Give uri back after a failed attempt: the next run sends to it at
 * once, not after CLAIM_SECS. */
static void release_uri(struct rpt_ctx *r, const char *domain, const char *uri,
			time_t claimed)
{
	char at[32];
	struct error err;

	snprintf(at, sizeof(at), "%lld", (long long)claimed);
	const char *params[] = {r->day, domain, uri, at};
	if (db_exec(r->db,
		    "UPDATE tlsrpt_deliveries SET claimed_at = 0 WHERE day = ? "
		    "AND policy_domain = ? AND rua = ? AND claimed_at = ?",
		    params, 4, &err) < 0)
		fprintf(stderr,
			"postern: %s: %s stays claimed for %d minutes: %s\n",
			domain, uri, CLAIM_SECS / 60, err.msg);
}

/* Give back every URI of uris (nothing was sent to them); a dry run
 * took none. */
static void release_all(struct rpt_ctx *r, const char *domain,
			struct array *uris, time_t claimed)
{
	if (r->dry_run)
		return;
	for (size_t i = 0; i < array_len(uris); i++)
		release_uri(r, domain, array_get(uris, i), claimed);
}

/*
 * Keep in uris the URIs this run takes (addrs, the owned mailto:
 * addresses parallel to it, or NULL, follows).  -1 with err, with what
 * was taken given back.
 */
static int claim_pending(struct rpt_ctx *r, const char *domain,
			 const char *report_id, time_t now, struct array *uris,
			 struct array *addrs, bool *busy_r, struct error *err)
{
	for (size_t i = 0; i < array_len(uris);) {
		int c = claim_uri(r, domain, array_get(uris, i), report_id, now,
				  busy_r, err);

		if (c < 0) {
			while (i > 0)
				release_uri(r, domain, array_get(uris, --i),
					    now);
			return -1;
		}
		if (c > 0) {
			i++;
			continue;
		}
		array_remove(uris, i);
		if (addrs != NULL) {
			free(array_get(addrs, i));
			array_remove(addrs, i);
		}
	}
	return 0;
}

/* One domain: 0 done (sent or nothing to send), -1 try again later. */
static int report_domain(struct rpt_ctx *r, const char *domain)
{
	struct tlsrpt_record rec;
	struct rpt_policies pol;
	struct db_result *res = NULL, *dres = NULL;
	struct array *rcpts, *mailto; /* pending: addresses, their URIs */
	struct buf *json, *gz, *msg, *rua;
	struct array *https; /* pending https: URIs, borrowed from rec */
	char report_id[512];
	struct error err;
	size_t usable = 0, failed = 0;
	time_t claimed = 0;
	bool busy = false;
	int found, ret = 0;

	found = lookup_record(r, domain, &rec);
	if (found < 0)
		return -1;
	if (found == 0) {
		printf("%s: no TLSRPT record, nothing sent\n", domain);
		if (!r->dry_run && mark_sent(r, domain, "", "", &err) < 0) {
			fprintf(stderr, "postern: %s: %s\n", domain, err.msg);
			return -1;
		}
		return 0;
	}
	if (load_deliveries(r, domain, &dres, &err) < 0) {
		fprintf(stderr, "postern: %s: %s\n", domain, err.msg);
		return -1;
	}
	/* An earlier attempt's report-id: it is the same report. */
	if (db_result_rows(dres) > 0)
		str_copy(report_id, db_result_value(dres, 0, 1),
			 sizeof(report_id));
	else
		snprintf(report_id, sizeof(report_id), "%s.%s.%lld@%s", r->day,
			 domain, (long long)time(NULL), r->submitter);
	rcpts = array_new();
	mailto = array_new();
	https = array_new();
	rua = buf_new();
	for (size_t i = 0; ret == 0 && i < rec.nrua; i++) {
		char addr[TLSRPT_URI_MAX];
		bool is_https = strncasecmp(rec.rua[i], "https:", 6) == 0;
		int state;

		if (!is_https &&
		    tlsrpt_mailto_address(rec.rua[i], addr, sizeof(addr),
					  &err) < 0) {
			printf("%s: %s\n", domain, err.msg);
			continue;
		}
		usable++;
		buf_printf(rua, "%s%s", buf_len(rua) ? "," : "", rec.rua[i]);
		state = delivery_state(dres, rec.rua[i]);
		if (state == 1) {
			printf("%s: report %s already delivered to %s\n",
			       domain, report_id, rec.rua[i]);
			continue;
		}
		if (state < 0 && !r->dry_run &&
		    note_pending(r, domain, rec.rua[i], report_id, &err) < 0) {
			fprintf(stderr, "postern: %s: %s\n", domain, err.msg);
			ret = -1;
			break;
		}
		if (is_https) {
			array_push(https, rec.rua[i]);
		} else {
			array_push(rcpts, xstrdup(addr));
			array_push(mailto, rec.rua[i]);
		}
	}
	db_result_free(&dres);
	if (ret == 0 && usable > 0 && !r->dry_run) {
		claimed = time(NULL);
		if (agree_report_id(r, domain, report_id, sizeof(report_id),
				    &err) < 0 ||
		    claim_pending(r, domain, report_id, claimed, https, NULL,
				  &busy, &err) < 0) {
			fprintf(stderr, "postern: %s: %s\n", domain, err.msg);
			ret = -1;
		} else if (claim_pending(r, domain, report_id, claimed, mailto,
					 rcpts, &busy, &err) < 0) {
			fprintf(stderr, "postern: %s: %s\n", domain, err.msg);
			release_all(r, domain, https, claimed);
			ret = -1;
		}
	}
	if (ret == 0 && usable == 0) {
		printf("%s: no usable rua address, nothing sent\n", domain);
		if (!r->dry_run)
			ret = mark_sent(r, domain, "", "", &err);
	}
	if (ret < 0 || usable == 0) {
		array_free_with(&rcpts, free);
		array_free(&mailto);
		array_free(&https);
		buf_free(&rua);
		return ret;
	}
	if (load_policies(r, domain, &res, &pol, &err) < 0) {
		fprintf(stderr, "postern: %s: %s\n", domain, err.msg);
		release_all(r, domain, https, claimed);
		release_all(r, domain, mailto, claimed);
		array_free_with(&rcpts, free);
		array_free(&mailto);
		array_free(&https);
		buf_free(&rua);
		return -1;
	}
	struct tlsrpt_report rep = {
	    .organization = conf_str(r->conf, "tlsrpt_organization_name"),
	    .contact = r->contact,
	    .report_id = report_id,
	    .start = r->start,
	    .end = r->start + 86399,
	    .policies = pol.p,
	    .npolicies = pol.n,
	};
	json = buf_new();
	gz = buf_new();
	msg = buf_new();
	tlsrpt_report_json(&rep, json);
	if (r->dry_run) {
		printf("%s\n", buf_data(json));
	} else if (gzip_buf(buf_data(json), buf_len(json), gz) < 0) {
		fprintf(stderr, "postern: %s: gzip failed\n", domain);
		release_all(r, domain, https, claimed);
		release_all(r, domain, mailto, claimed);
		ret = -1;
	} else {
		/* Each URI on its own: one that fails does not hold the
		 * others up, and is all the next run sends to. */
		for (size_t i = 0; i < array_len(https); i++) {
			const char *uri = array_get(https, i);

			if (post_https(r, domain, uri, gz) < 0) {
				failed++;
				release_uri(r, domain, uri, claimed);
			} else if (note_delivered(r, domain, uri) < 0)
				ret = -1;
		}
		if (array_len(rcpts) > 0 &&
		    inject_report(r, domain, report_id, gz, rcpts, msg) < 0) {
			fprintf(stderr,
				"postern: %s: the report could not be "
				"queued\n",
				domain);
			failed += array_len(rcpts);
			release_all(r, domain, mailto, claimed);
		} else {
			for (size_t i = 0; i < array_len(mailto); i++)
				if (note_delivered(r, domain,
						   array_get(mailto, i)) < 0)
					ret = -1;
		}
		if (failed > 0) {
			fprintf(stderr,
				"postern: %s: not marked sent, the next run "
				"sends report %s to the %zu rua URI(s) that "
				"have not taken it\n",
				domain, report_id, failed);
			ret = -1;
		} else if (ret < 0) {
			/* noted above */
		} else if (busy) {
			/* The other run marks it, or the next one does. */
			fprintf(stderr,
				"postern: %s: not marked sent, another run is "
				"sending report %s; try again later\n",
				domain, report_id);
			ret = -1;
		} else if (mark_sent(r, domain, report_id, buf_data(rua),
				     &err) < 0) {
			/* Delivered but not marked: the next run finds
			 * every URI delivered and only marks it. */
			fprintf(stderr,
				"postern: %s: sent, but not marked: %s\n",
				domain, err.msg);
			ret = -1;
		} else {
			printf("%s: report %s %s for %s (%zu bytes gzip'd)\n",
			       domain, report_id,
			       array_len(rcpts) > 0   ? "queued"
			       : array_len(https) > 0 ? "posted"
						      : "already delivered",
			       buf_data(rua), buf_len(gz));
		}
	}
	buf_free(&json);
	buf_free(&gz);
	buf_free(&msg);
	buf_free(&rua);
	array_free_with(&rcpts, free);
	array_free(&mailto);
	array_free(&https);
	free(pol.p);
	free(pol.f);
	db_result_free(&res);
	return ret;
}

static void purge(struct rpt_ctx *r)
{
	long long days = conf_int(r->conf, "tlsrpt_retention_days");
	char cutoff[11];
	struct tm tm;
	struct error err;
	time_t t;

	if (days <= 0)
		return;
	t = time(NULL) - (time_t)days * 86400;
	strftime(cutoff, sizeof(cutoff), "%Y-%m-%d", gmtime_r(&t, &tm));
	const char *params[] = {cutoff};
	long long a =
	    db_exec(r->db, "DELETE FROM tlsrpt_counters WHERE day < ?", params,
		    1, &err);
	long long b =
	    a < 0 ? -1
		  : db_exec(r->db, "DELETE FROM tlsrpt_reports WHERE day < ?",
			    params, 1, &err);
	long long c = b < 0 ? -1
			    : db_exec(r->db,
				      "DELETE FROM tlsrpt_deliveries WHERE "
				      "day < ?",
				      params, 1, &err);
	if (a < 0 || b < 0 || c < 0)
		fprintf(stderr, "postern: purge: %s\n", err.msg);
	else if (a + b + c > 0)
		printf("purged %lld counter, %lld report and %lld delivery "
		       "row(s) before %s\n",
		       a, b, c, cutoff);
}

static int cmd_send(struct rpt_ctx *r)
{
	const char *params[] = {r->day, r->day};
	struct db_result *res;
	struct error err;
	int status = 0;

	r->dns = dns_resolver_new(NULL, r->conf, &err);
	if (r->dns == NULL)
		return cli_error("resolver: %s", err.msg);
	if (db_query(r->db,
		     "SELECT DISTINCT policy_domain FROM tlsrpt_counters "
		     "WHERE day = ? AND policy_domain NOT IN (SELECT "
		     "policy_domain FROM tlsrpt_reports WHERE day = ?) "
		     "ORDER BY policy_domain",
		     params, 2, &res, &err) < 0) {
		dns_resolver_free(&r->dns);
		return cli_fail(&err);
	}
	if (db_result_rows(res) == 0)
		printf("%s: nothing to report\n", r->day);
	for (size_t i = 0; i < db_result_rows(res); i++)
		if (report_domain(r, db_result_value(res, i, 0)) < 0)
			status = EX_TEMPFAIL;
	db_result_free(&res);
	dns_resolver_free(&r->dns);
	if (!r->dry_run)
		purge(r);
	return status;
}

static int cmd_show(struct rpt_ctx *r)
{
	const char *params[] = {r->day};
	struct db_result *res;
	struct error err;

	if (db_query(r->db,
		     "SELECT policy_domain, policy_type, mx_host, result, "
		     "sending_ip, receiving_ip, sessions FROM tlsrpt_counters "
		     "WHERE day = ? ORDER BY policy_domain, policy_type, "
		     "mx_host, result",
		     params, 1, &res, &err) < 0)
		return cli_fail(&err);
	cli_print_rows(res);
	db_result_free(&res);
	return 0;
}

int cmd_tlsrpt(struct cli *cli, int argc, char **argv)
{
	struct rpt_ctx r = {.cli = cli};
	const char *day = NULL;
	struct buf *dom;
	bool send;
	int ret;

	if (cli_help(argc, argv, usage))
		return 0;
	if (argc < 2 ||
	    (strcmp(argv[1], "send") != 0 && strcmp(argv[1], "show") != 0))
		return cli_error("usage: postern tlsrpt send|show ... (see "
				 "--help)");
	send = strcmp(argv[1], "send") == 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--day") == 0 && i + 1 < argc)
			day = argv[++i];
		else if (send && strcmp(argv[i], "--dry-run") == 0)
			r.dry_run = true;
		else
			return cli_error("tlsrpt %s: unknown argument \"%s\" "
					 "(see --help)",
					 argv[1], argv[i]);
	}
	if (day != NULL) {
		r.start = parse_day(day);
		if (r.start < 0)
			return cli_error(
			    "--day: expected YYYY-MM-DD, got \"%s\"", day);
	} else {
		time_t y = time(NULL) - 86400;
		r.start = y - y % 86400;
	}
	struct tm tm;
	strftime(r.day, sizeof(r.day), "%Y-%m-%d", gmtime_r(&r.start, &tm));
	if ((ret = cli_open(cli, &r.conf, &r.db)) != 0)
		return ret;
	dom = buf_new();
	if (conf_str(r.conf, "tlsrpt_submitter")[0] != '\0')
		buf_set_str(dom, conf_str(r.conf, "tlsrpt_submitter"));
	else
		rewrite_conf_mydomain(r.conf, dom);
	str_copy(r.submitter, buf_data(dom), sizeof(r.submitter));
	if (conf_str(r.conf, "tlsrpt_sender")[0] != '\0')
		str_copy(r.sender, conf_str(r.conf, "tlsrpt_sender"),
			 sizeof(r.sender));
	else
		snprintf(r.sender, sizeof(r.sender),
			 "noreply-smtp-tls-reporting@%s", r.submitter);
	if (conf_str(r.conf, "tlsrpt_contact_info")[0] != '\0')
		str_copy(r.contact, conf_str(r.conf, "tlsrpt_contact_info"),
			 sizeof(r.contact));
	else {
		buf_reset(dom);
		rewrite_conf_mydomain(r.conf, dom);
		snprintf(r.contact, sizeof(r.contact), "postmaster@%s",
			 buf_data(dom));
	}
	buf_free(&dom);
	ret = send ? cmd_send(&r) : cmd_show(&r);
	if (r.curl_ready)
		curl_global_cleanup();
	db_close(&r.db);
	conf_free(&r.conf);
	return ret;
}
