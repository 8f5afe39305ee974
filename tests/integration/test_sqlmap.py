#!/usr/bin/env python3
"""sql: lookup maps through `postern map query` on SQLite, PostgreSQL and
MariaDB in turn: the default map files of `postern init` answer for a
domain and mailbox added through `postern domain/mailbox add` (or plain
SQL when those commands are missing), injection keys find nothing, a map
with its own connection settings works, and a database that is down (or
locked, for SQLite) makes the query exit 75 with one "temporary failure"
line - never "not found".

Run by run-all.sh with the servers of dbservers.sh (PG_* / MYSQL_*);
run alone it starts its own servers, or tests SQLite only without them.
"""
import os
import sqlite3
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("POSTERN_BUILD_DIR", os.path.join(HERE, "../../build"))
POSTERN = os.path.join(BUILD, "postern")
DBSERVERS = os.path.join(HERE, "dbservers.sh")
failures = 0
passes = 0


def run(cfg, *args, stdin=None):
    p = subprocess.run([POSTERN, "-c", cfg, *args], input=stdin,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def check(cond, what, detail=""):
    global failures, passes
    if cond:
        passes += 1
        print(f"ok   {what}")
    else:
        failures += 1
        print(f"FAIL {what} {detail}")


def ok(cfg, *args, stdin=None):
    rc, out, err = run(cfg, *args, stdin=stdin)
    check(rc == 0, " ".join(args), f"rc={rc} stderr={err.strip()}")
    return rc == 0


def server_env(driver):
    prefix = "PG" if driver == "pgsql" else "MYSQL"
    return {k: os.environ[f"{prefix}_{k}"]
            for k in ("HOST", "PORT", "DATABASE", "USER", "PASSWORD")}


def sql_exec(cfg, driver, sql):
    """Fallback provisioning when `postern domain add` is not there."""
    if driver == "sqlite":
        con = sqlite3.connect(os.path.join(cfg, "postern.db"))
        con.execute(sql)
        con.commit()
        con.close()
        return
    e = server_env(driver)
    if driver == "pgsql":
        cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", e["HOST"],
               "-p", e["PORT"], "-U", e["USER"], "-d", e["DATABASE"], "-c", sql]
        env = dict(os.environ, PGPASSWORD=e["PASSWORD"])
    else:
        cmd = ["mariadb", "--no-defaults", "--protocol=tcp", "-h", e["HOST"],
               "-P", e["PORT"], "-u", e["USER"], f"-p{e['PASSWORD']}",
               e["DATABASE"], "-e", sql]
        env = os.environ
    subprocess.run(cmd, check=True, env=env, capture_output=True)


def provision(cfg, driver, dom):
    rc, _, err = run(cfg, "domain", "add", dom)
    if rc == 0:
        ok(cfg, "mailbox", "add", f"a@{dom}", "--password-stdin", stdin="s3cret\n")
        ok(cfg, "alias", "add", f"info@{dom}", f"a@{dom},boss@example.org")
        return
    print(f"note: postern domain add failed ({err.strip()}); provisioning with SQL")
    sql_exec(cfg, driver, f"INSERT INTO domains (name) VALUES ('{dom}')")
    sql_exec(cfg, driver, "INSERT INTO mailboxes (domain_id, local_part, address, password_hash) "
             f"SELECT id, 'a', 'a@{dom}', 'x' FROM domains WHERE name = '{dom}'")
    sql_exec(cfg, driver, "INSERT INTO aliases (domain_id, source, destinations) "
             f"SELECT id, 'info@{dom}', 'a@{dom},boss@example.org' FROM domains WHERE name = '{dom}'")


def query(cfg, spec, *keys):
    return run(cfg, "map", "query", spec, *keys)


def expect_tempfail(cfg, spec, key, what):
    rc, out, err = query(cfg, spec, key)
    lines = err.strip().splitlines()
    check(rc == 75 and out == "" and len(lines) == 1
          and lines[0].startswith(f"postern: {spec}: temporary failure: "),
          what, f"rc={rc} out={out!r} err={err!r}")


def use_driver(cfg, driver):
    if driver == "sqlite":
        return ok(cfg, "config", "set", "database_driver=sqlite")
    e = server_env(driver)
    return (ok(cfg, "config", "set", f"database_driver={driver}",
               f"database_host={e['HOST']}", f"database_port={e['PORT']}",
               f"database_name={e['DATABASE']}", f"database_user={e['USER']}",
               f"database_password={e['PASSWORD']}", "database_timeout=2s")
            and ok(cfg, "db", "migrate"))


