#!/usr/bin/env python3
"""lib/dns end to end: nsd + unbound from Debian on loopback
(dnsserver.py) serve test zones, and `postern dns` asks them through the
C library, both its asynchronous (event loop) and blocking (worker
thread) paths.  Shown: MX order, null and implicit MX, A/AAAA, long and
multi-string TXT, TLSA, PTR (IPv4 and IPv6), a CNAME chain across zones,
DNSBL A/TXT, forward-confirmed reverse DNS (confirmed, second name
confirmed, wrong address, missing name, no PTR, failing lookup), DNSSEC
secure / insecure / bogus, and the error kinds: NXDOMAIN and NODATA permanent, SERVFAIL and
timeout temporary, bogus a temporary failure unless --raw.

Exit status: 0 pass, 1 fail, 77 skip (no programs, no nsd/unbound).
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnsserver import DnsServer, Zone, available, txt_rdata  # noqa: E402

BUILD = os.path.abspath(os.environ.get(
    "POSTERN_BUILD_DIR",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../build")))
POSTERN = os.path.join(BUILD, "postern")
EX_TEMPFAIL, EX_CONFIG = 75, 78

# A DKIM key is longer than one 255-octet string: publishers split it.
DKIM = "v=DKIM1; k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 9
SPF = ["v=spf1 ip4:198.18.0.0/15 ", "ip6:2001:500::/32 ", "-all"]
TLSA_DATA = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"

ZONES = [
    Zone("mail.example", [
        ("@", "MX", "20 mx2"), ("@", "MX", "10 mx1"), ("@", "MX", "10 mx1b"),
        ("@", "MX", "30 mx3.other.example."),
        ("mx1", "A", "198.18.0.1"), ("mx1b", "A", "198.18.0.2"),
        ("mx2", "AAAA", "2001:500::2"), ("mx2", "A", "198.18.0.3"),
        ("@", "TXT", txt_rdata(*SPF)),
        ("sel._domainkey", "TXT", txt_rdata(DKIM)),
        ("_dmarc", "TXT", txt_rdata("v=DMARC1; p=reject")),
        ("_mta-sts", "TXT", txt_rdata("v=STSv1; id=20260101")),
        ("alias1", "CNAME", "alias2.other.example."),
        ("target", "A", "198.18.0.9"),
        ("liar", "A", "198.18.0.78"),  # its PTR says 198.18.0.77
    ]),
    Zone("other.example", [
        ("alias2", "CNAME", "target.mail.example."),
        ("mx3", "A", "198.18.0.4"),
    ]),
    Zone("nomail.example", [("@", "MX", "0 ."), ("@", "A", "198.18.0.5")]),
    Zone("implicit.example", [("@", "A", "198.18.0.6")]),
    Zone("signed.example", [
        ("@", "MX", "10 mx"), ("mx", "A", "198.18.1.1"),
        ("_25._tcp.mx", "TLSA", "3 1 1 " + TLSA_DATA),
    ], sign=True),
    Zone("bogus.example", [
        ("@", "MX", "10 mx"), ("mx", "A", "198.18.2.1"),
        ("_25._tcp.mx", "TLSA", "3 1 1 " + TLSA_DATA),
    ], bogus=True),
    Zone("dnsbl.example", [
        ("2.0.0.127", "A", "127.0.0.2"),
        ("2.0.0.127", "TXT", txt_rdata("listed: see http://dnsbl.example/")),
        # 2001:500::1, nibbles reversed (RFC 5782 2.4)
        (".".join("20010500" + "0" * 23 + "1")[::-1], "A", "127.0.0.2"),
    ]),
    Zone("18.198.in-addr.arpa", [
        ("1.0", "PTR", "mx1.mail.example."),
        ("77.0", "PTR", "liar.mail.example."),
        ("88.0", "PTR", "nowhere.mail.example."),
        ("2.0", "PTR", "liar.mail.example."),  # two names, the second
        ("2.0", "PTR", "mx1b.mail.example."),  # leads back
        ("66.0", "PTR", "www.lame.example."),  # its lookup fails
    ]),
    Zone("0.0.5.0.1.0.0.2.ip6.arpa", [
        ("2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", "PTR",
         "mx2.mail.example."),
    ]),
    Zone("dead.example", [], dead=True),
    Zone("lame.example", [], lame=True),
]

dns = None
cfg = None


def setUpModule():
    global dns, cfg
    if not os.access(POSTERN, os.X_OK):
        raise unittest.SkipTest("no %s (set POSTERN_BUILD_DIR)" % POSTERN)
    why = available()
    if why:
        raise unittest.SkipTest(why)
    dns = DnsServer(ZONES).start()
    cfg = tempfile.TemporaryDirectory(prefix="postern-dnscfg-")


def tearDownModule():
    if dns is not None:
        dns.stop()
    if cfg is not None:
        cfg.cleanup()


def postern(*args, settings=None, timeout="5s"):
    opts = dns.settings(timeout) if settings is None else settings
    p = subprocess.run([POSTERN, "-c", cfg.name, "dns", *args[:1], *opts,
                        *args[1:]], capture_output=True, text=True,
                       timeout=60)
    return p


def lookup(rtype, name, *flags, **kw):
    """(exit status, JSON) of `postern dns lookup`."""
    p = postern("lookup", *flags, rtype, name, **kw)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        raise AssertionError("no JSON (rc %d): %r %r" % (
            p.returncode, p.stdout, p.stderr))
    return p.returncode, doc


class Paths:
    """Every check runs on the event loop path and on the blocking one."""
    FLAGS = ()

    def look(self, rtype, name, *flags, **kw):
        return lookup(rtype, name, *(self.FLAGS + flags), **kw)

    def found(self, rtype, name, *flags):
        rc, doc = self.look(rtype, name, *flags)
        self.assertEqual(rc, 0, doc)
        self.assertEqual(doc["status"], "NOERROR")
        self.assertEqual(doc["outcome"], "found")
        self.assertGreater(len(doc["records"]), 0)
        return doc

    def test_mx_records(self):
        doc = self.found("MX", "mail.example")
        got = sorted((r["pref"], r["host"]) for r in doc["records"])
        self.assertEqual(got, [(10, "mx1.mail.example"),
                               (10, "mx1b.mail.example"),
                               (20, "mx2.mail.example"),
                               (30, "mx3.other.example")])
        self.assertEqual(doc["security"], "insecure")
        self.assertFalse(doc["secure"])
        self.assertTrue(0 < doc["ttl"] <= 300)

    def test_mx_hosts_ordered(self):
        p = postern("mx", *self.FLAGS, "mail.example")
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        prefs = [h["pref"] for h in doc["hosts"]]
        self.assertEqual(prefs, [10, 10, 20, 30])
        self.assertEqual({h["host"] for h in doc["hosts"][:2]},
                         {"mx1.mail.example", "mx1b.mail.example"})
        self.assertEqual(doc["hosts"][3]["host"], "mx3.other.example")
        self.assertFalse(doc["implicit"])
        self.assertFalse(doc["null_mx"])

    def test_null_mx(self):
        p = postern("mx", *self.FLAGS, "nomail.example")
        self.assertEqual(p.returncode, 1, p.stdout)
        doc = json.loads(p.stdout)
        self.assertTrue(doc["null_mx"])
        self.assertEqual(doc["hosts"], [])
        self.assertEqual(doc["outcome"], "not_found")
        self.assertIn("null MX", doc["error"])

    def test_implicit_mx(self):
        p = postern("mx", *self.FLAGS, "implicit.example")
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        self.assertTrue(doc["implicit"])
        self.assertEqual(doc["hosts"], [{"pref": 0,
                                         "host": "implicit.example"}])

    def test_mx_of_missing_domain(self):
        p = postern("mx", *self.FLAGS, "missing.mail.example")
        self.assertEqual(p.returncode, 1)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["outcome"], "not_found")
        self.assertFalse(doc["implicit"])

    def test_a_and_aaaa(self):
        doc = self.found("A", "mx2.mail.example")
        self.assertEqual(doc["records"], [{"address": "198.18.0.3"}])
        doc = self.found("AAAA", "mx2.mail.example")
        self.assertEqual(doc["records"], [{"address": "2001:500::2"}])

    def test_txt_multi_string_concatenated(self):
        doc = self.found("TXT", "mail.example")
        self.assertEqual(doc["records"],
                         [{"strings": 3, "text": "".join(SPF)}])

    def test_txt_longer_than_255(self):
        doc = self.found("TXT", "sel._domainkey.mail.example")
        rec = doc["records"][0]
        self.assertEqual(rec["text"], DKIM)
        self.assertEqual(rec["strings"], (len(DKIM) + 254) // 255)
        self.assertGreater(rec["strings"], 1)

    def test_dmarc_and_mta_sts_txt(self):
        self.assertEqual(self.found("TXT", "_dmarc.mail.example")
                         ["records"][0]["text"], "v=DMARC1; p=reject")
        self.assertEqual(self.found("TXT", "_mta-sts.mail.example")
                         ["records"][0]["text"], "v=STSv1; id=20260101")

    def test_cname_chain(self):
        doc = self.found("A", "alias1.mail.example")
        self.assertEqual(doc["records"], [{"address": "198.18.0.9"}])
        self.assertEqual(doc["canonname"], "target.mail.example")
        doc = self.found("CNAME", "alias1.mail.example")
        self.assertEqual(doc["records"], [{"name": "alias2.other.example"}])

    def test_tlsa_secure(self):
        doc = self.found("TLSA", "_25._tcp.mx.signed.example")
        self.assertEqual(doc["records"], [{"usage": 3, "selector": 1,
                                           "mtype": 1, "data": TLSA_DATA}])
        self.assertEqual(doc["security"], "secure")
        self.assertTrue(doc["secure"])
        self.assertFalse(doc["bogus"])

    def test_secure_mx(self):
        p = postern("mx", *self.FLAGS, "signed.example")
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["security"], "secure")
        self.assertEqual(doc["hosts"], [{"pref": 10,
                                         "host": "mx.signed.example"}])

    def test_secure_nodata(self):
        rc, doc = self.look("TXT", "mx.signed.example")
        self.assertEqual(rc, 1)
        self.assertEqual(doc["status"], "NODATA")
        self.assertEqual(doc["security"], "secure")  # proven by NSEC

    def test_bogus_is_a_temporary_failure(self):
        for rtype, name in (("TLSA", "_25._tcp.mx.bogus.example"),
                            ("A", "mx.bogus.example")):
            rc, doc = self.look(rtype, name)
            self.assertEqual(rc, EX_TEMPFAIL, doc)
            self.assertEqual(doc["status"], "BOGUS")
            self.assertTrue(doc["bogus"])
            self.assertEqual(doc["outcome"], "temporary")
            self.assertIn("DNSSEC validation failed", doc["error"])
            self.assertTrue(doc["why_bogus"])
        p = postern("mx", *self.FLAGS, "bogus.example")
        self.assertEqual(p.returncode, EX_TEMPFAIL, p.stdout)

    def test_bogus_raw_answer(self):
        rc, doc = self.look("TLSA", "_25._tcp.mx.bogus.example", "--raw")
        self.assertEqual(rc, 0, doc)
        self.assertEqual(doc["status"], "BOGUS")
        self.assertTrue(doc["bogus"])
        self.assertEqual(doc["records"][0]["data"], TLSA_DATA)

    def test_nxdomain_is_permanent(self):
        rc, doc = self.look("A", "nothing.mail.example")
        self.assertEqual(rc, 1)
        self.assertEqual(doc["status"], "NXDOMAIN")
        self.assertEqual(doc["rcode"], 3)
        self.assertEqual(doc["outcome"], "not_found")
        self.assertEqual(doc["records"], [])

    def test_nodata_is_permanent(self):
        rc, doc = self.look("AAAA", "mx1.mail.example")
        self.assertEqual(rc, 1)
        self.assertEqual(doc["status"], "NODATA")
        self.assertEqual(doc["rcode"], 0)

    def test_servfail_is_temporary(self):
        rc, doc = self.look("A", "www.lame.example")
        self.assertEqual(rc, EX_TEMPFAIL, doc)
        self.assertEqual(doc["status"], "SERVFAIL")
        self.assertEqual(doc["outcome"], "temporary")

    def test_timeout_is_temporary(self):
        # A forwarder that never answers: our dns_timeout decides.
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        s = ["-o", "dns_servers=127.0.0.1@%d" % silent.getsockname()[1],
             "-o", "dns_trust_anchor_file=", "-o", "dns_timeout=2s"]
        t0 = time.monotonic()
        rc, doc = self.look("A", "mx1.mail.example", settings=s)
        took = time.monotonic() - t0
        silent.close()
        self.assertEqual(rc, EX_TEMPFAIL, doc)
        self.assertEqual(doc["status"], "TIMEOUT")
        self.assertIn("timeout", doc["error"])
        self.assertTrue(1.5 < took < 10, took)

    def test_dead_zone_is_temporary(self):
        # unbound gives up on the dead server itself (SERVFAIL) once it
        # has learnt it is down, or our timeout comes first.
        rc, doc = self.look("A", "www.dead.example", timeout="2s")
        self.assertEqual(rc, EX_TEMPFAIL, doc)
        self.assertIn(doc["status"], ("TIMEOUT", "SERVFAIL"))
        self.assertEqual(doc["outcome"], "temporary")

    def test_dnsbl_listed_and_not(self):
        p = subprocess.run([POSTERN, "dns", "dnsblname", "127.0.0.2",
                            "dnsbl.example"], capture_output=True, text=True)
        name = p.stdout.strip()
        self.assertEqual(name, "2.0.0.127.dnsbl.example")
        self.assertEqual(self.found("A", name)["records"],
                         [{"address": "127.0.0.2"}])
        self.assertIn("listed", self.found("TXT", name)
                      ["records"][0]["text"])
        rc, doc = self.look("A", "1.0.0.127.dnsbl.example")
        self.assertEqual((rc, doc["status"]), (1, "NXDOMAIN"))
        p = subprocess.run([POSTERN, "dns", "dnsblname", "2001:500::1",
                            "dnsbl.example."], capture_output=True, text=True)
        self.assertEqual(self.found("A", p.stdout.strip())["records"],
                         [{"address": "127.0.0.2"}])

    def fcrdns(self, ip):
        """(exit status, JSON) of `postern dns fcrdns`."""
        p = postern("fcrdns", *self.FLAGS, ip)
        return p.returncode, json.loads(p.stdout)

    def test_ptr(self):
        doc = self.found("PTR", "1.0.18.198.in-addr.arpa")
        self.assertEqual(doc["records"], [{"name": "mx1.mail.example"}])
        p = subprocess.run([POSTERN, "dns", "ptrname", "2001:500::2"],
                           capture_output=True, text=True)
        doc = self.found("PTR", p.stdout.strip())
        self.assertEqual(doc["records"], [{"name": "mx2.mail.example"}])

    def test_forward_confirmed_reverse(self):
        for ip, name in (("198.18.0.1", "mx1.mail.example"),
                         ("::ffff:198.18.0.1", "mx1.mail.example"),
                         ("2001:500::2", "mx2.mail.example"),
                         ("198.18.0.2", "mx1b.mail.example")):
            rc, doc = self.fcrdns(ip)
            self.assertEqual((rc, doc["outcome"], doc["name"]),
                             (0, "found", name), doc)

    def test_reverse_not_confirmed(self):
        # Its name points elsewhere; its name does not exist; no PTR.
        for ip, why in (("198.18.0.77", "not among its A records"),
                        ("198.18.0.88", "no such domain"),
                        ("198.18.0.99", "no reverse name")):
            rc, doc = self.fcrdns(ip)
            self.assertEqual((rc, doc["outcome"], doc["name"]),
                             (1, "not_found", None), doc)
            self.assertIn(why, doc["error"])

    def test_reverse_temporary(self):
        rc, doc = self.fcrdns("198.18.0.66")
        self.assertEqual((rc, doc["outcome"]), (EX_TEMPFAIL, "temporary"),
                         doc)
        rc, doc = self.fcrdns("not-an-ip")
        self.assertEqual((rc, doc["outcome"]), (1, "permanent"), doc)

    def test_bad_name_is_permanent(self):
        rc, doc = self.look("A", "a..b.example")
        self.assertEqual(rc, 1)
        self.assertEqual(doc["status"], "BADNAME")
        self.assertEqual(doc["outcome"], "permanent")
        rc, doc = self.look("A", "x" * 64 + ".example")
        self.assertEqual(doc["status"], "BADNAME")


class TestLoopPath(Paths, unittest.TestCase):
    FLAGS = ()


class TestWorkerPath(Paths, unittest.TestCase):
    FLAGS = ("--sync",)


class TestSettings(unittest.TestCase):
    def test_dnssec_off_gives_insecure(self):
        s = dns.settings()
        s[s.index("dns_dnssec=yes")] = "dns_dnssec=no"
        rc, doc = lookup("TLSA", "_25._tcp.mx.signed.example", settings=s)
        self.assertEqual(rc, 0)
        self.assertEqual(doc["security"], "insecure")
        # Without our validation the answer is the upstream's: the
        # validating unbound refuses bogus data with SERVFAIL (with
        # validation on we ask with CD and see why it is bogus).
        rc, doc = lookup("A", "mx.bogus.example", settings=s)
        self.assertEqual((rc, doc["status"]), (EX_TEMPFAIL, "SERVFAIL"))
        self.assertFalse(doc["bogus"])

    def test_no_trust_anchor_gives_insecure(self):
        s = dns.settings()
        s[s.index("dns_trust_anchor_file=" + dns.trust_anchor_file)] = \
            "dns_trust_anchor_file="
        rc, doc = lookup("MX", "signed.example", settings=s)
        self.assertEqual((rc, doc["security"]), (0, "insecure"))

    def test_bad_settings(self):
        p = postern("lookup", "A", "x.example",
                    settings=["-o", "dns_servers=not-an-address"])
        self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
        self.assertIn("dns_servers", p.stderr)
        p = postern("lookup", "A", "x.example",
                    settings=["-o", "dns_trust_anchor_file=/nonexistent/ta"])
        self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
        self.assertIn("dns_trust_anchor_file", p.stderr)
        p = postern("lookup", "BOGUSTYPE", "x.example")
        self.assertEqual(p.returncode, 2)

    def test_unreachable_server_is_temporary(self):
        # Nothing listens there: refused at once, not a timeout.
        from dnsserver import free_port
        s = ["-o", "dns_servers=127.0.0.1@%d" % free_port(),
             "-o", "dns_trust_anchor_file=", "-o", "dns_timeout=5s"]
        rc, doc = lookup("A", "mx1.mail.example", settings=s)
        self.assertEqual(rc, EX_TEMPFAIL, doc)
        self.assertIn(doc["status"], ("SERVFAIL", "TIMEOUT"))


if __name__ == "__main__":
    if not os.access(POSTERN, os.X_OK) or available():
        print("skip: %s" % (available() or "no " + POSTERN))
        sys.exit(77)
    unittest.main(verbosity=2)
