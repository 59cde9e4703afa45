"""Who may call what: every route with every role and an outsider, the API token, and the JSON
errors of the routing layer (unknown routes, wrong methods)."""
import pytest

from app.auth import hash_token
from app.queries import queries
from tests.support.api import assert_error

STACK = "/api/stacks/acme/proj/dev"
ROLES = ["viewer", "member", "admin"]
RANK = {"viewer": 1, "member": 2, "admin": 3}

# (name, method, path, body, role needed, status on success)
ORG_ROUTES = [
    ("create stack", "POST", "/api/stacks/acme/proj", {"stackName": "new"}, "member", 200),
    ("project exists", "HEAD", "/api/stacks/acme/proj", None, "viewer", 200),
    ("get stack", "GET", STACK, None, "viewer", 200),
    ("delete stack", "DELETE", STACK + "?force=true", None, "admin", 204),
    ("rename stack", "POST", STACK + "/rename", {"newName": "acme/proj/renamed"}, "member", 204),
    ("set tags", "PATCH", STACK + "/tags", {"team": "a"}, "member", 204),
]
USER_ROUTES = [
    ("user", "GET", "/api/user"),
    ("default org", "GET", "/api/user/organizations/default"),
    ("capabilities", "GET", "/api/capabilities"),
    ("list stacks", "GET", "/api/user/stacks"),
]
ALL_ROUTES = [(n, m, p, b) for n, m, p, b, _, _ in ORG_ROUTES] + [
    (n, m, p, None) for n, m, p in USER_ROUTES
]


@pytest.fixture
def dev(acme):
    assert acme["admin"].post("/api/stacks/acme/proj", {"stackName": "dev"}).status_code == 200
    return acme


def stacks_table(db):
    with db.cursor() as cur:
        cur.execute("SELECT id, project_id, name, tags, version FROM stacks ORDER BY id")
        rows = cur.fetchall()
    db.rollback()
    return rows


def idfn(value):
    return value if isinstance(value, str) else None


# --- roles --------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name, method, path, body, needed, ok", ORG_ROUTES, ids=idfn)
def test_org_route_by_role(dev, db, role, name, method, path, body, needed, ok):
    before = stacks_table(db)
    response = dev[role].call(method, path, body)
    if RANK[role] >= RANK[needed]:
        assert response.status_code == ok, response.get_data(as_text=True)
    else:
        assert response.status_code == 403
        if method != "HEAD":
            assert_error(response, 403, contains=needed)
        assert stacks_table(db) == before


@pytest.mark.parametrize("name, method, path, body, needed, ok", ORG_ROUTES, ids=idfn)
def test_org_route_for_an_outsider_is_404(dev, db, name, method, path, body, needed, ok):
    before = stacks_table(db)
    response = dev["outsider"].call(method, path, body)
    assert response.status_code == 404
    if method != "HEAD":
        assert_error(response, 404)
    assert stacks_table(db) == before


@pytest.mark.parametrize("name, method, path, body, needed, ok", ORG_ROUTES, ids=idfn)
def test_outsider_cannot_tell_an_existing_org_from_a_missing_one(dev, name, method, path, body,
                                                                 needed, ok):
    existing = dev["outsider"].call(method, path, body)
    missing = dev["outsider"].call(method, path.replace("/acme/", "/nosuchorg/"), body)
    assert existing.status_code == missing.status_code == 404
    assert existing.get_data() == missing.get_data().replace(b"nosuchorg", b"acme")


@pytest.mark.parametrize("role", ROLES)
def test_another_users_personal_org_is_404(dev, role):
    dev["outsider"].post("/api/stacks/otto/proj", {"stackName": "dev"})
    assert_error(dev[role].get("/api/stacks/otto/proj/dev"), 404)
    assert_error(dev[role].post("/api/stacks/otto/proj", {"stackName": "mine"}), 404)


def test_every_user_is_admin_of_their_personal_org(people):
    alice = people.user("alice")
    assert alice.post("/api/stacks/alice/proj", {"stackName": "dev"}).status_code == 200
    alice.patch("/api/stacks/alice/proj/dev/tags", {"a": "b"})
    assert alice.delete("/api/stacks/alice/proj/dev?force=true").status_code == 204


