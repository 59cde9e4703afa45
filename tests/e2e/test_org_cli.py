"""Organizations with the real CLI: `pulumi org member list|edit|remove`, `pulumi org role
list`, `pulumi org get-default` and `pulumi whoami -v`, as admin, viewer and outsider."""
import json

import pytest

from tests.support import unique


@pytest.fixture
def org(new_cli):
    """An organization with an admin, a member and a viewer, each logged in with the CLI."""
    name = unique("org")
    people = {role: new_cli({name: role}) for role in ("admin", "member", "viewer")}
    people["name"] = name
    return people


def members(cli, org_name):
    listed = cli.run("org", "member", "list", "--org", org_name, "--output", "json").stdout
    return {m["user"]["githubLogin"]: (m["role"], m["fgaRole"]["name"])
            for m in json.loads(listed)["members"]}


def test_member_list_shows_each_member_and_role(org):
    admin, viewer = org["admin"], org["viewer"]
    table = viewer.run("org", "member", "list", "--org", org["name"]).stdout
    for role in ("admin", "member", "viewer"):
        line = [l for l in table.splitlines() if org[role].login_name in l]
        assert line and role in line[0], table
    assert "3 member(s)" in table
    assert members(admin, org["name"]) == {
        org["admin"].login_name: ("admin", "admin"),
        org["member"].login_name: ("member", "member"),
        org["viewer"].login_name: ("member", "viewer"),
    }


def test_member_list_of_an_org_the_user_is_not_in_is_refused(org, new_cli):
    outsider = new_cli()
    result = outsider.run("org", "member", "list", "--org", org["name"], check=False)
    assert result.returncode != 0
    assert "is not a member of organization" in result.output


def test_member_edit_by_role_and_by_role_name(org):
    admin, viewer_login = org["admin"], org["viewer"].login_name
    out = admin.run("org", "member", "edit", viewer_login, "--org", org["name"],
                    "--role", "admin").output
    assert viewer_login in out
    assert members(admin, org["name"])[viewer_login] == ("admin", "admin")
    admin.run("org", "member", "edit", viewer_login, "--org", org["name"],
              "--fga-role-name", "viewer")
    assert members(admin, org["name"])[viewer_login] == ("member", "viewer")


def test_member_edit_by_a_viewer_is_forbidden(org):
    result = org["viewer"].run("org", "member", "edit", org["member"].login_name,
                               "--org", org["name"], "--role", "admin", check=False)
    assert result.returncode != 0 and "403" in result.output
    assert members(org["admin"], org["name"])[org["member"].login_name] == ("member", "member")


def test_the_last_admin_cannot_be_demoted(org):
    result = org["admin"].run("org", "member", "edit", org["admin"].login_name,
                              "--org", org["name"], "--role", "member", check=False)
    assert result.returncode != 0 and "last admin" in result.output


def test_member_remove(org):
    admin = org["admin"]
    admin.run("org", "member", "remove", org["member"].login_name, "--org", org["name"], "--yes")
    assert set(members(admin, org["name"])) == {org["admin"].login_name, org["viewer"].login_name}
    result = org["member"].run("org", "member", "list", "--org", org["name"], check=False)
    assert result.returncode != 0


def test_removing_oneself_is_refused(org):
    result = org["admin"].run("org", "member", "remove", org["admin"].login_name,
                              "--org", org["name"], "--yes", check=False)
    assert result.returncode != 0 and "yourself" in result.output


def test_role_list_shows_the_built_in_roles(org):
    table = org["viewer"].run("org", "role", "list", "--org", org["name"]).stdout
    for role in ("viewer", "member", "admin"):
        assert role in table
    listed = json.loads(org["viewer"].run("org", "role", "list", "--org", org["name"],
                                          "--output", "json").stdout)
    assert [r["id"] for r in listed["roles"]] == ["viewer", "member", "admin"]


def test_whoami_verbose_lists_the_users_organizations(org):
    out = org["viewer"].run("whoami", "-v").stdout
    assert f"User: {org['viewer'].login_name}" in out
    listed = out.split("Organizations:")[1].splitlines()[0]
    assert {o.strip() for o in listed.split(",")} == {org["name"], org["viewer"].login_name}
    assert "Token type: personal" in out


def test_get_default_follows_the_default_set_over_the_api(org, service):
    viewer = org["viewer"]
    assert viewer.login_name in viewer.run("org", "get-default").stdout
    response = service.api("POST", f"/api/user/organizations/{org['name']}/default", viewer.token)
    assert response.status_code == 204
    assert org["name"] in viewer.run("org", "get-default").stdout
    # ... and `org member list` without --org lists that organization's members.
    assert org["admin"].login_name in viewer.run("org", "member", "list").stdout
