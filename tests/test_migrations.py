"""Migrations: applied in order on an empty database, once each, recorded, and refused when the
files are badly numbered. (Several processes at once: tests/test_concurrency.py.)"""
import psycopg2
import pytest

from app import migrate
from app.db import connect
from tests.support.postgres import throwaway_database
from tests.support.rows import count


@pytest.fixture
def empty_url(database_url):
    with throwaway_database(database_url) as url:
        yield url


def tables(url):
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return sorted(row["tablename"] for row in cur.fetchall())
    finally:
        conn.close()


def migrations_table(url):
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version, name FROM schema_migrations ORDER BY version")
            return [(row["version"], row["name"]) for row in cur.fetchall()]
    finally:
        conn.close()


def test_upgrade_of_an_empty_database_creates_the_schema(empty_url):
    applied = migrate.upgrade(empty_url, log=lambda message: None)
    assert applied == [name for _, name, _ in migrate.available()]
    assert {"users", "organizations", "memberships", "access_tokens", "projects", "stacks",
            "updates", "checkpoints", "engine_events", "schema_migrations"} <= set(tables(empty_url))


def test_upgrade_records_every_migration(empty_url):
    migrate.upgrade(empty_url, log=lambda message: None)
    assert migrations_table(empty_url) == [(v, name) for v, name, _ in migrate.available()]


def test_upgrade_twice_applies_nothing_the_second_time(empty_url):
    migrate.upgrade(empty_url, log=lambda message: None)
    before = tables(empty_url)
    logged = []
    assert migrate.upgrade(empty_url, log=logged.append) == []
    assert logged == []
    assert tables(empty_url) == before
    assert len(migrations_table(empty_url)) == len(migrate.available())


def test_upgrade_keeps_existing_rows(empty_url):
    migrate.upgrade(empty_url, log=lambda message: None)
    conn = connect(empty_url)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO users (login) VALUES ('alice')")
    migrate.upgrade(empty_url, log=lambda message: None)
    assert count(conn, "SELECT count(*) FROM users") == 1
    conn.close()


def write(folder, files):
    for name, sql in files.items():
        (folder / name).write_text(sql)


def test_upgrade_applies_only_the_new_migrations(empty_url, tmp_path, monkeypatch):
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    write(tmp_path, {"0001_one.sql": "CREATE TABLE one (id int);"})
    assert migrate.upgrade(empty_url, log=lambda message: None) == ["0001_one.sql"]
    write(tmp_path, {"0002_two.sql": "CREATE TABLE two (id int);",
                     "0003_three.sql": "ALTER TABLE two ADD COLUMN name text;"})
    assert migrate.upgrade(empty_url, log=lambda message: None) == ["0002_two.sql",
                                                                    "0003_three.sql"]
    assert migrations_table(empty_url) == [(1, "0001_one.sql"), (2, "0002_two.sql"),
                                           (3, "0003_three.sql")]


def test_failing_migration_is_rolled_back_and_not_recorded(empty_url, tmp_path, monkeypatch):
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    write(tmp_path, {
        "0001_one.sql": "CREATE TABLE one (id int);",
        "0002_broken.sql": "CREATE TABLE half (id int); SELECT no_such_function();",
    })
    with pytest.raises(psycopg2.Error):
        migrate.upgrade(empty_url, log=lambda message: None)
    assert migrations_table(empty_url) == [(1, "0001_one.sql")]
    assert "half" not in tables(empty_url)
    # Fixed, it applies on the next run.
    write(tmp_path, {"0002_broken.sql": "CREATE TABLE half (id int);"})
    assert migrate.upgrade(empty_url, log=lambda message: None) == ["0002_broken.sql"]


@pytest.mark.parametrize("files", [
    {"0001_one.sql": "", "0001_again.sql": ""},
    {"1_one.sql": ""},
    {"0001-one.sql": ""},
    {"0001_One.sql": ""},
])
def test_badly_numbered_migrations_are_refused(empty_url, tmp_path, monkeypatch, files):
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    write(tmp_path, files)
    with pytest.raises(RuntimeError):
        migrate.upgrade(empty_url, log=lambda message: None)
    assert "schema_migrations" not in tables(empty_url) or migrations_table(empty_url) == []



CONCURRENT = """-- migrate: no-transaction
-- An index built without blocking writes: CONCURRENTLY cannot run in a transaction.
ALTER TABLE one ADD COLUMN IF NOT EXISTS note text;
DROP INDEX CONCURRENTLY IF EXISTS one_note;  -- a failed build leaves an invalid index
CREATE INDEX CONCURRENTLY one_note ON one (note);
"""


def indexes(url, table):
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT i.relname, x.indisvalid FROM pg_index x "
                        "JOIN pg_class i ON i.oid = x.indexrelid "
                        "JOIN pg_class t ON t.oid = x.indrelid WHERE t.relname = %s", (table,))
            return {row["relname"]: row["indisvalid"] for row in cur.fetchall()}
    finally:
        conn.close()


def test_a_no_transaction_migration_runs_concurrently_and_is_recorded(empty_url, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    write(tmp_path, {"0001_one.sql": "CREATE TABLE one (id int);",
                     "0002_concurrent.sql": CONCURRENT,
                     "0003_after.sql": "ALTER TABLE one ADD COLUMN later int;"})
    assert [name for _, name, _ in migrate.plan(empty_url)] == [
        "0001_one.sql", "0002_concurrent.sql", "0003_after.sql"]
    assert migrate.upgrade(empty_url, log=lambda message: None) == [
        "0001_one.sql", "0002_concurrent.sql", "0003_after.sql"]
    assert indexes(empty_url, "one") == {"one_note": True}
    assert migrations_table(empty_url)[1] == (2, "0002_concurrent.sql")
    assert migrate.plan(empty_url) == []


def test_a_failed_no_transaction_migration_is_not_recorded_and_runs_again(empty_url, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    write(tmp_path, {"0001_one.sql": "CREATE TABLE one (id int);"})
    migrate.upgrade(empty_url, log=lambda message: None)
    conn = connect(empty_url)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO one VALUES (1), (1)")
    conn.close()
    # A unique index over duplicates fails, after its first statement ran, leaving an invalid index.
    unique = CONCURRENT.replace("CREATE INDEX", "CREATE UNIQUE INDEX").replace("(note)", "(id)")
    write(tmp_path, {"0002_concurrent.sql": unique})
    with pytest.raises(psycopg2.Error):
        migrate.upgrade(empty_url, log=lambda message: None)
    assert migrations_table(empty_url) == [(1, "0001_one.sql")]
    assert indexes(empty_url, "one") == {"one_note": False}
    write(tmp_path, {"0002_concurrent.sql": CONCURRENT})
    assert migrate.upgrade(empty_url, log=lambda message: None) == ["0002_concurrent.sql"]
    assert indexes(empty_url, "one") == {"one_note": True}


def test_statements_of_a_no_transaction_migration():
    assert migrate.statements(CONCURRENT) == [
        "ALTER TABLE one ADD COLUMN IF NOT EXISTS note text",
        "DROP INDEX CONCURRENTLY IF EXISTS one_note",
        "CREATE INDEX CONCURRENTLY one_note ON one (note)"]
    assert not migrate.in_transaction(CONCURRENT)
    assert migrate.in_transaction("CREATE TABLE one (id int);")
