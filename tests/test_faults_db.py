"""PostgreSQL stopped and restarted under a steady request load against a real gunicorn: while it
is down every request fails fast with a JSON 503 (never a 500, never a hang), and the service
heals by itself once the database is back, without a restart.

The PostgreSQL here is a dedicated one (not the session's), so that stopping it disturbs no
other test; testing.postgresql's terminate() stops the server and keeps its data folder and
port, and start() brings the same server back."""
import threading
import time
from collections import Counter

import pytest
import requests

from app import create_app
from tests.support import ACCEPT, postgres as pg
from tests.support.api import Api
from tests.support.apps import make_config
from tests.support.servers import Service

# The service's own bound for one request while the database is down (DB_CONNECT_TIMEOUT is
# 2 s below): a client waiting longer than this has met a hang.
REQUEST_TIMEOUT = 10
# The requirement: healthy again within 5 seconds of the database's return.
HEAL_SECONDS = 5


@pytest.fixture(scope="module")
def own_postgres():
    with pg.running() as server:
        yield server


@pytest.fixture(scope="module")
def service(own_postgres):
    svc = Service(own_postgres.url(), env={"DB_CONNECT_TIMEOUT": "2", "DB_POOL_MIN": "2"},
                  workers=2, threads=4).start()
    yield svc
    svc.stop()


class Load:
    """Threads calling a read and a write route in a loop, recording every outcome."""

    def __init__(self, service, token, threads=4, max_requests=5000):
        self.service = service
        self.headers = {"Accept": ACCEPT, "Authorization": f"token {token}"}
        self.outcomes = []  # (phase, status or exception name, body)
        self.phase = "before"
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.max_requests = max_requests
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(threads)]

    def call(self, i, session):
        base = self.service.url
        if i % 2:
            return session.patch(f"{base}/api/stacks/faultuser/proj/dev/tags",
                                 json={"n": str(i)}, headers=self.headers,
                                 timeout=REQUEST_TIMEOUT)
        return session.get(f"{base}/api/user/stacks", headers=self.headers,
                           timeout=REQUEST_TIMEOUT)

    def run(self, index):
        session = requests.Session()
        for n in range(self.max_requests):
            if self.stop.is_set():
                return
            started = self.phase
            try:
                response = self.call(index + n, session)
                result = (response.status_code, response.text[:200],
                          response.headers.get("Content-Type", ""),
                          response.headers.get("Retry-After"))
            except requests.RequestException as err:
                result = (type(err).__name__, str(err)[:200], "", None)
            # A request that spans a change (started before the stop, ended after it) belongs
            # to no phase of its own.
            phase = started if self.phase == started else "transition"
            outcome = (phase, *result)
            with self.lock:
                self.outcomes.append(outcome)
            time.sleep(0.01)

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(REQUEST_TIMEOUT + 5)

    def statuses(self, phase):
        return Counter(o[1] for o in self.outcomes if o[0] == phase)

    def of(self, phase):
        return [o for o in self.outcomes if o[0] == phase]


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def healthy(service, token):
    try:
        response = requests.get(f"{service.url}/api/user/stacks", timeout=REQUEST_TIMEOUT,
                                headers={"Accept": ACCEPT, "Authorization": f"token {token}"})
    except requests.RequestException:
        return False
    return response.status_code == 200


def test_database_restart_under_load_gives_503s_then_heals(own_postgres, service):
    token = service.user("faultuser")
    created = service.api("POST", "/api/stacks/faultuser/proj", token, json={"stackName": "dev"})
    assert created.status_code == 200, created.text

    load = Load(service, token).start()
    try:
        assert wait_for(lambda: sum(load.statuses("before").values()) >= 40, 30)

        load.phase = "stopping"
        stopping = time.monotonic()
        own_postgres.terminate()  # fast shutdown: sessions are cut, new connections refused
        print(f"\nPostgreSQL stopped in {time.monotonic() - stopping:.2f} s")
        load.phase = "down"
        assert wait_for(lambda: sum(load.statuses("down").values()) >= 40, 30), \
            load.statuses("down")

        load.phase = "restarting"
        restarting = time.monotonic()
        own_postgres.start()  # the same data folder and port
        back = time.monotonic()
        print(f"PostgreSQL restarted in {back - restarting:.2f} s")
        load.phase = "back"
        healed = wait_for(lambda: healthy(service, token), HEAL_SECONDS)
        healed_after = time.monotonic() - back
        load.phase = "healed"
        assert wait_for(lambda: sum(load.statuses("healed").values()) >= 40, 30)
    finally:
        load.finish()

    print(f"\nstatuses by phase: " + "; ".join(
        f"{phase}: {dict(load.statuses(phase))}"
        for phase in ("before", "stopping", "down", "restarting", "back", "healed",
                      "transition")))
    print(f"healthy {healed_after:.2f} s after the database was back")

    assert healed, f"not healthy within {HEAL_SECONDS} s of the database's return"
    assert set(load.statuses("before")) <= {200, 204}, load.statuses("before")
    # While down: a JSON 503 with Retry-After, quickly (no timeouts), nothing else.
    assert set(load.statuses("down")) == {503}, load.of("down")[:5]
    for _, status, body, content_type, retry_after in load.of("down"):
        assert content_type == "application/json"
        assert '"code":503' in body.replace(" ", "")
        assert retry_after is not None
    # Once healed: every request succeeds again, without restarting the service.
    assert set(load.statuses("healed")) <= {200, 204}, load.of("healed")[:5]
    # Never a 500 or a hang in any phase, including the moments of stopping and restarting.
    every = Counter(o[1] for o in load.outcomes)
    assert set(every) <= {200, 204, 503}, every
    assert service.proc.poll() is None, "gunicorn died"


def test_a_stuck_database_answers_503_after_the_statement_timeout(database_url, people, db):
    # A statement that cannot finish (here: waiting for a lock another session holds) ends at
    # DB_STATEMENT_TIMEOUT_MS with a 503, instead of holding a worker thread indefinitely.
    api = people.user("vera", {"acme": "admin"})
    assert api.post("/api/stacks/acme/proj", body={"stackName": "dev"}).status_code == 200
    app = create_app(make_config(database_url, AUTO_MIGRATE=False,
                            DB_STATEMENT_TIMEOUT_MS=300))
    client = Api(app.test_client(), api.token)
    answers = []
    with db.cursor() as cur:
        cur.execute("LOCK TABLE stacks IN ACCESS EXCLUSIVE MODE")
        # In a thread, so that a missing timeout fails this test instead of hanging it.
        request = threading.Thread(
            target=lambda: answers.append(client.get("/api/stacks/acme/proj/dev")), daemon=True)
        request.start()
        request.join(30)
    db.rollback()
    assert answers, "the request was still waiting after 30 s: no statement timeout"
    response = answers[0]
    assert response.status_code == 503
    assert response.get_json()["code"] == 503
    assert client.get("/api/stacks/acme/proj/dev").status_code == 200


def test_timeouts_in_database_url_are_left_alone():
    from app.db import _timeouts

    config = {"DATABASE_URL": "postgresql://h/d?connect_timeout=9&options=-c%20work_mem%3D8MB",
              "DB_CONNECT_TIMEOUT": 5, "DB_STATEMENT_TIMEOUT_MS": 1000}
    assert _timeouts(config) == {}
    config["DATABASE_URL"] = "postgresql://h/d"
    assert _timeouts(config) == {"connect_timeout": 5, "options": "-c statement_timeout=1000"}
