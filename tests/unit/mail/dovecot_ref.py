#!/usr/bin/env python3
"""Regenerate the Dovecot reference answers of tests/unit/mail/data/.

For each NAME.eml given, run a throw-away Dovecot 2.3 (doveadm, no
network: doveadm talks to its auth service over a UNIX socket in a temp
dir) on a one-message Maildir and write NAME.body, NAME.bodystructure,
NAME.envelope (doveadm prints it without the outer parentheses) and
NAME.preview.  Needs root (the userdb runs as the dovecot user).

    tests/unit/mail/dovecot_ref.py tests/unit/mail/data/*.eml
"""
import grp
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

FIELDS = ["body", "bodystructure", "envelope", "preview"]
KEYS = [b"imap.body=", b" imap.bodystructure=", b" imap.envelope=",
        b" body.preview="]


def main():
    top = tempfile.mkdtemp(prefix="dovecot-ref-")
    os.chmod(top, 0o755)  # the mail user must reach the Maildir
    uid = pwd.getpwnam("dovecot").pw_uid
    gid = grp.getgrnam("dovecot").gr_gid
    conf = os.path.join(top, "dovecot.conf")
    for d in ("run", "state", "home"):
        os.makedirs(os.path.join(top, d))
    with open(conf, "w") as f:
        f.write(f"""base_dir = {top}/run
state_dir = {top}/state
log_path = {top}/log
protocols =
ssl = no
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{top}/Maildir
passdb {{
  driver = static
  args = password=x
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={top}/home
}}
""")
    os.chown(os.path.join(top, "home"), uid, gid)
    subprocess.run(["dovecot", "-c", conf], check=True)
    time.sleep(1)
    try:
        for path in sys.argv[1:]:
            md = os.path.join(top, "Maildir")
            shutil.rmtree(md, ignore_errors=True)
            for s in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(md, s))
            shutil.copy(path, os.path.join(md, "cur", "1.x:2,"))
            subprocess.run(["chown", "-R", f"{uid}:{gid}", md], check=True)
            out = subprocess.run(
                ["doveadm", "-f", "flow", "-c", conf, "fetch", "-u", "test",
                 "imap.body imap.bodystructure imap.envelope body.preview",
                 "all"], capture_output=True, check=True).stdout
            if not out:
                raise SystemExit("doveadm printed nothing")
            idx = [out.index(k) for k in KEYS]
            base = path[:-4]
            for i, name in enumerate(FIELDS):
                end = idx[i + 1] if i + 1 < len(KEYS) else len(out)
                val = out[idx[i] + len(KEYS[i]):end]
                if name == "preview" and val.endswith(b"\n"):
                    val = val[:-1]
                with open(f"{base}.{name}", "wb") as f:
                    f.write(val)
    finally:
        subprocess.run(["doveadm", "-c", conf, "stop"])
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
