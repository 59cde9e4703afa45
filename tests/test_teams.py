"""Teams over the API (create, read, change, delete; members; stack permissions) and the rule
every stack route follows: the caller's permission on a stack is the union of what their
organization role gives (after the organization's defaultStackPermission) and their teams'
grants; creating and deleting follow membersCanCreateStacks and membersCanDeleteStacks."""
import pytest

from tests.support.api import assert_error

TEAMS = "/api/orgs/acme/teams"


def team(admin, name, **fields):
    response = admin.post(TEAMS + "/pulumi", body={"name": name, "displayName": name.title(),
                                                    "description": "", **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def patch(admin, name, body, status=204):
    response = admin.patch(f"{TEAMS}/{name}", body=body)
    assert response.status_code == status, response.get_json()
    return response


def stack(admin, name="dev", teams=None, project="proj"):
    body = {"stackName": name, "tags": {}}
    if teams is not None:
        body["teams"] = teams
    response = admin.post(f"/api/stacks/acme/{project}", body=body)
    assert response.status_code == 200, response.get_json()


def grant(admin, team_name, permission, stack_name="dev"):
    response = admin.patch(f"/api/console/stacks/acme/proj/{stack_name}/teams/{team_name}",
                           body={"permissions": permission})
    assert response.status_code == 204, response.get_json()


def settings(admin, **changes):
    response = admin.patch("/api/orgs/acme", body={f"set{k[0].upper()}{k[1:]}": v
                                                   for k, v in changes.items()})
    assert response.status_code == 200, response.get_json()


def rows(db, sql, *args):
    with db, db.cursor() as cur:
        cur.execute(sql, args)
        return [tuple(r.values()) for r in cur.fetchall()]


# --- teams --------------------------------------------------------------------------------------

def test_team_lifecycle(acme):
    admin = acme["admin"]
    created = team(admin, "ops", description="on call")
    assert created == {"kind": "pulumi", "name": "ops", "displayName": "Ops",
                       "description": "on call", "members": [], "stacks": [],
                       "environments": []}
    stack(admin)
    patch(admin, "ops", {"memberAction": "add", "member": "mona"})
    patch(admin, "ops", {"memberAction": "promote", "member": "mona"})
    patch(admin, "ops", {"addStackPermission": {"projectName": "proj", "stackName": "dev",
                                                "permission": 101}})
    patch(admin, "ops", {"editStackPermission": {"projectName": "proj", "stackName": "dev",
                                                 "permission": 103}})
    patch(admin, "ops", {"newDisplayName": "Operations", "newDescription": None})
    got = acme["viewer"].get(f"{TEAMS}/ops").get_json()
    assert got["displayName"] == "Operations" and got["description"] == "on call"
    assert got["members"] == [{"name": "mona", "githubLogin": "mona", "avatarUrl": "",
                               "email": "", "role": "admin"}]
    assert got["stacks"] == [{"projectName": "proj", "stackName": "dev", "permission": 103}]
    listed = acme["member"].get(TEAMS).get_json()["teams"]
    assert [(t["name"], t["userRole"]) for t in listed] == [("ops", "admin")]
    assert acme["viewer"].get(TEAMS).get_json()["teams"][0]["userRole"] == "none"
    assert acme["viewer"].get("/api/stacks/acme/proj/dev/teams").get_json() == {
        "projectName": "proj", "teams": [{"name": "ops", "displayName": "Operations",
                                          "description": "on call", "permission": 103,
                                          "isMember": False}]}
    patch(admin, "ops", {"removeStack": {"projectName": "proj", "stackName": "dev"}})
    patch(admin, "ops", {"memberAction": "remove", "member": "mona"})
    assert admin.delete(f"{TEAMS}/ops").status_code == 204
    assert_error(admin.get(f"{TEAMS}/ops"), 404)


def test_only_admins_change_teams(acme):
    team(acme["admin"], "ops")
    assert_error(acme["member"].post(TEAMS + "/pulumi", body={"name": "x"}), 403)
    assert_error(acme["member"].patch(f"{TEAMS}/ops", body={"newDescription": "x"}), 403)
    assert_error(acme["member"].delete(f"{TEAMS}/ops"), 403)
    assert_error(acme["outsider"].get(TEAMS), 404)


@pytest.mark.parametrize("body,status", [
    ({"name": "bad name"}, 400),
    ({"name": ""}, 400),
    ({"name": "x" * 41}, 400),
    ({"name": "ok", "displayName": "d" * 101}, 400),
    ({"displayName": "no name"}, 400),
    ({"name": "taken"}, 409),
])
def test_bad_team_creation_is_refused(acme, db, body, status):
    team(acme["admin"], "taken")
    assert_error(acme["admin"].post(TEAMS + "/pulumi", body=body), status)
    assert rows(db, "SELECT name FROM teams ORDER BY name") == [("taken",)]


@pytest.mark.parametrize("body,status,contains", [
    ({}, 400, "exactly one action"),
    ({"newDescription": "x", "memberAction": "add", "member": "mona"}, 400, "exactly one"),
    ({"memberAction": "add"}, 400, "member"),
    ({"memberAction": "fire", "member": "mona"}, 400, ""),
    ({"memberAction": "add", "member": "nobody"}, 404, "nobody"),
    ({"memberAction": "add", "member": "otto"}, 400, "not a member of organization"),
    ({"memberAction": "add", "member": "vera"}, 409, "already"),
    ({"memberAction": "remove", "member": "adam"}, 404, "not in team"),
    ({"addStackPermission": {"projectName": "proj", "stackName": "dev", "permission": 104}},
     400, ""),
    ({"addStackPermission": {"projectName": "proj", "stackName": "dev", "permission": 0}},
     400, "invalid stack permission"),
    ({"addStackPermission": {"projectName": "proj", "stackName": "dev", "permission": 102}},
     409, "already"),
    ({"editStackPermission": {"projectName": "proj", "stackName": "nope", "permission": 102}},
     404, "nope"),
    ({"removeStack": {"projectName": "proj", "stackName": "other"}}, 404, "no permission"),
])
def test_bad_team_changes_are_refused_and_change_nothing(acme, db, body, status, contains):
    admin = acme["admin"]
    team(admin, "ops")
    stack(admin)
    stack(admin, "other")
    patch(admin, "ops", {"memberAction": "add", "member": "vera"})
    grant(admin, "ops", 101)
    before = rows(db, "SELECT * FROM team_members"), rows(db, "SELECT * FROM team_stack_permissions")
    assert_error(admin.patch(f"{TEAMS}/ops", body=body), status, contains)
    assert (rows(db, "SELECT * FROM team_members"),
            rows(db, "SELECT * FROM team_stack_permissions")) == before


def test_unknown_team_is_404(acme):
    stack(acme["admin"])
    assert_error(acme["admin"].patch(f"{TEAMS}/ghost", body={"newDescription": "x"}), 404)
    assert_error(acme["admin"].delete(f"{TEAMS}/ghost"), 404)
    assert_error(acme["admin"].patch("/api/console/stacks/acme/proj/dev/teams/ghost",
                                     body={"permissions": 101}), 404)


@pytest.mark.parametrize("permission", [1, 104, "102", None])
def test_stack_permission_outside_the_allowed_values_is_400(acme, db, permission):
    team(acme["admin"], "ops")
    stack(acme["admin"])
    assert_error(acme["admin"].patch("/api/console/stacks/acme/proj/dev/teams/ops",
                                     body={"permissions": permission}), 400)
    assert rows(db, "SELECT * FROM team_stack_permissions") == []


def test_console_permission_zero_removes_the_grant(acme):
    admin = acme["admin"]
    team(admin, "ops")
    stack(admin)
    grant(admin, "ops", 102)
    grant(admin, "ops", 0)
    assert admin.get("/api/stacks/acme/proj/dev/teams").get_json()["teams"] == []


def test_create_stack_with_teams_grants_them_write(acme, db):
    admin = acme["admin"]
    team(admin, "a")
    team(admin, "b")
    stack(admin, teams=["a", "b"])
    got = admin.get("/api/stacks/acme/proj/dev/teams").get_json()["teams"]
    assert [(t["name"], t["permission"]) for t in got] == [("a", 102), ("b", 102)]


def test_create_stack_with_an_unknown_team_writes_nothing(acme, db):
    team(acme["admin"], "a")
    response = acme["admin"].post("/api/stacks/acme/proj", body={"stackName": "dev",
                                                                 "teams": ["a", "ghost"]})
    assert_error(response, 400, "ghost")
    assert rows(db, "SELECT name FROM stacks") == []


def test_removing_a_member_from_the_org_takes_them_out_of_its_teams(acme, db):
    admin = acme["admin"]
    team(admin, "ops")
    patch(admin, "ops", {"memberAction": "add", "member": "mona"})
    assert admin.delete("/api/orgs/acme/members/mona").status_code == 204
    assert admin.get(f"{TEAMS}/ops").get_json()["members"] == []


def test_team_changes_are_audited(acme, db):
    admin = acme["admin"]
    team(admin, "ops")
    stack(admin)
    patch(admin, "ops", {"memberAction": "add", "member": "mona"})
    grant(admin, "ops", 103)
    admin.delete(f"{TEAMS}/ops")
    events = [e for (e,) in rows(db, "SELECT event FROM audit_log WHERE org_name = 'acme' "
                                     "ORDER BY seq")]
    assert events[-4:] == ["team.created", "team.members_changed", "stack.permission_changed",
                           "team.deleted"] or events[-5:] == [
        "team.created", "stack.created", "team.members_changed", "stack.permission_changed",
        "team.deleted"]


# --- the authorization rule -----------------------------------------------------------------------

def status(api, method, path, body=None):
    return api.call(method, path, body).status_code


def can(api, stack_name="dev"):
    """What a caller may do to acme/proj/<stack>: read, write (tags), delete (dry: a 400/409
    after authorization counts as allowed)."""
    base = f"/api/stacks/acme/proj/{stack_name}"
    read = status(api, "GET", base)
    write = status(api, "PATCH", base + "/tags", {"t": "1"})
    return {"read": read, "write": write}


@pytest.mark.parametrize("role,default,expected", [
    ("viewer", 102, {"read": 200, "write": 403}),
    ("member", 102, {"read": 200, "write": 204}),
    ("member", 101, {"read": 200, "write": 403}),
    ("member", 0, {"read": 404, "write": 404}),
    ("viewer", 0, {"read": 404, "write": 404}),
    ("member", 103, {"read": 200, "write": 204}),
    ("admin", 0, {"read": 200, "write": 204}),
])
def test_role_and_default_permission(acme, role, default, expected):
    stack(acme["admin"])
    settings(acme["admin"], defaultStackPermission=default)
    assert can(acme[role]) == expected


@pytest.mark.parametrize("role,default,granted,expected", [
    ("member", 0, 101, {"read": 200, "write": 403}),
    ("member", 0, 102, {"read": 200, "write": 204}),
    ("viewer", 102, 102, {"read": 200, "write": 204}),   # the union: the team's write wins
    ("member", 102, 101, {"read": 200, "write": 204}),   # and the role's write over a read grant
])
def test_team_grants_add_to_the_role(acme, role, default, granted, expected):
    admin = acme["admin"]
    stack(admin)
    stack(admin, "other")
    settings(admin, defaultStackPermission=default)
    team(admin, "ops")
    login = {"viewer": "vera", "member": "mona"}[role]
    patch(admin, "ops", {"memberAction": "add", "member": login})
    grant(admin, "ops", granted)
    assert can(acme[role]) == expected
    # The grant is on dev only.
    other = can(acme[role], "other")
    assert other["read"] == (404 if default == 0 else 200)


def test_member_in_no_team_under_default_none_sees_only_granted_stacks(acme):
    admin = acme["admin"]
    for name in ("dev", "prod", "test"):
        stack(admin, name)
    settings(admin, defaultStackPermission=0)
    team(admin, "ops")
    patch(admin, "ops", {"memberAction": "add", "member": "mona"})
    grant(admin, "ops", 101, "prod")

    def listed(api):
        body = api.get("/api/user/stacks?organization=acme").get_json()
        return [s["stackName"] for s in body["stacks"]]

    assert listed(acme["member"]) == ["prod"]
    assert listed(acme["viewer"]) == []
    assert listed(admin) == ["dev", "prod", "test"]
    # The list agrees with GET for every stack.
    for api in (acme["member"], acme["viewer"]):
        for name in ("dev", "prod", "test"):
            shown = name in listed(api)
            assert (status(api, "GET", f"/api/stacks/acme/proj/{name}") == 200) == shown


def test_stack_admin_grant_lets_a_member_delete_and_manage_its_teams(acme):
    admin = acme["admin"]
    stack(admin)
    team(admin, "ops")
    team(admin, "qa")
    patch(admin, "ops", {"memberAction": "add", "member": "mona"})
    mona = acme["member"]
    assert_error(mona.patch("/api/console/stacks/acme/proj/dev/teams/qa",
                            body={"permissions": 101}), 403)
    assert status(mona, "GET", "/api/stacks/acme/proj/dev/hooks") == 403
    grant(admin, "ops", 103)
    assert status(mona, "PATCH", "/api/console/stacks/acme/proj/dev/teams/qa",
                  {"permissions": 101}) == 204
    # A stack admin manages the stack's webhooks too (organization hooks stay the admins').
    assert status(mona, "GET", "/api/stacks/acme/proj/dev/hooks") == 200
    assert status(mona, "GET", "/api/orgs/acme/hooks") == 403
    assert status(mona, "DELETE", "/api/stacks/acme/proj/dev") == 204


def test_members_can_delete_stacks_lets_writers_delete(acme):
    admin = acme["admin"]
    stack(admin)
    stack(admin, "other")
    assert_error(acme["member"].delete("/api/stacks/acme/proj/dev"), 403)
    settings(admin, membersCanDeleteStacks=True)
    assert acme["member"].delete("/api/stacks/acme/proj/dev").status_code == 204
    assert_error(acme["viewer"].delete("/api/stacks/acme/proj/other"), 403)


def test_members_can_create_stacks_off_leaves_creation_to_admins(acme):
    settings(acme["admin"], membersCanCreateStacks=False)
    response = acme["member"].post("/api/stacks/acme/proj", body={"stackName": "dev"})
    assert_error(response, 403, "membersCanCreateStacks")
    assert_error(acme["viewer"].post("/api/stacks/acme/proj", body={"stackName": "dev"}), 403)
    stack(acme["admin"])


def test_decrypt_follows_the_stack_permission(acme):
    admin = acme["admin"]
    stack(admin)
    settings(admin, defaultStackPermission=101)
    ciphertext = admin.post("/api/stacks/acme/proj/dev/encrypt",
                            body={"plaintext": "aGk="}).get_json()["ciphertext"]
    decrypt = "/api/stacks/acme/proj/dev/decrypt"
    assert_error(acme["member"].post(decrypt, body={"ciphertext": ciphertext}), 403)
    team(admin, "ops")
    patch(admin, "ops", {"memberAction": "add", "member": "mona"})
    grant(admin, "ops", 102)
    assert acme["member"].post(decrypt, body={"ciphertext": ciphertext}).status_code == 200


def test_a_renamed_stacks_former_name_carries_its_grants(acme):
    admin = acme["admin"]
    stack(admin)
    settings(admin, defaultStackPermission=0)
    team(admin, "ops")
    patch(admin, "ops", {"memberAction": "add", "member": "mona"})
    grant(admin, "ops", 102)
    assert admin.post("/api/stacks/acme/proj/dev/rename",
                      body={"newName": "live", "newProject": ""}).status_code == 204
    assert status(acme["member"], "GET", "/api/stacks/acme/proj/live") == 200
    assert status(acme["member"], "POST", "/api/stacks/acme/proj/dev/encrypt",
                  {"plaintext": "aGk="}) == 200
