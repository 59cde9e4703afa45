"""Who may do what to an ESC environment: Pulumi's environment permissions (none, read, open,
write, admin), from the organization role and defaultEnvironmentPermission, teams' grants on
environments (the union), organization and team tokens; the same rule for the list, for imports
and for ciphertexts of other environments; team grants managed through the team API and the
official cloud SDK; the organization setting."""
import pytest

from tests.support.api import Api, assert_error

BASE = "/api/esc/environments"
TEAMS = "/api/orgs/acme/teams"
SECRET_DEFINITION = "values:\n  password:\n    fn::secret: hunter2\n  region: us-west-2\n"


def env_path(name="dev", project="proj"):
    return f"{BASE}/acme/{project}/{name}"


def create(admin, name="dev", text=SECRET_DEFINITION, project="proj"):
    assert admin.post(f"{BASE}/acme", {"project": project, "name": name}).status_code == 200
    if text:
        save(admin, text, env_path(name, project))


def save(api, text, path):
    response = api.call("PATCH", path, data=text.encode())
    assert response.status_code == 200, response.get_data(as_text=True)


def yaml(api, method, path, text):
    return api.call(method, path, data=text.encode())


def level(api, admin, name="dev"):
    """The permission `api` has on acme/proj/<name>, found by trying each thing it allows:
    read the definition, read it decrypted (open), save it (write), delete it (admin; the
    environment is made again after)."""
    path = env_path(name)
    got = api.get(path)
    if got.status_code == 404:
        return "none"
    assert got.status_code == 200, got.get_data(as_text=True)
    if api.get(f"{path}/decrypt").status_code != 200:
        return "read"
    if yaml(api, "PATCH", path, SECRET_DEFINITION).status_code != 200:
        return "open"
    if api.delete(path).status_code != 200:
        return "write"
    create(admin, name)
    return "admin"


def settings(admin, **changes):
    response = admin.patch("/api/orgs/acme", body={f"set{k[0].upper()}{k[1:]}": v
                                                   for k, v in changes.items()})
    assert response.status_code == 200, response.get_json()


def team(admin, name, members=(), grants=()):
    assert admin.post(f"{TEAMS}/pulumi", body={"name": name}).status_code == 201
    for login in members:
        assert admin.patch(f"{TEAMS}/{name}", body={"memberAction": "add",
                                                     "member": login}).status_code == 204
    for env, permission in grants:
        grant(admin, name, env, permission)


def grant(admin, team_name, env, permission, how="add", status=204):
    response = admin.patch(f"{TEAMS}/{team_name}", body={f"{how}EnvironmentPermission": {
        "projectName": "proj", "envName": env, "permission": permission}})
    assert response.status_code == status, response.get_json()
    return response


def token(creator, path, **body):
    response = creator.post(path, body={"name": "ci", "description": "", "expires": 0, **body})
    assert response.status_code == 200, response.get_json()
    return Api(creator.client, response.get_json()["tokenValue"])


@pytest.mark.parametrize("default,viewer,member", [
    ("none", "none", "none"),
    ("read", "read", "read"),
    ("open", "read", "open"),
    ("write", "read", "write"),   # the default, what members could do before teams
    ("admin", "read", "admin"),
])
def test_role_and_default_environment_permission(acme, default, viewer, member):
    admin = acme["admin"]
    create(admin)
    if default != "write":
        settings(admin, defaultEnvironmentPermission=default)
    assert admin.get("/api/orgs/acme/metadata").get_json()["defaultEnvironmentPermission"] == default
    assert level(acme["viewer"], admin) == viewer
    assert level(acme["member"], admin) == member
    assert level(admin, admin) == "admin"
    assert level(acme["outsider"], admin) == "none"


def test_viewers_open_when_the_service_lets_them_decrypt(acme, app):
    admin = acme["admin"]
    create(admin)
    app.config["SECRETS_VIEWERS_CAN_DECRYPT"] = True
    try:
        assert level(acme["viewer"], admin) == "open"
        settings(admin, defaultEnvironmentPermission="read")
        assert level(acme["viewer"], admin) == "read"   # never above the default
    finally:
        app.config["SECRETS_VIEWERS_CAN_DECRYPT"] = False


@pytest.mark.parametrize("login,role,default,granted,expected", [
    ("mona", "member", "none", "read", "read"),
    ("mona", "member", "none", "open", "open"),
    ("mona", "member", "none", "write", "write"),
    ("mona", "member", "none", "admin", "admin"),
    ("vera", "viewer", "write", "write", "write"),  # the union: the team's write wins
    ("mona", "member", "write", "read", "write"),   # and the role's write over a read grant
])
def test_team_grants_add_to_the_role(acme, login, role, default, granted, expected):
    admin = acme["admin"]
    create(admin)
    create(admin, "prod")
    settings(admin, defaultEnvironmentPermission=default)
    team(admin, "ops", members=[login], grants=[("dev", granted)])
    assert level(acme[role], admin) == expected
    # The grant is on dev only: prod is what the role gives.
    role_gives = default if role == "member" else "read"
    assert level(acme[role], admin, "prod") == role_gives


