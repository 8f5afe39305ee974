/*
 * cmd_dns.c - `postern dns`: ask the resolver the MTA uses, print JSON.
 *
 *   postern dns lookup [--sync] [--raw] [-o NAME=VALUE].. TYPE NAME
 *   postern dns mx [--sync] [-o NAME=VALUE].. DOMAIN
 *   postern dns fcrdns [--sync] [-o NAME=VALUE].. IP
 *   postern dns ptrname IP
 *   postern dns dnsblname IP ZONE
 *
 * lookup, mx and fcrdns go through lib/dns exactly as the daemons do (the
 * asynchronous path on an event loop, or with --sync the blocking path of
 * worker threads), with the dns_* settings of main.cf and -o overrides,
 * so a test or an administrator sees what Postern sees.
 * Exit status: 0 found, 1 not found (NXDOMAIN, NODATA, null MX,
 * no confirmed reverse name),
 * 75 (EX_TEMPFAIL) temporary failure (SERVFAIL, timeout, bogus), 78 bad
 * configuration, 2 usage.  The JSON is printed in every case but usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "dns/dns.h"
#include "ev/ev.h"
#include "postern.h"

static const char usage[] =
    "usage: postern dns lookup [--sync] [--raw] [-o NAME=VALUE].. TYPE NAME\n"
    "       postern dns mx [--sync] [-o NAME=VALUE].. DOMAIN\n"
    "       postern dns fcrdns [--sync] [-o NAME=VALUE].. IP\n"
    "       postern dns ptrname IP\n"
    "       postern dns dnsblname IP ZONE\n"
    "\n"
    "lookup     resolve NAME (TYPE: A, AAAA, MX, TXT, TLSA, PTR, CNAME, NS\n"
    "           or TYPEn) and print the answer as JSON: status, rcode,\n"
    "           DNSSEC security, TTL and the parsed records.\n"
    "           --raw  show a bogus answer's records instead of failing.\n"
    "mx         the mail exchangers of DOMAIN by preference (implicit MX\n"
    "           when it has none, null MX: no mail).\n"
    "fcrdns     the forward-confirmed reverse name of IP (a PTR name whose\n"
    "           addresses include IP), as reject_unknown_client_hostname.\n"
    "ptrname    the PTR query name of IP; dnsblname: its DNSBL name in ZONE.\n"
    "--sync     use the blocking path of worker threads.\n"
    "-o N=V     override a setting (dns_servers, dns_timeout...).\n"
    "\n"
    "Exit status: 0 found, 1 not found, 75 temporary failure, 78 bad\n"
    "configuration, 2 usage.\n";

struct dns_cli {
	struct ev *ev;
	struct dns_result *result;
	struct dns_mx_list *mx;
	bool fcrdns_done;
	char *fcrdns_name;
	int ret;
	struct error err;
};

static void json_str(struct buf *b, const char *s, size_t len)
{
	buf_append_char(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			/* One escape per octet: TXT data is bytes, not
			 * necessarily UTF-8. */
			buf_printf(b, "\\u%04x", c);
		else
			buf_append_char(b, (char)c);
	}
	buf_append_char(b, '"');
}

static void json_cstr(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_append_str(b, "null");
	else
		json_str(b, s, strlen(s));
}

static void json_hex(struct buf *b, const uint8_t *p, size_t len)
{
	buf_append_char(b, '"');
	for (size_t i = 0; i < len; i++)
		buf_printf(b, "%02x", p[i]);
	buf_append_char(b, '"');
}

static const char *outcome_name(int ret, const struct error *err)
{
	if (ret == 1)
		return "found";
	if (ret == 0)
		return "not_found";
	return err->kind == ERR_TEMP ? "temporary" : "permanent";
}

static void json_rr(struct buf *b, const struct dns_rr *rr)
{
	switch (rr->type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		buf_append_str(b, "{\"address\": ");
		json_cstr(b, rr->addr.text);
		break;
	case DNS_T_MX:
		buf_printf(b, "{\"pref\": %u, \"host\": ", rr->mx.pref);
		json_cstr(b, rr->mx.host);
		break;
	case DNS_T_TXT:
		buf_printf(b, "{\"strings\": %u, \"text\": ", rr->txt.nstrings);
		json_str(b, rr->txt.data, rr->txt.len);
		break;
	case DNS_T_TLSA:
		buf_printf(b, "{\"usage\": %u, \"selector\": %u, \"mtype\": %u, "
			      "\"data\": ",
			   rr->tlsa.usage, rr->tlsa.selector, rr->tlsa.mtype);
		json_hex(b, rr->tlsa.data, rr->tlsa.len);
		break;
	case DNS_T_PTR:
	case DNS_T_CNAME:
	case DNS_T_NS:
		buf_append_str(b, "{\"name\": ");
		json_cstr(b, rr->name);
		break;
	default:
		buf_append_str(b, "{\"rdata\": ");
		json_hex(b, rr->raw.data, rr->raw.len);
		break;
	}
	buf_append_char(b, '}');
}

