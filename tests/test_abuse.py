"""Abuse: failed authentications slowed down per client, tokens stored only as hashes, no stack
trace in an error response."""
import hashlib

import pytest
from flask import Blueprint

from app import create_app
from app.auth import authenticated, new_token, public
from tests.support.apps import make_config
from tests.support import ACCEPT

LIMIT = 3


@pytest.fixture
def limited(database_url):
    """The app with a small failure limit (the counters live in the database, shared by every
    app instance and worker)."""
    return lambda **extra: create_app(make_config(database_url, AUTO_MIGRATE=False, AUTH_FAIL_LIMIT=LIMIT,
                                             AUTH_FAIL_WINDOW_SECONDS=60, **extra))


def get(app, token=None, addr="192.0.2.1", header=None, path="/api/user"):
    headers = {"Accept": ACCEPT}
    if header is not None:
        headers["Authorization"] = header
    elif token is not None:
        headers["Authorization"] = f"token {token}"
    return app.test_client().get(path, headers=headers, environ_base={"REMOTE_ADDR": addr})


def fail(app, times, addr="192.0.2.1"):
    for _ in range(times):
        assert get(app, new_token(), addr).status_code == 401


def test_client_is_answered_429_with_retry_after_after_repeated_failures(limited, people):
    app = limited()
    fail(app, LIMIT)
    response = get(app, new_token())
    assert response.status_code == 429
    assert response.get_json()["code"] == 429
    assert "Too Many Requests" in response.get_json()["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_blocked_client_is_refused_even_with_a_valid_token(limited, people):
    token = people.user("vera").token
    app = limited()
    fail(app, LIMIT)
    assert get(app, token).status_code == 429


def test_other_clients_are_not_affected(limited, people):
    token = people.user("vera").token
    app = limited()
    fail(app, LIMIT, addr="192.0.2.1")
    assert get(app, token, addr="192.0.2.2").status_code == 200
    assert get(app, new_token(), addr="192.0.2.2").status_code == 401


def test_successful_requests_are_not_counted(limited, people):
    token = people.user("vera").token
    app = limited()
    for _ in range(LIMIT * 3):
        assert get(app, token).status_code == 200
    fail(app, LIMIT - 1)
    assert get(app, token).status_code == 200


def test_requests_without_credentials_are_not_counted(limited, people):
    app = limited()
    for _ in range(LIMIT * 2):
        assert get(app).status_code == 401
    assert get(app, new_token()).status_code == 401


def test_malformed_credentials_count(limited, people):
    app = limited()
    for _ in range(LIMIT):
        assert get(app, header="Bearer abc").status_code == 401
    assert get(app, header="Bearer abc").status_code == 429


def test_revoked_tokens_count(limited, people, db):
    token = people.user("vera").token
    with db, db.cursor() as cur:
        cur.execute("UPDATE access_tokens SET revoked_at = now()")
    app = limited()
    for _ in range(LIMIT):
        assert get(app, token).status_code == 401
    assert get(app, token).status_code == 429


def test_failures_are_shared_by_every_worker(limited, people):
    # Two app instances have two connection pools, as two gunicorn workers (or hosts) do.
    first, second = limited(), limited()
    fail(first, LIMIT - 1)
    fail(second, 1)
    assert get(first, new_token()).status_code == 429
    assert get(second, new_token()).status_code == 429


def test_client_may_try_again_once_the_window_is_over(limited, people, db):
    token = people.user("vera").token
    app = limited()
    fail(app, LIMIT)
    with db, db.cursor() as cur:  # the window started long enough ago
        cur.execute("UPDATE auth_failures SET window_start = now() - interval '61 seconds'")
    assert get(app, token).status_code == 200
    fail(app, LIMIT - 1)  # a new window: counting starts again
    assert get(app, token).status_code == 200


def test_each_client_is_one_row(limited, people, db):
    app = limited()
    fail(app, 2, addr="192.0.2.1")
    fail(app, 1, addr="192.0.2.2")
    with db.cursor() as cur:
        cur.execute("SELECT client, failures FROM auth_failures ORDER BY client")
        assert [(r["client"], r["failures"]) for r in cur.fetchall()] == [
            ("192.0.2.1", 2), ("192.0.2.2", 1)]


def test_limit_zero_turns_slowing_down_off(database_url, people):
    app = create_app(make_config(database_url, AUTO_MIGRATE=False,
                            AUTH_FAIL_LIMIT=0))
    for _ in range(LIMIT * 2):
        assert get(app, new_token()).status_code == 401


def test_client_address_comes_from_x_forwarded_for_behind_a_trusted_proxy(limited, people):
    token = people.user("vera").token
    app = limited(TRUSTED_PROXY_COUNT=1)

    def via_proxy(token, client):
        return app.test_client().get(
            "/api/user", headers={"Accept": ACCEPT, "Authorization": f"token {token}",
                                  "X-Forwarded-For": client},
            environ_base={"REMOTE_ADDR": "127.0.0.1"})

    for _ in range(LIMIT):
        assert via_proxy(new_token(), "198.51.100.7").status_code == 401
    assert via_proxy(token, "198.51.100.7").status_code == 429
    assert via_proxy(token, "198.51.100.8").status_code == 200


# --- tokens at rest ------------------------------------------------------------------------------

def every_row_as_text(db):
    with db.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row["tablename"] for row in cur.fetchall()]
        text = []
        for table in tables:
            # bytea columns come out as \x... hex in JSON: a hex copy of a token is found too.
            cur.execute(f'SELECT row_to_json(t)::text AS row FROM "{table}" t')
            text += [row["row"] for row in cur.fetchall()]
    return "\n".join(text)


