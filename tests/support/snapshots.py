"""Snapshots of the session database's rows: a world made once, copied into a schema of its own,
and put back in milliseconds before each test that needs it (where making it again through the
API took a good share of a second)."""
import psycopg2.extensions


def _cursor(conn):
    # Plain tuples whatever the connection's cursor factory (the app's gives dicts).
    return conn.cursor(cursor_factory=psycopg2.extensions.cursor)


def take(conn, schema):
    """Copy every table of the public schema (but the migrations') and every sequence's position
    into `schema` (made anew); returns the statement that puts them back. Run the statement
    after tests/conftest.py's emptier or over any change: it empties each table first."""
    with conn, _cursor(conn) as cur:
        cur.execute("SELECT tablename FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename <> 'schema_migrations'")
        tables = [row[0] for row in cur.fetchall()]
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
        for table in tables:
            cur.execute(f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM "{table}"')
        cur.execute("SELECT oid::regclass::text FROM pg_class "
                    "WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace")
        positions = []
        for (sequence,) in cur.fetchall():
            cur.execute(f"SELECT last_value, is_called FROM {sequence}")
            last_value, is_called = cur.fetchone()
            positions.append(f"SELECT setval('{sequence}', {last_value}, {is_called})")
    # Replica mode: no foreign key or append-only trigger fires meanwhile (as tests/conftest.py
    # empties tables), so the order of the tables does not matter.
    return "; ".join(["SET session_replication_role = replica"]
                     + [f'DELETE FROM "{t}"; INSERT INTO "{t}" SELECT * FROM "{schema}"."{t}"'
                        for t in tables]
                     + ["SET session_replication_role = DEFAULT"] + positions)


def restore(conn, statement):
    with conn, _cursor(conn) as cur:
        cur.execute(statement)


def drop(conn, schema):
    with conn, _cursor(conn) as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
