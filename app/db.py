"""PostgreSQL access: a pool per worker process, one connection per request, explicit transactions.

Data functions (the named queries) take the connection and never commit; the request owns the
transaction through `transaction()`.
"""
import contextlib
import os
import threading

import psycopg2
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool
from flask import current_app, g

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
    return (os.getpid(), app.config["DATABASE_URL"], tuple(sorted(_timeouts(app.config).items())))


def _pool(app):
    key = _key(app)
    pool = _pools.get(key)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                pool = psycopg2.pool.ThreadedConnectionPool(
                    app.config["DB_POOL_MIN"],
                    app.config["DB_POOL_MAX"],
                    app.config["DATABASE_URL"],
                    cursor_factory=psycopg2.extras.RealDictCursor,
                    **_timeouts(app.config),
                )
                # psycopg2's pool raises at once when every connection is in use; requests of a
                # threaded worker wait for a free one instead (see get_conn).
                pool.slots = threading.BoundedSemaphore(pool.maxconn)
                _pools[key] = pool
    return pool


def _checkout(pool):
    """A healthy connection: psycopg2's pool has no health check, so a connection broken by a
    database restart is rolled back, found dead and discarded here instead of failing a request."""
    for _ in range(pool.maxconn + 1):
        conn = pool.getconn()
        try:
            if conn.closed:
                raise psycopg2.InterfaceError("connection closed")
            conn.rollback()
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
            conn.rollback()
            return conn
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            pool.putconn(conn, close=True)
    raise psycopg2.OperationalError("no healthy database connection")


def get_conn():
    if "db" not in g:
        pool = _pool(current_app)
        if not pool.slots.acquire(timeout=current_app.config["DB_POOL_TIMEOUT"]):
            raise psycopg2.OperationalError("every database connection of this worker is busy")
        try:
            g.db = _checkout(pool)
        except BaseException:
            pool.slots.release()
            raise
    return g.db


@contextlib.contextmanager
def transaction():
    """The request's connection inside one transaction: committed on success, rolled back on error."""
    conn = get_conn()
    try:
        yield conn
        conn.commit()
    except BaseException:
        # On a connection the database dropped, the rollback fails too: keep the first error.
        with contextlib.suppress(psycopg2.Error):
            if not conn.closed:
                conn.rollback()
        raise


def close_conn(exc=None):
    conn = g.pop("db", None)
    if conn is None:
        return
    pool = _pool(current_app)
    broken = bool(conn.closed)
    if not broken:
        try:
            conn.rollback()
        except psycopg2.Error:
            broken = True
    pool.putconn(conn, close=broken)
    pool.slots.release()


def pool_stats(app):
    pool = _pools.get(_key(app))
    if pool is None:
        return {"in_use": 0, "idle": 0, "max": app.config["DB_POOL_MAX"]}
    return {"in_use": len(pool._used), "idle": len(pool._pool), "max": pool.maxconn}


def init_app(app):
    app.teardown_appcontext(close_conn)
