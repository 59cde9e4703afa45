"""PostgreSQL access: a pool per worker process, one connection per request, explicit transactions.

Data functions (the named queries) take the connection and never commit; the request owns the
transaction through `transaction()`. Outside `transaction()` the connection is in autocommit:
one statement is one transaction and one round trip (authentication uses this: see app/auth.py).
"""
import contextlib
import os
import select
import threading
import time

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from flask import current_app, g

from .queries import Connection, PreparingCursor

_pools = {}
_pools_lock = threading.Lock()


def connect(dsn):
    """A single connection outside the pool (admin command, migrations)."""
    return psycopg2.connect(dsn, cursor_factory=psycopg2.extras.RealDictCursor)


def _timeouts(config):
    """connect_timeout and statement_timeout for the pool's connections, unless DATABASE_URL
    sets them itself: without them a database that is down or stuck makes requests hang."""
    given = psycopg2.extensions.parse_dsn(config["DATABASE_URL"])
    extra = {}
    if "connect_timeout" not in given and config["DB_CONNECT_TIMEOUT"] > 0:
        extra["connect_timeout"] = config["DB_CONNECT_TIMEOUT"]
    if "options" not in given and config["DB_STATEMENT_TIMEOUT_MS"] > 0:
        extra["options"] = f"-c statement_timeout={config['DB_STATEMENT_TIMEOUT_MS']}"
    return extra


def _key(app):
    # Keyed by process id so that a pool is never shared across a gunicorn fork, and by the
    # connection settings so that apps with different timeouts (tests) never share one.
    settings = app.extensions.get("db_pool_settings")
    if settings is None:
        settings = app.extensions["db_pool_settings"] = (
            app.config["DATABASE_URL"], tuple(sorted(_timeouts(app.config).items())),
            app.config["DB_PREPARED_STATEMENTS"])
    return (os.getpid(), *settings)


def _dead(conn):
    """A pooled connection the server has closed (a restart, an idle timeout, a terminated
    backend): an idle connection has nothing to read unless the server said goodbye, so a poll
    finds it without a round trip."""
    if conn.closed:
        return True
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


class Pool:
    """At most `maxconn` connections, kept open once made: a connection per request in flight,
    reused by the next request (opening one costs a PostgreSQL backend). Idle connections past
    `minconn` are closed after `idle_seconds` unused. Requests wait up to `timeout` for a free
    connection instead of failing at once. Counts in use and idle are its own (for /metrics)."""

    def __init__(self, minconn, maxconn, dsn, idle_seconds=60, prepare=True, **connect_kwargs):
        self.minconn, self.maxconn, self.idle_seconds = minconn, maxconn, idle_seconds
        self.prepare = prepare
        self.dsn, self.connect_kwargs = dsn, connect_kwargs
        self.slots = threading.BoundedSemaphore(maxconn)
        self.lock = threading.Lock()
        self.idle = []  # [(connection, idle since)], the most recently used last
        self.in_use = 0

    def _connect(self):
        # The named queries run as prepared statements (app/queries.py), unless turned off.
        conn = psycopg2.connect(self.dsn, connection_factory=Connection,
                                cursor_factory=PreparingCursor, **self.connect_kwargs)
        conn.prepare = self.prepare
        conn.autocommit = True
        return conn

    def getconn(self, timeout):
        """A live connection, or psycopg2.OperationalError when none frees up in `timeout` s or
        the database cannot be reached."""
        if not self.slots.acquire(timeout=timeout):
            raise psycopg2.OperationalError("every database connection of this worker is busy")
        try:
            while True:
                with self.lock:
                    conn = self.idle.pop()[0] if self.idle else None
                    self.in_use += 1
                if conn is None:
                    return self._connect()
                if not _dead(conn):
                    return conn
                self._discard(conn)
        except BaseException:
            with self.lock:
                self.in_use -= 1
            self.slots.release()
            raise

    def _discard(self, conn):
        with self.lock:
            self.in_use -= 1
        with contextlib.suppress(psycopg2.Error):
            conn.close()

    def putconn(self, conn):
        """Back into the pool, rolled back; a broken connection is closed instead."""
        try:
            if not conn.closed and conn.info.transaction_status != \
                    psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                conn.rollback()
            if not conn.autocommit and not conn.closed:
                conn.autocommit = True
        except psycopg2.Error:
            pass
        now = time.monotonic()
        expired = []
        with self.lock:
            self.in_use -= 1
            if not conn.closed:
                self.idle.append((conn, now))
            # The least recently used first: close those idle too long, down to minconn.
            while (self.idle and len(self.idle) + self.in_use > self.minconn
                   and now - self.idle[0][1] > self.idle_seconds):
                expired.append(self.idle.pop(0)[0])
        self.slots.release()
        for old in expired:
            with contextlib.suppress(psycopg2.Error):
                old.close()
        if conn.closed:
            with contextlib.suppress(psycopg2.Error):
                conn.close()

    def stats(self):
        with self.lock:
            return {"in_use": self.in_use, "idle": len(self.idle), "max": self.maxconn}


def _pool(app):
    key = _key(app)
    pool = _pools.get(key)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = Pool(
                    app.config["DB_POOL_MIN"], app.config["DB_POOL_MAX"],
                    app.config["DATABASE_URL"], app.config["DB_POOL_IDLE_SECONDS"],
                    app.config["DB_PREPARED_STATEMENTS"], **_timeouts(app.config))
    return pool


def get_conn():
    """The request's connection (checked out on first use, returned at teardown)."""
    if "db" not in g:
        g.db = _pool(current_app).getconn(current_app.config["DB_POOL_TIMEOUT"])
    return g.db


@contextlib.contextmanager
def transaction():
    """The request's connection inside one transaction: committed on success, rolled back on error.
    Nested, it joins the outer transaction but commits at its own end (as psycopg2 would)."""
    conn = get_conn()
    outermost = conn.autocommit
    if outermost:
        conn.autocommit = False
    try:
        yield conn
        conn.commit()
    except BaseException:
        # On a connection the database dropped, the rollback fails too: keep the first error.
        with contextlib.suppress(psycopg2.Error):
            if not conn.closed:
                conn.rollback()
        raise
    finally:
        if outermost:
            with contextlib.suppress(psycopg2.Error):
                if not conn.closed:
                    conn.autocommit = True


@contextlib.contextmanager
def reading():
    """The request's connection for a route that only reads, outside any transaction: each
    statement commits by itself and sees its own snapshot, as it would inside a READ COMMITTED
    transaction, without the BEGIN and COMMIT round trips. Never for a change, nor for reads
    that must see one snapshot together (use transaction(), at REPEATABLE READ if need be)."""
    conn = get_conn()
    if not conn.autocommit:
        raise RuntimeError("reading() inside a transaction")
    yield conn


def close_conn(exc=None):
    conn = g.pop("db", None)
    if conn is not None:
        _pool(current_app).putconn(conn)


def pool_stats(app):
    pool = _pools.get(_key(app))
    if pool is None:
        return {"in_use": 0, "idle": 0, "max": app.config["DB_POOL_MAX"]}
    return pool.stats()


def init_app(app):
    app.teardown_appcontext(close_conn)
