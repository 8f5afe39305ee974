#!/usr/bin/env python3
"""MTA-STS in the SMTP client (RFC 8461, docs/outbound.md "MTA-STS"):
postern-queued looks up _mta-sts TXT records in the DNS harness
(dnsserver.py), fetches policies from an HTTPS server written here
(Python's http.server and ssl, a certificate of the test CA) on
127.0.0.60:443, caches them in SQL (mta_sts_policies) and applies them
to receivers (postern_site.SmtpReceiver) with good and bad certificates.

The global TLS level is Postfix's default "may" and there is no
smtp_tls_policy_maps: everything stricter comes from the policies.
"""
import http.server
import os
import re
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnsserver import DnsServer, Zone, available, txt_rdata  # noqa: E402
from postern_site import (SmtpReceiver, free_ports,  # noqa: E402
                          per_driver, run_postern, skip_unless_driver)
from tls_site import (RECEIVER_EXT, HttpsServer, OutboundSite,  # noqa: E402
                      make_pki, server_ctx, spki_sha256)

HTTPS = "127.0.0.60"   # the policy server, port 443
GOOD = "127.0.0.61"    # STARTTLS, CA 1 certificate naming the mx.* hosts
BAD = "127.0.0.62"     # STARTTLS, certificate of an unknown CA
ROGUE = "127.0.0.63"   # STARTTLS, CA 1 certificate, not in any policy

def policy(mode, *mx, max_age=86400, nl="\r\n"):
    lines = ["version: STSv1", "mode: " + mode]
    lines += ["mx: " + m for m in mx]
    lines += ["max_age: %d" % max_age]
    return nl.join(lines) + nl


# domain -> (TXT id, MX records [(pref, host, address)], policy text)
DOMAINS = {
    "enf-good.example": ("g1", [(10, "mx", GOOD)],
                         policy("enforce", "mx.enf-good.example")),
    "enf-bad.example": ("b1", [(10, "mx", BAD)],
                        policy("enforce", "mx.enf-bad.example", nl="\n")),
    # The preferred MX is not in the policy: never used under enforce.
    "enf-mx.example": ("m1", [(10, "rogue", ROGUE), (20, "mx", GOOD)],
                       policy("enforce", "*.enf-mx.example.net",
                              "mx.enf-mx.example")),
    "test-bad.example": ("t1", [(10, "mx", BAD), (20, "rogue", ROGUE)],
                         policy("testing", "mx.test-bad.example")),
    "cache.example": ("c1", [(10, "mx", BAD)],
                      policy("enforce", "mx.cache.example")),
    # The cache is seeded with id "old" and a policy that names no MX of
    # the domain; the TXT says "new": only a refetch lets mail through.
    "idchange.example": ("new", [(10, "mx", GOOD)],
                         policy("enforce", "mx.idchange.example")),
    # Fetches that must fail (RFC 8461 3.3): a redirect (to a valid
    # policy) and a policy over 64 KiB; then there is no policy at all.
    "redirect.example": ("r1", [(10, "mx", BAD)], "REDIRECT"),
    # DNSSEC-signed with a DANE-EE TLSA record of the bad certificate:
    # DANE wins over the policy (RFC 8461 2), so the unknown CA is fine.
    "dane.example": ("d1", [(10, "mx", BAD)],
                     policy("enforce", "mx.dane.example")),
    "big.example": ("z1", [(10, "mx", BAD)],
                    policy("enforce", "mx.big.example") +
                    "x-pad: " + "a" * 70000 + "\n"),
}
GOOD_NAMES = ["mx.enf-good.example", "mx.enf-mx.example",
              "mx.idchange.example", "rogue.enf-mx.example",
              "rogue.test-bad.example"]


def make_sts_pki(d):
    make_pki(d, ("ca1", "ca2"),
             (("good", "ca1", GOOD_NAMES),
              ("bad", "ca2", ["mx.enf-bad.example", "mx.test-bad.example",
                              "mx.cache.example"]),
              ("web", "ca1", ["mta-sts." + dom for dom in DOMAINS])),
             label="STS")


