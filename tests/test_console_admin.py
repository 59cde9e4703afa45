"""The console's administration pages without a browser: an organization's members (roles,
removal), its one-time invite links, its teams and webhooks, and a stack's teams and webhooks,
each through the API's own rules and roles, every form behind its CSRF token."""
import re

import pytest

from tests.support.console import EVIL, csrf_of, signed_in
from tests.support.rows import count
from tests.support.updates import make_stack


def _members(client):
    return client.get("/acme/settings/members")


def _role_of(admin_api, login):
    found = admin_api.get("/api/orgs/acme/members").get_json()["members"]
    return next((m["fgaRole"]["id"] for m in found if m["user"]["githubLogin"] == login), None)


# --- members --------------------------------------------------------------------------------------

def test_admins_change_roles_and_remove_members_under_the_apis_rules(app, acme):
    admin = signed_in(app, acme["admin"].token)
    page = _members(admin)
    assert page.status_code == 200
    token = csrf_of(page)
    changed = admin.post("/acme/settings/members/vera/role", data={"csrf_token": token,
                                                                   "role": "member"})
    assert changed.status_code == 303
    assert _role_of(acme["admin"], "vera") == "member"
    # The last admin keeps the role (the API's 409), as a page.
    last = admin.post("/acme/settings/members/adam/role", data={"csrf_token": token,
                                                                "role": "viewer"})
    assert last.status_code == 409 and "last admin" in last.get_data(as_text=True)
    assert admin.post("/acme/settings/members/vera/role",
                      data={"csrf_token": token, "role": "owner"}).status_code == 400
    assert admin.post("/acme/settings/members/mona/remove", data={}).status_code == 400
    removed = admin.post("/acme/settings/members/mona/remove", data={"csrf_token": token})
    assert removed.status_code == 303 and _role_of(acme["admin"], "mona") is None
    assert admin.post("/acme/settings/members/adam/remove",
                      data={"csrf_token": token}).status_code == 400  # not yourself
    member = signed_in(app, acme["viewer"].token)  # vera, a member now
    assert member.post("/acme/settings/members/adam/remove",
                       data={"csrf_token": csrf_of(member.get("/acme"))}).status_code == 403


# --- invite links ---------------------------------------------------------------------------------

def _make_invite(admin, role="member", days="7"):
    page = _members(admin)
    made = admin.post("/acme/settings/invites", data={"csrf_token": csrf_of(page), "role": role,
                                                      "days": days})
    assert made.status_code == 200, made.get_data(as_text=True)[:2000]
    link = re.search(r'<code id="invite-link">([^<]+)</code>', made.get_data(as_text=True))
    return link.group(1)


def _accept(client, path, login, password="a long enough password", **extra):
    page = client.get(path)
    return client.post(path, data={"csrf_token": csrf_of(page), "login": login,
                                   "password": password, "confirm": password, **extra})


def test_an_invite_link_makes_a_member_with_its_role_and_signs_them_in(app, acme, db):
    admin = signed_in(app, acme["admin"].token)
    link = _make_invite(admin, role="viewer")
    path = link.removeprefix("http://localhost")
    # Only a random secret in the link, and only its hash in the database.
    secret = re.fullmatch(r"/invite/([A-Za-z0-9_-]{40,})", path).group(1)
    assert count(db, "SELECT count(*) FROM org_invites WHERE secret_hash = sha256(%s::bytea)",
                 secret.encode()) == 1
    assert link not in _members(admin).get_data(as_text=True)  # shown once
    newcomer = app.test_client()
    page = newcomer.get(path)
    assert page.status_code == 200 and "Join acme" in page.get_data(as_text=True)
    joined = _accept(newcomer, path, "nina", name=EVIL)
    assert joined.status_code == 303 and joined.headers["Location"] == "/acme"
    assert newcomer.get("/acme").status_code == 200  # signed in
    assert _role_of(acme["admin"], "nina") == "viewer"
    assert newcomer.get("/acme/settings/members").status_code == 403
    # Used: refused, whoever comes next.
    again = app.test_client().get(path)
    assert again.status_code == 410 and "has been used" in again.get_data(as_text=True)
    log = acme["admin"].get("/api/orgs/acme/auditlogs/v2").get_json()["auditLogEvents"]
    events = {(e["event"], e["user"]["githubLogin"]) for e in log}
    assert ("member.invited", "adam") in events and ("member.added", "nina") in events
    members = _members(admin).get_data(as_text=True)
    assert "nina" in members and EVIL not in members


