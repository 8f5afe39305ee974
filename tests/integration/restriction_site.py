"""Helpers the smtpd restriction tests share (a module, not a test):
test_smtpd_restrictions.py, test_restrictions_dns.py and
test_restriction_matrix.py run postern-smtpd with a recipient list that
dispatches on the address extension (alice+NAME@DOM) to a restriction
class.

SETTINGS: the `config set` arguments they start from (127.0.0.7 is
mynetworks; no error limit or sleep gets in the way of many commands).
RcptChecks: a mixin for a SiteTestCase whose class sets DOM, SENDER and
HELO (the defaults of rcpt) and cls.port.
"""
from postern_site import SmtpSession

SETTINGS = [
    "mynetworks=127.0.0.7/32",
    "myhostname=mx.test",
    "stop_timeout=5s",
    "smtpd_soft_error_limit=1000",
    "smtpd_hard_error_limit=1000",
    "smtpd_error_sleep_time=0",
]


class RcptChecks:
    def rcpt(self, rcpt, sender=None, helo=None, client="127.0.0.1",
             port=None, mail_params=""):
        """The reply to RCPT TO:<rcpt> (MAIL must pass; mail_params
        follow its path, e.g. " SMTPUTF8")."""
        c = SmtpSession(port or self.port, client, timeout=20)
        try:
            self.assertTrue(c.greeting.startswith("220"), c.greeting)
            r = c.cmd("EHLO " + (self.HELO if helo is None else helo))
            self.assertTrue(r.startswith("250"))
            r = c.cmd("MAIL FROM:<%s>%s"
                      % (self.SENDER if sender is None else sender,
                         mail_params))
            self.assertTrue(r.startswith("250"), r)
            return c.cmd("RCPT TO:<%s>" % rcpt)
        finally:
            c.close()

    def address(self, to):
        """to as it is when an address, else alice+to@DOM."""
        return to if "@" in to else "alice+%s@%s" % (to, self.DOM)

    def ok(self, to, **kw):
        r = self.rcpt(self.address(to), **kw)
        self.assertTrue(r.startswith("250 "), r)

    def refused(self, to, want, **kw):
        self.assertEqual(self.rcpt(self.address(to), **kw), want)
