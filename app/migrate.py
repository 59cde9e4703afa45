"""Schema migrations: numbered, append-only plain-SQL files applied in order under an advisory
lock, so that several workers or hosts starting at once apply each migration exactly once.

A migration runs in one transaction, unless its first line is `-- migrate: no-transaction`:
then its statements (each ending with `;` at the end of a line) run one by one in autocommit,
as `CREATE INDEX CONCURRENTLY` must, under the session form of the same advisory lock. Such a
migration is recorded only once every statement succeeded, so each statement must be safe to run
again (`IF NOT EXISTS`, `DROP INDEX CONCURRENTLY IF EXISTS` before the create)."""
import re

from .db import connect
from .queries import SQL_DIR

MIGRATIONS_DIR = SQL_DIR / "migrations"
# pg_advisory_xact_lock / pg_advisory_lock key: any constant unique to this application.
_LOCK_KEY = 0x50554C55  # "PULU"

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
NO_TRANSACTION = "-- migrate: no-transaction"
# The end of a statement: a semicolon ending a line (outside comments; no-transaction
# migrations hold only simple DDL, never a function body with semicolons inside).
_STATEMENT_END = re.compile(r";[ \t]*(?:--[^\n]*)?$", re.MULTILINE)


def in_transaction(sql):
    return not sql.lstrip().startswith(NO_TRANSACTION)


def statements(sql):
    """The statements of a no-transaction migration, in order, without comment-only chunks."""
    found = []
    for chunk in _STATEMENT_END.split(sql):
        code = "\n".join(line for line in chunk.splitlines()
                         if not line.strip().startswith("--")).strip()
        if code:
            found.append(code)
    return found


def available():
    """[(version, name, sql)] of every migration file, in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise RuntimeError(f"badly named migration file: {path.name}")
        found.append((int(match.group(1)), path.name, path.read_text()))
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


def pending(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') AS t")
        if cur.fetchone()["t"] is None:
            return available()
        cur.execute("SELECT version FROM schema_migrations")
        done = {row["version"] for row in cur.fetchall()}
    return [m for m in available() if m[0] not in done]


def plan(dsn):
    """The migrations an upgrade of `dsn` would apply now, in order, applying nothing."""
    conn = connect(dsn)
    try:
        with conn:
            return pending(conn)
    finally:
        conn.close()


def _record(cur, version, name):
    cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))


def _apply_outside_transaction(conn, version, name, sql):
    """A no-transaction migration, statement by statement, holding the session advisory lock
    (it excludes the transaction-level one the others take); False if another process applied
    it meanwhile."""
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                if version not in {v for v, _, _ in pending(conn)}:
                    return False
                for statement in statements(sql):
                    cur.execute(statement)
                _record(cur, version, name)
                return True
            finally:
                cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    finally:
        conn.autocommit = False


def upgrade(dsn, log=print):
    """Apply every pending migration, each in its own transaction (or statement by statement,
    see the module's note), holding the advisory lock."""
    conn = connect(dsn)
    applied = []
    try:
        while True:
            with conn:  # one transaction per migration
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                    cur.execute(
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version integer PRIMARY KEY, name text NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now())"
                    )
                todo = pending(conn)
                if not todo:
                    break
                version, name, sql = todo[0]
                if in_transaction(sql):
                    with conn.cursor() as cur:
                        cur.execute(sql)
                        _record(cur, version, name)
            if not in_transaction(sql):
                # The transaction above (and its lock) has ended: CONCURRENTLY cannot run in one.
                if not _apply_outside_transaction(conn, version, name, sql):
                    continue
            applied.append(name)
            log(f"applied migration {name}")
    finally:
        conn.close()
    return applied