class PolicyServer(HttpsServer):
    """HTTPS on (host, 443): /.well-known/mta-sts.txt by Host header."""

    def __init__(self, host, ctx, policies):
        self.policies = policies
        self.fetches = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = (self.headers.get("Host") or "").split(":")[0]
                owner.fetches.append(name)
                body = owner.policies.get(name[len("mta-sts."):])
                if self.path != "/.well-known/mta-sts.txt" or body is None:
                    self.send_error(404)
                    return
                if body == "REDIRECT":
                    self.send_response(301)
                    self.send_header("Location", "https://mta-sts.enf-bad."
                                     "example/.well-known/mta-sts.txt")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        super().__init__(host, ctx, Handler)


class StsSite(OutboundSite):
    """The DNS zones, receivers and policy server of DOMAINS, and a site
    whose queued delivers to them."""
    SERVERS = ("good", "bad", "rogue", "web")

    @classmethod
    def start_world(cls, prefix):
        why = available()
        if why:
            raise unittest.SkipTest(why)
        if os.geteuid() != 0:
            raise unittest.SkipTest("binding port 443 needs root")
        cls.make_site(prefix)
        pki = cls.pki = os.path.join(cls.dir, "pki")
        os.mkdir(pki)
        make_sts_pki(pki)
        cls.port, lmtp_port = free_ports(2)
        zones = []
        for dom, (sid, mxs, _) in DOMAINS.items():
            recs = [("_mta-sts", "TXT", txt_rdata("v=STSv1; id=%s;" % sid)),
                    ("mta-sts", "A", HTTPS)]
            for pref, host, addr in mxs:
                recs += [("@", "MX", "%d %s" % (pref, host)),
                         (host, "A", addr)]
            if dom == "dane.example":
                recs.append(("_%d._tcp.mx" % cls.port, "TLSA",
                             "3 1 1 " + spki_sha256(pki, "bad")))
            zones.append(Zone(dom, recs, sign=dom == "dane.example"))
        cls.dns = DnsServer(zones).start()
        ext = RECEIVER_EXT
        cls.good = SmtpReceiver(GOOD, cls.port, ext=ext,
                                tls=server_ctx(pki, "good"))
        cls.bad = SmtpReceiver(BAD, cls.port, ext=ext,
                               tls=server_ctx(pki, "bad"))
        cls.rogue = SmtpReceiver(ROGUE, cls.port, ext=ext,
                                 tls=server_ctx(pki, "good"))
        cls.web_ctx = server_ctx(pki, "web")
        cls.web = PolicyServer(HTTPS, cls.web_ctx,
                               {d: v[2] for d, v in DOMAINS.items()})
        run_postern(cls.dir, "config", "set",
                    *cls.outbound_settings(lmtp_port),
                    "smtp_tls_CAfile=" + os.path.join(pki, "ca1.pem"),
                    "smtp_mta_sts_timeout=5s",
                    # TLSA records are looked up (for secure MX hosts);
                    # elsewhere dane is may, which the policies raise.
                    "smtp_tls_security_level=dane",
                    *cls.dns.settings()[1::2])
        cls.write_services()


def sql(driver, site, query):
    """Rows of query (test-made text, no parameters) on the site's
    database, as tuples of strings."""
    env = os.environ
    if driver == "sqlite":
        with sqlite3.connect(os.path.join(site, "postern.db")) as c:
            return [tuple(str(v) for v in r) for r in c.execute(query)]
    if driver == "pgsql":
        cmd = ["psql", "-X", "-q", "-At", "-F", "\t", "-h", env["PG_HOST"],
               "-p", env["PG_PORT"], "-U", env["PG_USER"], "-d",
               env["PG_DATABASE"], "-c", query]
        e = dict(env, PGPASSWORD=env["PG_PASSWORD"])
    else:
        cmd = ["mysql", "-N", "-B", "-h", env["MYSQL_HOST"], "-P",
               env["MYSQL_PORT"], "-u", env["MYSQL_USER"],
               "-p" + env["MYSQL_PASSWORD"], env["MYSQL_DATABASE"], "-e",
               query]
        e = env
    out = subprocess.run(cmd, env=e, check=True, capture_output=True,
                         text=True, timeout=30).stdout
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


