"""Organization and team tokens over the API (admins only; shown once, stored hashed, lastUsed,
expiry, revoked or expired: 401 at once) and what they act as: an organization token as the
organization (its stacks, no personal organization, no other organization, admin rights only
with `admin`), a team token with its team's grants."""
import hashlib
import time

import pytest

from tests.support.api import Api, assert_error

ORG_TOKENS = "/api/orgs/acme/tokens"


def make(caller, path=ORG_TOKENS, **body):
    response = caller.post(path, body={"name": "ci", "description": "", "expires": 0, **body})
    assert response.status_code == 200, response.get_json()
    created = response.get_json()
    assert set(created) == {"id", "tokenValue"} and created["tokenValue"].startswith("pul-")
    return created["id"], Api(caller.client, created["tokenValue"])


def team(admin, name="ops"):
    assert admin.post("/api/orgs/acme/teams/pulumi", body={"name": name}).status_code == 201
    return f"/api/orgs/acme/teams/{name}/tokens"


def stack(api, name="dev", status=200):
    response = api.post("/api/stacks/acme/proj", body={"stackName": name})
    assert response.status_code == status, response.get_json()


def test_org_token_is_listed_without_its_value_and_stored_hashed(acme, db):
    token_id, api = make(acme["admin"], description="deploys")
    (listed,) = acme["admin"].get(ORG_TOKENS).get_json()["tokens"]
    assert listed["id"] == token_id and listed["name"] == "ci"
    assert (listed["type"], listed["admin"], listed["createdBy"]) == ("organization", False, "adam")
    assert (listed["lastUsed"], listed["expires"]) == (0, 0)
    assert api.get("/api/user").status_code == 200
    (listed,) = acme["admin"].get(ORG_TOKENS).get_json()["tokens"]
    assert abs(listed["lastUsed"] - time.time()) < 60
    with db, db.cursor() as cur:
        cur.execute("SELECT token_hash, user_id FROM access_tokens WHERE id = %s", (token_id,))
        row = cur.fetchone()
    assert bytes(row["token_hash"]) == hashlib.sha256(api.token.encode()).digest()
    assert row["user_id"] is None
    # Not among anyone's personal tokens.
    assert acme["admin"].get("/api/user/tokens").get_json()["tokens"] == [] or all(
        t["id"] != token_id for t in acme["admin"].get("/api/user/tokens").get_json()["tokens"])


def test_org_token_acts_as_the_organization(acme):
    _, api = make(acme["admin"])
    user = api.get("/api/user").get_json()
    assert user["githubLogin"] == "acme"
    assert user["organizations"] == [{"name": "acme", "githubLogin": "acme", "avatarUrl": "",
                                      "role": "member"}]
    assert user["tokenInfo"] == {"name": "ci", "organization": "acme", "team": ""}
    assert api.get("/api/user/organizations/default").get_json()["GitHubLogin"] == "acme"
    stack(acme["admin"], "admins")
    stack(api)  # creates stacks, writes and reads every stack of its organization
    assert api.patch("/api/stacks/acme/proj/admins/tags", body={"t": "1"}).status_code == 204
    assert [s["stackName"] for s in api.get("/api/user/stacks").get_json()["stacks"]] == [
        "admins", "dev"]
    # ... but is no admin, has no personal organization, and reaches no other organization.
    assert_error(api.delete("/api/stacks/acme/proj/dev"), 403)
    assert_error(api.post("/api/orgs/acme/teams/pulumi", body={"name": "x"}), 403)
    assert_error(api.get("/api/orgs/globex"), 404)
    assert_error(api.post("/api/stacks/globex/proj", body={"stackName": "x"}), 404)
    assert_error(api.get("/api/user/tokens"), 403, "personal access token")


def test_admin_org_token_is_an_organization_admin(acme):
    _, api = make(acme["admin"], admin=True)
    assert api.get("/api/user").get_json()["organizations"][0]["role"] == "admin"
    stack(api)
    assert api.post("/api/orgs/acme/teams/pulumi", body={"name": "x"}).status_code == 201
    assert api.delete("/api/stacks/acme/proj/dev").status_code == 204