def test_tokens_organization_writes_admin_administers_team_has_its_grants(acme):
    admin = acme["admin"]
    create(admin)
    create(admin, "prod")
    team(admin, "ops", grants=[("dev", "open")])
    team(admin, "idle")
    org_token = token(admin, "/api/orgs/acme/tokens")
    admin_token = token(admin, "/api/orgs/acme/tokens", name="root", admin=True)
    ops_token = token(admin, f"{TEAMS}/ops/tokens")
    idle_token = token(admin, f"{TEAMS}/idle/tokens")
    assert level(org_token, admin) == "write"
    assert level(ops_token, admin) == "open"
    assert level(ops_token, admin, "prod") == "none"
    assert level(idle_token, admin) == "none"
    # Lists agree: a team token sees its grants only, an organization token everything.
    names = lambda api: [e["name"] for e in api.get(f"{BASE}/acme").get_json()["environments"]]
    assert names(ops_token) == ["dev"] and names(idle_token) == []
    assert names(org_token) == ["dev", "prod"]
    assert [e["name"] for e in ops_token.get(BASE).get_json()["environments"]] == ["dev"]
    assert level(admin_token, admin) == "admin"   # last: it deletes dev (and the grant)


def test_the_list_shows_what_the_caller_may_read(acme):
    admin = acme["admin"]
    for name in ("dev", "prod", "test"):
        create(admin, name, text="")
    settings(admin, defaultEnvironmentPermission="none")
    team(admin, "ops", members=["mona"], grants=[("prod", "read")])
    names = lambda api: [e["name"] for e in api.get(f"{BASE}/acme").get_json()["environments"]]
    assert names(acme["member"]) == ["prod"]
    assert names(acme["viewer"]) == []
    assert names(admin) == ["dev", "prod", "test"]
    for api in (acme["member"], acme["viewer"]):
        for name in ("dev", "prod", "test"):
            assert (api.get(env_path(name)).status_code == 200) == (name in names(api))


def test_imports_are_read_with_the_callers_rights(acme):
    """An environment the caller may not read is not found (its name tells nothing), one they
    may read but not open gives its secrets as "[secret]" to whatever imports it."""
    admin, mona = acme["admin"], acme["member"]
    create(admin, "base")
    create(admin, "app", text="imports: [proj/base]\nvalues:\n  own: {fn::secret: mine}\n")
    settings(admin, defaultEnvironmentPermission="none")
    team(admin, "ops", members=["mona"], grants=[("app", "open")])

    unknown = assert_error(mona.post(f"{env_path('app')}/open"), 400)
    assert 'unknown environment "proj/base"' in unknown["diagnostics"][0]["summary"]
    unknown = assert_error(yaml(mona, "POST", f"{BASE}/acme/yaml/open", "imports: [proj/base]\n"),
                           400)
    assert 'unknown environment "proj/base"' in unknown["diagnostics"][0]["summary"]
    # An editor cannot import what they cannot read either.
    grant(admin, "ops", "app", "write", how="edit")
    assert_error(yaml(mona, "PATCH", env_path("app"), "imports: [proj/base]\n"), 400)

    grant(admin, "ops", "base", "read")
    session = mona.post(f"{env_path('app')}/open").get_json()["id"]
    opened = mona.get(f"{env_path('app')}/open/{session}").get_json()["properties"]
    assert opened["password"]["value"] == "[secret]" and opened["region"]["value"] == "us-west-2"
    assert opened["own"]["value"] == "[secret]"   # the whole session is as its opener may see
    session = yaml(mona, "POST", f"{BASE}/acme/yaml/open", "imports: [proj/base]\n").get_json()["id"]
    opened = mona.get(f"{BASE}/acme/yaml/open/{session}").get_json()["properties"]
    assert opened["password"]["value"] == "[secret]"

    grant(admin, "ops", "base", "open", how="edit")
    session = mona.post(f"{env_path('app')}/open").get_json()["id"]
    opened = mona.get(f"{env_path('app')}/open/{session}").get_json()["properties"]
    assert (opened["password"]["value"], opened["own"]["value"]) == ("hunter2", "mine")