def test_role_change_takes_effect_on_the_next_request(dev, db):
    assert dev["viewer"].patch(STACK + "/tags", {"a": "b"}).status_code == 403
    with db, db.cursor() as cur:
        cur.execute("UPDATE memberships SET role = 'member' FROM users u "
                    "WHERE u.id = memberships.user_id AND u.login = 'vera'")
    assert dev["viewer"].patch(STACK + "/tags", {"a": "b"}).status_code == 204


@pytest.mark.parametrize("role", ROLES + ["outsider"])
@pytest.mark.parametrize("name, method, path", USER_ROUTES, ids=idfn)
def test_user_routes_need_only_a_token(dev, role, name, method, path):
    assert dev[role].call(method, path).status_code == 200


# --- the token ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, method, path, body", ALL_ROUTES, ids=idfn)
def test_missing_token_is_401(dev, anonymous, db, name, method, path, body):
    before = stacks_table(db)
    response = anonymous.call(method, path, body)
    assert response.status_code == 401
    if method != "HEAD":
        assert_error(response, 401)
    assert stacks_table(db) == before


@pytest.mark.parametrize("header", [
    "Bearer {token}",
    "token",
    "token ",
    "Token {token}",
    "token{token}",
    "update-token {token}",
    "{token}",
    "Basic dXNlcjpwYXNz",
])
def test_malformed_authorization_is_401(dev, header):
    token = dev["admin"].token
    response = dev["admin"].get(STACK, headers={"Authorization": header.format(token=token)})
    assert_error(response, 401)


@pytest.mark.parametrize("name, method, path, body", ALL_ROUTES, ids=idfn)
def test_unknown_token_is_401(dev, anonymous, name, method, path, body):
    anonymous.token = "pul-" + "0" * 40
    response = anonymous.call(method, path, body)
    assert response.status_code == 401
    if method != "HEAD":
        assert_error(response, 401)


def test_revoked_token_is_401(dev, db):
    assert dev["admin"].get(STACK).status_code == 200
    with db:
        assert queries.revoke_token(db, token_hash=hash_token(dev["admin"].token), token_id=None)
    assert_error(dev["admin"].get(STACK), 401)
    assert_error(dev["admin"].get("/api/user"), 401)


def test_revoking_one_token_keeps_the_others(dev, db, people):
    with db:
        queries.revoke_token(db, token_hash=hash_token(dev["admin"].token), token_id=None)
    assert dev["member"].get(STACK).status_code == 200


def test_token_use_is_recorded(dev, db):
    with db.cursor() as cur:
        cur.execute("SELECT last_used_at FROM access_tokens WHERE token_hash = %s",
                    (hash_token(dev["viewer"].token),))
        assert cur.fetchone()["last_used_at"] is None
    db.rollback()
    dev["viewer"].get(STACK)
    with db.cursor() as cur:
        cur.execute("SELECT last_used_at FROM access_tokens WHERE token_hash = %s",
                    (hash_token(dev["viewer"].token),))
        assert cur.fetchone()["last_used_at"] is not None
    db.rollback()


# --- routing errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("GET", "/api/nope"),
    ("GET", "/api/agents/signup"),
    ("POST", "/api/agents/signup"),
    ("GET", "/api/stacks/acme/proj/dev/nope"),
    ("GET", "/api/stacks"),
    # One segment would be an organization's console page (tests/test_console.py).
    ("GET", "/nope/a/b/c/d/e"),
])
def test_unknown_route_is_404_json(dev, method, path):
    assert_error(dev["admin"].call(method, path, {}), 404)


def test_unknown_api_route_without_a_token_is_404_json(anonymous):
    assert_error(anonymous.get("/api/agents/signup"), 404)


@pytest.mark.parametrize("method, path, allowed", [
    ("PUT", STACK, {"GET", "DELETE"}),
    ("POST", STACK, {"GET", "DELETE"}),
    ("DELETE", "/api/user", {"GET"}),
    ("POST", "/api/user/stacks", {"GET"}),
    ("GET", STACK + "/rename", {"POST"}),
    ("PUT", STACK + "/tags", {"PATCH"}),
    ("DELETE", "/api/stacks/acme/proj", {"POST"}),
])
def test_wrong_method_is_405_json(dev, db, method, path, allowed):
    before = stacks_table(db)
    response = dev["admin"].call(method, path, {})
    assert_error(response, 405)
    assert allowed <= set(h.strip() for h in response.headers["Allow"].split(","))
    assert stacks_table(db) == before
