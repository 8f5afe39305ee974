#!/usr/bin/env python3
"""SMTP TLS Reporting, RFC 8460, the sending side (docs/tlsrpt.md):
postern-queued with smtp_tlsrpt_enable=yes counts its DANE and MTA-STS
sessions (tls.example: right TLSA; badtlsa.example: wrong TLSA, a
tlsa-invalid failure; sts.example: an enforce policy that passes;
ststest.example: a testing policy and a certificate of an unknown CA,
delivered all the same, a certificate-not-trusted failure; three
domains whose MTA-STS policy cannot be had: the policy server refuses
(stsrefuse.example, sts-policy-fetch-error), serves garbage
(stsgarbage.example, sts-policy-invalid) or a certificate for another
name (stswrongname.example, sts-webpki-invalid)) in SQL;
`postern tlsrpt send` mails the gzip'd JSON reports to the mailto: rua=
of each domain's "_smtp._tls" TXT record (a receiving SMTP server here,
found by MX) and POSTs them to its https: rua (an HTTPS server here; one
of three rua URIs of a domain failing first leaves the domain for the
next run, which sends the same report-id to that URI only:
tlsrpt_deliveries, migration 013), once; two runs at once send each URI
the report once (claims, migration 014); with the setting off nothing
is counted.  Real daemons,
the DNS harness (nsd + validating unbound, signed zones), the MTA-STS
policy server of test_mta_sts.py; SQLite, and PostgreSQL and MariaDB
under dbservers.sh / run-all.sh.
"""
import calendar
import email
import gzip
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest
from email import policy as email_policy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnsserver import DnsServer, Zone, available, txt_rdata  # noqa
from postern_site import (POSTERN, SmtpReceiver, free_ports,  # noqa
                          per_driver, run_postern, skip_unless_driver, wait_for,
                          wait_past_utc_midnight)
from test_mta_sts import PolicyServer, policy, sql  # noqa: E402
from tls_site import (RECEIVER_EXT, HttpsServer, OutboundSite,  # noqa
                      make_pki, server_ctx, spki_sha256)

TLS1 = "127.0.0.71"   # STARTTLS with srv1 (the TLSA 3 1 1 of tls.example)
RUA = "127.0.0.72"    # the reports' receiver (plain SMTP)
HTTPS = "127.0.0.73"  # the MTA-STS policy server, port 443
WRONGCA = "127.0.0.74"  # STARTTLS with srv2, of a CA nobody trusts
REFUSE = "127.0.0.76"  # mta-sts.stsrefuse.example: nothing on port 443
WRONGNAME = "127.0.0.77"  # a policy server whose certificate names others
REPORTS = "127.0.0.78"  # the https: rua server, port 443
REPORTS2 = "127.0.0.79"  # a second one (failing.reports.example), 503 first
REPORTS3 = "127.0.0.80"  # a third (hold.reports.example), holds a POST


class ReportServer(HttpsServer):
    """HTTPS on (host, 443) taking the POSTed reports: self.posts holds
    (Host, path, Content-Type, body) of each; a Host in self.fail gets
    a 503.  With self.hold set, the first POST is answered only once
    self.release is set (self.arrived tells it came)."""

    def __init__(self, host, ctx):
        self.posts = []
        self.fail = set()
        self.hold = False
        self.arrived = threading.Event()
        self.release = threading.Event()
        lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                name = (self.headers.get("Host") or "").split(":")[0]
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with lock:
                    owner.posts.append((name, self.path,
                                        self.headers.get("Content-Type"),
                                        body))
                    held = owner.hold and not owner.arrived.is_set()
                    if held:
                        owner.arrived.set()
                if held:
                    owner.release.wait(60)
                code = 503 if name in owner.fail else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(host, ctx, Handler)


# Domains with a valid _mta-sts TXT record whose policy cannot be had.
STS_FAILURES = {"stsrefuse.example": "sts-policy-fetch-error",
                "stsgarbage.example": "sts-policy-invalid",
                "stswrongname.example": "sts-webpki-invalid"}


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