def test_ciphertexts_of_another_environment_need_its_open_permission(acme):
    """`env get` sends a stored definition, ciphertexts included, to yaml/check: that is no way
    round the environment's permissions."""
    admin, mona = acme["admin"], acme["member"]
    create(admin, "base")
    stored = admin.get(env_path("base")).get_data(as_text=True)
    assert "hunter2" not in stored
    settings(admin, defaultEnvironmentPermission="none")
    check = f"{BASE}/acme/yaml/check?showSecrets=true"
    assert assert_error(yaml(mona, "POST", check, stored), 400)["diagnostics"]
    team(admin, "ops", members=["mona"], grants=[("base", "read")])
    refused = assert_error(yaml(mona, "POST", check, stored), 403)
    assert "'open' permission on proj/base" in refused["message"]
    grant(admin, "ops", "base", "open", how="edit")
    assert yaml(mona, "POST", check, stored).get_json()["properties"]["password"]["value"] == "hunter2"


def test_clone_needs_the_member_role_and_open_on_the_source(acme):
    admin = acme["admin"]
    create(admin)
    settings(admin, defaultEnvironmentPermission="none")
    team(admin, "ops", members=["mona", "vera"], grants=[("dev", "read")])
    body = {"name": "copy"}
    assert_error(acme["member"].post(f"{env_path()}/clone", body), 403, "'open' permission")
    grant(admin, "ops", "dev", "open", how="edit")
    assert_error(acme["viewer"].post(f"{env_path()}/clone", body), 403, "'member' role")
    assert acme["member"].post(f"{env_path()}/clone", body).status_code == 200


def test_team_environment_grants_through_the_team_api(acme, db):
    admin = acme["admin"]
    create(admin)
    team(admin, "ops")
    grant(admin, "ops", "dev", "read")
    assert admin.get(f"{TEAMS}/ops").get_json()["environments"] == [
        {"projectName": "proj", "envName": "dev", "permission": "read"}]
    grant(admin, "ops", "dev", "write", status=409)
    grant(admin, "ops", "dev", "admin", how="edit")
    assert admin.get(f"{TEAMS}/ops").get_json()["environments"][0]["permission"] == "admin"
    grant(admin, "ops", "dev", "superuser", status=400)
    grant(admin, "ops", "missing", "read", status=404)
    assert_error(acme["member"].patch(f"{TEAMS}/ops", body={"addEnvironmentPermission": {
        "projectName": "proj", "envName": "dev", "permission": "read"}}), 403)
    response = admin.patch(f"{TEAMS}/ops", body={"removeEnvironment": {"projectName": "proj",
                                                                       "envName": "dev"}})
    assert response.status_code == 204
    assert admin.get(f"{TEAMS}/ops").get_json()["environments"] == []
    assert_error(admin.patch(f"{TEAMS}/ops", body={"removeEnvironment": {
        "projectName": "proj", "envName": "dev"}}), 404)
    grant(admin, "ops", "dev", "write", how="edit", status=404)
    events = admin.get("/api/orgs/acme/auditlogs/v2").get_json()["auditLogEvents"]
    changes = [e["description"] for e in events if e["event"] == "environment.permission_changed"]
    assert "team ops now has permission none on environment acme/proj/dev" in changes
    assert "team ops now has permission admin on environment acme/proj/dev" in changes


def test_grants_go_with_their_environment_and_their_team(acme, db):
    admin = acme["admin"]
    create(admin)
    team(admin, "ops", members=["mona"], grants=[("dev", "admin")])
    team(admin, "qa", grants=[("dev", "read")])
    settings(admin, defaultEnvironmentPermission="none")
    assert admin.delete(env_path()).status_code == 200
    create(admin)   # the same name again: no grant comes back with it
    assert admin.get(f"{TEAMS}/ops").get_json()["environments"] == []
    assert level(acme["member"], admin) == "none"
    grant(admin, "qa", "dev", "read")
    assert admin.delete(f"{TEAMS}/qa").status_code == 204
    with db, db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM team_environment_permissions")
        assert cur.fetchone()["n"] == 0


def test_a_grant_cannot_name_another_organizations_environment(acme, db):
    admin, otto = acme["admin"], acme["outsider"]
    assert otto.post(f"{BASE}/globex", {"project": "proj", "name": "dev"}).status_code == 200
    team(admin, "ops")
    grant(admin, "ops", "dev", "read", status=404)   # acme has no proj/dev
    with db, db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM team_environment_permissions")
        assert cur.fetchone()["n"] == 0


@pytest.mark.parametrize("value", ["everything", 3, ""])
def test_a_bad_default_environment_permission_is_400(acme, value):
    response = acme["admin"].patch("/api/orgs/acme",
                                   body={"setDefaultEnvironmentPermission": value})
    assert_error(response, 400)
    assert acme["admin"].get("/api/orgs/acme/metadata").get_json()[
        "defaultEnvironmentPermission"] == "write"

