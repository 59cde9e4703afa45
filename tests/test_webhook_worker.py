"""The real delivery worker (`pulumi-service worker`, a process of its own) against a PostgreSQL
of this module's own: an event queued by a change is delivered at once, and nothing is lost when
the worker is SIGKILLed mid-delivery or PostgreSQL restarts mid-delivery (the event is sent again
with the same Pulumi-Webhook-ID, which a receiver de-duplicates on)."""
import os
import signal
import subprocess
import sys

import psycopg2
import pytest

from app import create_app
from tests.support import MASTER_KEY, REPO, unique
from tests.support import postgres as pg
from tests.support.api import People
from tests.support.apps import make_config, migrated
from tests.support.receiver import Receiver
from tests.support.servers import wait_until
from tests.support.updates import make_stack


@pytest.fixture(scope="module")
def own_postgres():
    with pg.running() as server:
        yield server


@pytest.fixture(scope="module")
def own_url(own_postgres):
    return migrated(own_postgres.url())


@pytest.fixture
def admin(own_url):
    app = create_app(make_config(own_url, WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32"))
    people = People(app, own_url)
    yield people.user(unique("adam"), {"acme": "admin"})
    people.close()
    conn = psycopg2.connect(own_url)
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM webhooks; DELETE FROM stacks; DELETE FROM projects")
    conn.close()


def start_worker(database_url):
    env = dict(os.environ, DATABASE_URL=database_url, SECRETS_MASTER_KEY=MASTER_KEY,
               SECRETS_MASTER_KEY_FILE="", SECRETS_PREVIOUS_MASTER_KEYS="",
               WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32", WEBHOOK_RETRY_BASE_SECONDS="0.05",
               WEBHOOK_POLL_SECONDS="0.2", WEBHOOK_WORKER_THREADS="2", DB_CONNECT_TIMEOUT="2",
               LOG_LEVEL="WARNING")
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def event_states(database_url):
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT e.state, count(d.id) FILTER (WHERE d.response_code = 200) "
                        "FROM webhook_events e LEFT JOIN webhook_deliveries d ON d.event_id = e.id "
                        "GROUP BY e.id")
            return cur.fetchall()
    except psycopg2.OperationalError:
        return None
    finally:
        conn.close()


def hook_on(admin, receiver):
    response = admin.post("/api/orgs/acme/hooks", body={
        "organizationName": "acme", "name": "", "displayName": "ci", "payloadUrl": receiver.url,
        "active": True, "secret": "k"})
    assert response.status_code == 201, response.get_json()


def delivered_across(own_url, admin, cut):
    """Queue one event, let the worker send it, and call `cut(worker)` while the receiver holds
    the request (cut returns the worker that runs on); the requests once the event is delivered
    and recorded as such."""
    with Receiver(secret="k") as receiver:
        hook_on(admin, receiver)
        receiver.hold()
        worker = start_worker(own_url)
        try:
            make_stack(admin)
            receiver.wait_for(1)  # the worker is now waiting for the answer
            worker = cut(worker, receiver)
            got = receiver.wait_for(2, seconds=60)
            wait_until(lambda: event_states(own_url) == [("delivered", 1)], "the delivery", 60)
            assert worker.poll() is None
        finally:
            worker.kill()
            worker.wait()
    assert all(r["signed"] for r in got)
    assert len({r["id"] for r in got}) == 1 and len({r["body"] for r in got}) == 1
    return got


def test_a_worker_killed_mid_delivery_loses_nothing(own_url, admin):
    def kill(worker, receiver):
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        receiver.release()  # the answer goes nowhere
        return start_worker(own_url)

    assert len(delivered_across(own_url, admin, kill)) == 2


def test_a_database_restart_mid_delivery_loses_nothing(own_postgres, own_url, admin):
    def restart(worker, receiver):
        own_postgres.terminate()  # the worker's transaction is cut while it waits
        receiver.release()
        own_postgres.start()
        return worker  # it waits the database out

    assert len(delivered_across(own_url, admin, restart)) == 2
