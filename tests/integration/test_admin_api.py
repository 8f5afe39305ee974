#!/usr/bin/env python3
"""Black-box test of postern-admin-api (CONTRACT.md "Admin API v1").

A temp site (`postern init`, free loopback ports, a services table with
smtp, submission, queue, lmtp, imap, imaps and admin-api), `postern
start`, then Python's http.client against the running service, smtplib
and imaplib for the mail side, and the `postern` command for
cross-checks.  Everything runs on SQLite, and again on PostgreSQL and
MariaDB when the PG_* / MYSQL_* variables of dbservers.sh are set
(run-all.sh sets them); those servers are shared, so each run uses
names of its own.

Failed authentication is rate-limited per client address, so the tests
that fail on purpose come from other loopback addresses (127.0.0.N).
Programs come from $POSTERN_BUILD_DIR (default ./build); the OpenAPI
document from $POSTERN_SOURCE_DIR/docs/openapi.json.  Python 3 standard
library, plus curl (HTTPS test) and the psql / mariadb clients (to read
stored hashes).  POSTERN_KEEP=1 keeps the site folder.

Other classes: HTTPS (admin_api_tls = yes, curl --cacert and -k) and a
database that is down (503 temporary_failure, never 401).
"""
import concurrent.futures
import glob
import hashlib
import imaplib
import json
import os
import secrets
import smtplib
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (BUILD, POSTERN, SiteTestCase,  # noqa: E402
                          driver_settings, free_ports, run_postern,
                          site_sql, skip_unless_driver, tls_context)
from adminapi import (Api, imap_inbox_count, imap_login,  # noqa: E402
                      smtp_auth)

SOURCE_DIR = os.environ.get(
    "POSTERN_SOURCE_DIR",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OPENAPI_FILE = os.path.join(SOURCE_DIR, "docs", "openapi.json")

SERVICES = """\
# written by test_admin_api.py
smtp         inet  $inet_interfaces:$smtp_port            starttls  1  postern-smtpd
submission   inet  $inet_interfaces:$submission_port      starttls  1  postern-smtpd
lmtp-unix    unix  $lmtp_socket                           none      1  postern-lmtpd
queue        unix  $queue_socket                          none      1  postern-queued
imap         inet  $inet_interfaces:$imap_port            starttls  1  postern-imapd
imaps        inet  $inet_interfaces:$imaps_port           implicit  1  postern-imapd
admin-api    inet  $admin_api_interfaces:$admin_api_port  none      1  postern-admin-api
"""

PASSWORD = "correct horse battery"
V1 = "/api/v1"
TOKEN_LIFETIME = 60     # the shortest expires_in the service takes

# Loopback client addresses, one per purpose (each gets its own failure
# count and audit trail).
_next_source = [10]
_source_lock = threading.Lock()


def new_source():
    """A loopback address no other call used (127.0.1.1 onwards)."""
    with _source_lock:
        _next_source[0] += 1
        n = _next_source[0]
    return "127.0.%d.%d" % (n // 250, n % 250 + 1)


def q(s):
    """Percent-encode a path segment (also '@' and '/')."""
    return urllib.parse.quote(s, safe="")


def a_label(domain):
    return domain.encode("idna").decode()


class AdminApiBase(SiteTestCase):
    DRIVER = "sqlite"

    @classmethod
    def set_up_site(cls):
        skip_unless_driver(cls.DRIVER)
        cls.make_site("postern-api.")
        settings = cls.pick_ports()
        settings += ["mynetworks=192.0.2.0/24", "stop_timeout=5s",
                     "database_timeout=5s", "myhostname=mx.test"]
        settings += driver_settings(cls.DRIVER)
        run_postern(cls.dir, "config", "set", *settings)
        if cls.DRIVER != "sqlite":
            # The first init put the bootstrap token's hash in SQLite;
            # init again on the server database migrates it and
            # registers the same var/admin-token there.
            run_postern(cls.dir, "init")
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        with open(os.path.join(cls.dir, "admin-token")) as f:
            cls.root_token = f.read().strip()
        run_postern(cls.dir, "start")
        cls.started = True
        cls.api = Api(cls.ports["admin_api"], cls.root_token)
        cls.anon = Api(cls.ports["admin_api"])

        tag = secrets.token_hex(4)
        cls.tag = tag
        cls.own = "own-%s.test" % tag
        cls.foreign = "foreign-%s.test" % tag
        cls.foreign_idn_u = "bücher-%s.test" % tag
        cls.foreign_idn = a_label(cls.foreign_idn_u)
        cls.alias_of_foreign = "aliasf-%s.test" % tag
        cls.alias_of_own = "aliaso-%s.test" % tag
        for d in (cls.own, cls.foreign, cls.foreign_idn):
            cls.must(cls.api.post(V1 + "/domains", {"name": d}), 201)
        for d, t in ((cls.alias_of_foreign, cls.foreign),
                     (cls.alias_of_own, cls.own)):
            cls.must(cls.api.post(V1 + "/alias-domains",
                                  {"alias": d, "target": t}), 201)
        for a in ("victim@" + cls.foreign, "victim@" + cls.foreign_idn,
                  "mine@" + cls.own):
            cls.must(cls.api.post(V1 + "/mailboxes",
                                  {"address": a, "password": PASSWORD}), 201)
        cls.must(cls.api.post(V1 + "/aliases", {
            "source": "info@" + cls.foreign,
            "destinations": ["victim@" + cls.foreign]}), 201)
        cls.dadmin = "dadmin-%s" % tag
        cls.must(cls.api.post(V1 + "/admins", {
            "username": cls.dadmin, "password": PASSWORD, "role": "domain",
            "domains": [cls.own]}), 201)
        cls.dtoken = cls.mint(cls.dadmin, PASSWORD)["token"]
        cls.dapi = cls.api.with_token(cls.dtoken)
        # Minted now, checked by the last test once it has expired.
        cls.short = cls.mint(cls.dadmin, PASSWORD,
                             expires_in=TOKEN_LIFETIME)
        # It works now; test_zz_token_expiry sees it refused once expired.
        cls.must(cls.api.with_token(cls.short["token"]).get(
            V1 + "/domains/" + cls.own), 200)

    @classmethod
    def must(cls, r, status):
        if r.status != status:
            raise AssertionError("wanted %d, got %r" % (status, r))
        return r.json

    @classmethod
    def mint(cls, username, password, **extra):
        body = {"username": username, "password": password}
        body.update(extra)
        return cls.must(cls.anon.post(V1 + "/tokens", body), 201)

    # ---- helpers

    def postern(self, *args, stdin=None, check=True):
        return run_postern(self.dir, *args, stdin=stdin, check=check)

    def config_value(self, name):
        out = self.postern("config", name).stdout.strip()
        return out.split("=", 1)[1].strip()

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.dir, "log", "postern.log"),
                      errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def assertError(self, r, status, code=None, field=None):
        self.assertEqual(r.status, status, r)
        self.assertIsInstance(r.json, dict, r)
        self.assertEqual(set(r.json), {"error"}, r)
        e = r.json["error"]
        self.assertIsInstance(e, dict, r)
        self.assertEqual(set(e), {"code", "message"}, r)
        self.assertIsInstance(e["code"], str, r)
        self.assertIsInstance(e["message"], str, r)
        self.assertTrue(e["message"], r)
        if code is not None:
            if isinstance(code, str):
                self.assertEqual(e["code"], code, r)
            else:
                self.assertIn(e["code"], code, r)
        if field is not None:
            self.assertIn(field, e["message"], r)
        ctype = r.headers.get("content-type", "")
        if ctype:
            self.assertTrue(ctype.startswith("application/json"), ctype)

    def assertOk(self, r, status=200):
        self.assertEqual(r.status, status, r)
        if status != 204:
            self.assertIsNotNone(r.json, r)
        return r.json

    def assertNoSecrets(self, r, *secrets_):
        low = r.text.lower()
        self.assertNotIn("password", low, r)
        self.assertNotIn("$argon2", low, r)
        for s in secrets_:
            self.assertNotIn(s, r.text, r)

    def new_domain(self, prefix="d", **fields):
        name = "%s-%s-%s.test" % (prefix, self.tag, secrets.token_hex(3))
        body = {"name": name}
        body.update(fields)
        self.assertOk(self.api.post(V1 + "/domains", body), 201)
        return name

    def new_mailbox(self, domain, local=None, password=PASSWORD, **fields):
        address = "%s@%s" % (local or "u" + secrets.token_hex(4), domain)
        body = {"address": address, "password": password}
        body.update(fields)
        self.assertOk(self.api.post(V1 + "/mailboxes", body), 201)
        return address

    def maildir(self, address):
        user, domain = address.split("@")
        return os.path.join(self.dir, "mail", domain, user)

    def wait_for_mail(self, address, marker, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for sub in ("new", "cur"):
                for path in glob.glob(os.path.join(self.maildir(address),
                                                   sub, "*")):
                    with open(path, "rb") as f:
                        if marker.encode() in f.read():
                            return path
            time.sleep(0.05)
        self.fail("no message %s for %s; log:\n%s" % (
            marker, address, self.log_tail()))

    def send_mail(self, rcpt, marker):
        msg = ("From: tester@client.test\r\nSubject: %s\r\n"
               "Message-ID: <%s@client.test>\r\n\r\nHello %s\r\n" % (
                   marker, marker, marker)).encode()
        s = smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=15)
        try:
            s.ehlo("client.test")
            self.assertEqual(s.mail("tester@client.test")[0], 250)
            code, text = s.rcpt(rcpt)
            self.assertEqual(code, 250, (rcpt, text))
            code, text = s.data(msg)
            self.assertEqual(code, 250, text)
        finally:
            s.quit()

    def rcpt_code(self, rcpt):
        s = smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=15)
        try:
            s.ehlo("client.test")
            s.mail("tester@client.test")
            return s.rcpt(rcpt)[0]
        finally:
            s.quit()

    def audit(self, **params):
        r = self.api.get(V1 + "/audit?" + urllib.parse.urlencode(params))
        return self.assertOk(r)


