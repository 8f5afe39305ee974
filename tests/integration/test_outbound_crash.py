#!/usr/bin/env python3
"""Crash safety of mail out (issue 7): kill -9 of postern-queued and
postern-smtpd while 2,000 messages go out over SMTP.

One site (`postern init`, services smtp x2 and queue) takes messages over
SMTP from 8 client threads (relay from 127.0.0.1 is $mynetworks); each
message has a unique Message-ID and one to three recipients in the
domains d0..d9.example, which transport_maps sends to four receiving
servers (postern_site.SmtpReceiver) on 127.0.0.41-44.  While mail flows
in and out, postern-queued is killed with SIGKILL $OUTCRASH_KILLS times
(default 6) at random moments, and postern-smtpd every other time; the
master restarts them.  A client retries a message until it gets a 250.

At the end every (Message-ID, recipient) that got a 250 must have reached
its receiver at least once, and the queue must be empty.  Duplicates
(delivered, but the kill came before the queue recorded it) are allowed:
they are counted and printed, as are deliveries of messages whose 250 the
client never saw.  $OUTCRASH_MESSAGES (default 2000) and $OUTCRASH_SEED
change the load.
"""
import os
import random
import re
import signal
import smtplib
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (SiteTestCase, SmtpReceiver,  # noqa: E402
                          free_ports, run_postern, wait_for)

HOSTS = ["127.0.0.41", "127.0.0.42", "127.0.0.43", "127.0.0.44"]
DOMAINS = ["d%d.example" % i for i in range(10)]
MESSAGES = int(os.environ.get("OUTCRASH_MESSAGES", "2000"))
KILLS = int(os.environ.get("OUTCRASH_KILLS", "6"))
CLIENTS = 8
SERVICES = """\
smtp  inet $inet_interfaces:$smtp_port none 2 postern-smtpd
queue unix $queue_socket               none 1 postern-queued
"""
MSGID_RE = re.compile(rb"^Message-ID: <([^>]+)>\r?$", re.M | re.I)