def test_driver(cfg, driver):
    print(f"--- sql maps on {driver}")
    if not use_driver(cfg, driver):
        return
    dom = f"map-{driver}-{os.getpid()}.test"
    provision(cfg, driver, dom)
    sql = os.path.join(cfg, "sql")
    domains, mailboxes, aliases = (f"sql:{sql}/{n}.cf" for n in ("domains", "mailboxes", "aliases"))

    rc, out, err = query(cfg, domains, dom.upper())
    check(rc == 0 and out == f"{dom}\n", f"{driver}: domains.cf finds {dom} (folded)", f"rc={rc} {out!r} {err!r}")
    rc, out, err = query(cfg, mailboxes, f"a@{dom}")
    check(rc == 0 and out == f"{dom}/a/\n", f"{driver}: mailboxes.cf answers {dom}/a/", f"rc={rc} {out!r} {err!r}")
    rc, out, err = run(cfg, "map", "query", "-a", mailboxes, f"a+tag@{dom}")
    check(rc == 0 and out == f"{dom}/a/\n", f"{driver}: -a strips +tag", f"rc={rc} {out!r} {err!r}")
    rc, out, err = query(cfg, aliases, f"info@{dom}")
    check(rc == 0 and out == f"a@{dom},boss@example.org\n", f"{driver}: aliases.cf", f"rc={rc} {out!r} {err!r}")
    rc, out, err = query(cfg, mailboxes, f"b@{dom}")
    check(rc == 1 and out == "" and err == "", f"{driver}: unknown mailbox: exit 1, silent", f"rc={rc} {out!r} {err!r}")
    for key in ("x' OR '1'='1", f"a@{dom}' OR '1'='1", "' OR 1=1 -- ", "a@x'; DROP TABLE domains; --"):
        for spec in (domains, mailboxes, aliases):
            rc, out, err = query(cfg, spec, key)
            check(rc == 1 and out == "", f"{driver}: injection key {key!r} finds nothing in {spec.rsplit('/', 1)[1]}",
                  f"rc={rc} {out!r} {err!r}")
    rc, out, err = query(cfg, domains, dom)
    check(rc == 0, f"{driver}: tables survive the injection keys", f"rc={rc} {err!r}")

    if driver != "sqlite":
        # A map with its own connection settings, while the main
        # configuration points at SQLite.
        e = server_env(driver)
        own = os.path.join(cfg, f"own-{driver}.cf")
        with open(own, "w") as f:
            f.write(f"driver = {driver}\nhosts = {e['HOST']}\nport = {e['PORT']}\n"
                    f"dbname = {e['DATABASE']}\nuser = {e['USER']}\npassword = {e['PASSWORD']}\n"
                    "query = SELECT address FROM mailboxes WHERE local_part = '%u'\n"
                    "  AND address = '%u@%d' AND active = 1\n")
        ok(cfg, "config", "set", "database_driver=sqlite")
        rc, out, err = query(cfg, f"sql:{own}", f"A@{dom}")
        check(rc == 0 and out == f"a@{dom}\n", f"{driver}: map with its own connection settings", f"rc={rc} {out!r} {err!r}")
        use_driver(cfg, driver)

    # The database goes away: temporary failure, exit 75, never "not found".
    if driver == "sqlite":
        ok(cfg, "config", "set", "database_timeout=1s")
        con = sqlite3.connect(os.path.join(cfg, "postern.db"), isolation_level=None)
        # In WAL mode readers pass an exclusive writer: leave WAL first so
        # the lock really shuts every other connection out.
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("BEGIN EXCLUSIVE")
        try:
            expect_tempfail(cfg, mailboxes, f"a@{dom}", "sqlite: locked database: exit 75, temporary failure")
        finally:
            con.execute("ROLLBACK")
            con.close()
    else:
        dbdir = os.environ["POSTERN_DBSERVERS_DIR"]
        which = "pg" if driver == "pgsql" else "mysql"
        subprocess.run([DBSERVERS, f"stop-{which}", dbdir], check=True, capture_output=True)
        try:
            expect_tempfail(cfg, mailboxes, f"a@{dom}", f"{driver}: server stopped: exit 75, temporary failure")
            expect_tempfail(cfg, domains, dom, f"{driver}: server stopped: domains.cf too")
        finally:
            subprocess.run([DBSERVERS, f"start-{which}", dbdir], check=True, capture_output=True)
        rc, out, err = query(cfg, mailboxes, f"a@{dom}")
        check(rc == 0 and out == f"{dom}/a/\n", f"{driver}: answers again after the restart", f"rc={rc} {out!r} {err!r}")


def main():
    if not os.access(POSTERN, os.X_OK):
        print(f"skip: {POSTERN} not built")
        return 77
    own_servers = None
    if "PG_PORT" not in os.environ and os.geteuid() == 0 and os.path.exists(DBSERVERS):
        own_servers = tempfile.mkdtemp(prefix="postern-sqlmap-dbs.")
        p = subprocess.run([DBSERVERS, "start", own_servers], capture_output=True, text=True)
        if p.returncode == 0:
            for line in p.stdout.splitlines():
                if line.startswith("export "):
                    k, v = line[7:].split("=", 1)
                    os.environ[k] = v.strip("'")
        else:
            print(f"note: dbservers.sh start failed: {p.stderr.strip()[-300:]}")
    try:
        with tempfile.TemporaryDirectory(prefix="postern-sqlmap.") as tmp:
            cfg = os.path.join(tmp, "var")
            if not ok(cfg, "init"):
                return 1
            drivers = ["sqlite"]
            if "PG_PORT" in os.environ:
                drivers += ["pgsql", "mysql"]
            else:
                print("note: no PG_*/MYSQL_* servers: SQLite only")
            for d in drivers:
                test_driver(cfg, d)
    finally:
        if own_servers:
            subprocess.run([DBSERVERS, "stop", own_servers], capture_output=True)
            subprocess.run(["rm", "-rf", own_servers])
    print(f"{passes} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