def test_tokens_are_stored_only_as_sha256_hashes(people, db):
    tokens = [people.user(login, {"acme": "admin"}).token for login in ("vera", "mona")]
    with db.cursor() as cur:
        cur.execute("SELECT token_hash FROM access_tokens ORDER BY id")
        stored = [bytes(row["token_hash"]) for row in cur.fetchall()]
    assert stored == [hashlib.sha256(t.encode()).digest() for t in tokens]
    dump = every_row_as_text(db).lower()
    for token in tokens:
        assert token.lower() not in dump
        assert token.encode().hex() not in dump
        assert token[len("pul-"):].lower() not in dump


def test_no_table_holds_a_token_after_it_was_used(people, db):
    api = people.user("vera", {"acme": "admin"})
    assert api.post("/api/stacks/acme/proj", body={"stackName": "dev"}).status_code == 200
    assert api.get("/api/user").status_code == 200
    assert api.token.lower() not in every_row_as_text(db).lower()


# --- no stack trace ------------------------------------------------------------------------------

def test_a_500_body_has_no_traceback(database_url, monkeypatch):
    import app.routes.stacks as stack_routes

    bp = Blueprint("stacks", __name__)

    @bp.get("/api/explode")
    @public
    def explode():
        secret_path = "/srv/secret/settings.py"
        raise RuntimeError(f"boom at {secret_path}")

    monkeypatch.setattr(stack_routes, "bp", bp)
    app = create_app(make_config(database_url, AUTO_MIGRATE=False))
    response = app.test_client().get("/api/explode", headers={"Accept": ACCEPT})
    assert response.status_code == 500
    body = response.get_json()
    assert set(body) == {"code", "message", "requestId"}
    assert body["code"] == 500
    assert body["message"] == f"Internal Server Error (request id {body['requestId']})"
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "boom", "secret", ".py", "File "):
        assert leak not in text


def test_an_authenticated_500_has_no_traceback_either(database_url, people, monkeypatch):
    import app.routes.stacks as stack_routes

    bp = Blueprint("stacks", __name__)

    @bp.get("/api/explode")
    @authenticated
    def explode():
        return {}["missing"]

    monkeypatch.setattr(stack_routes, "bp", bp)
    token = people.user("vera").token
    app = create_app(make_config(database_url, AUTO_MIGRATE=False))
    response = app.test_client().get(
        "/api/explode", headers={"Accept": ACCEPT, "Authorization": f"token {token}"})
    assert response.status_code == 500
    assert "KeyError" not in response.get_data(as_text=True)
    assert "missing" not in response.get_data(as_text=True)
