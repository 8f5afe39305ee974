#!/usr/bin/env python3
"""The `postern` command end to end: init, config (postconf), provisioning
and SQL map queries on SQLite, PostgreSQL and MariaDB in turn.

Needs the programs in $POSTERN_BUILD_DIR and, for PostgreSQL/MariaDB, the
servers of dbservers.sh (PG_* / MYSQL_* variables); without them only
SQLite runs and the test says so.
"""
import os
import secrets
import socket
import stat
import subprocess
import sys
import tempfile

BUILD = os.environ.get("POSTERN_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
POSTERN = os.path.join(BUILD, "postern")
failures = 0


def run(cfg, *args, stdin=None):
    p = subprocess.run([POSTERN, "-c", cfg, *args], input=stdin, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def check(cond, what, detail=""):
    global failures
    if cond:
        print(f"ok   {what}")
    else:
        failures += 1
        print(f"FAIL {what} {detail}")


def ok(cfg, *args, stdin=None):
    rc, out, err = run(cfg, *args, stdin=stdin)
    check(rc == 0, " ".join(args), f"rc={rc} stderr={err.strip()}")
    return out


def fails(cfg, expect_rc, expect_text, *args, stdin=None):
    rc, out, err = run(cfg, *args, stdin=stdin)
    lines = err.strip().splitlines()
    check(rc == expect_rc and len(lines) == 1 and expect_text in err and err.startswith("postern: "),
          f"{' '.join(args)} fails with {expect_rc} and one line containing {expect_text!r}",
          f"rc={rc} stderr={err!r}")


def test_init_and_config(cfg):
    out = ok(cfg, "init")
    for f in ("main.cf", "services.cf", "sql/mailboxes.cf", "sql/domains.cf", "sql/aliases.cf",
              "sql/alias-domains.cf", "tls/cert.pem", "tls/key.pem", "postern.db", "admin-token"):
        check(os.path.exists(os.path.join(cfg, f)), f"init created {f}")
    mode = stat.S_IMODE(os.stat(os.path.join(cfg, "admin-token")).st_mode)
    check(mode == 0o600, "admin-token is mode 0600", oct(mode))
    key_mode = stat.S_IMODE(os.stat(os.path.join(cfg, "tls/key.pem")).st_mode)
    check(key_mode & 0o077 == 0, "TLS key is private", oct(key_mode))
    token = open(os.path.join(cfg, "admin-token")).read()
    ok(cfg, "init")
    check(open(os.path.join(cfg, "admin-token")).read() == token, "second init keeps the token")

    out = ok(cfg, "config", "-d", "smtp_port")
    check(out.strip() == "smtp_port = 2525", "config -d smtp_port prints the default", out)
    out = ok(cfg, "config", "-n")
    check("smtp_port" not in out, "config -n is empty of defaults", out)
    ok(cfg, "config", "set", "smtp_port=3525")
    out = ok(cfg, "config", "-n")
    check("smtp_port = 3525" in out, "config -n shows a set value", out)
    out = ok(cfg, "config", "smtp_port")
    check(out.strip() == "smtp_port = 3525", "config NAME shows the value", out)
    fails(cfg, 1, "nosuch_parameter", "config", "set", "nosuch_parameter=1")
    fails(cfg, 1, "smtp_port", "config", "set", "smtp_port=notanumber")

    # A malformed line fails with FILE:LINE.
    main_cf = os.path.join(cfg, "main.cf")
    saved = open(main_cf).read()
    with open(main_cf, "a") as f:
        f.write("this line has no equals sign\n")
    nlines = len(open(main_cf).read().splitlines())
    fails(cfg, 1, f"main.cf:{nlines}:", "config")
    fails(cfg, 1, f"main.cf:{nlines}:", "domain", "list")
    with open(main_cf, "w") as f:
        f.write(saved)
    ok(cfg, "config", "set", "smtp_port=2525")

    for cmd in ("init", "config", "domain", "mailbox", "alias", "alias-domain", "map", "db",
                "start", "stop", "status", "reload"):
        rc, out, err = run(cfg, cmd, "--help")
        check(rc == 0 and "usage: postern" in out, f"{cmd} --help")
    fails(cfg, 1, "unknown command", "frobnicate")


def use_driver(cfg, driver):
    if driver == "sqlite":
        ok(cfg, "config", "set", "database_driver=sqlite")
        return
    prefix = "PG" if driver == "pgsql" else "MYSQL"
    ok(cfg, "config", "set", f"database_driver={driver}",
       f"database_host={os.environ[prefix + '_HOST']}",
       f"database_port={os.environ[prefix + '_PORT']}",
       f"database_name={os.environ[prefix + '_DATABASE']}",
       f"database_user={os.environ[prefix + '_USER']}",
       f"database_password={os.environ[prefix + '_PASSWORD']}")
    ok(cfg, "db", "migrate")


def test_provisioning(cfg, driver):
    print(f"--- provisioning on {driver}")
    use_driver(cfg, driver)
    dom = f"cli-{secrets.token_hex(4)}.test"
    ok(cfg, "domain", "add", dom.upper(), "--description", "test domain")
    out = ok(cfg, "domain", "list")
    check(any(line.split("\t")[0] == dom for line in out.splitlines()), f"{driver}: domain list shows {dom}", out)
    fails(cfg, 1, "already exists", "domain", "add", dom)
    fails(cfg, 1, "domain", "domain", "add", "bad..name")

    ok(cfg, "mailbox", "add", f"a@{dom}", "--password-stdin", "--quota", "1000000", stdin="s3cret\n")
    fails(cfg, 1, "not hosted", "mailbox", "add", f"b@nothosted-{dom}", "--password-stdin", stdin="x\n")
    fails(cfg, 1, "standard input", "mailbox", "add", f"c@{dom}")
    out = ok(cfg, "mailbox", "list", dom)
    rows = [line.split("\t") for line in out.splitlines()]
    check(len(rows) == 1 and rows[0][0] == f"a@{dom}" and rows[0][2] == "1000000",
          f"{driver}: mailbox list", out)

    ok(cfg, "alias", "add", f"sales@{dom}", f"a@{dom},boss@example.org")
    ok(cfg, "alias", "add", f"@{dom}", f"a@{dom}")
    out = ok(cfg, "alias", "list", dom)
    check(f"sales@{dom}\ta@{dom},boss@example.org\t1" in out, f"{driver}: alias list", out)
    alias_dom = f"alias-{dom}"
    ok(cfg, "alias-domain", "add", alias_dom, dom)
    out = ok(cfg, "alias-domain", "list")
    check(f"{alias_dom}\t{dom}\t1" in out, f"{driver}: alias-domain list", out)

    sql = os.path.join(cfg, "sql")
    rc, out, err = run(cfg, "map", "query", f"sql:{sql}/mailboxes.cf", f"a@{dom}")
    check(rc == 0 and out.strip() != "", f"{driver}: map query sql mailboxes finds a@{dom}", f"rc={rc} {out!r} {err!r}")
    rc, out, err = run(cfg, "map", "query", f"sql:{sql}/domains.cf", dom)
    check(rc == 0 and out.strip() != "", f"{driver}: map query sql domains finds {dom}", f"rc={rc} {out!r} {err!r}")
    rc, out, err = run(cfg, "map", "query", f"sql:{sql}/aliases.cf", f"sales@{dom}")
    check(rc == 0 and f"boss@example.org" in out, f"{driver}: map query sql aliases", f"rc={rc} {out!r} {err!r}")
    rc, out, err = run(cfg, "map", "query", f"sql:{sql}/mailboxes.cf", "x' OR '1'='1")
    check(rc == 1 and out == "", f"{driver}: injection key is data (not found)", f"rc={rc} {out!r} {err!r}")

    # Role addresses: `domain add` says when postmaster@NAME would be
    # refused or sent away (role_address_recipient not a hosted mailbox),
    # and is quiet once it is one.
    role_dom = f"role-{dom}"
    ok(cfg, "config", "set", "role_address_recipient=postmaster")
    rc, out, err = run(cfg, "domain", "add", role_dom)
    check(rc == 0 and err.startswith("postern: note: mail to " + role_dom + "'s role addresses")
          and "role_address_recipient = postmaster@" in err,
          f"{driver}: domain add notes that postmaster@ has nowhere to go", f"rc={rc} {err!r}")
    ok(cfg, "config", "set", f"role_address_recipient=sales@{dom}")
    rc, out, err = run(cfg, "domain", "del", role_dom)
    rc2, out, err = run(cfg, "domain", "add", role_dom)
    check(rc == 0 and rc2 == 0 and err == "",
          f"{driver}: no note when role_address_recipient is an alias of a mailbox", f"rc={rc2} {err!r}")
    ok(cfg, "domain", "del", role_dom)
    ok(cfg, "config", "set", "role_address_recipient=postmaster")

    ok(cfg, "alias-domain", "del", alias_dom)
    ok(cfg, "alias", "del", f"sales@{dom}")
    fails(cfg, 1, "does not exist", "alias", "del", f"sales@{dom}")
    ok(cfg, "mailbox", "del", f"a@{dom}")
    ok(cfg, "domain", "del", dom)
    out = ok(cfg, "domain", "list")
    check(dom not in out, f"{driver}: domain deleted")


def test_database_down(cfg):
    # A port nothing listens on: the command reports a temporary failure.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ok(cfg, "config", "set", "database_driver=pgsql", f"database_port={port}", "database_timeout=2s")
    fails(cfg, 75, "", "domain", "list")
    ok(cfg, "config", "set", "database_driver=sqlite")


def main():
    with tempfile.TemporaryDirectory(prefix="postern-cli-") as tmp:
        cfg = os.path.join(tmp, "var")
        test_init_and_config(cfg)
        test_provisioning(cfg, "sqlite")
        for driver, var in (("pgsql", "PG_PORT"), ("mysql", "MYSQL_PORT")):
            if var in os.environ:
                test_provisioning(cfg, driver)
            else:
                check(False, f"{driver}: servers from dbservers.sh are not running ({var} unset)")
        test_database_down(cfg)
    print(f"test_cli: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