def test_an_invite_link_used_twice_is_refused_the_second_time(app, acme):
    admin = signed_in(app, acme["admin"].token)
    path = _make_invite(admin).removeprefix("http://localhost")
    first, second = app.test_client(), app.test_client()
    page = second.get(path)  # both opened it before either used it
    assert _accept(first, path, "nina").status_code == 303
    late = second.post(path, data={"csrf_token": csrf_of(page), "login": "nico",
                                   "password": "a long enough password",
                                   "confirm": "a long enough password"})
    assert late.status_code == 410
    assert _role_of(acme["admin"], "nico") is None


def test_an_expired_or_revoked_invite_link_is_refused(app, acme, db):
    admin = signed_in(app, acme["admin"].token)
    expired = _make_invite(admin).removeprefix("http://localhost")
    with db.cursor() as cur:
        cur.execute("UPDATE org_invites SET expires_at = now() - interval '1 second'")
    db.commit()
    assert app.test_client().get(expired).status_code == 410
    assert "No open invite links" in _members(admin).get_data(as_text=True)
    revoked = _make_invite(admin).removeprefix("http://localhost")
    invite_id = re.search(r'/settings/invites/(\d+)/revoke', _members(admin).get_data(
        as_text=True)).group(1)
    assert admin.post(f"/acme/settings/invites/{invite_id}/revoke",
                      data={"csrf_token": csrf_of(_members(admin))}).status_code == 303
    assert app.test_client().get(revoked).status_code == 410
    assert app.test_client().get("/invite/not-a-secret").status_code == 410


def test_an_invite_form_needs_its_csrf_token_and_a_good_login_and_password(app, acme):
    admin = signed_in(app, acme["admin"].token)
    assert admin.post("/acme/settings/invites", data={"role": "admin", "days": "7"}
                      ).status_code == 400
    path = _make_invite(admin).removeprefix("http://localhost")
    client = app.test_client()
    client.get(path)
    no_csrf = client.post(path, data={"login": "nina", "password": "a long enough password",
                                      "confirm": "a long enough password"})
    assert no_csrf.status_code == 400
    assert _accept(client, path, "nina", password="short").status_code == 400
    assert _accept(client, path, "adam").status_code == 409  # taken
    assert _accept(client, path, "no spaces").status_code == 400
    assert _role_of(acme["admin"], "nina") is None
    # Nothing failed used the link up.
    assert _accept(client, path, "nina").status_code == 303


def test_only_admins_make_invite_links(app, acme):
    member = signed_in(app, acme["member"].token)
    refused = member.post("/acme/settings/invites",
                          data={"csrf_token": csrf_of(member.get("/acme")), "role": "admin",
                                "days": "7"})
    assert refused.status_code == 403
    outsider = signed_in(app, acme["outsider"].token)
    assert outsider.post("/acme/settings/invites", data={
        "csrf_token": csrf_of(outsider.get("/globex")), "role": "admin", "days": "7"}
    ).status_code == 404
    admin = signed_in(app, acme["admin"].token)
    assert admin.post("/acme/settings/invites", data={
        "csrf_token": csrf_of(_members(admin)), "role": "admin", "days": "365"}).status_code == 400


# --- teams ----------------------------------------------------------------------------------------

def test_admins_make_teams_with_members_and_stack_grants_that_the_api_sees(app, acme):
    make_stack(acme["admin"], name="dev")
    admin = signed_in(app, acme["admin"].token)
    page = admin.get("/acme/settings/teams")
    assert page.status_code == 200 and "No teams yet" in page.get_data(as_text=True)
    token = csrf_of(page)
    assert admin.post("/acme/settings/teams", data={"csrf_token": token, "name": "a b"}
                      ).status_code == 400
    created = admin.post("/acme/settings/teams", data={"csrf_token": token, "name": "ops",
                                                       "description": EVIL})
    assert created.status_code == 303
    assert created.headers["Location"] == "/acme/settings/teams/ops"
    assert admin.post("/acme/settings/teams", data={"csrf_token": token, "name": "ops"}
                      ).status_code == 409
    team = admin.get("/acme/settings/teams/ops").get_data(as_text=True)
    assert EVIL not in team and "&lt;script&gt;" in team
    assert '<option value="proj/dev">' in team and '<option value="mona">' in team
    for data in ({"action": "add", "login": "mona"}, {"action": "add", "login": "vera"},
                 {"action": "remove", "login": "vera"}):
        assert admin.post("/acme/settings/teams/ops/members",
                          data={"csrf_token": token, **data}).status_code == 303
    assert admin.post("/acme/settings/teams/ops/members", data={
        "csrf_token": token, "action": "add", "login": "otto"}).status_code == 400  # outsider
    assert admin.post("/acme/settings/teams/ops/stacks", data={
        "csrf_token": token, "stack": "proj/dev", "permission": "103"}).status_code == 303
    found = acme["admin"].get("/api/orgs/acme/teams/ops").get_json()
    assert [m["githubLogin"] for m in found["members"]] == ["mona"]
    assert found["stacks"] == [{"projectName": "proj", "stackName": "dev", "permission": 103}]
    # A viewer reads teams, as over the API, and gets no form.
    viewer = signed_in(app, acme["viewer"].token)
    seen = viewer.get("/acme/settings/teams/ops").get_data(as_text=True)
    assert "mona" in seen and "/members" not in seen and 'action="/acme/settings/teams"' not in \
        viewer.get("/acme/settings/teams").get_data(as_text=True)
    assert viewer.post("/acme/settings/teams/ops/delete",
                       data={"csrf_token": csrf_of(viewer.get("/acme"))}).status_code == 403
    assert admin.post("/acme/settings/teams/ops/delete", data={"csrf_token": token}
                      ).status_code == 303
    assert acme["admin"].get("/api/orgs/acme/teams/ops").status_code == 404