static void print_result(const struct dns_result *r, int ret,
			 const struct error *err)
{
	struct buf *b = buf_new();
	char tbuf[16];

	buf_append_str(b, "{\"name\": ");
	json_cstr(b, r->qname);
	buf_printf(b, ", \"type\": \"%s\", \"status\": \"%s\", \"rcode\": %d",
		   dns_type_name(r->qtype, tbuf), dns_status_name(r->status),
		   r->rcode);
	buf_printf(b, ", \"outcome\": \"%s\", \"error\": ",
		   outcome_name(ret, err));
	json_cstr(b, ret == 1 ? NULL : err->msg);
	buf_printf(b, ", \"security\": \"%s\", \"secure\": %s, \"bogus\": %s",
		   dns_security_name(r->security),
		   r->security == DNS_SECURE ? "true" : "false",
		   r->security == DNS_SECURITY_BOGUS ? "true" : "false");
	buf_append_str(b, ", \"why_bogus\": ");
	json_cstr(b, r->why_bogus);
	buf_append_str(b, ", \"canonname\": ");
	json_cstr(b, r->canonname);
	buf_printf(b, ", \"ttl\": %u, \"records\": [", r->ttl);
	for (size_t i = 0; i < r->count; i++) {
		if (i > 0)
			buf_append_str(b, ", ");
		json_rr(b, &r->rrs[i]);
	}
	buf_append_str(b, "]}\n");
	fputs(buf_data(b), stdout);
	buf_free(&b);
}

static void print_mx(const struct dns_mx_list *l, int ret,
		     const struct error *err)
{
	struct buf *b = buf_new();

	buf_append_str(b, "{\"domain\": ");
	json_cstr(b, l->domain);
	buf_printf(b, ", \"outcome\": \"%s\", \"error\": ",
		   outcome_name(ret, err));
	json_cstr(b, ret == 1 ? NULL : err->msg);
	buf_printf(b, ", \"implicit\": %s, \"null_mx\": %s, \"security\": \"%s\", "
		      "\"ttl\": %u, \"hosts\": [",
		   l->implicit ? "true" : "false",
		   l->null_mx ? "true" : "false",
		   dns_security_name(l->security), l->ttl);
	for (size_t i = 0; i < l->count; i++) {
		buf_printf(b, "%s{\"pref\": %u, \"host\": ", i ? ", " : "",
			   l->hosts[i].pref);
		json_cstr(b, l->hosts[i].host);
		buf_append_char(b, '}');
	}
	buf_append_str(b, "]}\n");
	fputs(buf_data(b), stdout);
	buf_free(&b);
}

static void print_fcrdns(const char *ip, const char *name, int ret,
			 const struct error *err)
{
	struct buf *b = buf_new();

	buf_append_str(b, "{\"ip\": ");
	json_cstr(b, ip);
	buf_printf(b, ", \"outcome\": \"%s\", \"name\": ",
		   outcome_name(ret, err));
	json_cstr(b, name);
	buf_append_str(b, ", \"error\": ");
	json_cstr(b, ret == 1 ? NULL : err->msg);
	buf_append_str(b, "}\n");
	fputs(buf_data(b), stdout);
	buf_free(&b);
}

static int exit_status(int ret, const struct error *err)
{
	if (ret == 1)
		return 0;
	if (ret == 0)
		return 1;
	return err->kind == ERR_TEMP ? EX_TEMPFAIL : 1;
}

static void lookup_done(struct dns_result *r, int ret, const struct error *err,
			void *ctx)
{
	struct dns_cli *c = ctx;

	c->result = r;
	c->ret = ret;
	if (err != NULL)
		c->err = *err;
	ev_stop(c->ev);
}

static void mx_done(struct dns_mx_list *l, int ret, const struct error *err,
		    void *ctx)
{
	struct dns_cli *c = ctx;

	c->mx = l;
	c->ret = ret;
	if (err != NULL)
		c->err = *err;
	ev_stop(c->ev);
}

static void fcrdns_done(const char *name, int ret, const struct error *err,
			void *ctx)
{
	struct dns_cli *c = ctx;

	c->fcrdns_done = true;
	c->fcrdns_name = name != NULL ? xstrdup(name) : NULL;
	c->ret = ret;
	if (err != NULL)
		c->err = *err;
	ev_stop(c->ev);
}