class MtaStsBase:
    """The tests, run by one StsSite subclass per database driver."""
    DRIVER = None

    @classmethod
    def set_up_site(cls):
        skip_unless_driver(cls.DRIVER)
        cls.start_world("postern-mtasts-%s." % cls.DRIVER)
        cls.configure_db(cls.DRIVER, "database_timeout=5s")
        # The server databases outlive a run: start from no rows of ours,
        # then a cached policy under an older id (see DOMAINS).
        names = ", ".join("'%s'" % d for d in DOMAINS)
        cls.sql("DELETE FROM mta_sts_policies WHERE domain IN (%s)" % names)
        cls.sql("INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, "
                "max_age, fetched_at) VALUES ('idchange.example', 'old', "
                "'enforce', 'elsewhere.example', 86400, %d)"
                % int(time.time()))
        run_postern(cls.dir, "start")
        cls.started = True

    @classmethod
    def sql(cls, query):
        return sql(cls.DRIVER, cls.dir, query)

    def row(self, domain):
        rows = self.sql("SELECT policy_id, mode, mx, max_age, fetched_at "
                        "FROM mta_sts_policies WHERE domain = '%s'" % domain)
        return rows[0] if rows else None

    def test_enforce_good_certificate_delivers_verified(self):
        qid, data = self.send(["u1@enf-good.example"], "enforce-good")
        got = self.delivered(self.good, "u1@enf-good.example")
        self.assertEqual(got[0]["data"], data)
        self.assertIsNotNone(got[0]["tls"])
        self.wait_log(r"%s: relay=mx\.enf-good\.example\[%s\]:%d, "
                      r"tls=Verified" % (qid, GOOD, self.port))
        self.wait_log(r"%s: to=<u1@enf-good\.example>, .*status=sent" % qid)
        # The SQL cache row, as fetched.
        row = self.row("enf-good.example")
        self.assertIsNotNone(row)
        self.assertEqual(row[:4], ("g1", "enforce", "mx.enf-good.example",
                                   "86400"))
        self.assertLess(abs(int(row[4]) - time.time()), 120)

    def test_enforce_bad_certificate_defers(self):
        qid, _ = self.send(["u2@enf-bad.example"], "enforce-bad")
        self.deferred(qid, "u2@enf-bad.example", "4.7.5",
                      r"Server certificate not verified by "
                      r"mx\.enf-bad\.example.*MTA-STS policy of "
                      r"enf-bad\.example")
        self.assertRegex(self.log(), r"%s: Untrusted TLS connection "
                         r"established to mx\.enf-bad\.example" % qid)
        # Still queued, never delivered (the retry defers again).
        self.deferred(qid, "u2@enf-bad.example", "4.7.5",
                      "Server certificate not verified")
        self.assertEqual(self.bad.got("u2@enf-bad.example"), [])
        out = run_postern(self.dir, "queue", "list").stdout
        self.assertIn(qid, out)

    def test_enforce_skips_mx_not_in_policy(self):
        qid, _ = self.send(["u3@enf-mx.example"], "enforce-mx")
        self.delivered(self.good, "u3@enf-mx.example")
        self.wait_log(r"MTA-STS policy of enf-mx\.example \(enforce, id=m1\):"
                      r" skipping MX host rogue\.enf-mx\.example: not in "
                      r"the policy")
        self.wait_log(r"%s: relay=mx\.enf-mx\.example\[%s\]:%d, "
                      r"tls=Verified" % (qid, GOOD, self.port))
        self.assertEqual(self.rogue.got("u3@enf-mx.example"), [])

    def test_testing_mode_delivers_and_logs(self):
        qid, _ = self.send(["u4@test-bad.example"], "testing-bad")
        got = self.delivered(self.bad, "u4@test-bad.example")
        self.assertIsNotNone(got[0]["tls"])
        self.wait_log(r"%s: MTA-STS policy of test-bad\.example \(testing\):"
                      r" enforce would defer: Server certificate not "
                      r"verified by mx\.test-bad\.example" % qid)
        self.wait_log(r"%s: to=<u4@test-bad\.example>, .*status=sent" % qid)

    def test_policy_cached_while_server_down(self):
        qid, _ = self.send(["u5@cache.example"], "cache-1")
        self.deferred(qid, "u5@cache.example", "4.7.5",
                      "MTA-STS policy of cache\\.example")
        self.assertEqual(self.row("cache.example")[:2], ("c1", "enforce"))
        # No policy server, and a restarted queued (nothing in memory):
        # only the SQL cache can still say enforce.
        fetches = self.web.fetches.count("mta-sts.cache.example")
        self.web.stop()
        try:
            run_postern(self.dir, "stop")
            run_postern(self.dir, "start")
            qid2, _ = self.send(["u6@cache.example"], "cache-2")
            self.deferred(qid2, "u6@cache.example", "4.7.5",
                          "MTA-STS policy of cache\\.example")
        finally:
            self.__class__.web = PolicyServer(
                HTTPS, self.web_ctx, {d: v[2] for d, v in DOMAINS.items()})
        self.assertEqual(self.bad.got("u6@cache.example"), [])
        self.assertEqual(fetches, 1)
        self.assertEqual(len(re.findall(r"fetched policy of cache\.example",
                                        self.log())), 1)

    def test_dane_wins_over_the_policy(self):
        qid, _ = self.send(["u9@dane.example"], "dane-wins")
        got = self.delivered(self.bad, "u9@dane.example")
        self.assertIsNotNone(got[0]["tls"])
        self.wait_log(r"%s: relay=mx\.dane\.example\[%s\]:%d, tls=Verified"
                      % (qid, BAD, self.port))
        self.assertEqual(self.row("dane.example")[:2], ("d1", "enforce"))

    def test_redirect_and_oversize_are_no_policy(self):
        for dom, why in (("redirect.example", ": HTTP status 301"),
                         ("big.example",
                          " failed: Maximum file size exceeded")):
            qid, _ = self.send(["u8@" + dom], "no-policy")
            got = self.delivered(self.bad, "u8@" + dom)
            self.assertIsNotNone(got[0]["tls"])
            self.wait_log(r"MTA-STS: fetching https://mta-sts\.%s/\.well-"
                          r"known/mta-sts\.txt \(%s\)%s"
                          % (re.escape(dom), re.escape(HTTPS), why))
            self.assertIsNone(self.row(dom))

    def test_txt_id_change_refetches(self):
        qid, _ = self.send(["u7@idchange.example"], "id-change")
        self.delivered(self.good, "u7@idchange.example")
        self.wait_log(r"MTA-STS: fetched policy of idchange\.example: id=new "
                      r"mode=enforce")
        row = self.row("idchange.example")
        self.assertEqual(row[:3], ("new", "enforce", "mx.idchange.example"))



