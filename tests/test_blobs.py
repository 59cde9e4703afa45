"""State blobs in a real S3 server (versitygw): finished versions and imports go to the object
store content-addressed, are read back from it by every reader, a running update's working data
stays in PostgreSQL, the collector deletes only what no row names, a store that is down gives 503s
with nothing half-written, and `blobs migrate` moves versions both ways."""
import gzip
import hashlib
import json
import threading
import time

import pytest

from app import blobs, create_app
from app.db import connect
from app.worker import Worker, collect_blobs as collect
from tests.support.api import People, assert_error
from tests.support.apps import make_config
from tests.support.deployments import untyped
from tests.support.servers import free_port
from tests.support.updates import STACK, Operation, export_json, make_stack, run as run_update


@pytest.fixture(scope="module")
def bucket(s3_server):
    return s3_server.bucket()


@pytest.fixture(scope="module")
def blob_app(database_url, s3_server, bucket):
    """An app whose every finished version goes to the object store (threshold 0 bytes)."""
    return create_app(make_config(database_url, BLOB_STORE_MIN_BYTES=0,
                                  **s3_server.settings(bucket)))


@pytest.fixture(scope="module")
def down_app(database_url):
    """An app whose object store does not answer (nothing listens on its port)."""
    return create_app(make_config(
        database_url, BLOB_STORE_MIN_BYTES=0, BLOB_STORE_URL="s3://nowhere/states",
        BLOB_STORE_ENDPOINT=f"http://127.0.0.1:{free_port()}", BLOB_STORE_TIMEOUT_SECONDS=1))


@pytest.fixture
def member(blob_app, database_url, s3_server, bucket):
    people = People(blob_app, database_url)
    api = people.user("adam", {"acme": "admin"})
    make_stack(api)
    yield api
    people.close()
    # Each test starts with an empty bucket (the database is emptied after each test).
    client = s3_server.client()
    for key in s3_server.keys(bucket):
        client.delete_object(Bucket=bucket, Key=key)


def rows(db, sql, *args):
    db.rollback()  # a fresh snapshot
    with db.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def checkpoint_rows(db):
    return rows(db, "SELECT version, deployment_gz IS NULL AS moved, blob_key FROM checkpoints "
                    "ORDER BY version")


def test_finished_versions_and_imports_are_objects_named_by_their_hash(member, db, s3_server,
                                                                        bucket):
    run_update(member, 2)
    run_update(member, 5)
    assert member.post(f"{STACK}/import", body=untyped(3)).status_code == 200
    found = checkpoint_rows(db)
    assert [r["version"] for r in found] == [1, 2, 3] and all(r["moved"] for r in found)
    assert s3_server.keys(bucket) == sorted(f"states/{r['blob_key']}" for r in found)
    for r in found:
        stored = s3_server.client().get_object(Bucket=bucket, Key=f"states/{r['blob_key']}")
        data = stored["Body"].read()
        assert r["blob_key"] == "sha256/" + hashlib.sha256(data).hexdigest()
        assert json.loads(gzip.decompress(data))["deployment"]["resources"]


