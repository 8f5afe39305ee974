"""Helpers for the admin API tests (a module, not a test: run-all.sh runs
only the executable test_* files).

Api is a small client for the JSON API over Python's http.client: one
connection per call (so calls from threads need no locking), an optional
loopback source address (127.0.0.2, 127.0.0.3...: the service rate-limits
failed authentication per client address and records the address in the
audit log, and every 127/8 address reaches a listener on 127.0.0.1),
plain HTTP or HTTPS.  Mail helpers log in over SMTP AUTH and IMAP.
"""
import http.client
import imaplib
import json
import smtplib
import socket
import ssl

from postern_site import tls_context

DEFAULT = object()


class Reply:
    """One answer: status, headers (lower-case names), raw text and the
    decoded JSON (None when the body is not JSON)."""

    def __init__(self, status, headers, data):
        self.status = status
        self.headers = headers
        self.data = data
        self.text = data.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.text) if data else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.text[:400])


class Api:
    def __init__(self, port, token=None, source=None, https=False,
                 cafile=None, host="127.0.0.1"):
        self.host = host  # another address: test_cluster.py's namespaces
        self.port = port
        self.token = token
        self.source = source
        self.https = https
        self.cafile = cafile

    def with_token(self, token):
        return Api(self.port, token, self.source, self.https, self.cafile,
                   self.host)

    def from_address(self, source):
        return Api(self.port, self.token, source, self.https, self.cafile,
                   self.host)

    def connection(self, timeout=60):
        src = (self.source, 0) if self.source else None
        if self.https:
            if self.cafile:
                ctx = ssl.create_default_context(cafile=self.cafile)
            else:
                ctx = tls_context()
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout,
                source_address=src, context=ctx)
        return http.client.HTTPConnection(self.host, self.port,
                                          timeout=timeout,
                                          source_address=src)

    def call(self, method, path, body=None, token=DEFAULT, raw=None,
             headers=None):
        """body: an object sent as JSON; raw: bytes sent as they are."""
        hdrs = {}
        tok = self.token if token is DEFAULT else token
        if tok is not None:
            hdrs["Authorization"] = "Bearer " + tok
        data = None
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        conn = self.connection()
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()},
                         r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def raw_request(self, data, timeout=30):
        """Send bytes as they are on a new connection; the answer's
        status and body, read until the server closes (it may close
        before reading everything: a reset after the answer is fine)."""
        s = socket.create_connection(
            ("127.0.0.1", self.port), timeout=timeout,
            source_address=(self.source, 0) if self.source else None)
        got = b""
        try:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                got += chunk
                head, sep, rest = got.partition(b"\r\n\r\n")
                if sep:
                    length = None
                    for line in head.split(b"\r\n")[1:]:
                        k, _, v = line.partition(b":")
                        if k.strip().lower() == b"content-length":
                            length = int(v)
                    if length is not None and len(rest) >= length:
                        break
        finally:
            s.close()
        head, _, body = got.partition(b"\r\n\r\n")
        if not head:
            return Reply(0, {}, b"")
        status = int(head.split(b" ")[1])
        return Reply(status, {}, body)


def smtp_auth(port, user, password):
    """The reply code of AUTH PLAIN after STARTTLS on submission."""
    s = smtplib.SMTP("127.0.0.1", port, timeout=15)
    try:
        s.ehlo("client.test")
        s.starttls(context=tls_context())
        s.ehlo("client.test")
        s.user, s.password = user, password
        try:
            code, _ = s.auth("PLAIN", s.auth_plain)
        except smtplib.SMTPAuthenticationError as e:
            code = e.smtp_code
        return code
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass


def imap_login(port, user, password):
    """True when LOGIN over IMAPS (implicit TLS) succeeds, False when the
    server says NO; connection problems raise."""
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=tls_context(),
                          timeout=15)
    try:
        try:
            typ, _ = m.login(user, password)
        except imaplib.IMAP4.error:
            return False
        ok = typ == "OK"
        if ok:
            m.logout()
        return ok
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def imap_inbox_count(port, user, password):
    """Messages in INBOX, over IMAPS."""
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=tls_context(),
                          timeout=15)
    try:
        m.login(user, password)
        typ, data = m.select("INBOX", readonly=True)
        if typ != "OK":
            raise AssertionError("SELECT INBOX: %r" % data)
        n = int(data[0])
        m.logout()
        return n
    finally:
        try:
            m.shutdown()
        except OSError:
            pass
