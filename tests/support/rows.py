"""Rows put straight into the database (updates, checkpoints, engine events) and read back,
for tests that set up or check what the routes would have written."""
import json
import uuid

import psycopg2

from app.state.stored import StoredDeployment

from .deployments import pets


def count(db, sql, *args):
    with db.cursor() as cur:
        cur.execute(sql, args)
        (value,) = cur.fetchone().values()
    db.rollback()
    return value


def stack_id(db, org, project, stack):
    with db.cursor() as cur:
        cur.execute(
            "SELECT s.id FROM stacks s JOIN projects p ON p.id = s.project_id "
            "JOIN organizations o ON o.id = p.org_id "
            "WHERE o.name = %s AND p.name = %s AND s.name = %s AND s.deleted_at IS NULL",
            (org, project, stack),
        )
        row = cur.fetchone()
    db.rollback()
    return row["id"] if row else None


def add_update(db, org, project, stack, *, kind="update", status="succeeded", version=None,
               dry_run=False, start_time="2024-03-07 16:00:00+00"):
    """An update row as the update lifecycle writes it: a real operation claims the next stack
    version and becomes the stack's active update. Returns the update id (str)."""
    sid = stack_id(db, org, project, stack)
    update_id = str(uuid.uuid4())
    with db, db.cursor() as cur:
        if version is None and not dry_run:
            cur.execute("UPDATE stacks SET version = version + 1 WHERE id = %s RETURNING version",
                        (sid,))
            version = cur.fetchone()["version"]
        cur.execute(
            "INSERT INTO updates (id, stack_id, kind, dry_run, status, version, start_time) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (update_id, sid, kind, dry_run, status, version, start_time),
        )
        if not dry_run:
            cur.execute("UPDATE stacks SET active_update_id = %s WHERE id = %s", (update_id, sid))
    return update_id


def add_checkpoint(db, org, project, stack, version, resources=0, update_id=None):
    sid = stack_id(db, org, project, stack)
    row = StoredDeployment.from_untyped(pets(project, stack, resources)).row()
    with db, db.cursor() as cur:
        cur.execute(
            "INSERT INTO checkpoints (stack_id, version, update_id, deployment_gz, size_bytes, "
            "sha256, resource_count) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (sid, version, update_id, row["deployment_gz"], row["size_bytes"], row["sha256"],
             row["resource_count"]),
        )


def add_engine_event(db, update_id, sequence):
    event = {"sequence": sequence, "timestamp": 0, "stdoutEvent": {"message": "hi", "color": "never"}}
    with db, db.cursor() as cur:
        cur.execute(
            "INSERT INTO engine_events (update_id, sequence, type, event) VALUES (%s, %s, %s, %s)",
            (update_id, sequence, "stdoutEvent", json.dumps(event)),
        )


def expire_lease(db, update_id, seconds_ago):
    """Make an update's lease have run out `seconds_ago` (3600: long enough to be abandoned)."""
    with db, db.cursor() as cur:
        cur.execute("UPDATE updates SET lease_expires_at = now() - make_interval(secs => %s) "
                    "WHERE id = %s", (seconds_ago, update_id))


def every_row(database_url):
    """{table: sorted rows as text} of every table of the public schema: two databases with
    equal results hold the same data (a backup and its restore)."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = sorted(row[0] for row in cur.fetchall())
            found = {}
            for table in tables:
                cur.execute(f'SELECT t::text FROM public."{table}" t')
                found[table] = sorted(row[0] for row in cur.fetchall())
            return found
    finally:
        conn.close()
