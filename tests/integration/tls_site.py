"""Helpers the mail-out TLS tests share (test_outbound_tls.py,
test_mta_sts.py; a module, not a test).

make_pki() makes a test PKI with the openssl command: CAs and server
certificates with their chains, for server_ctx(), the TLS context of a
postern_site.SmtpReceiver.  OutboundSite is a SiteTestCase whose
postern-queued delivers to such receivers: the settings and services
that set-up needs, and send/delivered/deferred for the tests.
"""
import hashlib
import http.server
import os
import re
import ssl
import subprocess
import threading

from postern_site import SiteTestCase, wait_for
from test_queue import message, submit

# queued and lmtpd only: mail comes in over the queue socket (submit()).
OUT_SERVICES = """\
queue     unix $queue_socket none 1 postern-queued
lmtp-unix unix $lmtp_socket  none 1 postern-lmtpd
"""

# What the receivers announce: PIPELINING, no DSN nor SMTPUTF8.
RECEIVER_EXT = (b"8BITMIME", b"SIZE 10485760", b"PIPELINING")


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True, timeout=60)


def _is_ip(name):
    import ipaddress
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def make_pki(d, cas, certs, label="test"):
    """In folder d: a self-signed P-256 CA NAME.pem/.key for each name of
    cas (CN "Postern <label> NAME"); for each (srv, ca, names) of certs a
    certificate srv.pem/.key of ca for the DNS names (CN the first; a
    name that is an IP address becomes an IP subjectAltName), and
    srv-chain.pem, the certificate then its CA."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for ca in cas:
        openssl("req", "-x509", *ec, "-keyout", ca + ".key", "-out",
                ca + ".pem", "-days", "2", "-subj",
                "/CN=Postern %s %s" % (label, ca), cwd=d)
    for srv, ca, names in certs:
        with open(os.path.join(d, srv + ".ext"), "w") as f:
            f.write("subjectAltName=%s\n" % ",".join(
                ("IP:" if _is_ip(n) else "DNS:") + n for n in names))
        openssl("req", *ec, "-keyout", srv + ".key", "-out", srv + ".csr",
                "-subj", "/CN=" + names[0], cwd=d)
        openssl("x509", "-req", "-in", srv + ".csr", "-CA", ca + ".pem",
                "-CAkey", ca + ".key", "-CAcreateserial", "-days", "2",
                "-extfile", srv + ".ext", "-out", srv + ".pem", cwd=d)
        with open(os.path.join(d, srv + ".pem")) as a, \
                open(os.path.join(d, ca + ".pem")) as b, \
                open(os.path.join(d, srv + "-chain.pem"), "w") as out:
            out.write(a.read() + b.read())


def spki_sha256(d, name):
    """SHA-256 (hex) of the public key of certificate NAME.pem in d: the
    data of a TLSA "3 1 1" record."""
    spki = subprocess.run(
        "openssl x509 -in %s.pem -pubkey -noout | "
        "openssl pkey -pubin -outform DER" % name, shell=True, cwd=d,
        check=True, capture_output=True).stdout
    return hashlib.sha256(spki).hexdigest()


def cert_sha256(d, name):
    """SHA-256 (hex) of certificate NAME.pem in d (TLSA "2 0 1" data)."""
    der = subprocess.run(["openssl", "x509", "-in", name + ".pem",
                          "-outform", "DER"], cwd=d, check=True,
                         capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def client_ctx(d, ca="ca", cert=None):
    """A client context of the PKI in d trusting only CA ca, presenting
    certificate cert (cert.pem, cert.key) unless it is None."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(d, ca + ".pem"))
    if cert is not None:
        ctx.load_cert_chain(os.path.join(d, cert + ".pem"),
                            os.path.join(d, cert + ".key"))
    return ctx


def server_ctx(d, srv):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, srv + "-chain.pem"),
                        os.path.join(d, srv + ".key"))
    return ctx


class HttpsServer:
    """A threaded HTTPS server on (host, 443) answering with HANDLER (an
    http.server.BaseHTTPRequestHandler class) under the server context
    CTX; stop() ends it.  The MTA-STS policy server and the TLSRPT report
    receiver of the tests are this with their own handler."""

    def __init__(self, host, ctx, handler):
        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server((host, 443), handler)
        self.server.socket = ctx.wrap_socket(self.server.socket,
                                             server_side=True)
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class OutboundSite(SiteTestCase):
    """A site that sends to receivers on cls.port; set_up_site calls
    make_site, picks cls.port, then passes outbound_settings() to
    `postern config set` and calls write_services()."""

    # Attribute names of the receivers (and servers with stop()) that
    # tearDownClass stops; cls.dns, a DnsServer, is stopped too.
    SERVERS = ()

    @classmethod
    def outbound_settings(cls, lmtp_port):
        """Short timers, the SMTP client to cls.port."""
        return ["log_target=file", "stop_timeout=5s",
                "myhostname=mx.local.example", "lmtp_port=%d" % lmtp_port,
                "queue_run_delay=1s", "minimal_backoff_time=1s",
                "maximal_backoff_time=2s", "smtp_tcp_port=%d" % cls.port,
                "smtp_connect_timeout=5s"]

    @classmethod
    def write_services(cls):
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(OUT_SERVICES)
        cls.qsock = os.path.join(cls.dir, "run", "queue.sock")

    @classmethod
    def setUpClass(cls):
        try:
            super().setUpClass()
        except BaseException:
            # unittest skips tearDownClass after a failed set-up: the
            # servers made so far must go all the same, or their fixed
            # addresses (port 443) refuse the next class of the file.
            cls.stop_servers()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.stop_servers()

    @classmethod
    def stop_servers(cls):
        for s in cls.SERVERS:
            if hasattr(cls, s):
                getattr(cls, s).stop()
        if hasattr(cls, "dns"):
            cls.dns.stop()

    def send(self, rcpts, subject):
        data = message(subject)
        t, qid = submit(self.qsock, "sender@local.example", rcpts, data)
        self.assertEqual(t, "O", qid)
        return qid, data

    def delivered(self, server, rcpt):
        return wait_for(lambda: server.got(rcpt),
                        what="delivery to %s\n%s" % (rcpt, self.log()[-3000:]))

    def deferred(self, qid, rcpt, dsn, text):
        return self.wait_log(r"%s: to=<%s>, .*dsn=%s, status=deferred "
                             r"\(.*%s" % (qid, re.escape(rcpt),
                                          re.escape(dsn), text))
