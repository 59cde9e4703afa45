"""Schema migrations: numbered, append-only plain-SQL files applied in order under an advisory
lock, so that several workers or hosts starting at once apply each migration exactly once."""
import re

from .db import connect
from .queries import SQL_DIR

MIGRATIONS_DIR = SQL_DIR / "migrations"
# pg_advisory_xact_lock key: any constant unique to this application.
_LOCK_KEY = 0x50554C55  # "PULU"

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


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


def upgrade(dsn, log=print):
    """Apply every pending migration, each in its own transaction, holding the advisory lock."""
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
                with conn.cursor() as cur:
                    cur.execute(sql)
                    cur.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (version, name),
                    )
                applied.append(name)
                log(f"applied migration {name}")
    finally:
        conn.close()
    return applied
