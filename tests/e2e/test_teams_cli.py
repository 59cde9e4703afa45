"""Teams, stack permissions and organization tokens with the real CLI: `pulumi stack init
--teams`, `pulumi whoami -v` with an organization token, and a member in no team of an
organization whose default stack permission is none seeing no stack in `pulumi stack ls`; team
grants on ESC environments deciding what `pulumi env` and a stack's `environment:` import see."""
import json

import pytest

from tests.support import unique
from tests.support.cli import Pulumi


@pytest.fixture
def org(new_cli, service):
    """An organization with teams `blue` and `green`, an admin and a member, each logged in."""
    name = unique("teams")
    people = {role: new_cli({name: role}) for role in ("admin", "member")}
    for team in ("blue", "green"):
        response = service.api("POST", f"/api/orgs/{name}/teams/pulumi", people["admin"].token,
                               json={"name": team})
        assert response.status_code == 201, response.text
    people["name"] = name
    return people


def stack_teams(service, org, token, stack):
    response = service.api("GET", f"/api/stacks/{org}/proj/{stack}/teams", token)
    assert response.status_code == 200, response.text
    return {t["name"]: t["permission"] for t in response.json()["teams"]}


def test_stack_init_with_teams_grants_them_write(org, service):
    admin = org["admin"]
    admin.write_program("resources: {}\n")
    admin.run("stack", "init", f"{org['name']}/dev", "--teams", "blue", "--teams", "green")
    assert stack_teams(service, org["name"], admin.token, "dev") == {"blue": 102, "green": 102}


def test_member_in_no_team_under_default_none_sees_no_stack(org, service):
    admin, member, name = org["admin"], org["member"], org["name"]
    admin.write_program("resources: {}\n")
    admin.run("stack", "init", f"{name}/dev")
    admin.run("stack", "init", f"{name}/prod", "--teams", "blue")
    assert service.api("PATCH", f"/api/orgs/{name}", admin.token,
                       json={"setDefaultStackPermission": 0}).status_code == 200

    def listed(cli):
        out = cli.run("stack", "ls", "--all", "--json").stdout
        return sorted(s["name"] for s in json.loads(out) if s["name"].startswith(name))

    assert listed(member) == []
    result = member.run("stack", "select", f"{name}/proj/dev", check=False)
    assert result.returncode != 0
    # In team blue, the member sees (and may update) the stack the team was given.
    assert service.api("PATCH", f"/api/orgs/{name}/teams/blue", admin.token,
                       json={"memberAction": "add", "member": member.login_name}
                       ).status_code == 204
    assert listed(member) == [f"{name}/proj/prod"]
    member.write_program("resources: {}\n")
    member.run("up", "--yes", "--skip-preview", "--stack", f"{name}/prod")


def test_whoami_with_an_organization_token(org, service, pulumi_bin, tmp_path):
    created = service.api("POST", f"/api/orgs/{org['name']}/tokens", org["admin"].token,
                          json={"name": "deploys", "description": "ci", "expires": 0})
    assert created.status_code == 200, created.text
    cli = Pulumi(pulumi_bin, service.url, created.json()["tokenValue"], tmp_path / "orgtoken")
    cli.login()
    out = cli.run("whoami", "-v").stdout
    assert f"User: {org['name']}" in out
    assert f"Organizations: {org['name']}" in out
    assert f"Token type: organization: {org['name']}" in out
    assert "Token name: deploys" in out
    # It acts as the organization: it may create stacks there.
    cli.write_program("resources: {}\n")
    cli.run("stack", "init", f"{org['name']}/ci")


def test_environment_grants_decide_what_a_member_sees_and_what_a_stack_may_import(org, service):
    """Under defaultEnvironmentPermission none, a member in no team neither lists nor opens the
    organization's environment, and a stack of theirs importing it fails; given `read` through
    team blue, they open it with secrets hidden; given `open`, their stack's `up` reads its
    config and secrets."""
    admin, member, name = org["admin"], org["member"], org["name"]
    env = f"{name}/shared/dev"
    admin.run("env", "init", env)
    admin.run("env", "set", env, "pulumiConfig.region", "us-west-2")
    admin.run("env", "set", env, "pulumiConfig.password", "hunter2", "--secret")
    admin.write_program("resources: {}\n")
    admin.run("stack", "init", f"{name}/dev", "--teams", "blue")
    assert service.api("PATCH", f"/api/orgs/{name}", admin.token,
                       json={"setDefaultEnvironmentPermission": "none"}).status_code == 200
    assert service.api("PATCH", f"/api/orgs/{name}/teams/blue", admin.token,
                       json={"memberAction": "add", "member": member.login_name}
                       ).status_code == 204

    assert env not in member.run("env", "ls").stdout
    assert member.run("env", "open", env, check=False).returncode != 0
    member.write_program("config:\n  region: {type: string}\n  password: {type: string}\n"
                         "outputs:\n  region: ${region}\n  password: ${password}\n")
    member.run("stack", "select", f"{name}/proj/dev")
    (member.cwd / "Pulumi.dev.yaml").write_text("environment:\n  - shared/dev\n")
    refused = member.run("up", "--yes", "--skip-preview", check=False)
    assert refused.returncode != 0 and "shared/dev" in refused.output

    def grant(how, permission):
        response = service.api("PATCH", f"/api/orgs/{name}/teams/blue", admin.token, json={
            f"{how}EnvironmentPermission": {"projectName": "shared", "envName": "dev",
                                            "permission": permission}})
        assert response.status_code == 204, response.text

    grant("add", "read")
    assert env in member.run("env", "ls").stdout
    opened = json.loads(member.run("env", "open", env).stdout)
    assert opened["pulumiConfig"]["region"] == "us-west-2"
    assert opened["pulumiConfig"]["password"] == "[secret]"
    assert member.run("env", "get", env, "--show-secrets", check=False).returncode != 0

    grant("edit", "open")
    member.run("up", "--yes", "--skip-preview")
    outputs = json.loads(member.run("stack", "output", "--json", "--show-secrets").stdout)
    assert outputs == {"region": "us-west-2", "password": "hunter2"}