class TlsRptBase:
    """The tests, run by one OutboundSite subclass per database driver."""
    DRIVER = None
    SERVERS = ("tls1", "rua", "wrongca", "web", "web2", "reports",
               "reports2", "reports3")

    @classmethod
    def set_up_site(cls):
        skip_unless_driver(cls.DRIVER)
        why = available()
        if why:
            raise unittest.SkipTest(why)
        if os.geteuid() != 0:
            raise unittest.SkipTest("binding port 443 needs root")
        cls.make_site("postern-tlsrpt-%s." % cls.DRIVER)
        pki = os.path.join(cls.dir, "pki")
        os.mkdir(pki)
        make_pki(pki, ("ca1", "ca2"),
                 (("srv1", "ca1", ["mx.tls.example", "mx.badtlsa.example",
                                   "mx.sts.example"]),
                  ("srv2", "ca2", ["mx.ststest.example"]),
                  ("web", "ca1", ["mta-sts.sts.example",
                                  "mta-sts.ststest.example",
                                  "mta-sts.stsgarbage.example"]),
                  # Trusted, but not for mta-sts.stswrongname.example.
                  ("web2", "ca1", ["mta-sts.elsewhere.example"]),
                  ("reports", "ca1", ["reports.example",
                                      "failing.reports.example",
                                      "hold.reports.example"])),
                 label="TLSRPT")
        ee = spki_sha256(pki, "srv1")
        cls.port, lmtp_port = free_ports(2)
        p = cls.port
        tlsa = "_%d._tcp.mx" % p
        cls.dns = DnsServer([
            Zone("tls.example", [
                ("@", "MX", "10 mx"), ("mx", "A", TLS1),
                (tlsa, "TLSA", "3 1 1 " + ee),
                ("_smtp._tls", "TXT",
                 '"v=TLSRPTv1; rua=mailto:tls-reports@rua.example,'
                 'https://reports.example/tlsrpt"'),
                # Not a TLSRPT record: ignored (RFC 8460 3).
                ("_smtp._tls", "TXT", '"v=spf1 -all"')], sign=True),
            Zone("badtlsa.example", [
                ("@", "MX", "10 mx"), ("mx", "A", TLS1),
                (tlsa, "TLSA", "3 1 1 " + "ab" * 32),
                ("_smtp._tls", "TXT",
                 '"v=TLSRPTv1;" "rua=mailto:failing-reports@rua.example"')],
                 sign=True),
            Zone("rua.example", [("@", "MX", "10 mx"), ("mx", "A", RUA)]),
            Zone("sts.example", [
                ("@", "MX", "10 mx"), ("mx", "A", TLS1),
                ("_mta-sts", "TXT", txt_rdata("v=STSv1; id=s1;")),
                ("mta-sts", "A", HTTPS),
                ("_smtp._tls", "TXT", txt_rdata(
                    "v=TLSRPTv1; rua=mailto:sts-reports@rua.example"))]),
            Zone("ststest.example", [
                ("@", "MX", "10 mx"), ("mx", "A", WRONGCA),
                ("_mta-sts", "TXT", txt_rdata("v=STSv1; id=t1;")),
                ("mta-sts", "A", HTTPS),
                ("_smtp._tls", "TXT", txt_rdata(
                    "v=TLSRPTv1; rua=mailto:ststest-reports@rua.example"))]),
            Zone("reports.example", [("@", "A", REPORTS),
                                     ("failing", "A", REPORTS2),
                                     ("hold", "A", REPORTS3)]),
            # Reported by two runs at once (test_overlapping_sends).
            Zone("overlap.example", [
                ("_smtp._tls", "TXT", txt_rdata(
                    "v=TLSRPTv1; rua=mailto:overlap-reports@rua.example,"
                    "https://hold.reports.example/tlsrpt/overlap"))]),
        ] + [
            # A valid STS record, and no policy to be had; reported to an
            # https: rua only (stsrefuse: a mailto: and two https: rua,
            # one of which fails at first).
            Zone(dom, [
                ("@", "MX", "10 mx"), ("mx", "A", TLS1),
                ("_mta-sts", "TXT", txt_rdata("v=STSv1; id=x1;")),
                ("mta-sts", "A", addr),
                ("_smtp._tls", "TXT", txt_rdata(
                    "v=TLSRPTv1; rua=" + (
                        "mailto:stsrefuse-reports@rua.example,"
                        "https://reports.example/tlsrpt/%s,"
                        "https://failing.reports.example/tlsrpt/%s"
                        % (dom, dom) if dom == "stsrefuse.example"
                        else "https://reports.example:443/tlsrpt/"
                        + dom)))])
            for dom, addr in (("stsrefuse.example", REFUSE),
                              ("stsgarbage.example", HTTPS),
                              ("stswrongname.example", WRONGNAME))
        ]).start()
        cls.tls1 = SmtpReceiver(TLS1, p, ext=RECEIVER_EXT,
                                tls=server_ctx(pki, "srv1"))
        cls.wrongca = SmtpReceiver(WRONGCA, p, ext=RECEIVER_EXT,
                                   tls=server_ctx(pki, "srv2"))
        cls.rua = SmtpReceiver(RUA, p, ext=RECEIVER_EXT)
        cls.web = PolicyServer(HTTPS, server_ctx(pki, "web"), {
            "sts.example": policy("enforce", "mx.sts.example"),
            "ststest.example": policy("testing", "mx.ststest.example"),
            "stsgarbage.example": "this is no policy\r\nmode: x\r\n"})
        cls.web2 = PolicyServer(WRONGNAME, server_ctx(pki, "web2"), {
            "stswrongname.example": policy("enforce",
                                           "mx.stswrongname.example")})
        cls.reports = ReportServer(REPORTS, server_ctx(pki, "reports"))
        cls.reports2 = ReportServer(REPORTS2, server_ctx(pki, "reports"))
        cls.reports2.fail.add("failing.reports.example")
        cls.reports3 = ReportServer(REPORTS3, server_ctx(pki, "reports"))
        cls.configure_db(cls.DRIVER, "database_timeout=5s")
        # A server database outlives the run.
        sql(cls.DRIVER, cls.dir, "DELETE FROM tlsrpt_counters")
        sql(cls.DRIVER, cls.dir, "DELETE FROM tlsrpt_reports")
        sql(cls.DRIVER, cls.dir, "DELETE FROM tlsrpt_deliveries")
        run_postern(cls.dir, "config", "set",
                    *cls.outbound_settings(lmtp_port),
                    "smtp_tls_CAfile=" + os.path.join(pki, "ca1.pem"),
                    "smtp_tls_policy_maps=inline:{ tls.example=dane, "
                    "badtlsa.example=dane }",
                    "smtp_tlsrpt_enable=yes",
                    "smtp_tlsrpt_flush_interval=1s",
                    "tlsrpt_organization_name=Postern Test Org",
                    "tlsrpt_submitter=local.example",
                    "tlsrpt_contact_info=tls-admin@local.example",
                    *cls.dns.settings()[1::2])
        cls.write_services()
        run_postern(cls.dir, "start")
        cls.started = True

    def counters(self):
        """{(domain, type, mx, result): sessions} of today's rows."""
        out = run_postern(self.dir, "tlsrpt", "show", "--day", today())
        rows = {}
        for line in out.stdout.splitlines():
            f = line.split("\t")
            rows[(f[0], f[1], f[2], f[3] if f[3] != "-" else "")] = \
                int(f[6])
        return rows

    def report(self, rcpt, domain):
        """The one report mailed to rcpt: (message, JSON)."""
        got = wait_for(lambda: self.rua.got(rcpt),
                       what="report to %s" % rcpt)
        self.assertEqual(len(got), 1)
        self.assertRegex(got[0]["mail"], r"^MAIL FROM:<noreply-smtp-"
                         r"tls-reporting@local\.example>")
        m = email.message_from_bytes(got[0]["data"],
                                     policy=email_policy.default)
        self.assertEqual(m.get_content_type(), "multipart/report")
        self.assertEqual(m.get_param("report-type"), "tlsrpt")
        self.assertEqual(m["TLS-Report-Domain"], domain)
        self.assertEqual(m["TLS-Report-Submitter"], "local.example")
        subj = re.fullmatch(r"Report Domain: %s Submitter: "
                            r"local\.example Report-ID: <([^>]+)>"
                            % re.escape(domain), str(m["Subject"]))
        self.assertIsNotNone(subj, m["Subject"])
        parts = [x for x in m.iter_attachments()
                 if x.get_content_type() == "application/tlsrpt+gzip"]
        self.assertEqual(len(parts), 1)
        start = calendar.timegm(time.strptime(today(), "%Y-%m-%d"))
        self.assertEqual(parts[0].get_filename(),
                         "local.example!%s!%d!%d.json.gz"
                         % (domain, start, start + 86399))
        rep = json.loads(gzip.decompress(parts[0].get_content()))
        self.assertEqual(rep["organization-name"], "Postern Test Org")
        self.assertEqual(rep["contact-info"], "tls-admin@local.example")
        self.assertEqual(rep["report-id"], subj.group(1))
        self.assertEqual(rep["date-range"], {
            "start-datetime": today() + "T00:00:00Z",
            "end-datetime": today() + "T23:59:59Z"})
        self.assertEqual(len(rep["policies"]), 1, rep)
        return rep["policies"][0]

    def test_reports(self):
        # Counted and reported per UTC day (today()): the whole test
        # within one day (it takes ~20 s).
        wait_past_utc_midnight(120)
        p = self.port
        # Good DANE and MTA-STS deliveries, two each (a cached connection
        # may carry the second: sessions, not messages, are counted).
        for dom in ("tls.example", "sts.example", "ststest.example"):
            for i in range(2):
                rcpt = "ok%d@%s" % (i, dom)
                self.send([rcpt], "ok-%d" % i)
                self.delivered(self.wrongca if dom == "ststest.example"
                               else self.tls1, rcpt)
        # No MTA-STS policy to be had: delivered at "may" all the same.
        for dom in STS_FAILURES:
            rcpt = "nopolicy@" + dom
            self.send([rcpt], "no-policy")
            self.delivered(self.tls1, rcpt)
        # A wrong TLSA record: deferred, then deleted so that it stops.
        bad_qid, _ = self.send(["x@badtlsa.example"], "dane-bad")
        self.deferred(bad_qid, "x@badtlsa.example", "4.7.5",
                      "Server certificate not verified")
        # (A retry in flight makes it say "in progress": again.)
        wait_for(lambda: run_postern(self.dir, "queue", "delete", bad_qid,
                                     check=False).returncode == 0,
                 what="queue delete %s" % bad_qid)
        time.sleep(3)  # a retry in flight ends, the counts are flushed

        def handshakes(host, addr, trust="Verified"):
            # Resumed sessions are not counted
            # (smtp_tlsrpt_skip_reused_handshakes).
            return len(re.findall(r"%s TLS connection established to "
                                  r"%s\[%s\]:%d: (?![^\n]*session reused)"
                                  % (trust, re.escape(host), addr, p),
                                  self.log()))

        def expected():
            """The counts the log shows now."""
            good = handshakes("mx.tls.example", TLS1)
            sts = handshakes("mx.sts.example", TLS1)
            ststest = handshakes("mx.ststest.example", WRONGCA, "Untrusted")
            bad = len(re.findall(r"%s: to=<x@badtlsa\.example>, "
                                 r".*dsn=4\.7\.5" % bad_qid, self.log()))
            nopol = {d: handshakes("mx." + d, TLS1, r"\w+")
                     for d in STS_FAILURES}
            for n in [good, sts, ststest, bad] + list(nopol.values()):
                self.assertGreaterEqual(n, 1)
            want = {
                ("tls.example", "tlsa", "mx.tls.example", ""): good,
                ("badtlsa.example", "tlsa", "mx.badtlsa.example",
                 "tlsa-invalid"): bad,
                ("sts.example", "sts", "mx.sts.example", ""): sts,
                ("ststest.example", "sts", "mx.ststest.example",
                 "certificate-not-trusted"): ststest,
            }
            for dom, result in STS_FAILURES.items():
                want[(dom, "sts", "mx." + dom, result)] = nopol[dom]
            return want
        # Compared with the log as it is at each look, not as it was once
        # (on a loaded machine the last attempt's line, or its counts'
        # flush, may come after the pause above).
        wait_for(lambda: self.counters() == expected(),
                 what="counters %r" % (expected(),))
        counts = expected()
        good = counts[("tls.example", "tlsa", "mx.tls.example", "")]
        bad = counts[("badtlsa.example", "tlsa", "mx.badtlsa.example",
                      "tlsa-invalid")]
        sts = counts[("sts.example", "sts", "mx.sts.example", "")]
        ststest = counts[("ststest.example", "sts", "mx.ststest.example",
                          "certificate-not-trusted")]
        nopol = {dom: counts[(dom, "sts", "mx." + dom, result)]
                 for dom, result in STS_FAILURES.items()}

        # Rows older than tlsrpt_retention_days (30) go at the send.
        sql(self.DRIVER, self.dir,
            "INSERT INTO tlsrpt_counters VALUES ('2001-01-01', "
            "'old.example', 'sts', 'mx.old.example', '', '', '', '', 5, 0, "
            "'')")
        sql(self.DRIVER, self.dir,
            "INSERT INTO tlsrpt_reports VALUES ('2001-01-01', "
            "'old.example', 'x@y', 'mailto:a@b', 0)")
        sql(self.DRIVER, self.dir,
            "INSERT INTO tlsrpt_deliveries (day, policy_domain, rua, "
            "report_id, delivered_at) VALUES ('2001-01-01', "
            "'old.example', 'mailto:a@b', 'x@y', 5)")

        # Send: one report per domain, to its mailto: and https: rua; the
        # one https: rua answering 503 makes it exit 75 (EX_TEMPFAIL),
        # the other rua of its domain take the report all the same.
        out = run_postern(self.dir, "tlsrpt", "send", "--day", today(),
                          check=False)
        self.assertEqual(out.returncode, 75, out.stdout + out.stderr)
        self.assertRegex(out.stderr, r"stsrefuse\.example: POST to https://"
                         r"failing\.reports\.example/tlsrpt/stsrefuse\."
                         r"example: HTTP status 503")
        self.assertRegex(out.stdout, r"purged 1 counter, 1 report and 1 "
                         r"delivery row")
        for table in ("tlsrpt_counters", "tlsrpt_reports",
                      "tlsrpt_deliveries"):
            self.assertEqual(sql(self.DRIVER, self.dir,
                                 "SELECT day FROM %s WHERE day < '2002'"
                                 % table), [])

        pol = pol_tls = self.report("tls-reports@rua.example", "tls.example")
        ee = pol["policy"]["policy-string"]
        self.assertEqual(pol["policy"]["policy-type"], "tlsa")
        self.assertEqual(pol["policy"]["policy-domain"], "tls.example")
        self.assertEqual(pol["policy"]["mx-host"], "mx.tls.example")
        self.assertEqual(len(ee), 1)
        self.assertRegex(ee[0], r"^3 1 1 [0-9A-F]{64}$")
        self.assertEqual(pol["summary"], {
            "total-successful-session-count": good,
            "total-failure-session-count": 0})
        self.assertNotIn("failure-details", pol)

        pol = self.report("failing-reports@rua.example", "badtlsa.example")
        self.assertEqual(pol["policy"]["policy-type"], "tlsa")
        self.assertEqual(pol["policy"]["policy-string"],
                         ["3 1 1 " + "AB" * 32])
        self.assertEqual(pol["summary"], {
            "total-successful-session-count": 0,
            "total-failure-session-count": bad})
        self.assertEqual(pol["failure-details"], [{
            "result-type": "tlsa-invalid",
            "sending-mta-ip": "127.0.0.1",
            "receiving-mx-hostname": "mx.badtlsa.example",
            "receiving-ip": TLS1,
            # The receivers' EHLO name (postern_site.SmtpReceiver).
            "receiving-mx-helo": "fake.example",
            "failed-session-count": bad}])

        pol = self.report("sts-reports@rua.example", "sts.example")
        self.assertEqual(pol["policy"], {
            "policy-type": "sts",
            "policy-string": ["version: STSv1", "mode: enforce",
                              "mx: mx.sts.example", "max_age: 86400"],
            "policy-domain": "sts.example",
            "mx-host": "mx.sts.example"})
        self.assertEqual(pol["summary"], {
            "total-successful-session-count": sts,
            "total-failure-session-count": 0})

        pol = self.report("ststest-reports@rua.example", "ststest.example")
        self.assertEqual(pol["policy"]["policy-string"][1], "mode: testing")
        self.assertEqual(pol["summary"], {
            "total-successful-session-count": 0,
            "total-failure-session-count": ststest})
        self.assertEqual(pol["failure-details"], [{
            "result-type": "certificate-not-trusted",
            "sending-mta-ip": "127.0.0.1",
            "receiving-mx-hostname": "mx.ststest.example",
            "receiving-ip": WRONGCA,
            "receiving-mx-helo": "fake.example",
            "failed-session-count": ststest}])

        # https: rua, the POSTs (RFC 8460 5.4).
        posts = {}
        for host, path, ctype, body in self.reports.posts:
            self.assertEqual(ctype, "application/tlsrpt+gzip")
            posts.setdefault(path, []).append(
                (host, json.loads(gzip.decompress(body))))
        self.assertEqual(sorted(posts), [
            "/tlsrpt", "/tlsrpt/stsgarbage.example",
            "/tlsrpt/stsrefuse.example", "/tlsrpt/stswrongname.example"])
        # The same report as mailed to tls.example's mailto: rua.
        (host, rep), = posts["/tlsrpt"]
        self.assertEqual(host, "reports.example")
        self.assertEqual(rep["policies"], [{
            "policy": pol_tls["policy"], "summary": pol_tls["summary"]}])
        mailed = email.message_from_bytes(
            self.rua.got("tls-reports@rua.example")[0]["data"],
            policy=email_policy.default)
        self.assertIn("<%s>" % rep["report-id"], str(mailed["Subject"]))

        def sts_failure(dom, result, policy_string):
            (_, rep), = posts["/tlsrpt/" + dom]
            self.assertEqual(len(rep["policies"]), 1, rep)
            pol = rep["policies"][0]
            want = {"policy-type": "sts", "policy-domain": dom,
                    "mx-host": "mx." + dom}
            if policy_string:
                want["policy-string"] = policy_string
            self.assertEqual(pol["policy"], want)
            self.assertEqual(pol["summary"], {
                "total-successful-session-count": 0,
                "total-failure-session-count": nopol[dom]})
            self.assertEqual(pol["failure-details"], [{
                "result-type": result,
                "sending-mta-ip": "127.0.0.1",
                "receiving-mx-hostname": "mx." + dom,
                "receiving-ip": TLS1,
                "receiving-mx-helo": "fake.example",
                "failed-session-count": nopol[dom]}])
        sts_failure("stsgarbage.example", "sts-policy-invalid",
                    ["this is no policy", "mode: x"])
        sts_failure("stswrongname.example", "sts-webpki-invalid", None)
        # stsrefuse.example: reports.example and the mailto: took it,
        # failing.reports.example (the second server) answered 503.
        sts_failure("stsrefuse.example", "sts-policy-fetch-error", None)
        self.assertEqual(posts["/tlsrpt/stsrefuse.example"][0][0],
                         "reports.example")
        rep_refuse = posts["/tlsrpt/stsrefuse.example"][0][1]
        report_id = rep_refuse["report-id"]
        mailed = self.report("stsrefuse-reports@rua.example",
                             "stsrefuse.example")
        self.assertEqual(mailed["summary"]["total-failure-session-count"],
                         nopol["stsrefuse.example"])
        msg = email.message_from_bytes(
            self.rua.got("stsrefuse-reports@rua.example")[0]["data"],
            policy=email_policy.default)
        self.assertIn("<%s>" % report_id, str(msg["Subject"]))
        (host, path, _, body), = self.reports2.posts
        self.assertEqual((host, path), ("failing.reports.example",
                                        "/tlsrpt/stsrefuse.example"))
        self.assertEqual(json.loads(gzip.decompress(body))["report-id"],
                         report_id)
        marked = [r[0] for r in sql(self.DRIVER, self.dir,
                                    "SELECT policy_domain FROM "
                                    "tlsrpt_reports")]
        self.assertNotIn("stsrefuse.example", marked)
        self.assertIn("stsgarbage.example", marked)
        # Per rua URI: two delivered, one not, one report-id.
        rows = sql(self.DRIVER, self.dir,
                   "SELECT rua, report_id, delivered_at FROM "
                   "tlsrpt_deliveries WHERE policy_domain = "
                   "'stsrefuse.example' ORDER BY rua")
        self.assertEqual([(r[0], r[1], r[2] != "0") for r in rows], [
            ("https://failing.reports.example/tlsrpt/stsrefuse.example",
             report_id, False),
            ("https://reports.example/tlsrpt/stsrefuse.example",
             report_id, True),
            ("mailto:stsrefuse-reports@rua.example", report_id, True)])

        # The retry: the same report (same report-id) to the one URI that
        # has not taken it; nothing to the others.
        self.reports2.fail.clear()
        n = len(self.reports.posts)
        out = run_postern(self.dir, "tlsrpt", "send", "--day", today())
        self.assertEqual(self.reports.posts[n:], [])
        self.assertEqual([p[:2] for p in self.reports2.posts],
                         [("failing.reports.example",
                           "/tlsrpt/stsrefuse.example")] * 2)
        self.assertIn("stsrefuse.example: report posted to https://failing."
                      "reports.example/tlsrpt/stsrefuse.example (HTTP 200)",
                      out.stdout)
        for uri in ("https://reports.example/tlsrpt/stsrefuse.example",
                    "mailto:stsrefuse-reports@rua.example"):
            self.assertIn("stsrefuse.example: report %s already delivered "
                          "to %s" % (report_id, uri), out.stdout)
        retried = json.loads(gzip.decompress(self.reports2.posts[-1][3]))
        self.assertEqual(retried["report-id"], report_id)
        self.assertEqual(retried["policies"][0]["failure-details"][0]
                         ["result-type"], "sts-policy-fetch-error")
        self.assertEqual(retried["policies"], rep_refuse["policies"])
        self.assertEqual(sql(self.DRIVER, self.dir,
                             "SELECT report_id FROM tlsrpt_reports WHERE "
                             "policy_domain = 'stsrefuse.example'"),
                         [(report_id,)])

        # A third run sends nothing again.
        out = run_postern(self.dir, "tlsrpt", "send", "--day", today())
        self.assertIn("nothing to report", out.stdout)
        time.sleep(3)
        for r in ("tls-reports", "failing-reports", "sts-reports",
                  "ststest-reports", "stsrefuse-reports"):
            self.assertEqual(len(self.rua.got(r + "@rua.example")), 1)

        # Off (the default): nothing more is counted.
        run_postern(self.dir, "config", "set", "smtp_tlsrpt_enable=no")
        self.reload_and_wait(("queued",))
        before = self.counters()
        self.send(["off@tls.example"], "dane-off")
        self.delivered(self.tls1, "off@tls.example")
        time.sleep(3)
        self.assertEqual(self.counters(), before)

        # Stopping writes what the flush timer has not yet (1h here), and
        # the pending timer does not hold the stop up.
        run_postern(self.dir, "config", "set", "smtp_tlsrpt_enable=yes",
                    "smtp_tlsrpt_flush_interval=1h")
        self.reload_and_wait(("queued",))
        qid, _ = self.send(["y@badtlsa.example"], "dane-bad-2")
        self.deferred(qid, "y@badtlsa.example", "4.7.5",
                      "Server certificate not verified")
        t0 = time.monotonic()
        run_postern(self.dir, "stop")
        self.assertLess(time.monotonic() - t0, 10)
        fails = len(re.findall(r"%s: to=<y@badtlsa\.example>, .*dsn=4\.7\.5"
                               % qid, self.log()))
        key = ("badtlsa.example", "tlsa", "mx.badtlsa.example",
               "tlsa-invalid")
        self.assertEqual(self.counters()[key], bad + fails)

    def test_overlapping_sends(self):
        """Two `tlsrpt send` at once (a timer and a hand, or two nodes
        sharing the database): each rua URI gets the report once.  The
        first run's POST is held while the second runs."""
        t = time.time() - 86400
        day = time.strftime("%Y-%m-%d", time.gmtime(t))
        sql(self.DRIVER, self.dir,
            "INSERT INTO tlsrpt_counters VALUES ('%s', 'overlap.example', "
            "'sts', 'mx.overlap.example', '', '', '', '', 3, 0, '')" % day)
        https = "https://hold.reports.example/tlsrpt/overlap"
        mailto = "mailto:overlap-reports@rua.example"
        self.reports3.hold = True
        first = subprocess.Popen(
            [POSTERN, "-c", self.dir, "tlsrpt", "send", "--day", day],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(self.reports3.arrived.wait(30),
                            "the first run's POST did not come")
            second = run_postern(self.dir, "tlsrpt", "send", "--day", day,
                                 check=False)
            # The first run took both URIs before it sent: the second
            # sends nothing, says so and leaves the domain: exit 75.
            self.assertEqual(second.returncode, 75,
                             second.stdout + second.stderr)
            for uri in (https, mailto):
                self.assertRegex(second.stderr, r"overlap\.example: "
                                 r"another run is sending report \S+ to "
                                 r"%s \(since \d{4}-\d\d-\d\d [\d:]+ "
                                 r"UTC\); not sent by this one"
                                 % re.escape(uri))
            self.assertIn("overlap.example: not marked sent, another run "
                          "is sending report", second.stderr)
            self.assertEqual(len(self.reports3.posts), 1)
        finally:
            self.reports3.release.set()
            out, err = first.communicate(timeout=60)
        self.assertEqual(first.returncode, 0, out + err)
        self.assertIn("overlap.example: report posted to %s (HTTP 200)"
                      % https, out)
        m = re.search(r"overlap\.example: report (\S+) queued for "
                      r"%s,%s " % (re.escape(mailto), re.escape(https)), out)
        self.assertIsNotNone(m, out)
        report_id = m.group(1)

        # Each URI had it once, with one report-id.
        (host, path, _, body), = self.reports3.posts
        self.assertEqual((host, path), ("hold.reports.example",
                                        "/tlsrpt/overlap"))
        self.assertEqual(json.loads(gzip.decompress(body))["report-id"],
                         report_id)
        rcpt = "overlap-reports@rua.example"
        wait_for(lambda: self.rua.got(rcpt), what="report to " + rcpt)
        mails = self.rua.got(rcpt)
        self.assertEqual(len(mails), 1)
        msg = email.message_from_bytes(mails[0]["data"],
                                       policy=email_policy.default)
        self.assertIn("<%s>" % report_id, str(msg["Subject"]))
        self.assertEqual(sql(self.DRIVER, self.dir,
                             "SELECT report_id FROM tlsrpt_reports WHERE "
                             "policy_domain = 'overlap.example'"),
                         [(report_id,)])
        rows = sql(self.DRIVER, self.dir,
                   "SELECT rua, report_id, delivered_at != 0 FROM "
                   "tlsrpt_deliveries WHERE policy_domain = "
                   "'overlap.example' ORDER BY rua")
        self.assertEqual([(r[0], r[1]) for r in rows],
                         [(https, report_id), (mailto, report_id)])
        self.assertTrue(all(r[2] in ("1", "t", "True") for r in rows), rows)
        out = run_postern(self.dir, "tlsrpt", "send", "--day", day)
        self.assertIn("nothing to report", out.stdout)

        # Two runs that began the report of a day at the same moment
        # each wrote a URI's row with its own report-id (as if each died
        # then): the next run settles on the least one, for both URIs.
        self.reports3.hold = False
        day = time.strftime("%Y-%m-%d", time.gmtime(t - 86400))
        ids = ["%s.overlap.example.%d@local.example" % (day, n)
               for n in (1700000000, 1700000001)]
        sql(self.DRIVER, self.dir,
            "INSERT INTO tlsrpt_counters VALUES ('%s', 'overlap.example', "
            "'sts', 'mx.overlap.example', '', '', '', '', 4, 0, '')" % day)
        for uri, rid in ((https, ids[1]), (mailto, ids[0])):
            sql(self.DRIVER, self.dir,
                "INSERT INTO tlsrpt_deliveries (day, policy_domain, rua, "
                "report_id, delivered_at) VALUES ('%s', 'overlap.example', "
                "'%s', '%s', 0)" % (day, uri, rid))
        out = run_postern(self.dir, "tlsrpt", "send", "--day", day)
        self.assertIn("overlap.example: report %s queued for" % ids[0],
                      out.stdout)
        self.assertEqual(json.loads(gzip.decompress(
            self.reports3.posts[-1][3]))["report-id"], ids[0])
        self.assertEqual(len(self.reports3.posts), 2)
        wait_for(lambda: len(self.rua.got(rcpt)) == 2,
                 what="second report to " + rcpt)
        msg = email.message_from_bytes(self.rua.got(rcpt)[1]["data"],
                                       policy=email_policy.default)
        self.assertIn("<%s>" % ids[0], str(msg["Subject"]))
        self.assertEqual(sql(self.DRIVER, self.dir,
                             "SELECT DISTINCT report_id FROM "
                             "tlsrpt_deliveries WHERE day = '%s'" % day),
                         [(ids[0],)])

    def test_default_is_off(self):
        out = run_postern(self.dir, "config", "-d", "smtp_tlsrpt_enable")
        self.assertEqual(out.stdout.strip(), "smtp_tlsrpt_enable = no")


TlsRptSqlite, TlsRptPgsql, TlsRptMysql = per_driver(TlsRptBase,
                                                    site=OutboundSite)


if __name__ == "__main__":
    unittest.main()