static int dns_query_cmd(struct cli *cli, int argc, char **argv)
{
	const char *overrides[64];
	const char *args[3];
	size_t nover = 0, nargs = 0;
	bool sync = false, raw = false;
	bool mx = strcmp(argv[1], "mx") == 0;
	bool fc = strcmp(argv[1], "fcrdns") == 0;
	struct dns_cli c = {.ret = -1};
	struct dns_resolver *res;
	struct conf *conf;
	struct error err;
	int status;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
			if (nover == sizeof(overrides) / sizeof(overrides[0]))
				return cli_error("too many -o options");
			overrides[nover++] = argv[++i];
		} else if (strcmp(argv[i], "--sync") == 0) {
			sync = true;
		} else if (strcmp(argv[i], "--raw") == 0 && !mx && !fc) {
			raw = true;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			cli_error("unknown option \"%s\" (see --help)", argv[i]);
			return 2;
		} else if (nargs < 2) {
			args[nargs++] = argv[i];
		} else {
			cli_error("too many arguments (see --help)");
			return 2;
		}
	}
	if (nargs != (mx || fc ? 1u : 2u)) {
		cli_error("wrong number of arguments for dns %s (see --help)",
			  argv[1]);
		return 2;
	}
	uint16_t type = mx ? DNS_T_MX
			 : fc ? DNS_T_PTR
			      : dns_type_from_name(args[0]);
	const char *name = mx || fc ? args[0] : args[1];
	if (type == 0) {
		cli_error("unknown record type \"%s\"", args[0]);
		return 2;
	}
	conf = conf_load_overrides(cli->config_dir, overrides, nover, &err);
	if (conf == NULL) {
		cli_error("%s", err.msg);
		return EX_CONFIG;
	}
	if (!sync)
		c.ev = ev_new();
	res = dns_resolver_new(c.ev, conf, &err);
	if (res == NULL) {
		cli_error("%s", err.msg);
		ev_free(&c.ev);
		conf_free(&conf);
		return err.kind == ERR_CONFIG ? EX_CONFIG : EX_TEMPFAIL;
	}
	error_clear(&c.err);
	if (sync && fc) {
		c.ret = dns_fcrdns_sync(res, name, &c.fcrdns_name, &c.err);
		c.fcrdns_done = true;
	} else if (sync && mx) {
		c.ret = dns_mx_hosts_sync(res, name, &c.mx, &c.err);
	} else if (sync) {
		c.ret = dns_lookup_sync(res, name, type, raw ? DNS_RAW : 0,
					&c.result, &c.err);
	} else {
		if (fc)
			dns_fcrdns(res, name, fcrdns_done, &c);
		else if (mx)
			dns_mx_hosts(res, name, mx_done, &c);
		else
			dns_lookup(res, name, type, raw ? DNS_RAW : 0,
				   lookup_done, &c);
		ev_run(c.ev);
	}
	if (c.fcrdns_done)
		print_fcrdns(name, c.fcrdns_name, c.ret, &c.err);
	else if (c.mx != NULL)
		print_mx(c.mx, c.ret, &c.err);
	else if (c.result != NULL)
		print_result(c.result, c.ret, &c.err);
	status = exit_status(c.ret, &c.err);
	if (c.ret != 1)
		cli_error("%s", c.err.msg);
	dns_result_free(&c.result);
	dns_mx_list_free(&c.mx);
	free(c.fcrdns_name);
	dns_resolver_free(&res);
	ev_free(&c.ev);
	conf_free(&conf);
	return status;
}

int cmd_dns(struct cli *cli, int argc, char **argv)
{
	static const struct cli_verb verbs[] = {
		{"lookup", 2, -1},
		{"mx", 1, -1},
		{"fcrdns", 1, -1},
		{"ptrname", 1, 1},
		{"dnsblname", 2, 2},
	};
	char out[DNS_NAME_TEXT_MAX];
	struct error err;

	if (cli_help(argc, argv, usage))
		return 0;
	if (cli_check_verb(argc, argv, "dns", verbs,
			   sizeof(verbs) / sizeof(verbs[0])) != 0)
		return 2;
	if (strcmp(argv[1], "ptrname") == 0 ||
	    strcmp(argv[1], "dnsblname") == 0) {
		int r = argv[1][0] == 'p'
			    ? dns_reverse_name(argv[2], out, sizeof(out), &err)
			    : dns_dnsbl_name(argv[2], argv[3], out, sizeof(out),
					     &err);
		if (r < 0)
			return cli_error("%s", err.msg);
		printf("%s\n", out);
		return 0;
	}
	return dns_query_cmd(cli, argc, argv);
}