def test_team_token_acts_with_its_teams_grants(acme):
    admin = acme["admin"]
    path = team(admin)
    for name in ("granted", "hidden"):
        stack(admin, name)
    admin.patch("/api/orgs/acme", body={"setDefaultStackPermission": 0})
    admin.patch("/api/console/stacks/acme/proj/granted/teams/ops", body={"permissions": 101})
    _, api = make(admin, path)
    assert api.get("/api/user").get_json()["tokenInfo"] == {
        "name": "ci", "organization": "acme", "team": "ops"}
    assert api.get("/api/stacks/acme/proj/granted").status_code == 200
    assert_error(api.patch("/api/stacks/acme/proj/granted/tags", body={"t": "1"}), 403)
    assert_error(api.get("/api/stacks/acme/proj/hidden"), 404)
    # A stack it makes is its team's to write.
    stack(api, "teams-own")
    assert api.patch("/api/stacks/acme/proj/teams-own/tags", body={"t": "1"}).status_code == 204
    assert [s["stackName"] for s in api.get("/api/user/stacks").get_json()["stacks"]] == [
        "granted", "teams-own"]
    (listed,) = admin.get(path).get_json()["tokens"]
    assert (listed["type"], listed["name"]) == ("team", "ci")


@pytest.mark.parametrize("path_of", [lambda admin: ORG_TOKENS, team])
def test_deleted_or_expired_tokens_are_401_at_once(acme, db, path_of):
    path = path_of(acme["admin"])
    token_id, api = make(acme["admin"], path)
    _, expiring = make(acme["admin"], path, name="soon", expires=int(time.time()) + 3600)
    assert acme["admin"].delete(f"{path}/{token_id}").status_code == 204
    assert_error(api.get("/api/user"), 401)
    assert_error(acme["admin"].delete(f"{path}/{token_id}"), 404)
    assert [t["name"] for t in acme["admin"].get(path).get_json()["tokens"]] == ["soon"]
    assert expiring.get("/api/user").status_code == 200
    with db, db.cursor() as cur:
        cur.execute("UPDATE access_tokens SET expires_at = now() WHERE name = 'soon'")
    assert_error(expiring.get("/api/user"), 401)


def test_deleting_a_team_revokes_its_tokens(acme):
    _, api = make(acme["admin"], team(acme["admin"]))
    assert api.get("/api/user").status_code == 200
    assert acme["admin"].delete("/api/orgs/acme/teams/ops").status_code == 204
    assert_error(api.get("/api/user"), 401)


@pytest.mark.parametrize("body,status", [
    ({"name": ""}, 400),
    ({"name": "x" * 41}, 400),
    ({"name": None}, 400),
    ({"expires": 1}, 400),
    ({"expires": int(time.time()) + 3 * 366 * 86400}, 400),
    ({"roleID": "custom"}, 400),
    ({"name": "taken"}, 409),
    ({"name": "gone"}, 409),  # names of deleted tokens stay taken
])
def test_bad_token_requests_make_no_token(acme, db, body, status):
    make(acme["admin"], name="taken")
    gone, _ = make(acme["admin"], name="gone")
    acme["admin"].delete(f"{ORG_TOKENS}/{gone}")
    with db, db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM access_tokens")
        before = cur.fetchone()["n"]
    response = acme["admin"].post(ORG_TOKENS, body={"name": "ci", "description": "",
                                                    "expires": 0, **body})
    assert_error(response, status)
    with db, db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM access_tokens")
        assert cur.fetchone()["n"] == before


def test_only_admins_manage_org_and_team_tokens(acme):
    path = team(acme["admin"])
    for who, status in (("member", 403), ("viewer", 403), ("outsider", 404)):
        assert_error(acme[who].post(ORG_TOKENS, body={"name": "x"}), status)
        assert_error(acme[who].get(path), status)
    assert_error(acme["admin"].get("/api/orgs/acme/teams/ghost/tokens"), 404)


def test_token_changes_are_audited_without_the_value(acme, db):
    token_id, api = make(acme["admin"], description="deploys")
    acme["admin"].delete(f"{ORG_TOKENS}/{token_id}")
    with db, db.cursor() as cur:
        cur.execute("SELECT event, description FROM audit_log WHERE org_name = 'acme' "
                    "ORDER BY seq")
        found = cur.fetchall()
    assert [r["event"] for r in found][-2:] == ["token.created", "token.revoked"]
    assert all(api.token not in r["description"] for r in found)