def test_every_reader_reads_a_state_from_the_object_store(member):
    run_update(member, 2)
    run_update(member, 5)
    assert export_json(member, f"{STACK}/export") == untyped(5)
    assert export_json(member, f"{STACK}/export/1") == untyped(2)
    plain = member.get(f"{STACK}/export/1", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and json.loads(plain.get_data()) == untyped(2)
    # A new update starts from the stored state, and the outputs are read from it.
    op = Operation(member)
    op.start()
    assert op.checkpoint(untyped(6)).status_code == 204
    assert op.complete().status_code == 204
    assert member.get(f"{STACK}/outputs").status_code == 200
    assert export_json(member, f"{STACK}/export") == untyped(6)


def test_a_running_update_keeps_its_state_in_postgresql_until_it_ends(member, db):
    op = Operation(member)
    op.start()
    assert op.checkpoint(untyped(3)).status_code == 204
    assert [r["moved"] for r in checkpoint_rows(db)] == [False]
    assert export_json(member, f"{STACK}/export") == untyped(3)
    assert op.complete().status_code == 204
    assert [r["moved"] for r in checkpoint_rows(db)] == [True]


def test_states_below_the_threshold_stay_in_postgresql(member, db, blob_app, monkeypatch):
    monkeypatch.setitem(blob_app.config, "BLOB_STORE_MIN_BYTES", 10 ** 9)
    run_update(member, 2)
    assert [r["moved"] for r in checkpoint_rows(db)] == [False]


# --- the collector ----------------------------------------------------------------------------

def collect_blobs(app, grace_seconds):
    return collect(app.config["DATABASE_URL"], app.extensions["blob_store"], grace_seconds)


def put_orphan(blob_app, data=b"orphan"):
    return blob_app.extensions["blob_store"].put(gzip.compress(data))


def test_the_collector_deletes_old_unreferenced_objects_only(member, blob_app, s3_server, bucket):
    run_update(member, 2)
    orphan = put_orphan(blob_app)
    assert collect_blobs(blob_app, grace_seconds=3600) == 0  # too young: within the grace period
    assert f"states/{orphan}" in s3_server.keys(bucket)
    assert collect_blobs(blob_app, grace_seconds=0) == 1
    assert len(s3_server.keys(bucket)) == 1  # the referenced one
    assert export_json(member, f"{STACK}/export") == untyped(2)


def test_a_deleted_stack_releases_its_objects_when_it_is_purged(member, blob_app, s3_server,
                                                                bucket, monkeypatch):
    run_update(member, 2)
    run_update(member, 3)
    assert member.delete(f"{STACK}?force=true").status_code == 204
    assert collect_blobs(blob_app, grace_seconds=0) == 0  # restorable: its rows still name them
    assert len(s3_server.keys(bucket)) == 2
    monkeypatch.setitem(blob_app.config, "STACK_RETENTION_DAYS", 0)
    assert Worker(blob_app).purge_deleted_stacks() == 1
    assert collect_blobs(blob_app, grace_seconds=0) == 2
    assert s3_server.keys(bucket) == []


def test_an_object_written_by_a_transaction_not_yet_committed_is_not_collected(
        member, blob_app, database_url, s3_server, bucket):
    """The race the lock closes: the collector has listed an old orphan; a transaction writes the
    same bytes again (same key) and will name them; the collector waits for it, then keeps it."""
    data = gzip.compress(b"same bytes")
    key = put_orphan(blob_app, b"same bytes")
    found = blob_app.extensions["blob_store"]
    writer = connect(database_url)
    result = []
    try:
        with writer.cursor() as cur:
            cur.execute("SELECT id FROM stacks")
            stack_id = cur.fetchone()["id"]
        with blob_app.app_context():
            placed = blobs.placed(writer, {"deployment_gz": data, "size_bytes": 10,
                                           "sha256": "x", "resource_count": 0})
        assert placed["blob_key"] == key
        collector = threading.Thread(target=lambda: result.append(
            collect_blobs(blob_app, grace_seconds=0)))
        collector.start()
        time.sleep(0.5)
        assert collector.is_alive()  # waiting for the writer to commit
        with writer.cursor() as cur:
            cur.execute("INSERT INTO checkpoints (stack_id, version, blob_key, size_bytes, sha256,"
                        " resource_count) VALUES (%s, 7, %s, 10, 'x', 0)", (stack_id, key))
        writer.commit()
        collector.join(30)
    finally:
        writer.close()
    assert result == [0] and found.exists(key)


# --- the store down -----------------------------------------------------------------------------

def test_a_store_that_is_down_gives_503_and_nothing_half_written(member, down_app, database_url,
                                                                 db):
    run_update(member, 2)
    people = People(down_app, database_url)
    try:
        down = people.user("dora", {"acme": "member"})
        assert_error(down.post(f"{STACK}/import", body=untyped(4)), 503, "object store")
        assert_error(down.get(f"{STACK}/export"), 503, "object store")
        op = Operation(down)
        op.start()
        assert op.checkpoint(untyped(4)).status_code == 204  # working data: PostgreSQL only
        assert_error(op.complete(), 503, "object store")
        assert_error(down_app.test_client().get("/readyz"), 503, "object store")
    finally:
        people.close()
    # Still the version before, whole; the update is still running (the CLI retries complete).
    assert [(r["version"], r["moved"]) for r in checkpoint_rows(db)] == [(1, True), (2, False)]
    assert rows(db, "SELECT status FROM updates WHERE version = 2")[0]["status"] == "running"
    assert export_json(member, f"{STACK}/export/1") == untyped(2)
    op.api = member  # the store is back: the CLI's retry, answered by a host that reaches it
    assert op.complete().status_code == 204
    assert export_json(member, f"{STACK}/export") == untyped(4)


def test_readyz_reports_a_store_that_answers(blob_app):
    assert blob_app.test_client().get("/readyz").status_code == 200


# --- moving versions between the stores ---------------------------------------------------------

def test_blobs_migrate_moves_versions_both_ways_and_resumes(member, blob_app, run, monkeypatch,
                                                             s3_server, bucket, db):
    monkeypatch.setitem(blob_app.config, "BLOB_STORE_MIN_BYTES", 10 ** 9)
    for count in (1, 2, 3):
        run_update(member, count)
    assert [r["moved"] for r in checkpoint_rows(db)] == [False] * 3
    for name, value in {**s3_server.settings(bucket), "BLOB_STORE_MIN_BYTES": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(blob_app.config, "BLOB_STORE_MIN_BYTES", 0)
    with blob_app.app_context():  # an earlier run that stopped after one version
        blobs.offload(db, rows(db, "SELECT id FROM stacks")[0]["id"], 1)
    db.commit()
    moved = run("blobs", "migrate", "--to", "s3", "--batch", "1")
    assert moved.exit_code == 0, moved.output
    assert "2 version(s) moved to the object store" in moved.output
    assert [r["moved"] for r in checkpoint_rows(db)] == [True] * 3
    assert "0 version(s) moved" in run("blobs", "migrate", "--to", "s3").output
    assert [export_json(member, f"{STACK}/export/{v}") for v in (1, 2, 3)] == [
        untyped(1), untyped(2), untyped(3)]

    back = run("blobs", "migrate", "--to", "db")
    assert back.exit_code == 0 and "3 version(s) moved to PostgreSQL" in back.output
    assert [r["moved"] for r in checkpoint_rows(db)] == [False] * 3
    assert [export_json(member, f"{STACK}/export/{v}") for v in (1, 2, 3)] == [
        untyped(1), untyped(2), untyped(3)]
    gc = run("blobs", "gc", "--grace-seconds", "0")
    assert gc.exit_code == 0 and "3 unreferenced object(s) deleted" in gc.output
    assert s3_server.keys(bucket) == []
