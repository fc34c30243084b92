"""Prints what SQLAlchemy + psycopg2 raise in each scenario, logged as an app logs it.

Run by ./record (which starts the PostgreSQL server on the port given as argv[1]).
"""
import logging
import sys
import time

import psycopg2
from sqlalchemy import create_engine, text

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("app")
PORT = int(sys.argv[1])


def url(user="app", password="app", host="127.0.0.1", port=PORT):
    return f"postgresql+psycopg2://{user}:{password}@{host}:{port}/postgres"


def connect(user="app", password="app"):
    return psycopg2.connect(host="127.0.0.1", port=PORT, user=user, password=password,
                            dbname="postgres")


def scenario(name, fn, style):
    """Runs fn and logs its error: with the traceback (exception), as the reference
    design's app does (error), or without the DB_ERROR marker (plain)."""
    print(f"### scenario: {name}", flush=True)
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - logging whatever the driver raised is the point
        if style == "exception":
            log.exception("DB_ERROR: %s", e)
        elif style == "error":
            log.error(f"DB_ERROR: {str(e)}")
        else:
            log.exception("request failed")
    sys.stdout.flush()


def pool_timeout():
    engine = create_engine(url(), pool_size=1, max_overflow=0, pool_timeout=1,
                           pool_pre_ping=True)
    held = engine.connect()  # noqa: F841 - held while the second checkout waits
    engine.connect()


kept = []


def fill(user, password):
    for _ in range(20):
        kept.append(connect(user, password))


def connection_lost():
    conn = create_engine(url()).connect()
    pid = conn.execute(text("select pg_backend_pid()")).scalar()
    admin = connect("postgres", "postgres")
    admin.autocommit = True
    admin.cursor().execute("select pg_terminate_backend(%s)", (pid,))
    time.sleep(0.2)
    conn.execute(text("select 1"))


scenario("pool_timeout", pool_timeout, "exception")
scenario("pool_timeout_error", pool_timeout, "error")
scenario("pool_timeout_unmarked", pool_timeout, "plain")
scenario("reserved_slots", lambda: fill("app", "app"), "exception")
scenario("too_many_clients", lambda: fill("postgres", "postgres"), "error")
for c in kept:
    c.close()
scenario("auth_failed", lambda: create_engine(url(password="wrong")).connect(), "exception")
scenario("connection_refused", lambda: create_engine(url(port=1)).connect(), "exception")
scenario("unknown_host", lambda: create_engine(url(host="no-such-host.invalid")).connect(),
         "error")
scenario("connection_lost", connection_lost, "exception")