class AdminApiTests:
    """Every test, run once per database driver."""

    # ---- service, authentication, tokens

    def test_health_without_token(self):
        r = self.anon.get(V1 + "/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"status": "ok"})

    def test_bootstrap_token(self):
        self.assertTrue(self.root_token.startswith("pt_"), self.root_token)
        self.assertOk(self.api.get(V1 + "/domains"))
        self.assertOk(self.api.get(V1 + "/audit"))

    def test_401_missing_bad_token(self):
        # A new client address each time: under the rate limit.
        def api():
            return self.anon.from_address(new_source())
        for path in ("/domains", "/domains/" + self.own, "/audit",
                     "/tokens", "/openapi.json"):
            self.assertError(api().get(V1 + path), 401, "unauthorized")
        self.assertError(api().post(V1 + "/domains", {"name": "x.test"}),
                         401, "unauthorized")
        bad = ["pt_" + "0" * 64, self.root_token[:-1] + "x",
               self.root_token + "0", "", "garbage"]
        for tok in bad:
            self.assertError(api().get(V1 + "/domains", token=tok), 401,
                             "unauthorized")
        for header in ("Basic " + self.root_token, self.root_token,
                       "Bearer", "Bearer  " + self.root_token + " x"):
            r = api().get(V1 + "/domains", token=None,
                        headers={"Authorization": header})
            self.assertError(r, 401, "unauthorized")

    def test_token_mint_list_revoke(self):
        t0 = int(time.time())
        tok = self.mint(self.dadmin, PASSWORD, expires_in=3600,
                        description="ci")
        self.assertEqual(set(tok) >= {"token", "expires_at", "id"}, True, tok)
        self.assertRegex(tok["token"], r"^pt_[0-9a-f]{64}$")
        self.assertTrue(t0 + 3600 - 5 <= tok["expires_at"] <= t0 + 3605, tok)
        api = self.api.with_token(tok["token"])
        self.assertOk(api.get(V1 + "/domains/" + self.own))
        # The default lifetime is finite.
        dflt = self.mint(self.dadmin, PASSWORD)
        self.assertIsInstance(dflt["expires_at"], int)
        self.assertGreater(dflt["expires_at"], t0)
        # Lists never show secrets.
        for who in (self.api, self.dapi):
            r = who.get(V1 + "/tokens?limit=1000")
            body = self.assertOk(r)
            self.assertNoSecrets(r, tok["token"], self.root_token,
                                 self.dtoken, tok["token"][3:])
            self.assertIn(tok["id"], [t["id"] for t in body["items"]])
            for t in body["items"]:
                self.assertNotIn("token", t)
                self.assertNotIn("secret", t)
                self.assertNotIn("secret_hash", t)
        mine = self.assertOk(self.dapi.get(V1 + "/tokens?limit=1000"))
        self.assertEqual({t["admin"] for t in mine["items"]}, {self.dadmin})
        # A domain admin cannot revoke the bootstrap token.
        everything = self.assertOk(self.api.get(V1 + "/tokens?limit=1000"))
        boot = [t for t in everything["items"] if t["admin"] is None]
        self.assertTrue(boot, everything)
        r = self.dapi.delete(V1 + "/tokens/%d" % boot[0]["id"])
        self.assertIn(r.status, (403, 404), r)  # hidden or refused
        self.assertError(r, r.status, ("forbidden", "not_found"))
        self.assertOk(self.api.get(V1 + "/domains"))
        # Revoke: 204, then 401 for it, 404 for a second revocation.
        r = self.api.delete(V1 + "/tokens/%d" % tok["id"])
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.data, b"")
        self.assertError(api.from_address(new_source()).get(
            V1 + "/domains/" + self.own), 401, "unauthorized")
        listed = self.assertOk(self.api.get(V1 + "/tokens?limit=1000"))
        gone = [t for t in listed["items"] if t["id"] == tok["id"]]
        self.assertTrue(not gone or gone[0]["revoked"] is True, gone)
        r = self.api.delete(V1 + "/tokens/%d" % tok["id"])
        self.assertIn(r.status, (204, 404), r)  # idempotent, or gone
        self.assertError(api.from_address(new_source()).get(
            V1 + "/domains/" + self.own), 401, "unauthorized")
        self.assertError(self.api.delete(V1 + "/tokens/999999999"), 404,
                         "not_found")

    def test_token_bad_credentials_and_values(self):
        anon = self.anon.from_address(new_source())
        for body in ({"username": self.dadmin, "password": "wrong"},
                     {"username": "nobody-" + self.tag, "password": "x"}):
            self.assertError(anon.post(V1 + "/tokens", body), 401,
                             "unauthorized")
        anon = self.anon.from_address(new_source())
        for extra, field in (({"expires_in": 10}, "expires_in"),
                             ({"expires_in": "1h"}, "expires_in"),
                             ({"expires_in": 10 ** 12}, "expires_in"),
                             ({"bogus": 1}, "bogus")):
            body = {"username": self.dadmin, "password": PASSWORD}
            body.update(extra)
            r = anon.post(V1 + "/tokens", body)
            self.assertError(r, 422, None, field)
        self.assertError(anon.post(V1 + "/tokens", {"username": self.dadmin}),
                         422, "missing_field", "password")

    def sql_rows(self, query):
        """Rows (tuples of strings) of a query on this site's database,
        through sqlite3, psql or the mariadb client."""
        return site_sql(self.DRIVER, self.dir, query)

    def test_secrets_stored_hashed(self):
        tok = self.mint(self.dadmin, PASSWORD)
        hashes = [r[0] for r in self.sql_rows(
            "SELECT secret_hash FROM tokens")]
        admins = self.sql_rows("SELECT password_hash FROM admins WHERE "
                               "username = '%s'" % self.dadmin)
        boxes = self.sql_rows("SELECT password_hash FROM mailboxes WHERE "
                              "address = 'mine@%s'" % self.own)
        self.assertNotIn(tok["token"], hashes)
        self.assertIn(hashlib.sha256(tok["token"].encode()).hexdigest(),
                      hashes)
        # Argon2id, possibly behind a {SCHEME} prefix.
        self.assertIn("$argon2id$", admins[0][0])
        self.assertIn("$argon2id$", boxes[0][0])
        self.assertNotIn(PASSWORD, admins[0][0] + boxes[0][0])

    def test_rate_limit_per_address(self):
        limit = int(self.config_value("admin_api_auth_max_failures"))
        self.assertGreater(limit, 0)
        self.assertLess(limit, 1000)
        bad = self.anon.from_address(new_source())
        for i in range(limit):
            self.assertError(bad.get(V1 + "/domains", token="pt_" + "1" * 64),
                             401, "unauthorized")
        r = bad.get(V1 + "/domains", token="pt_" + "1" * 64)
        self.assertError(r, 429, "too_many_requests")
        self.assertTrue(r.headers.get("retry-after", "").isdigit(), r.headers)
        # Locked: even a good token from there, and POST /tokens.
        self.assertError(bad.get(V1 + "/domains", token=self.root_token),
                         429, "too_many_requests")
        self.assertError(bad.post(V1 + "/tokens", {
            "username": self.dadmin, "password": PASSWORD}),
            429, "too_many_requests")
        # Everyone else goes on.
        self.assertOk(self.api.get(V1 + "/domains"))
        self.assertOk(self.api.from_address(new_source()).get(V1 + "/domains"))
        # Wrong passwords on POST /tokens count as well.
        guess = self.anon.from_address(new_source())
        for i in range(limit):
            r = guess.post(V1 + "/tokens", {"username": self.dadmin,
                                            "password": "guess%d" % i})
            self.assertError(r, 401, "unauthorized")
        r = guess.post(V1 + "/tokens", {"username": self.dadmin,
                                        "password": PASSWORD})
        self.assertError(r, 429, "too_many_requests")

    def test_zz_token_expiry(self):
        # Runs last (names sort): the 60 s token of set-up has expired.
        api = self.api.with_token(self.short["token"]).from_address(
            new_source())
        # Still valid only with a clear margin (the set-up saw it work):
        # a token checked near its expiry may be past it when the request
        # is served (once the set-up and tests take ~60 s).
        if self.short["expires_at"] - time.time() > 5:
            self.assertOk(api.get(V1 + "/domains/" + self.own))
        wait = self.short["expires_at"] + 1.5 - time.time()
        if wait > 0:
            time.sleep(wait)
        self.assertError(api.get(V1 + "/domains/" + self.own), 401,
                         "unauthorized")

    # ---- request handling

    def test_malformed_json_400(self):
        for raw in (b"{", b'{"name": }', b"not json", b'{"name": "a.test"} x',
                    b"\xff\xfe", b""):
            r = self.api.post(V1 + "/domains", raw=raw)
            self.assertError(r, 400, ("malformed_json", "bad_request"))
        r = self.api.post(V1 + "/domains", raw=b"{")
        self.assertError(r, 400, "malformed_json")
        for raw in (b"[]", b'"a.test"', b"42", b"null"):
            r = self.api.post(V1 + "/domains", raw=raw)
            self.assertIn(r.status, (400, 422), r)
            self.assertError(r, r.status)
        self.assertError(self.api.patch(V1 + "/mailboxes/mine@" + self.own,
                                        raw=b'{"name": '), 400,
                         "malformed_json")

    def test_body_size_limit_413(self):
        limit = int(self.config_value("admin_api_body_limit"))
        self.assertGreater(limit, 1000)
        name = "big-%s.test" % self.tag
        body = json.dumps({"name": name, "description": "x" * (limit + 10)})
        data = ("POST %s/domains HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Authorization: Bearer %s\r\nContent-Type: application/json"
                "\r\nContent-Length: %d\r\n\r\n%s" % (
                    V1, self.root_token, len(body), body)).encode()
        r = self.api.raw_request(data)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(json.loads(r.text)["error"]["code"], "body_too_large")
        # Without Content-Length (chunked), and far over the limit.
        data = ("POST %s/domains HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n" % (V1, self.root_token)
                ).encode()
        chunk = b"x" * 16384
        for _ in range((limit * 4) // len(chunk) + 1):
            data += b"%x\r\n%s\r\n" % (len(chunk), chunk)
        data += b"0\r\n\r\n"
        r = self.api.raw_request(data)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(json.loads(r.text)["error"]["code"], "body_too_large")
        self.assertError(self.api.get(V1 + "/domains/" + name), 404)
        # Under the limit, the too-long description is a 422.
        body = json.dumps({"name": name, "description": "x" * 1000})
        r = self.api.post(V1 + "/domains", raw=body.encode())
        self.assertError(r, 422, None, "description")

    def test_unknown_route_404_wrong_method_405(self):
        for path in ("/nothing", "/domains/%s/nothing" % self.own,
                     "/mailboxes", "/aliases", "", "/", "/../v1/domains"):
            r = self.api.get(V1 + path)
            self.assertIn(r.status, (404, 405), (path, r))
            self.assertError(r, r.status)
        self.assertError(self.api.get("/api/v2/domains"), 404, "not_found")
        self.assertError(self.api.get("/nothing"), 404, "not_found")
        self.assertError(self.api.call("PUT", V1 + "/domains", {}), 405,
                         "method_not_allowed")
        self.assertError(self.api.call("DELETE", V1 + "/domains"), 405,
                         "method_not_allowed")
        self.assertError(self.api.call("POST", V1 + "/domains/" + self.own,
                                       {}), 405, "method_not_allowed")

    # ---- domains

    def test_domain_crud(self):
        name = "crud-%s.test" % self.tag
        r = self.api.post(V1 + "/domains", {
            "name": name.upper(), "description": "Crud test",
            "max_mailboxes": 10, "quota_bytes": 5000000})
        d = self.assertOk(r, 201)
        self.assertEqual(d["name"], name)
        self.assertEqual(d["description"], "Crud test")
        self.assertEqual(d["max_mailboxes"], 10)
        self.assertEqual(d["quota_bytes"], 5000000)
        self.assertIs(d["active"], True)
        self.assertError(self.api.post(V1 + "/domains", {"name": name}), 409,
                         "already_exists")
        self.assertError(self.api.post(V1 + "/domains",
                                       {"name": name.upper()}), 409,
                         "already_exists")
        self.assertEqual(self.assertOk(self.api.get(V1 + "/domains/" + name)),
                         d)
        got = self.assertOk(self.api.get(V1 + "/domains/" + name.upper()))
        self.assertEqual(got["name"], name)
        lst = self.assertOk(self.api.get(V1 + "/domains?limit=1000"))
        self.assertIn(name, [x["name"] for x in lst["items"]])
        self.assertGreaterEqual(lst["total"], len(lst["items"]))
        r = self.api.patch(V1 + "/domains/" + name, {
            "description": "changed", "max_mailboxes": 3, "active": False})
        p = self.assertOk(r)
        self.assertEqual((p["description"], p["max_mailboxes"], p["active"]),
                         ("changed", 3, False))
        self.assertEqual(p["quota_bytes"], 5000000)
        p = self.assertOk(self.api.get(V1 + "/domains/" + name))
        self.assertEqual(p["description"], "changed")
        self.assertError(self.api.patch(V1 + "/domains/" + name,
                                        {"name": "other.test"}), 422, None,
                         "name")
        self.assertError(self.api.patch(V1 + "/domains/nosuch-%s.test" %
                                        self.tag, {"description": "x"}),
                         404, "not_found")
        r = self.api.delete(V1 + "/domains/" + name)
        self.assertEqual(r.status, 204, r)
        self.assertError(self.api.get(V1 + "/domains/" + name), 404,
                         "not_found")
        self.assertError(self.api.delete(V1 + "/domains/" + name), 404,
                         "not_found")

    def test_domain_validation_422(self):
        cases = [
            ({"name": "bad..name.test"}, "name", "invalid_value"),
            ({"name": "-bad.test"}, "name", "invalid_value"),
            ({"name": "a" * 64 + ".test"}, "name", "invalid_value"),
            ({"name": "sp ace.test"}, "name", "invalid_value"),
            ({"name": "x@y.test"}, "name", "invalid_value"),
            ({"name": ""}, "name", "invalid_value"),
            ({"name": 5}, "name", "wrong_type"),
            ({"name": None}, "name", "wrong_type"),
            ({"name": "ok-%s.test" % self.tag, "max_mailboxes": "ten"},
             "max_mailboxes", "wrong_type"),
            ({"name": "ok-%s.test" % self.tag, "max_mailboxes": -1},
             "max_mailboxes", "invalid_value"),
            ({"name": "ok-%s.test" % self.tag, "quota_bytes": 1.5},
             "quota_bytes", "wrong_type"),
            ({"name": "ok-%s.test" % self.tag, "active": "yes"}, "active",
             "wrong_type"),
            ({"name": "ok-%s.test" % self.tag, "description": ["x"]},
             "description", "wrong_type"),
            ({"name": "ok-%s.test" % self.tag, "bogus_field": 1},
             "bogus_field", "unknown_field"),
            ({"description": "no name"}, "name", "missing_field"),
        ]
        for body, field, code in cases:
            r = self.api.post(V1 + "/domains", body)
            self.assertError(r, 422, code, field)
        self.assertError(self.api.get(V1 + "/domains/ok-%s.test" % self.tag),
                         404)
        self.assertError(self.api.patch(V1 + "/domains/" + self.own,
                                        {"max_mailboxes": "x"}), 422,
                         "wrong_type", "max_mailboxes")
        self.assertError(self.api.patch(V1 + "/domains/" + self.own,
                                        {"zzz": 1}), 422, "unknown_field",
                         "zzz")

    def test_idn_domain(self):
        u = "müller-%s.test" % self.tag
        d = self.assertOk(self.api.post(V1 + "/domains", {"name": u}), 201)
        self.assertEqual(d["name"], a_label(u))
        self.assertError(self.api.post(V1 + "/domains", {"name": a_label(u)}),
                         409, "already_exists")
        got = self.assertOk(self.api.get(V1 + "/domains/" + q(u)))
        self.assertEqual(got["name"], a_label(u))
        m = self.assertOk(self.api.post(V1 + "/mailboxes", {
            "address": "joerg@" + u, "password": PASSWORD}), 201)
        self.assertTrue(m["address"].endswith("@" + a_label(u)), m)

    # ---- mailboxes

    def test_mailbox_crud(self):
        dom = self.new_domain("mb")
        address = "Alice.Smith@" + dom.upper()
        r = self.api.post(V1 + "/mailboxes", {
            "address": address, "password": "s3cret-pw", "name": "Alice",
            "quota_bytes": 2000000})
        m = self.assertOk(r, 201)
        self.assertNoSecrets(r, "s3cret-pw")
        low = address.lower()
        self.assertEqual(m["address"], low)
        self.assertEqual(m["domain"], dom)
        self.assertEqual(m["name"], "Alice")
        self.assertEqual(m["quota_bytes"], 2000000)
        self.assertEqual(m["used_bytes"], 0)
        self.assertEqual(m["message_count"], 0)
        self.assertIs(m["active"], True)
        for path in (low, address, q(low), low.replace("@", "%40")):
            r = self.api.get(V1 + "/mailboxes/" + path)
            got = self.assertOk(r)
            self.assertNoSecrets(r, "s3cret-pw")
            self.assertEqual(got["address"], low)
        self.assertError(self.api.post(V1 + "/mailboxes", {
            "address": low.upper(), "password": "x"}), 409, "already_exists")
        r = self.api.patch(V1 + "/mailboxes/" + low, {
            "name": "Alice S.", "quota_bytes": 3000000, "active": False})
        p = self.assertOk(r)
        self.assertNoSecrets(r)
        self.assertEqual((p["name"], p["quota_bytes"], p["active"]),
                         ("Alice S.", 3000000, False))
        lst = self.assertOk(self.api.get(V1 + "/domains/%s/mailboxes" % dom))
        self.assertEqual([x["address"] for x in lst["items"]], [low])
        self.assertEqual(lst["total"], 1)
        self.assertIn("used_bytes", lst["items"][0])
        self.assertIn("message_count", lst["items"][0])
        self.assertEqual(self.assertOk(self.api.get(V1 + "/domains/" + dom))
                         .get("mailbox_count", 1), 1)
        r = self.api.delete(V1 + "/mailboxes/" + low)
        self.assertEqual(r.status, 204, r)
        self.assertError(self.api.get(V1 + "/mailboxes/" + low), 404,
                         "not_found")
        self.assertError(self.api.delete(V1 + "/mailboxes/" + low), 404,
                         "not_found")
        self.assertError(self.api.patch(V1 + "/mailboxes/" + low,
                                        {"name": "x"}), 404, "not_found")

    def test_mailbox_validation(self):
        dom = self.own
        cases = [
            ({"address": "no-at-sign", "password": "x"}, 422, "address"),
            ({"address": "a@b@" + dom, "password": "x"}, 422, "address"),
            ({"address": "a b@" + dom, "password": "x"}, 422, "address"),
            ({"address": "a@bad..%s" % dom, "password": "x"}, 422, "address"),
            ({"address": "x" * 65 + "@" + dom, "password": "x"}, 422,
             "address"),
            ({"address": "@" + dom, "password": "x"}, 422, "address"),
            ({"address": 42, "password": "x"}, 422, "address"),
            ({"address": "a@" + dom}, 422, "password"),
            ({"address": "a@" + dom, "password": 1234}, 422, "password"),
            ({"address": "a@" + dom, "password": ""}, 422, "password"),
            ({"address": "a@" + dom, "password": "x", "quota_bytes": "1G"},
             422, "quota_bytes"),
            ({"address": "a@" + dom, "password": "x", "quota_bytes": -5},
             422, "quota_bytes"),
            ({"address": "a@" + dom, "password": "x", "active": 1}, 422,
             "active"),
            ({"address": "a@" + dom, "password": "x", "nickname": "z"}, 422,
             "nickname"),
            ({"address": "a@nothosted-%s.test" % self.tag, "password": "x"},
             404, None),
        ]
        for body, status, field in cases:
            r = self.api.post(V1 + "/mailboxes", body)
            self.assertError(r, status, None, field)
        self.assertError(self.api.get(V1 + "/mailboxes/a@" + dom), 404)
        self.assertError(self.api.patch(V1 + "/mailboxes/mine@" + dom,
                                        {"password": ""}), 422, None,
                         "password")
        self.assertError(self.api.patch(V1 + "/mailboxes/mine@" + dom,
                                        {"address": "z@" + dom}), 422, None,
                         "address")

    def test_list_limit_offset_total(self):
        dom = self.new_domain("lst")
        made = sorted(self.new_mailbox(dom, "m%d" % i) for i in range(5))
        for i in range(3):
            self.assertOk(self.api.post(V1 + "/aliases", {
                "source": "a%d@%s" % (i, dom), "destinations": [made[0]]}),
                201)
        base = V1 + "/domains/%s/mailboxes" % dom
        pages = []
        for off in (0, 2, 4):
            r = self.assertOk(self.api.get(base + "?limit=2&offset=%d" % off))
            self.assertEqual(r["total"], 5)
            pages += [x["address"] for x in r["items"]]
        self.assertEqual(pages, made)
        r = self.assertOk(self.api.get(base + "?offset=10"))
        self.assertEqual((r["items"], r["total"]), ([], 5))
        r = self.assertOk(self.api.get(base))
        self.assertEqual(len(r["items"]), 5)
        r = self.assertOk(self.api.get(V1 + "/domains/%s/aliases?limit=1"
                                       "&offset=1" % dom))
        self.assertEqual(r["total"], 3)
        self.assertEqual([x["source"] for x in r["items"]], ["a1@" + dom])
        r = self.assertOk(self.api.get(V1 + "/domains?limit=1"))
        self.assertEqual(len(r["items"]), 1)
        self.assertGreaterEqual(r["total"], 5)
        for bad in ("limit=abc", "limit=-1", "offset=-1", "offset=x",
                    "limit=1e3", "limit=", "limit=99999999999999999999"):
            self.assertError(self.api.get(base + "?" + bad), 400,
                             "invalid_parameter")
        for path in ("/domains", "/alias-domains", "/admins", "/tokens",
                     "/audit"):
            self.assertError(self.api.get(V1 + path + "?limit=abc"), 400,
                             "invalid_parameter")

    # ---- aliases and alias domains

    def test_alias_crud_and_mail(self):
        dom = self.new_domain("al")
        box = self.new_mailbox(dom, "box")
        other = self.new_mailbox(dom, "other")
        r = self.api.post(V1 + "/aliases", {
            "source": "Sales@" + dom.upper(),
            "destinations": [box, "Boss@Example.ORG"]})
        a = self.assertOk(r, 201)
        self.assertEqual(a["source"], "sales@" + dom)
        self.assertEqual(a["domain"], dom)
        self.assertEqual(a["destinations"], [box, "boss@example.org"])
        self.assertIs(a["active"], True)
        self.assertError(self.api.post(V1 + "/aliases", {
            "source": "sales@" + dom, "destinations": [box]}), 409,
            "already_exists")
        got = self.assertOk(self.api.get(V1 + "/aliases/" + q("sales@" + dom)))
        self.assertEqual(got, a)
        # Takes effect at once: mail to the alias reaches box.
        marker = uuid.uuid4().hex
        self.send_mail("sales@" + dom, marker)
        self.wait_for_mail(box, marker)
        p = self.assertOk(self.api.patch(V1 + "/aliases/sales@" + dom,
                                         {"destinations": [other]}))
        self.assertEqual(p["destinations"], [other])
        marker = uuid.uuid4().hex
        self.send_mail("sales@" + dom, marker)
        self.wait_for_mail(other, marker)
        # A catch-all: source "@domain", path with @ or %40.
        c = self.assertOk(self.api.post(V1 + "/aliases", {
            "source": "@" + dom, "destinations": [box]}), 201)
        self.assertEqual(c["source"], "@" + dom)
        for path in ("@" + dom, "%40" + dom):
            self.assertOk(self.api.get(V1 + "/aliases/" + path))
        marker = uuid.uuid4().hex
        self.send_mail("whoever-%s@%s" % (marker[:6], dom), marker)
        self.wait_for_mail(box, marker)
        lst = self.assertOk(self.api.get(V1 + "/domains/%s/aliases" % dom))
        self.assertEqual([x["source"] for x in lst["items"]],
                         ["@" + dom, "sales@" + dom])
        self.assertEqual(lst["total"], 2)
        for body, field in (
                ({"source": "x@" + dom, "destinations": box}, "destinations"),
                ({"source": "x@" + dom, "destinations": []}, "destinations"),
                ({"source": "x@" + dom, "destinations": ["not an address"]},
                 "destinations"),
                ({"source": "x@" + dom, "destinations": [5]}, "destinations"),
                ({"source": "x@" + dom}, "destinations"),
                ({"source": "bad address@" + dom, "destinations": [box]},
                 "source"),
                ({"source": "x@" + dom, "destinations": [box], "z": 1}, "z")):
            self.assertError(self.api.post(V1 + "/aliases", body), 422, None,
                             field)
        self.assertError(self.api.post(V1 + "/aliases", {
            "source": "x@nothosted-%s.test" % self.tag,
            "destinations": [box]}), 404, "not_found")
        self.assertEqual(self.api.delete(V1 + "/aliases/sales@" + dom).status,
                         204)
        self.assertEqual(self.api.delete(V1 + "/aliases/%40" + dom).status,
                         204)
        self.assertError(self.api.get(V1 + "/aliases/sales@" + dom), 404,
                         "not_found")
        self.assertEqual(self.rcpt_code("sales@" + dom), 550)

    def test_alias_domain_crud_and_mail(self):
        dom = self.new_domain("adt")
        box = self.new_mailbox(dom, "carol")
        alias = "ad-%s.test" % self.tag
        r = self.api.post(V1 + "/alias-domains", {"alias": alias.upper(),
                                                  "target": dom})
        ad = self.assertOk(r, 201)
        self.assertEqual((ad["alias"], ad["target"], ad["active"]),
                         (alias, dom, True))
        self.assertEqual(self.assertOk(self.api.get(
            V1 + "/alias-domains/" + alias)), ad)
        lst = self.assertOk(self.api.get(V1 + "/alias-domains?limit=1000"))
        self.assertIn(alias, [x["alias"] for x in lst["items"]])
        marker = uuid.uuid4().hex
        self.send_mail("carol@" + alias, marker)
        self.wait_for_mail(box, marker)
        self.assertError(self.api.post(V1 + "/alias-domains", {
            "alias": alias, "target": dom}), 409, "already_exists")
        self.assertError(self.api.post(V1 + "/alias-domains", {
            "alias": self.own, "target": dom}), 409, "conflict")
        self.assertError(self.api.post(V1 + "/alias-domains", {
            "alias": "x-" + alias, "target": "nothosted-%s.test" % self.tag}),
            404, "not_found")
        for body, field in (({"alias": "bad..x.test", "target": dom}, "alias"),
                            ({"alias": "y-" + alias, "target": 3}, "target"),
                            ({"alias": "y-" + alias}, "target"),
                            ({"alias": "y-" + alias, "target": dom, "q": 1},
                             "q")):
            self.assertError(self.api.post(V1 + "/alias-domains", body), 422,
                             None, field)
        # An alias domain is not a hosted domain: no domain of that name.
        self.assertError(self.api.post(V1 + "/domains", {"name": alias}), 409,
                         ("already_exists", "conflict"))
        r = self.api.delete(V1 + "/alias-domains/" + alias)
        self.assertEqual(r.status, 204, r)
        self.assertError(self.api.get(V1 + "/alias-domains/" + alias), 404,
                         "not_found")
        self.assertError(self.api.delete(V1 + "/alias-domains/" + alias), 404,
                         "not_found")
        self.assertNotEqual(self.rcpt_code("carol@" + alias), 250)

    # ---- admins and roles

    def test_admins(self):
        sup = "sup-%s" % self.tag
        r = self.api.post(V1 + "/admins", {"username": sup,
                                           "password": "sup-pass-1",
                                           "role": "superadmin"})
        a = self.assertOk(r, 201)
        self.assertNoSecrets(r, "sup-pass-1")
        self.assertEqual((a["username"], a["role"], a["domains"]),
                         (sup, "superadmin", []))
        self.assertError(self.api.post(V1 + "/admins", {
            "username": sup, "password": "x", "role": "superadmin"}), 409,
            "already_exists")
        stok = self.mint(sup, "sup-pass-1")["token"]
        sapi = self.api.with_token(stok)
        self.assertOk(sapi.get(V1 + "/audit"))
        self.assertOk(sapi.get(V1 + "/domains/" + self.foreign))
        r = self.api.get(V1 + "/admins?limit=1000")
        lst = self.assertOk(r)
        self.assertNoSecrets(r, "sup-pass-1")
        names = {x["username"]: x for x in lst["items"]}
        self.assertIn(sup, names)
        self.assertEqual(names[self.dadmin]["domains"], [self.own])
        self.assertEqual(names[self.dadmin]["role"], "domain")
        got = self.assertOk(self.api.get(V1 + "/admins/" + self.dadmin))
        self.assertEqual(got["domains"], [self.own])
        da = "da-%s" % self.tag
        self.assertOk(self.api.post(V1 + "/admins", {
            "username": da, "password": "da-pass-1", "role": "domain",
            "domains": [self.own.upper()]}), 201)
        for body, status, field in (
                ({"username": "x1-" + self.tag, "password": "p",
                  "role": "king"}, 422, "role"),
                ({"username": "x2-" + self.tag, "password": "p",
                  "role": "domain"}, 422, "domains"),
                ({"username": "x3-" + self.tag, "password": "p",
                  "role": "domain", "domains": []}, 422, "domains"),
                ({"username": "x4-" + self.tag, "password": "p",
                  "role": "superadmin", "domains": [self.own]}, 422,
                 "domains"),
                ({"username": "x5-" + self.tag, "password": "p",
                  "role": "domain", "domains": "x.test"}, 422, "domains"),
                ({"username": "x6-" + self.tag, "role": "superadmin"}, 422,
                 "password"),
                ({"username": "x7-" + self.tag, "password": "p",
                  "role": "domain",
                  "domains": ["nothosted-%s.test" % self.tag]}, 404, None),
                ({"username": 7, "password": "p", "role": "superadmin"}, 422,
                 "username")):
            self.assertError(self.api.post(V1 + "/admins", body), status,
                             None, field)
        # PATCH domains: the new scope applies at once to its tokens.
        datok = self.mint(da, "da-pass-1")["token"]
        daapi = self.api.with_token(datok)
        self.assertOk(daapi.get(V1 + "/domains/" + self.own))
        self.assertError(daapi.get(V1 + "/domains/" + self.foreign), 403,
                         "forbidden")
        p = self.assertOk(self.api.patch(V1 + "/admins/" + da,
                                         {"domains": [self.foreign]}))
        self.assertEqual(p["domains"], [self.foreign])
        self.assertOk(daapi.get(V1 + "/domains/" + self.foreign))
        self.assertError(daapi.get(V1 + "/domains/" + self.own), 403,
                         "forbidden")
        # Deactivated or deleted: its tokens stop working.
        self.assertOk(self.api.patch(V1 + "/admins/" + da, {"active": False}))
        self.assertError(daapi.from_address(new_source()).get(
            V1 + "/domains/" + self.foreign), 401, "unauthorized")
        self.assertEqual(self.api.delete(V1 + "/admins/" + sup).status, 204)
        self.assertError(sapi.from_address(new_source()).get(V1 + "/domains"),
                         401, "unauthorized")
        self.assertError(self.api.get(V1 + "/admins/" + sup), 404,
                         "not_found")
        self.assertError(self.api.delete(V1 + "/admins/" + sup), 404,
                         "not_found")

    def test_domain_admin_scope(self):
        d = self.dapi
        own, foreign = self.own, self.foreign
        # Lists show only its own data.
        lst = self.assertOk(d.get(V1 + "/domains?limit=1000"))
        self.assertEqual([x["name"] for x in lst["items"]], [own])
        self.assertEqual(lst["total"], 1)
        lst = self.assertOk(d.get(V1 + "/alias-domains?limit=1000"))
        self.assertEqual([x["alias"] for x in lst["items"]],
                         [self.alias_of_own])
        self.assertEqual(lst["total"], 1)
        self.assertOk(d.get(V1 + "/domains/%s/mailboxes" % own))
        self.assertOk(d.get(V1 + "/domains/%s/aliases" % own))
        self.assertOk(d.get(V1 + "/mailboxes/mine@" + own))
        # Superadmin-only operations.
        self.assertError(d.get(V1 + "/audit"), 403, "forbidden")
        self.assertError(d.get(V1 + "/audit?object=" + own), 403, "forbidden")
        self.assertError(d.get(V1 + "/admins"), 403, "forbidden")
        self.assertError(d.post(V1 + "/domains", {"name": "n-%s.test" %
                                                  self.tag}), 403, "forbidden")
        self.assertError(d.patch(V1 + "/domains/" + own,
                                 {"max_mailboxes": 0}), 403, "forbidden")
        self.assertError(d.delete(V1 + "/domains/" + own), 403, "forbidden")
        self.assertError(d.post(V1 + "/alias-domains", {
            "alias": "n2-%s.test" % self.tag, "target": own}), 403,
            "forbidden")
        self.assertError(d.delete(V1 + "/alias-domains/" +
                                  self.alias_of_own), 403, "forbidden")
        self.assertError(d.post(V1 + "/admins", {
            "username": "evil-" + self.tag, "password": "p",
            "role": "superadmin"}), 403, "forbidden")
        self.assertError(d.patch(V1 + "/admins/" + self.dadmin,
                                 {"domains": [own, foreign]}), 403,
                         "forbidden")
        self.assertError(d.get(V1 + "/admins/sup-nobody"), 403, "forbidden")
        self.assertOk(d.get(V1 + "/admins/" + self.dadmin))
        # Foreign data: 403 everywhere.
        for method, path, body in (
                ("GET", "/domains/" + foreign, None),
                ("GET", "/domains/%s/mailboxes" % foreign, None),
                ("GET", "/domains/%s/aliases" % foreign, None),
                ("GET", "/mailboxes/victim@" + foreign, None),
                ("PATCH", "/mailboxes/victim@" + foreign, {"password": "x"}),
                ("DELETE", "/mailboxes/victim@" + foreign, None),
                ("GET", "/aliases/info@" + foreign, None),
                ("PATCH", "/aliases/info@" + foreign,
                 {"destinations": ["x@example.org"]}),
                ("DELETE", "/aliases/info@" + foreign, None),
                ("GET", "/alias-domains/" + self.alias_of_foreign, None),
                ("POST", "/mailboxes", {"address": "new@" + foreign,
                                        "password": "x"}),
                ("POST", "/aliases", {"source": "new@" + foreign,
                                      "destinations": ["mine@" + own]}),
                ("POST", "/aliases", {"source": "@" + foreign,
                                      "destinations": ["mine@" + own]})):
            r = d.call(method, V1 + path, body)
            self.assertError(r, 403, "forbidden")
        self.assertForeignIntact()

    def assertForeignIntact(self):
        f = self.foreign
        m = self.assertOk(self.api.get(V1 + "/mailboxes/victim@" + f))
        self.assertIs(m["active"], True)
        a = self.assertOk(self.api.get(V1 + "/aliases/info@" + f))
        self.assertEqual(a["destinations"], ["victim@" + f])
        lst = self.assertOk(self.api.get(V1 + "/domains/%s/mailboxes" % f))
        self.assertEqual([x["address"] for x in lst["items"]], ["victim@" + f])
        lst = self.assertOk(self.api.get(V1 + "/domains/%s/aliases" % f))
        self.assertEqual([x["source"] for x in lst["items"]], ["info@" + f])
        self.assertOk(self.api.get(V1 + "/alias-domains/" +
                                   self.alias_of_foreign))
        self.assertEqual(self.assertOk(self.api.get(
            V1 + "/domains/%s/mailboxes" % self.foreign_idn))["total"], 1)
        self.assertEqual(smtp_auth(self.ports["submission"], "victim@" + f,
                                   PASSWORD), 235)

    def test_domain_admin_path_tricks(self):
        d = self.dapi
        f = self.foreign
        dot = f.replace(".", "%2e")
        dot2 = f.replace(".", "%252e")
        # Decoded or case-folded, these name the foreign domain: 403.
        exact = [
            "/domains/" + f.upper(),
            "/domains/" + f.title(),
            "/domains/" + dot,
            "/domains/" + dot.upper(),
            "/domains/%s/mailboxes" % f.upper(),
            "/domains/%s/mailboxes" % dot,
            "/domains/%s/aliases" % dot,
            "/mailboxes/victim%40" + f,
            "/mailboxes/VICTIM@" + f.upper(),
            "/mailboxes/victim@" + dot,
            "/mailboxes/%76ictim%40" + dot,
            "/aliases/info%40" + f,
            "/aliases/INFO@" + f.upper(),
            "/domains/" + q(self.foreign_idn_u),
            "/domains/%s/mailboxes" % q(self.foreign_idn_u),
            "/mailboxes/" + q("victim@" + self.foreign_idn_u),
            "/mailboxes/victim@" + self.foreign_idn,
        ]
        for path in exact:
            self.assertError(d.get(V1 + path), 403, "forbidden")
            if path.startswith("/mailboxes/"):
                self.assertError(d.patch(V1 + path, {"password": "x"}), 403,
                                 "forbidden")
                self.assertError(d.delete(V1 + path), 403, "forbidden")
        # Others are malformed or name nothing: refused, never served.
        odd = [
            "/domains/" + f + ".",
            "/domains/" + f + "%2e",
            "/domains/%s./mailboxes" % f,
            "/domains/" + dot2,
            "/domains/%s/mailboxes" % dot2,
            "/mailboxes/victim%2540" + f,
            "/mailboxes/victim@" + f + ".",
            "/mailboxes/victim@" + f + "%2e",
            "/mailboxes/victim@" + f + "%00",
            "/mailboxes/victim@" + f + "%00.x",
            "/domains/%s%%2f..%%2f%s/mailboxes" % (self.own, f),
            "/domains/%s/..%%2f..%%2fdomains%%2f%s/mailboxes" % (self.own, f),
            "/domains/%s/../%s/mailboxes" % (self.own, f),
            "/domains/%s%%2f../%s" % (self.own, f),
            "/mailboxes/mine@%s%%2f..%%2fvictim@%s" % (self.own, f),
            "/mailboxes/victim@%s%%20" % f,
            "/mailboxes/%%20victim@%s" % f,
            "/domains/%s;%s" % (self.own, f),
            "/domains/%s?x=/%s" % (f, self.own),
            "/domains/" + q(self.foreign_idn_u) + ".",
            "/domains/" + q(self.foreign_idn_u.upper()),
        ]
        for path in odd:
            for method, body in (("GET", None),
                                 ("PATCH", {"password": "x"}),
                                 ("DELETE", None)):
                r = d.call(method, V1 + path, body)
                self.assertTrue(r.status in (400, 403, 404, 405, 422),
                                (method, path, r))
                self.assertError(r, r.status)
        # Creating in a foreign domain by any spelling.
        for address in ("new@" + f.upper(), "new@" + f + ".",
                        "new@" + self.foreign_idn_u, "new@" + self.foreign_idn,
                        "new%40" + f, "new@" + dot):
            r = d.post(V1 + "/mailboxes", {"address": address,
                                           "password": PASSWORD})
            self.assertTrue(r.status in (403, 404, 422), (address, r))
            self.assertError(r, r.status)
            r = d.post(V1 + "/aliases", {"source": address,
                                         "destinations": ["mine@" + self.own]})
            self.assertTrue(r.status in (403, 404, 422), (address, r))
            self.assertError(r, r.status)
        self.assertForeignIntact()

    def test_domain_admin_body_tricks(self):
        """Bodies that name a foreign domain through JSON itself:
        duplicate keys, NUL characters, escapes."""
        d = self.dapi
        f, own = self.foreign, self.own
        tag = secrets.token_hex(3)
        bodies = [
            # Duplicate keys: whichever the parser keeps, the rights
            # check must see the same one.
            '{"address": "d1-%s@%s", "address": "d1-%s@%s", "password": "p"}'
            % (tag, own, tag, f),
            '{"address": "d2-%s@%s", "address": "d2-%s@%s", "password": "p"}'
            % (tag, f, tag, own),
            '{"address": "d3-%s@%s\\u0000@%s", "password": "p"}'
            % (tag, f, own),
            '{"address": "d4-%s@%s\\u0000.%s", "password": "p"}'
            % (tag, own, f),
            '{"address": "d5-%s\\u0040%s", "password": "p"}' % (tag, f),
            '{"address": "d6-%s@%s", "password": "p"}'
            % (tag, f.replace("o", "\\u006f")),
        ]
        for raw in bodies:
            r = d.post(V1 + "/mailboxes", raw=raw.encode())
            if r.status == 201:
                self.assertTrue(r.json["address"].endswith("@" + own),
                                (raw, r))
            else:
                self.assertIn(r.status, (400, 403, 422), (raw, r))
                self.assertError(r, r.status)
        lst = self.assertOk(self.api.get(V1 + "/domains/%s/mailboxes" % f))
        self.assertEqual([x["address"] for x in lst["items"]],
                         ["victim@" + f])
        # The same for an alias source.
        raw = ('{"source": "s-%s@%s", "source": "s-%s@%s", '
               '"destinations": ["mine@%s"]}' % (tag, own, tag, f, own))
        r = d.post(V1 + "/aliases", raw=raw.encode())
        if r.status == 201:
            self.assertTrue(r.json["source"].endswith("@" + own), r)
        else:
            self.assertIn(r.status, (400, 403, 422), r)
        self.assertForeignIntact()

    def test_domain_admin_alias_domain_indirection(self):
        d = self.dapi
        af = self.alias_of_foreign
        # Through an alias domain of a foreign domain: nothing.
        for method, path, body in (
                ("GET", "/domains/" + af, None),
                ("GET", "/domains/%s/mailboxes" % af, None),
                ("GET", "/domains/%s/aliases" % af, None),
                ("GET", "/mailboxes/victim@" + af, None),
                ("PATCH", "/mailboxes/victim@" + af, {"password": "x"}),
                ("DELETE", "/mailboxes/victim@" + af, None),
                ("GET", "/aliases/info@" + af, None),
                ("DELETE", "/aliases/info@" + af, None),
                ("POST", "/mailboxes", {"address": "new@" + af,
                                        "password": PASSWORD}),
                ("POST", "/aliases", {"source": "new@" + af,
                                      "destinations": ["mine@" + self.own]}),
                ("POST", "/aliases", {"source": "@" + af,
                                      "destinations": ["mine@" + self.own]}),
                ("GET", "/alias-domains/" + af, None),
                ("DELETE", "/alias-domains/" + af, None)):
            r = d.call(method, V1 + path, body)
            self.assertTrue(r.status in (403, 404, 422), (method, path, r))
            self.assertError(r, r.status)
        self.assertNotEqual(self.rcpt_code("new@" + af), 250)
        # Its own alias domain does not open a door either: a mailbox or
        # alias "in" an alias domain is refused for everyone.
        for who in (d, self.api):
            r = who.post(V1 + "/mailboxes", {
                "address": "x@" + self.alias_of_own, "password": PASSWORD})
            self.assertTrue(r.status in (403, 404, 409, 422), r)
            self.assertError(r, r.status)
        self.assertError(self.api.get(V1 + "/mailboxes/x@" +
                                      self.alias_of_own), 404)
        # An alias may forward into a foreign domain (like any outside
        # address): it reads nothing there.
        src = "fwd-%s@%s" % (self.tag, self.own)
        r = d.post(V1 + "/aliases", {"source": src,
                                     "destinations": ["victim@" + af]})
        self.assertOk(r, 201)
        self.assertEqual(d.delete(V1 + "/aliases/" + src).status, 204)
        self.assertForeignIntact()

    def test_domain_admin_password_self(self):
        da = "self-%s" % self.tag
        self.assertOk(self.api.post(V1 + "/admins", {
            "username": da, "password": "first-pw", "role": "domain",
            "domains": [self.own]}), 201)
        tok = self.mint(da, "first-pw")["token"]
        api = self.api.with_token(tok)
        self.assertOk(api.patch(V1 + "/admins/" + da, {"password": "second"}))
        self.assertError(self.anon.from_address(new_source()).post(
            V1 + "/tokens", {"username": da, "password": "first-pw"}), 401,
            "unauthorized")
        self.mint(da, "second")
        self.assertError(api.patch(V1 + "/admins/" + self.dadmin,
                                   {"password": "x"}), 403, "forbidden")
        self.assertError(api.patch(V1 + "/admins/" + da, {"active": True}),
                         403, "forbidden")

    # ---- concurrency and limits

    def test_parallel_create_one_wins(self):
        address = "race-%s@%s" % (secrets.token_hex(3), self.own)
        n = 50
        barrier = threading.Barrier(n)

        def one(_):
            barrier.wait()
            return self.api.post(V1 + "/mailboxes", {"address": address,
                                                     "password": PASSWORD})

        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            replies = list(ex.map(one, range(n)))
        statuses = sorted(r.status for r in replies)
        self.assertEqual(statuses.count(201), 1, statuses)
        self.assertEqual(statuses.count(409), n - 1, statuses)
        for r in replies:
            if r.status == 409:
                self.assertError(r, 409, "already_exists")
        self.assertOk(self.api.get(V1 + "/mailboxes/" + address))
        lst = self.assertOk(self.api.get(V1 + "/domains/%s/mailboxes?limit="
                                         "1000" % self.own))
        self.assertEqual([x["address"] for x in lst["items"]].count(address),
                         1)

    def test_domain_limits(self):
        dom = self.new_domain("lim", max_mailboxes=2)
        self.new_mailbox(dom)
        self.new_mailbox(dom)
        r = self.api.post(V1 + "/mailboxes", {"address": "third@" + dom,
                                              "password": PASSWORD})
        self.assertError(r, 422, "limit_reached")
        self.assertRegex(r.json["error"]["message"], r"max(imum|_mailboxes)")
        self.assertError(self.api.get(V1 + "/mailboxes/third@" + dom), 404)
        # Raised, it takes a third.
        self.assertOk(self.api.patch(V1 + "/domains/" + dom,
                                     {"max_mailboxes": 3}))
        self.new_mailbox(dom, "third")

        qdom = self.new_domain("quo", quota_bytes=1000000)
        a = self.new_mailbox(qdom, quota_bytes=600000)
        r = self.api.post(V1 + "/mailboxes", {
            "address": "big@" + qdom, "password": PASSWORD,
            "quota_bytes": 600000})
        self.assertError(r, 422, "limit_reached", "quota")
        self.assertError(self.api.get(V1 + "/mailboxes/big@" + qdom), 404)
        self.new_mailbox(qdom, "fits", quota_bytes=400000)
        r = self.api.patch(V1 + "/mailboxes/" + a, {"quota_bytes": 700000})
        self.assertError(r, 422, "limit_reached", "quota")
        self.assertEqual(self.assertOk(self.api.get(
            V1 + "/mailboxes/" + a))["quota_bytes"], 600000)
        # Within a quota-limited domain a mailbox cannot be unlimited.
        r = self.api.post(V1 + "/mailboxes", {"address": "nolimit@" + qdom,
                                              "password": PASSWORD})
        self.assertError(r, 422, "limit_reached", "quota")

    def test_parallel_create_within_max_mailboxes(self):
        dom = self.new_domain("plim", max_mailboxes=10)
        n = 30
        barrier = threading.Barrier(n)

        def one(i):
            barrier.wait()
            return self.api.post(V1 + "/mailboxes", {
                "address": "p%02d@%s" % (i, dom), "password": PASSWORD})

        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            replies = list(ex.map(one, range(n)))
        statuses = sorted(r.status for r in replies)
        self.assertEqual(statuses.count(201), 10, statuses)
        self.assertEqual(statuses.count(422), n - 10, statuses)
        for r in replies:
            if r.status == 422:
                self.assertError(r, 422, "limit_reached")
        lst = self.assertOk(self.api.get(V1 + "/domains/%s/mailboxes" % dom))
        self.assertEqual(lst["total"], 10)

    # ---- mail side: passwords, live changes, usage, delete

    def test_password_change_smtp(self):
        box = self.new_mailbox(self.own, password="first-pass")
        sub = self.ports["submission"]
        self.assertEqual(smtp_auth(sub, box, "first-pass"), 235)
        r = self.api.patch(V1 + "/mailboxes/" + box,
                           {"password": "second-pass"})
        self.assertOk(r)
        self.assertNoSecrets(r, "second-pass")
        self.assertEqual(smtp_auth(sub, box, "second-pass"), 235)
        self.assertEqual(smtp_auth(sub, box, "first-pass"), 535)
        # Inactive: no login.
        self.assertOk(self.api.patch(V1 + "/mailboxes/" + box,
                                     {"active": False}))
        self.assertEqual(smtp_auth(sub, box, "second-pass"), 535)

    def test_password_change_imap(self):
        box = self.new_mailbox(self.own, password="first-pass")
        imaps = self.ports["imaps"]
        self.assertTrue(imap_login(imaps, box, "first-pass"))
        self.assertOk(self.api.patch(V1 + "/mailboxes/" + box,
                                     {"password": "second-pass"}))
        self.assertTrue(imap_login(imaps, box, "second-pass"))
        self.assertFalse(imap_login(imaps, box, "first-pass"))
        self.assertOk(self.api.patch(V1 + "/mailboxes/" + box,
                                     {"active": False}))
        self.assertFalse(imap_login(imaps, box, "second-pass"))

    def test_new_mailbox_live_within_one_second(self):
        # The promise: a mailbox is live - RCPT and LOGIN accept it -
        # within 1 s of the API's 201.  The clock measures only that:
        # connections (TCP, TLS) are opened before, the RCPT is polled
        # on an open session and its first 250 stops the SMTP clock; the
        # LOGIN goes on an open IMAPS connection once SMTP accepts (both
        # read the same tables, without a cache) and must succeed at
        # once, and its clock stops when it is sent: the answer waits
        # for the Argon2id verification, which an old mailbox's login
        # pays as much (printed) and is not part of being live.  DATA,
        # the delivery and the usage are checked after, unclocked.
        address = "live-%s@%s" % (secrets.token_hex(3), self.own)
        marker = uuid.uuid4().hex
        self.assertNotEqual(self.rcpt_code(address), 250)
        # For the record: what one IMAP login costs here (TLS and an
        # Argon2id verification), for an old mailbox.
        t0 = time.monotonic()
        try:
            imap_login(self.ports["imaps"], "mine@" + self.own, PASSWORD)
        except Exception:  # reported by the assertions below
            pass
        baseline = time.monotonic() - t0

        def smtp_session():
            s = smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=15)
            s.ehlo("client.test")
            self.assertEqual(s.mail("tester@client.test")[0], 250)
            return s

        s = smtp_session()
        m = imaplib.IMAP4_SSL("127.0.0.1", self.ports["imaps"],
                              ssl_context=tls_context(), timeout=15)
        done = {}
        try:
            r = self.api.post(V1 + "/mailboxes", {"address": address,
                                                  "password": PASSWORD})
            created = time.monotonic()
            mb = self.assertOk(r, 201)
            self.assertEqual((mb["used_bytes"], mb["message_count"]),
                             (0, 0))
            # Each refused RCPT is an error of the session: a new one
            # before smtpd_soft_error_limit (10) slows its answers.
            refused = 0
            while time.monotonic() - created < 10:
                code, text = s.rcpt(address)
                if code == 250:
                    done["smtp"] = time.monotonic() - created
                    break
                refused += 1
                if refused % 8 == 0:
                    s.quit()
                    s = smtp_session()
                time.sleep(0.01)
            if "smtp" in done:
                done["imap"] = time.monotonic() - created
                try:
                    done["imap_ok"] = m.login(address, PASSWORD)[0] == "OK"
                except imaplib.IMAP4.error as e:
                    done["imap_ok"] = False
                    done["imap_no"] = str(e)
                done["imap_answer"] = time.monotonic() - created
            print("\n  %s: RCPT accepted after %.3f s (%d refused), IMAP "
                  "LOGIN sent after %.3f s, answered after %.3f s (an old "
                  "mailbox's login: %.3f s)" %
                  (self.DRIVER, done.get("smtp", -1), refused,
                   done.get("imap", -1), done.get("imap_answer", -1),
                   baseline), file=sys.stderr)
            self.assertIn("smtp", done, "RCPT never accepted: %s %s"
                          % (code, text))
            self.assertLess(done["smtp"], 1.0)
            msg = ("From: tester@client.test\r\nSubject: %s\r\n"
                   "Message-ID: <%s@client.test>\r\n\r\nHello %s\r\n"
                   % (marker, marker, marker)).encode()
            code, text = s.data(msg)
            self.assertEqual(code, 250, text)
        finally:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass
            try:
                m.logout()
            except (OSError, imaplib.IMAP4.error):
                pass
        self.wait_for_mail(address, marker)
        # Usage follows the delivery.
        deadline = time.time() + 10
        while time.time() < deadline:
            mb = self.assertOk(self.api.get(V1 + "/mailboxes/" + address))
            if mb["message_count"] == 1:
                break
            time.sleep(0.1)
        self.assertEqual(mb["message_count"], 1, mb)
        self.assertGreater(mb["used_bytes"], 100, mb)
        lst = self.assertOk(self.api.get(V1 + "/domains/%s/mailboxes?limit="
                                         "1000" % self.own))
        row = [x for x in lst["items"] if x["address"] == address][0]
        self.assertEqual((row["message_count"], row["used_bytes"]),
                         (mb["message_count"], mb["used_bytes"]))
        # IMAP last (SMTP and usage are checked even when it fails).
        self.assertTrue(done.get("imap_ok"), done)
        self.assertLess(done["imap"], 1.0)
        self.assertEqual(imap_inbox_count(self.ports["imaps"], address,
                                          PASSWORD), 1)

    def deleted_entries(self, suffix):
        return glob.glob(os.path.join(self.dir, "mail", ".deleted",
                                      "*." + suffix))

    def test_delete_mailbox_policy(self):
        dom = self.new_domain("del")
        box = self.new_mailbox(dom, "gone")
        keep = self.new_mailbox(dom, "stays")
        marker = uuid.uuid4().hex
        self.send_mail(box, marker)
        self.wait_for_mail(box, marker)
        self.assertEqual(self.api.delete(V1 + "/mailboxes/" + box).status, 204)
        self.assertEqual(self.rcpt_code(box), 550)
        self.assertEqual(smtp_auth(self.ports["submission"], box, PASSWORD),
                         535)
        self.assertFalse(os.path.exists(self.maildir(box)))
        moved = self.deleted_entries("%s.gone" % dom)
        self.assertEqual(len(moved), 1, moved)
        found = glob.glob(os.path.join(moved[0], "*", "*"))
        self.assertTrue(any(marker.encode() in open(p, "rb").read()
                            for p in found if os.path.isfile(p)), found)
        # A new mailbox of the same name starts empty.
        self.new_mailbox(dom, "gone")
        m = self.assertOk(self.api.get(V1 + "/mailboxes/" + box))
        self.assertEqual(m["message_count"], 0)
        # The domain: rows cascade, folder moved, mail refused.
        self.assertEqual(self.api.delete(V1 + "/domains/" + dom).status, 204)
        for path in ("/mailboxes/" + box, "/mailboxes/" + keep,
                     "/domains/%s/mailboxes" % dom):
            self.assertError(self.api.get(V1 + path), 404, "not_found")
        self.assertIn(self.rcpt_code(keep), (550, 554))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "mail", dom)))
        self.assertEqual(len(self.deleted_entries(dom)), 1)
        # Purge removes what was moved.
        self.postern("mailbox", "purge")
        self.assertEqual(self.deleted_entries(dom), [])
        self.assertEqual(self.deleted_entries("%s.gone" % dom), [])
        self.assertFalse(imap_login(self.ports["imaps"], box, PASSWORD))

    # ---- audit

    def test_audit(self):
        t0 = int(time.time())
        dom = "aud-%s.test" % self.tag
        src = new_source()
        self.assertOk(self.api.from_address(src).post(
            V1 + "/domains", {"name": dom}), 201)
        box = self.new_mailbox(dom, "who")
        self.assertOk(self.dapi.patch(V1 + "/mailboxes/mine@" + self.own,
                                      {"name": "audited"}))
        self.assertEqual(self.api.delete(V1 + "/mailboxes/" + box).status, 204)
        t1 = int(time.time())
        items = self.audit(object_type="domain", object=dom)["items"]
        self.assertEqual([x["action"] for x in items], ["domain.create"])
        e = items[0]
        self.assertEqual(e["client_address"], src)
        self.assertTrue(e["actor"].startswith("token:"), e)
        self.assertTrue(t0 - 1 <= e["at"] <= t1 + 1, (t0, e, t1))
        self.assertNotIn(self.root_token, json.dumps(items))
        items = self.audit(object=box)["items"]
        self.assertEqual([x["action"] for x in items],
                         ["mailbox.delete", "mailbox.create"])
        self.assertNotIn(PASSWORD, json.dumps(items))
        self.assertEqual({x["client_address"] for x in items}, {"127.0.0.1"})
        items = self.audit(actor="admin:" + self.dadmin,
                           action="mailbox.update")["items"]
        self.assertTrue(items)
        self.assertEqual({x["object_id"] for x in items}, {"mine@" + self.own})
        self.assertEqual({x["actor"] for x in items},
                         {"admin:" + self.dadmin})
        r = self.audit(action="mailbox.create", since=t0, until=t1 + 1,
                       limit=1)
        self.assertEqual(len(r["items"]), 1)
        self.assertGreaterEqual(r["total"], 1)
        r = self.audit(since=t1 + 3600)
        self.assertEqual((r["items"], r["total"]), ([], 0))
        r = self.audit(until=t0 - 3600, object=box)
        self.assertEqual(r["total"], 0)
        all_ = self.audit(limit=1000)
        self.assertGreaterEqual(all_["total"], 5)
        ats = [x["at"] for x in all_["items"]]
        self.assertEqual(ats, sorted(ats, reverse=True))
        # Token minting and revocation are changes too.
        tok = self.mint(self.dadmin, PASSWORD)
        self.assertEqual(self.api.delete(V1 + "/tokens/%d" % tok["id"]).status,
                         204)
        acts = [x["action"] for x in self.audit(object_type="token",
                                                object=str(tok["id"]))["items"]]
        self.assertEqual(acts, ["token.revoke", "token.create"])
        # The command line's changes are recorded as "cli".
        cli_dom = "clia-%s.test" % self.tag
        self.postern("domain", "add", cli_dom)
        items = self.audit(object=cli_dom)["items"]
        self.assertEqual([(x["action"], x["actor"]) for x in items],
                         [("domain.create", "cli")])
        self.assertError(self.dapi.get(V1 + "/audit"), 403, "forbidden")
        self.assertError(self.api.get(V1 + "/audit?since=yesterday"), 400,
                         "invalid_parameter")

    # ---- command line

    def test_cli_cross_checks(self):
        dom = self.new_domain("cli")
        box = self.new_mailbox(dom, "apiuser", name="Api User")
        out = self.postern("mailbox", "list", dom).stdout
        self.assertIn(box, [line.split("\t")[0] for line in out.splitlines()])
        self.assertIn(dom, [line.split("\t")[0] for line in
                            self.postern("domain", "list").stdout.splitlines()])
        self.postern("mailbox", "add", "cliuser@" + dom, "--password-stdin",
                     stdin="cli-pass\n")
        m = self.assertOk(self.api.get(V1 + "/mailboxes/cliuser@" + dom))
        self.assertEqual(m["domain"], dom)
        self.assertEqual(smtp_auth(self.ports["submission"], "cliuser@" + dom,
                                   "cli-pass"), 235)
        self.postern("alias", "add", "cli-alias@" + dom, box)
        a = self.assertOk(self.api.get(V1 + "/aliases/cli-alias@" + dom))
        self.assertEqual(a["destinations"], [box])
        self.assertOk(self.api.post(V1 + "/aliases", {
            "source": "api-alias@" + dom, "destinations": [box]}), 201)
        self.assertIn("api-alias@" + dom,
                      self.postern("alias", "list", dom).stdout)
        self.postern("mailbox", "del", box)
        self.assertError(self.api.get(V1 + "/mailboxes/" + box), 404)
        self.assertEqual(self.api.delete(V1 + "/mailboxes/cliuser@" +
                                         dom).status, 204)
        self.assertNotIn("cliuser@" + dom,
                         self.postern("mailbox", "list", dom).stdout)
        # Admins: made on the command line, they log in over the API;
        # made over the API, the command line lists them.
        cadm = "cliadm-%s" % self.tag
        self.postern("admin", "add", cadm, "--password-stdin", "--role",
                     "domain", "--domains", dom, stdin="cli-adm-pass\n")
        tok = self.mint(cadm, "cli-adm-pass")["token"]
        self.assertOk(self.api.with_token(tok).get(V1 + "/domains/" + dom))
        self.assertError(self.api.with_token(tok).get(
            V1 + "/domains/" + self.foreign), 403, "forbidden")
        out = self.postern("admin", "list").stdout
        self.assertIn(cadm, out)
        self.assertIn(self.dadmin, out)
        self.postern("admin", "del", cadm)
        self.assertError(self.api.get(V1 + "/admins/" + cadm), 404)

    # ---- OpenAPI

    def test_openapi_document(self):
        r = self.api.get(V1 + "/openapi.json")
        doc = self.assertOk(r)
        self.assertTrue(doc["openapi"].startswith("3.1."), doc["openapi"])
        with open(OPENAPI_FILE, "rb") as f:
            self.assertEqual(json.loads(r.data), json.load(f),
                             "the service serves docs/openapi.json")
        self.assertTrue(r.headers.get("content-type", "").startswith(
            "application/json"))
        self.assertError(self.anon.from_address(new_source()).get(
            V1 + "/openapi.json"), 401)

    def documented(self):
        with open(OPENAPI_FILE) as f:
            doc = json.load(f)
        routes = set()
        for path, item in doc["paths"].items():
            for method in item:
                if method in ("get", "post", "patch", "put", "delete"):
                    routes.add((method.upper(), path))
        return doc, routes

    def check_schema(self, doc, schema, value, where):
        """A small JSON Schema check (the subset docs/openapi.json
        uses): $ref, type (also lists), required, properties,
        additionalProperties false, items, enum, minimum."""
        while "$ref" in schema:
            node = doc
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node[part]
            schema = node
        types = schema.get("type")
        if types is not None:
            if isinstance(types, str):
                types = [types]
            pytypes = {"object": dict, "array": list, "string": str,
                       "boolean": bool, "null": type(None)}
            ok = False
            for t in types:
                if t in ("integer", "number"):
                    ok |= isinstance(value, int) and not isinstance(
                        value, bool)
                else:
                    ok |= isinstance(value, pytypes[t])
            self.assertTrue(ok, "%s: %r is not %s" % (where, value, types))
        if "enum" in schema:
            self.assertIn(value, schema["enum"], where)
        if "minimum" in schema and isinstance(value, int):
            self.assertGreaterEqual(value, schema["minimum"], where)
        if isinstance(value, dict):
            for key in schema.get("required", []):
                self.assertIn(key, value, "%s: %s missing" % (where, key))
            # Documented objects list every key they may have; a
            # free-form one (no properties) is not checked further.
            props = schema.get("properties")
            for key, v in value.items() if props is not None else ():
                self.assertIn(key, props, "%s: %s is not documented" % (
                    where, key))
                self.check_schema(doc, props[key], v, where + "." + key)
        if isinstance(value, list) and "items" in schema:
            for i, v in enumerate(value):
                self.check_schema(doc, schema["items"], v,
                                  "%s[%d]" % (where, i))

    def test_openapi_answers_match_schemas(self):
        """Live answers have the documented fields and types."""
        doc, _ = self.documented()
        dom = self.new_domain("sch")
        box = self.new_mailbox(dom, "s")
        self.assertOk(self.api.post(V1 + "/aliases", {
            "source": "al@" + dom, "destinations": [box]}), 201)
        self.assertOk(self.api.post(V1 + "/alias-domains", {
            "alias": "ad-" + dom, "target": dom}), 201)

        def check(method, path, status, body=None, api=None):
            r = (api or self.api).call(method, path, body)
            self.assertEqual(r.status, status, (path, r))
            spec = doc["paths"]
            for pattern, item in spec.items():
                import re
                rx = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+",
                                  re.escape(pattern)) + "$"
                if re.match(rx, path.split("?")[0]):
                    content = item[method.lower()]["responses"][str(status)]
                    while "$ref" in content:
                        content = doc["components"]["responses"][
                            content["$ref"].split("/")[-1]]
                    schema = content["content"]["application/json"]["schema"]
                    self.check_schema(doc, schema, r.json, method + " " + path)
                    return
            self.fail("%s not documented" % path)

        check("GET", V1 + "/health", 200)
        check("GET", V1 + "/domains", 200)
        check("GET", V1 + "/domains/" + dom, 200)
        check("GET", V1 + "/domains/%s/mailboxes" % dom, 200)
        check("GET", V1 + "/domains/%s/aliases" % dom, 200)
        check("GET", V1 + "/mailboxes/" + box, 200)
        check("PATCH", V1 + "/mailboxes/" + box, 200, {"name": "S"})
        check("GET", V1 + "/aliases/al@" + dom, 200)
        check("GET", V1 + "/alias-domains", 200)
        check("GET", V1 + "/alias-domains/ad-" + dom, 200)
        check("GET", V1 + "/admins", 200)
        check("GET", V1 + "/admins/" + self.dadmin, 200)
        check("GET", V1 + "/tokens", 200)
        check("GET", V1 + "/audit", 200)
        check("POST", V1 + "/domains", 201, {"name": "n-" + dom})
        check("POST", V1 + "/mailboxes", 201, {"address": "n@" + dom,
                                               "password": "p"})
        check("POST", V1 + "/tokens", 201, {"username": self.dadmin,
                                            "password": PASSWORD})
        check("POST", V1 + "/domains", 422, {"name": 1})
        check("POST", V1 + "/domains", 409, {"name": dom})
        check("GET", V1 + "/domains/nothere.test", 404)
        check("GET", V1 + "/domains/" + self.foreign, 403, api=self.dapi)

    def test_openapi_matches_route_table(self):
        _, routes = self.documented()
        exe = os.path.join(BUILD, "postern-admin-api")
        import subprocess
        p = subprocess.run([exe, "--routes"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        import re

        def norm(path):
            return re.sub(r"\{[^}]*\}", "{}", path)
        live = set()
        for line in p.stdout.splitlines():
            if line.strip():
                method, path = line.split()
                live.add((method, norm(path)))
        self.assertEqual(live, {(m, norm(path)) for m, path in routes})

    def test_openapi_routes_live(self):
        """Every documented method+path is served (not an unknown route,
        not 405), and no other method on those paths is."""
        doc, routes = self.documented()
        dom = self.new_domain("oa")
        box = self.new_mailbox(dom, "probe")
        adm = "oa-%s" % self.tag
        not_found_route = self.api.get(V1 + "/no-such-route")
        self.assertError(not_found_route, 404)

        def fresh():
            """Objects a probe may change or delete."""
            ad = "oad-%s.test" % secrets.token_hex(4)
            self.assertOk(self.api.post(V1 + "/alias-domains", {
                "alias": ad, "target": dom}), 201)
            src = "al-%s@%s" % (secrets.token_hex(3), dom)
            self.assertOk(self.api.post(V1 + "/aliases", {
                "source": src, "destinations": [box]}), 201)
            mb = self.new_mailbox(dom)
            un = "oa-%s" % secrets.token_hex(4)
            self.assertOk(self.api.post(V1 + "/admins", {
                "username": un, "password": "p", "role": "domain",
                "domains": [dom]}), 201)
            tok = self.mint(un, "p")
            d2 = self.new_domain("oa2")
            return {"name": d2, "address": mb, "source": src, "alias": ad,
                    "username": un, "id": str(tok["id"])}
        placeholders = {}

        def fill(path, values):
            import re

            def one(m):
                key = m.group(1)
                if key not in values:
                    self.fail("no value for {%s} in %s" % (key, path))
                return q(values[key])
            return re.sub(r"\{([^}]*)\}", one, path)

        self.assertOk(self.api.post(V1 + "/admins", {
            "username": adm, "password": "p", "role": "domain",
            "domains": [dom]}), 201)
        seen = 0
        for method, path in sorted(routes):
            values = fresh() if "{" in path else placeholders
            url = fill(path, values)
            body = {} if method in ("POST", "PATCH") else None
            token = None if (method, path) == ("POST", "/api/v1/tokens") \
                else self.root_token
            r = self.api.call(method, url, body, token=token)
            self.assertNotEqual(r.status, 405, (method, url, r))
            if r.status == 404:
                self.assertNotEqual(r.json, not_found_route.json,
                                    (method, url, "unknown route"))
            if method == "GET":
                self.assertEqual(r.status, 200, (method, url, r))
            elif method == "DELETE":
                self.assertEqual(r.status, 204, (method, url, r))
            elif method == "POST":
                self.assertEqual(r.status, 422, (method, url, r))
            seen += 1
        self.assertGreaterEqual(seen, 25)
        # Other methods on documented paths: 405.
        for path, item in doc["paths"].items():
            url = fill(path, {"name": dom, "address": box,
                              "source": "x@" + dom, "alias": "x.test",
                              "username": adm, "id": "1"})
            for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
                if method.lower() in item:
                    continue
                r = self.api.call(method, url, {} if method in
                                  ("POST", "PATCH", "PUT") else None)
                self.assertError(r, 405, "method_not_allowed")
        # Paths that are not documented are not served.
        for path in ("/api/v1/domains/%s/admins" % dom, "/api/v1/users",
                     "/api/v1/mailboxes/%s/password" % box,
                     "/api/v1/domains/%s/mailboxes/%s" % (dom, box),
                     "/api/v1/tokens/1/extra", "/api/v1/audit/1",
                     "/api/v1/health/x", "/api/v1", "/api"):
            r = self.api.get(path)
            self.assertError(r, 404, "not_found")


class AdminApiHttpsTest(SiteTestCase):
    """admin_api_tls = yes: HTTPS with the site's certificate, verified
    against tls/cert.pem (curl --cacert and Python's ssl), and no plain
    HTTP on that port."""

    @classmethod
    def set_up_site(cls):
        if not os.access(POSTERN, os.X_OK):
            raise unittest.SkipTest("no %s (set POSTERN_BUILD_DIR)" % POSTERN)
        cls.tmp = tempfile.TemporaryDirectory(prefix="postern-api-tls.")
        cls.dir = cls.tmp.name
        run_postern(cls.dir, "init")
        cls.port, = free_ports(1)
        run_postern(cls.dir, "config", "set", "admin_api_port=%d" % cls.port,
                    "admin_api_tls=yes", "stop_timeout=5s")
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write("admin-api inet $admin_api_interfaces:$admin_api_port "
                    "none 1 postern-admin-api\n")
        with open(os.path.join(cls.dir, "admin-token")) as f:
            cls.token = f.read().strip()
        run_postern(cls.dir, "start")
        cls.started = True
        cls.cert = os.path.join(cls.dir, "tls", "cert.pem")

    def test_https_python(self):
        api = Api(self.port, self.token, https=True, cafile=self.cert)
        r = api.get(V1 + "/health")
        self.assertEqual((r.status, r.json), (200, {"status": "ok"}))
        r = api.post(V1 + "/domains", {"name": "tls-%s.test" %
                                       secrets.token_hex(3)})
        self.assertEqual(r.status, 201, r)
        r = api.get(V1 + "/domains")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["total"], 1)
        r = api.with_token(None).get(V1 + "/domains")
        self.assertEqual(r.status, 401, r)

    def test_https_curl(self):
        import subprocess
        url = "https://127.0.0.1:%d/api/v1/domains" % self.port
        # The certificate of postern init names 127.0.0.1: --cacert
        # verifies it fully.
        for verify in (["--cacert", self.cert], ["-k"]):
            p = subprocess.run(
                ["curl", "-sS", "--noproxy", "*", "-w", "\n%{http_code}",
                 "-H", "Authorization: Bearer " + self.token] + verify +
                [url], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            body, code = p.stdout.rsplit("\n", 1)
            self.assertEqual(code, "200", p.stdout)
            self.assertIn("items", json.loads(body))

    def test_plain_http_refused(self):
        r = Api(self.port, self.token).get
        try:
            reply = r(V1 + "/health")
        except (ConnectionError, OSError, http_client_errors()):
            return
        self.assertNotEqual(reply.status, 200, reply)


def http_client_errors():
    import http.client
    return http.client.HTTPException


class AdminApiDatabaseDownTest(SiteTestCase):
    """The SQL server is unreachable: 503 temporary_failure, never 401
    (a good token must not look bad) nor 404."""

    @classmethod
    def set_up_site(cls):
        cls.start_db_down_site(
            "postern-api-db.", "admin_api_port",
            "admin-api inet $admin_api_interfaces:$admin_api_port none 1 "
            "postern-admin-api")
        with open(os.path.join(cls.dir, "admin-token")) as f:
            cls.token = f.read().strip()

    def test_503(self):
        api = Api(self.port, self.token)
        self.assertEqual(api.with_token(None).get(V1 + "/health").status, 200)
        for method, path, body in (
                ("GET", "/domains", None),
                ("GET", "/mailboxes/a@example.test", None),
                ("POST", "/domains", {"name": "x.test"})):
            r = api.call(method, V1 + path, body)
            self.assertEqual(r.status, 503, (path, r))
            self.assertEqual(set(r.json), {"error"})
            self.assertEqual(r.json["error"]["code"], "temporary_failure")
        r = api.with_token(None).post(V1 + "/tokens", {"username": "a",
                                                       "password": "b"})
        self.assertEqual(r.status, 503, r)


class AdminApiSqliteTest(AdminApiTests, AdminApiBase):
    DRIVER = "sqlite"


class AdminApiPgsqlTest(AdminApiTests, AdminApiBase):
    DRIVER = "pgsql"


class AdminApiMysqlTest(AdminApiTests, AdminApiBase):
    DRIVER = "mysql"


if __name__ == "__main__":
    unittest.main(verbosity=2)
