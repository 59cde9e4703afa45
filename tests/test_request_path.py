"""The fast request path keeps its promises: credentials and roles are read fresh on every request
(one statement, prepared once per connection, never cached), last_used_at is written at most once a
minute, and a pooled connection the server closed is replaced without failing a request. Speed is
measured by bench/request_path.py, not here."""
import json
import time

from app import create_app, db as app_db
from app.queries import queries
from tests.support.api import Api
from tests.support.apps import make_config

STACK = "/api/stacks/acme/proj/dev"


def test_revoked_token_is_refused_on_the_next_request(acme, db):
    member = acme["member"]
    assert member.get("/api/user").status_code == 200
    with db, db.cursor() as cur:
        cur.execute("UPDATE access_tokens SET revoked_at = now() "
                    "WHERE user_id = (SELECT id FROM users WHERE login = 'mona')")
    assert member.get("/api/user").status_code == 401


def test_removed_membership_counts_on_the_next_request(acme, db):
    member = acme["member"]
    assert member.post("/api/stacks/acme/proj", body={"stackName": "dev"}).status_code == 200
    assert member.get(STACK).status_code == 200
    with db:
        org = queries.org_by_name(db, name="acme")
        user = queries.user_by_login(db, login="mona")
        queries.remove_membership(db, org_id=org["id"], user_id=user["id"])
    assert member.get(STACK).status_code == 404


def last_used(db):
    with db, db.cursor() as cur:
        cur.execute("SELECT last_used_at FROM access_tokens t JOIN users u ON u.id = t.user_id "
                    "WHERE u.login = 'vera'")
        return cur.fetchone()["last_used_at"]


def test_last_used_is_written_at_most_once_a_minute(acme, db):
    viewer = acme["viewer"]
    assert last_used(db) is None
    viewer.get("/api/user")
    first = last_used(db)
    assert first is not None
    viewer.get("/api/user")
    assert last_used(db) == first
    with db, db.cursor() as cur:
        cur.execute("UPDATE access_tokens SET last_used_at = now() - interval '2 minutes'")
    viewer.get("/api/user")
    assert last_used(db) > first


def test_pooled_connections_closed_by_the_server_are_replaced(database_url, people, db):
    # A pool of its own (its own URL), so that only its connections are terminated.
    app = create_app(make_config(database_url + "?application_name=replaced",
                                 DB_POOL_MIN=2, AUTO_MIGRATE=False))
    people.user("ruth")
    api = Api(app.test_client(), people.tokens["ruth"])
    assert api.get("/api/user").status_code == 200
    with db, db.cursor() as cur:
        cur.execute("SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
                    "WHERE application_name = 'replaced'")
        assert cur.fetchone()["n"] >= 1
    # pg_terminate_backend only signals: wait until the backends have gone (each says goodbye on
    # its socket before it leaves pg_stat_activity). A request that takes a connection at the
    # very instant its backend is terminated fails, which this test is not about.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with db, db.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM pg_stat_activity "
                        "WHERE application_name = 'replaced'")
            if cur.fetchone()["n"] == 0:
                break
        time.sleep(0.01)
    for _ in range(3):
        assert api.get("/api/user").status_code == 200
    assert app_db.pool_stats(app)["in_use"] == 0
    assert app_db.pool_stats(app)["idle"] >= 1


def test_named_queries_run_as_plain_statements_when_prepared_statements_are_off(database_url,
                                                                               people):
    app = create_app(make_config(database_url + "?application_name=unprepared",
                                 DB_PREPARED_STATEMENTS=False, AUTO_MIGRATE=False))
    people.user("uma")
    api = Api(app.test_client(), people.tokens["uma"])
    assert api.get("/api/user").status_code == 200
    with app.app_context():
        conn = app_db.get_conn()
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM pg_prepared_statements")
            assert cur.fetchone()["n"] == 0


def test_ids_past_32_bits_in_urls_find_nothing_rather_than_fail(acme):
    # Prepared parameters have types; a value too big for an integer parameter runs unprepared.
    member = acme["member"]
    assert member.post("/api/stacks/acme/proj", body={"stackName": "dev"}).status_code == 200
    assert member.get(f"{STACK}/export/{2**40}").status_code == 404
    assert member.get("/api/user/stacks?continuationToken=" + str(2**40)).status_code == 200


def test_continuation_token_of_other_digits_is_a_400(acme):
    response = acme["member"].get("/api/user/stacks?continuationToken=%C2%B2")
    assert response.status_code == 400


def statements_of(app, call):
    """The SQL statements the app's pool connections run during `call()`."""
    from app.queries import PreparingCursor
    seen = []
    original = PreparingCursor.execute

    def execute(self, query, vars=None):
        seen.append(query)
        return original(self, query, vars)

    PreparingCursor.execute = execute
    try:
        result = call()
    finally:
        PreparingCursor.execute = original
    return result, seen


def test_get_stack_is_answered_by_the_authentication_statement(app, acme, db):
    # GET stack's summary comes with the caller's permission, in one statement; it is the same
    # summary as the query by name gives (a running update's operation included).
    from app.schemas import stacks as schemas
    from tests.support.updates import Operation, make_stack, run
    member = acme["member"]
    path = make_stack(member, org="acme", project="proj", name="dev")
    run(member, 3, stack=path)
    op = Operation(member, path)
    op.start()
    response, seen = statements_of(app, lambda: member.get(path))
    assert response.status_code == 200
    assert seen == [queries.authenticate_token.sql]
    with db:
        row = queries.get_stack(db, org_name="acme", project_name="proj", stack_name="dev")
    body = response.get_json()
    assert body == json.loads(json.dumps(schemas.stack.dump(schemas.stack_of_row(row))))
    assert body["currentOperation"]["started"] == int(row["op_started"].timestamp())
    assert body["currentOperation"]["kind"] == "update" and body["resourceCount"] == 3


def test_get_stack_by_a_former_name_answers_as_before(app, acme):
    # The authentication statement finds a renamed stack by its former name (for the secrets
    # routes); GET stack does not answer with it, as the query by name never did.
    member = acme["member"]
    member.post("/api/stacks/acme/proj", body={"stackName": "old"})
    assert member.post("/api/stacks/acme/proj/old/rename",
                       body={"newName": "new", "newProject": ""}).status_code == 204
    response, seen = statements_of(app, lambda: member.get("/api/stacks/acme/proj/old"))
    assert response.status_code == 404 and len(seen) == 2
    assert member.get("/api/stacks/acme/proj/new").get_json()["stackName"] == "new"