def test_admins_grant_teams_environments_on_the_team_page(app, acme):
    api = acme["admin"]
    for name in ("dev", "prod"):
        assert api.post("/api/esc/environments/acme", {"project": "shared", "name": name}
                        ).status_code == 200
    assert api.post("/api/orgs/acme/teams/pulumi", body={"name": "ops"}).status_code == 201
    admin = signed_in(app, api.token)
    page = admin.get("/acme/settings/teams/ops")
    text = page.get_data(as_text=True)
    assert "no permission on any environment" in text
    assert '<option value="shared/dev">' in text and '<option value="shared/prod">' in text
    token = csrf_of(page)
    assert admin.post("/acme/settings/teams/ops/environments", data={
        "csrf_token": token, "environment": "shared/dev", "permission": "open"}).status_code == 303
    assert admin.post("/acme/settings/teams/ops/environments", data={
        "csrf_token": token, "environment": "shared/dev", "permission": "write"}).status_code == 303
    assert admin.post("/acme/settings/teams/ops/environments", data={
        "csrf_token": token, "environment": "shared/dev", "permission": "root"}).status_code == 400
    assert admin.post("/acme/settings/teams/ops/environments", data={
        "csrf_token": token, "environment": "shared/gone", "permission": "read"}).status_code == 404
    found = api.get("/api/orgs/acme/teams/ops").get_json()["environments"]
    assert found == [{"projectName": "shared", "envName": "dev", "permission": "write"}]
    text = admin.get("/acme/settings/teams/ops").get_data(as_text=True)
    assert '<option value="shared/dev">' not in text and "shared/dev</td>" in text
    # Members read the grants and get no form; the change is the admins'.
    member = signed_in(app, acme["member"].token)
    seen = member.get("/acme/settings/teams/ops").get_data(as_text=True)
    assert "shared/dev" in seen and "/environments" not in seen
    assert member.post("/acme/settings/teams/ops/environments", data={
        "csrf_token": csrf_of(member.get("/acme")), "environment": "shared/dev",
        "permission": "admin"}).status_code == 403
    assert admin.post("/acme/settings/teams/ops/environments", data={
        "csrf_token": token, "environment": "shared/dev", "permission": "none"}).status_code == 303
    assert api.get("/api/orgs/acme/teams/ops").get_json()["environments"] == []


def test_a_stacks_admins_grant_and_remove_team_permissions_on_its_settings_page(app, acme):
    make_stack(acme["admin"], name="dev")
    assert acme["admin"].post("/api/orgs/acme/teams/pulumi", body={"name": "ops"}
                              ).status_code == 201
    member = signed_in(app, acme["member"].token)
    settings = member.get("/acme/proj/dev/settings").get_data(as_text=True)
    assert "Teams and permissions" not in settings
    assert member.post("/acme/proj/dev/settings/teams", data={
        "csrf_token": csrf_of(member.get("/acme")), "team": "ops", "permission": "102"}
    ).status_code == 403
    admin = signed_in(app, acme["admin"].token)
    page = admin.get("/acme/proj/dev/settings")
    assert "No team has a permission" in page.get_data(as_text=True)
    granted = admin.post("/acme/proj/dev/settings/teams", data={
        "csrf_token": csrf_of(page), "team": "ops", "permission": "101"})
    assert granted.status_code == 303
    teams = acme["admin"].get("/api/stacks/acme/proj/dev/teams").get_json()["teams"]
    assert [(t["name"], t["permission"]) for t in teams] == [("ops", 101)]
    assert admin.post("/acme/proj/dev/settings/teams", data={
        "csrf_token": csrf_of(page), "team": "nope", "permission": "101"}).status_code == 404
    assert admin.post("/acme/proj/dev/settings/teams", data={
        "csrf_token": csrf_of(page), "team": "ops", "permission": "0"}).status_code == 303
    assert acme["admin"].get("/api/stacks/acme/proj/dev/teams").get_json()["teams"] == []