class OutboundCrash(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-outcrash.")
        sink_port = free_ports(1)[0]
        cls.receivers = [SmtpReceiver(h, sink_port) for h in HOSTS]
        transport = "inline:{ %s }" % ", ".join(
            "%s=smtp:[%s]:%d" % (d, HOSTS[i % len(HOSTS)], sink_port)
            for i, d in enumerate(DOMAINS))
        run_postern(cls.dir, "config", "set", *cls.pick_ports(),
                    "log_target=file", "stop_timeout=5s",
                    "restart_backoff_max=1s", "myhostname=mx.crash.example",
                    "minimal_backoff_time=1s", "maximal_backoff_time=2s",
                    "queue_run_delay=1s",
                    "smtpd_client_connection_count_limit=0",
                    "transport_maps=" + transport)
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        run_postern(cls.dir, "start")
        cls.started = True
        wait_for(lambda: cls.pid("queue") and cls.pid("smtp"),
                 what="services up")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for r in getattr(cls, "receivers", []):
            r.stop()

    @classmethod
    def pid(cls, service):
        p = run_postern(cls.dir, "status", check=False)
        for line in p.stdout.splitlines():
            f = line.split()
            if len(f) > 3 and f[0] == service and f[1] == "running" and \
                    re.match(r"^[0-9,]+$", f[3]):
                return [int(x) for x in f[3].split(",")]
        return None

    def received(self):
        """{(message-id, rcpt): times received}."""
        got = {}
        for r in self.receivers:
            with r.lock:
                msgs = list(r.messages)
            for m in msgs:
                mid = MSGID_RE.search(m["data"])
                key = mid.group(1).decode() if mid else "?"
                for rcpt in m["rcpts"]:
                    got[(key, rcpt)] = got.get((key, rcpt), 0) + 1
        return got

    def client(self, serials, rng, accepted, lost, lock):
        port = self.ports["smtp"]
        conn = None
        for serial in serials:
            rcpts = ["r%d@%s" % (serial % 7, d)
                     for d in rng.sample(DOMAINS, 1 + serial % 3)]
            mid = "crash.%d@client.example" % serial
            msg = ("From: <s@client.example>\r\nTo: <%s>\r\n"
                   "Subject: crash %d\r\nMessage-ID: <%s>\r\n\r\n"
                   "serial %d\r\n%s" % (rcpts[0], serial, mid, serial,
                                        "x" * (serial % 900) + "\r\n"))
            deadline = time.time() + 60
            todo = list(rcpts)
            while todo:
                try:
                    if conn is None:
                        conn = smtplib.SMTP("127.0.0.1", port, timeout=15)
                    # Some recipients may get a 4xx (queue restarting):
                    # only the others are accepted; send again to those.
                    refused = conn.sendmail("s@client.example", todo, msg)
                    with lock:
                        for r in todo:
                            if r not in refused:
                                accepted.add((mid, r))
                    todo = [r for r in todo if r in refused]
                    if todo:
                        raise smtplib.SMTPException("refused %r" % refused)
                except (OSError, smtplib.SMTPException):
                    # A killed smtpd or queue: the message may or may not
                    # be queued; try again with the same Message-ID.
                    with lock:
                        lost.add(mid)
                    try:
                        conn.close()
                    except Exception:
                        pass
                    conn = None
                    if time.time() > deadline:
                        raise
                    time.sleep(0.2)
            with lock:
                lost.discard(mid)
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                pass

    def killer(self, rng, done, kills):
        # Wait for mail to flow out before the first kill.
        wait_for(lambda: any(r.messages for r in self.receivers) or
                 done.is_set(), timeout=30, what="first delivery")
        for i in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            q = wait_for(lambda: self.pid("queue"), timeout=30,
                         what="queued running")
            os.kill(q[0], signal.SIGKILL)
            kills.append("queue")
            if i % 2 == 0:
                s = self.pid("smtp")
                if s:
                    os.kill(rng.choice(s), signal.SIGKILL)
                    kills.append("smtp")
            wait_for(lambda: (self.pid("queue") or q)[0] != q[0],
                     timeout=30, what="queued restart")

    def test_kill_during_delivery(self):
        seed = int(os.environ.get("OUTCRASH_SEED", str(int(time.time()))))
        print("\nOUTCRASH_SEED=%d" % seed, file=sys.stderr)
        rng = random.Random(seed)
        accepted, lost, lock = set(), set(), threading.Lock()
        start = time.time()
        threads = []
        for c in range(CLIENTS):
            serials = list(range(c, MESSAGES, CLIENTS))
            t = threading.Thread(target=self.client, args=(
                serials, random.Random(seed + c), accepted, lost, lock))
            t.start()
            threads.append(t)
        done, kills = threading.Event(), []
        k = threading.Thread(target=self.killer, args=(rng, done, kills))
        k.start()
        for t in threads:
            t.join()
        done.set()
        k.join()
        submitted = time.time() - start

        def all_in():
            got = self.received()
            return all(key in got for key in accepted)
        wait_for(all_in, timeout=60, what="every accepted message delivered"
                 "\n" + self.log()[-3000:])
        wait_for(lambda: "Mail queue is empty" in run_postern(
            self.dir, "queue", "list", check=False).stdout, timeout=30,
            what="an empty queue")
        got = self.received()
        missing = [key for key in accepted if key not in got]
        dups = sum(n - 1 for n in got.values() if n > 1)
        extra = [key for key in got if key not in accepted]
        print("outbound crash: %d messages, %d (message, rcpt) accepted, "
              "kills %s, %d delivered, %d duplicates, %d deliveries of "
              "messages without a 250 seen, %.1f s to submit, %.1f s in all"
              % (MESSAGES, len(accepted), ",".join(kills),
                 sum(got.values()), dups, len(extra), submitted,
                 time.time() - start), file=sys.stderr)
        if extra:
            print("delivered without a 250: %s" % sorted(extra)[:10],
                  file=sys.stderr)
        self.assertEqual(kills.count("queue"), KILLS)
        self.assertEqual(missing, [])
        self.assertEqual(len({mid for mid, _ in accepted}), MESSAGES)
        # Duplicates are possible but must stay the exception: at most
        # the deliveries in flight at each kill.
        self.assertLessEqual(dups, KILLS * 2 * 20 * 3)


if __name__ == "__main__":
    unittest.main()