MtaStsSqlite, MtaStsPgsql, MtaStsMysql = per_driver(MtaStsBase,
                                                    site=StsSite)


class MtaStsDatabaseDown(StsSite):
    """The policy cache's database (PostgreSQL) is down: policies are
    fetched every time and still applied; mail is not held up."""

    @classmethod
    def set_up_site(cls):
        cls.start_world("postern-mtasts-nodb.")
        dead, = free_ports(1)
        # The recipient domains are not hosted: a map that needs no SQL.
        run_postern(cls.dir, "config", "set", "database_driver=pgsql",
                    "database_host=127.0.0.1", "database_port=%d" % dead,
                    "database_timeout=2s",
                    "virtual_mailbox_domains=inline:{ local.example=ok }")
        run_postern(cls.dir, "start")
        cls.started = True

    def test_policy_applied_without_database(self):
        qid, _ = self.send(["n1@enf-good.example"], "nodb-good")
        self.delivered(self.good, "n1@enf-good.example")
        self.wait_log(r"%s: relay=mx\.enf-good\.example\[%s\]:%d, "
                      r"tls=Verified" % (qid, GOOD, self.port))
        self.wait_log(r"MTA-STS: policy cache lookup for enf-good\.example "
                      r"failed: .*; fetching instead")
        qid, _ = self.send(["n2@enf-bad.example"], "nodb-bad")
        self.deferred(qid, "n2@enf-bad.example", "4.7.5",
                      "MTA-STS policy of enf-bad\\.example")
        self.assertEqual(self.bad.got("n2@enf-bad.example"), [])


if __name__ == "__main__":
    unittest.main()
