"""Races: many clients creating one stack at once through a real HTTP server, and several
processes migrating a fresh database at once."""
import collections
import multiprocessing
import threading

import pytest
import requests
from werkzeug.serving import make_server

from app import create_app, migrate
from app.db import get_conn
from tests.support import ACCEPT
from tests.support.api import Api
from tests.support.apps import make_config
from tests.support.api import assert_error
from tests.support.postgres import throwaway_database
from tests.support.rows import count

CLIENTS = 20


@pytest.fixture
def server(app):
    """The app behind a real threaded HTTP server on a free port."""
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join()


def all_at_once(count_, call):
    """Run call(i) in `count_` threads released together; returns the results in order."""
    barrier = threading.Barrier(count_)
    results = [None] * count_

    def run(i):
        barrier.wait()
        try:
            results[i] = call(i)
        except Exception as err:  # noqa: BLE001 - reported as a result, asserted by the test
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count_)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def post(url, token, body):
    response = requests.post(url, json=body, timeout=60, headers={
        "Accept": ACCEPT, "Authorization": f"token {token}",
    })
    return response.status_code, response.json()


def test_concurrent_creates_of_one_stack_give_one_200_and_409s(server, people, db):
    people.user("mona", {"acme": "member"})
    token = people.tokens["mona"]
    results = all_at_once(CLIENTS, lambda i: post(
        f"{server}/api/stacks/acme/proj", token, {"stackName": "dev"}))
    statuses = collections.Counter(r[0] if isinstance(r, tuple) else repr(r) for r in results)
    assert statuses == {200: 1, 409: CLIENTS - 1}
    assert all("already exists" in body["message"] for status, body in results if status == 409)
    assert count(db, "SELECT count(*) FROM stacks") == 1
    assert count(db, "SELECT count(*) FROM projects") == 1


def test_concurrent_creates_of_different_stacks_in_a_new_project_all_succeed(server, people, db):
    people.user("mona", {"acme": "member"})
    token = people.tokens["mona"]
    results = all_at_once(CLIENTS, lambda i: post(
        f"{server}/api/stacks/acme/proj", token, {"stackName": f"s{i}"}))
    assert [r[0] if isinstance(r, tuple) else repr(r) for r in results] == [200] * CLIENTS
    assert count(db, "SELECT count(*) FROM stacks") == CLIENTS
    assert count(db, "SELECT count(*) FROM projects") == 1


def _migrate_in_process(url, start, results):
    start.wait()
    try:
        results.put(("ok", migrate.upgrade(url, log=lambda message: None)))
    except Exception as err:  # noqa: BLE001 - sent back to the test
        results.put(("error", repr(err)))


def test_concurrent_migrations_apply_each_migration_once(database_url):
    workers = 6
    context = multiprocessing.get_context("spawn")
    with throwaway_database(database_url) as url:
        start = context.Barrier(workers)
        results = context.Queue()
        processes = [context.Process(target=_migrate_in_process, args=(url, start, results))
                     for _ in range(workers)]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(timeout=60)
            assert process.exitcode == 0

        assert [kind for kind, _ in outcomes] == ["ok"] * workers, outcomes
        applied = [name for _, names in outcomes for name in names]
        expected = [name for _, name, _ in migrate.available()]
        assert sorted(applied) == sorted(expected)
        conn = migrate.connect(url)
        try:
            rows = count(conn, "SELECT count(*) FROM schema_migrations")
            assert rows == len(expected)
            assert migrate.pending(conn) == []
        finally:
            conn.close()


def test_request_finding_every_connection_busy_waits_then_answers_503(database_url, people):
    """A worker's pool is bounded: past DB_POOL_TIMEOUT a request gets a retryable 503."""
    people.user("mona")
    # A URL of its own so that this app gets a pool of its own (pools are per URL).
    busy = create_app(make_config(database_url + "?application_name=busy",
                                  DB_POOL_MIN=1, DB_POOL_MAX=1, DB_POOL_TIMEOUT=0,
                                  AUTO_MIGRATE=False))
    api = Api(busy.test_client(), people.tokens["mona"])
    holding, release = threading.Event(), threading.Event()

    def hold_the_only_connection():
        with busy.app_context():
            get_conn()
            holding.set()
            release.wait(timeout=60)

    holder = threading.Thread(target=hold_the_only_connection)
    holder.start()
    try:
        assert holding.wait(timeout=60)
        response = api.get("/api/user")
        assert_error(response, 503)
        assert response.headers["Retry-After"]
    finally:
        release.set()
        holder.join()
    assert api.get("/api/user").status_code == 200
