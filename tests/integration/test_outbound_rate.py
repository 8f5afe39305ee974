#!/usr/bin/env python3
"""Rate politeness (docs/outbound.md "Scheduling"): Postfix's
default_destination_rate_delay and <transport>_destination_rate_delay in
postern-queued's qmgr.c, against receivers (postern_site.SmtpReceiver)
that record when each message arrived.

With smtp_destination_rate_delay = 1s (through
default_destination_rate_delay) and lmtp_destination_rate_delay = 0:
  - 20 messages to rate.example arrive one at a time, at least 1 s apart;
  - meanwhile 4 messages to other.example (another SMTP destination,
    also spaced) are not held behind them: done long before;
  - 20 messages to fast.example over LMTP (rate delay 0) all arrive
    within a couple of seconds, never one connection at a time only.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (SiteTestCase, SmtpReceiver, free_ports,  # noqa
                          run_postern, wait_for)
from test_queue import message, submit  # noqa: E402

RATE = "127.0.0.71"
OTHER = "127.0.0.72"
FAST = "127.0.0.73"

SERVICES = "queue unix $queue_socket none 1 postern-queued\n"


class RateDelay(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-outrate.")
        p = cls.port = free_ports(1)[0]
        cls.receivers = {"rate": SmtpReceiver(RATE, p),
                         "other": SmtpReceiver(OTHER, p),
                         "fast": SmtpReceiver(FAST, p, lmtp=True)}
        transport = ("inline:{ rate.example=smtp:[%s]:%d, "
                     "other.example=smtp:[%s]:%d, "
                     "fast.example=lmtp:%s:%d }" % (RATE, p, OTHER, p,
                                                    FAST, p))
        run_postern(cls.dir, "config", "set", "log_target=file",
                    "stop_timeout=5s", "myhostname=mx.local.example",
                    "queue_run_delay=1s", "smtp_connect_timeout=5s",
                    "default_destination_rate_delay=1s",
                    "lmtp_destination_rate_delay=0s",
                    "transport_maps=" + transport)
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        run_postern(cls.dir, "start")
        cls.started = True
        cls.qsock = os.path.join(cls.dir, "run", "queue.sock")
        wait_for(lambda: os.path.exists(cls.qsock), what="queue socket")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for r in getattr(cls, "receivers", {}).values():
            r.stop()

    def send(self, rcpt, subject):
        t, qid = submit(self.qsock, "s@local.example", [rcpt],
                        message(subject))
        self.assertEqual(t, "O", qid)

    def test_rate_delay(self):
        rate, other, fast = (self.receivers[k]
                             for k in ("rate", "other", "fast"))
        start = time.monotonic()
        for i in range(20):
            self.send("r%d@rate.example" % i, "rate %d" % i)
        for i in range(4):
            self.send("o%d@other.example" % i, "other %d" % i)
        for i in range(20):
            self.send("f%d@fast.example" % i, "fast %d" % i)
        # LMTP has no delay: all 20 soon (the rate destination has sent
        # two or three by then).
        wait_for(lambda: len(fast.messages) == 20, timeout=10,
                 what="20 LMTP deliveries\n" + self.log()[-2000:])
        fast_done = time.monotonic() - start
        # The other SMTP destination is spaced too, but on its own:
        # 4 messages in about 3 s, not after rate.example's 19 s.
        wait_for(lambda: len(other.messages) == 4, timeout=15,
                 what="4 deliveries to other.example")
        other_done = time.monotonic() - start
        wait_for(lambda: len(rate.messages) == 20, timeout=60,
                 what="20 deliveries to rate.example\n" +
                 self.log()[-2000:])
        rate_done = time.monotonic() - start
        times = sorted(m["time"] for m in rate.messages)
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertGreaterEqual(min(gaps), 0.95, gaps)
        self.assertGreaterEqual(rate_done, 19)
        self.assertEqual(rate.max_active, 1)
        ot = sorted(m["time"] for m in other.messages)
        self.assertGreaterEqual(min(b - a for a, b in zip(ot, ot[1:])),
                                0.95, ot)
        self.assertLess(other_done, 8, (other_done, rate_done))
        self.assertLess(fast_done, 5, (fast_done, rate_done))


if __name__ == "__main__":
    unittest.main(verbosity=2)