# --- organization tokens --------------------------------------------------------------------------

def test_admins_make_an_organization_token_shown_once_and_delete_it(app, acme):
    admin = signed_in(app, acme["admin"].token)
    page = admin.get("/acme/settings/tokens")
    assert page.status_code == 200 and "No organization tokens" in page.get_data(as_text=True)
    made = admin.post("/acme/settings/tokens", data={
        "csrf_token": csrf_of(page), "name": "ci", "description": EVIL, "days": "30"})
    text = made.get_data(as_text=True)
    value = re.search(r'<code id="new-token">(pul-[0-9a-f]+)</code>', text).group(1)
    assert EVIL not in text
    stacks = app.test_client().get("/api/user/stacks?organization=acme", headers={
        "Accept": "application/vnd.pulumi+8", "Authorization": f"token {value}"})
    assert stacks.status_code == 200
    again = admin.get("/acme/settings/tokens").get_data(as_text=True)
    assert value not in again and "ci" in again
    assert admin.post("/acme/settings/tokens", data={
        "csrf_token": csrf_of(page), "name": "ci"}).status_code == 409  # names stay taken
    listed = acme["admin"].get("/api/orgs/acme/tokens").get_json()["tokens"]
    assert [t["name"] for t in listed] == ["ci"] and listed[0]["expires"] > 0
    deleted = admin.post(f"/acme/settings/tokens/{listed[0]['id']}/delete",
                         data={"csrf_token": csrf_of(page)})
    assert deleted.status_code == 303
    assert acme["admin"].get("/api/orgs/acme/tokens").get_json()["tokens"] == []
    member = signed_in(app, acme["member"].token)
    assert member.get("/acme/settings/tokens").status_code == 403


def test_a_nul_character_in_any_form_field_is_a_400_not_a_500(app, acme):
    admin = signed_in(app, acme["admin"].token)
    token = csrf_of(_members(admin))
    path = _make_invite(admin).removeprefix("http://localhost")
    assert _accept(app.test_client(), path, "nina", name="a\x00b").status_code == 400
    assert admin.post("/acme/settings/teams", data={"csrf_token": token, "name": "ops"}
                      ).status_code == 303
    assert admin.post("/acme/settings/teams/ops/members", data={
        "csrf_token": token, "action": "add", "login": "mo\x00na"}).status_code == 400
    assert app.test_client().post("/login", data={"login": "a\x00", "password": "x"}
                                  ).status_code == 400


# --- deleted stacks -------------------------------------------------------------------------------

def test_admins_restore_a_deleted_stack_from_the_console_under_a_free_name(app, acme):
    api = acme["admin"]
    make_stack(api, org="acme", project="proj", name="gone")
    path = "/api/stacks/acme/proj/gone"
    assert api.post(path + "/tags", body={"name": "team", "value": "blue"}).status_code == 204
    assert api.delete(path).status_code == 204
    make_stack(api, org="acme", project="proj", name="gone")  # its name is taken again
    admin = signed_in(app, api.token)
    page = admin.get("/acme/settings/deleted-stacks")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "proj/gone" in text
    [stack_id] = re.findall(r'/acme/settings/deleted-stacks/(\d+)/restore', text)
    action = f"/acme/settings/deleted-stacks/{stack_id}/restore"
    token = csrf_of(page)
    assert admin.post(action, data={"name": ""}).status_code == 400  # no CSRF token
    taken = admin.post(action, data={"csrf_token": token, "name": ""})
    assert taken.status_code == 409 and "already exists" in taken.get_data(as_text=True)
    assert admin.post(action, data={"csrf_token": token, "name": "a/b"}).status_code == 400
    restored = admin.post(action, data={"csrf_token": token, "name": "back"})
    assert restored.status_code == 303 and restored.headers["Location"] == "/acme/proj/back"
    assert api.get("/api/stacks/acme/proj/back").get_json()["tags"]["team"] == "blue"
    assert "No deleted stacks" in admin.get("/acme/settings/deleted-stacks").get_data(as_text=True)
    records = api.get("/api/orgs/acme/auditlogs/v2?eventFilter=stack.restored").get_json()
    assert [e["description"] for e in records["auditLogEvents"]] == [
        "restored deleted stack acme/proj/gone as acme/proj/back"]
    # Members see neither the page nor its action.
    member = signed_in(app, acme["member"].token)
    assert member.get("/acme/settings/deleted-stacks").status_code == 403
    assert member.post(action, data={"csrf_token": csrf_of(member.get("/acme")),
                                     "name": ""}).status_code == 403
