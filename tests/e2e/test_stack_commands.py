"""Stack management with the real CLI: init, ls, select, tag, rename, rm, and who may do what."""
import pytest

from tests.support import unique


@pytest.fixture
def project(cli):
    cli.write_program("resources: {}\n")
    return cli


def stack_names(service, token, **filters):
    response = service.api("GET", "/api/user/stacks", token, params=filters)
    assert response.status_code == 200, response.text
    return {s["id"] for s in response.json()["stacks"]}


def test_stack_init_in_the_default_org_creates_the_stack(project, service):
    project.run("stack", "init", "dev")
    assert stack_names(service, project.token) == {f"{project.login_name}/proj/dev"}
    assert "dev*" in project.run("stack", "ls").stdout


def test_stack_init_in_an_org_where_the_user_is_a_member(new_cli, service):
    org = unique("org")
    member = new_cli({org: "member"})
    member.write_program("resources: {}\n")
    member.run("stack", "init", f"{org}/dev")
    response = service.api("GET", f"/api/stacks/{org}/proj/dev", member.token)
    assert response.status_code == 200
    assert response.json()["orgName"] == org


def test_stack_init_twice_reports_that_the_stack_exists(project):
    project.run("stack", "init", "dev")
    result = project.run("stack", "init", "dev", check=False)
    assert result.returncode != 0
    assert "already exists" in result.output


def test_stack_ls_lists_the_projects_stacks_and_all_with_all(project, service):
    project.run("stack", "init", "dev")
    project.run("stack", "init", "prod")
    project.write_program("resources: {}\n", project="other")
    project.run("stack", "init", "elsewhere")
    listed = project.run("stack", "ls").stdout
    assert "elsewhere" in listed and "dev" not in listed
    everything = project.run("stack", "ls", "--all").stdout
    for name in ("dev", "prod", "elsewhere"):
        assert name in everything


def test_stack_select_switches_the_current_stack(project):
    project.run("stack", "init", "dev")
    project.run("stack", "init", "prod")
    project.run("stack", "select", "dev")
    assert "dev*" in project.run("stack", "ls").stdout
    result = project.run("stack", "select", "nope", check=False)
    assert result.returncode != 0
    assert "no stack named 'nope' found" in result.output


def test_stack_tags_set_get_ls_rm(project, service):
    project.run("stack", "init", "dev")
    project.run("stack", "tag", "set", "team", "platform")
    project.run("stack", "tag", "set", "env:tier", "gold")
    assert project.run("stack", "tag", "get", "team").stdout.strip() == "platform"
    listed = project.run("stack", "tag", "ls").stdout
    assert "team" in listed and "platform" in listed and "pulumi:project" in listed
    project.run("stack", "tag", "rm", "team")
    tags = service.api("GET", f"/api/stacks/{project.login_name}/proj/dev",
                       project.token).json()["tags"]
    assert "team" not in tags
    assert tags["env:tier"] == "gold"
    assert tags["pulumi:project"] == "proj"


def test_stack_rename_moves_the_stack_and_records_it(project, service):
    project.run("stack", "init", "dev")
    project.run("stack", "rename", "staging")
    owner = project.login_name
    assert stack_names(service, project.token) == {f"{owner}/proj/staging"}
    assert "staging*" in project.run("stack", "ls").stdout
    listed = service.api("GET", "/api/user/stacks", project.token).json()["stacks"][0]
    assert listed["lastUpdateInfo"]["kind"] == "rename"


def test_stack_rename_into_another_project(project, service):
    project.run("stack", "init", "dev")
    project.run("stack", "rename", f"{project.login_name}/newproj/dev")
    assert stack_names(service, project.token) == {f"{project.login_name}/newproj/dev"}


def test_stack_rm_deletes_the_stack(project, service):
    project.run("stack", "init", "dev")
    project.run("stack", "rm", "--yes")
    assert stack_names(service, project.token) == set()


def test_viewer_cannot_create_a_stack_in_the_org(new_cli, service):
    org = unique("org")
    viewer = new_cli({org: "viewer"})
    viewer.write_program("resources: {}\n")
    result = viewer.run("stack", "init", f"{org}/x", check=False)
    assert result.returncode != 0
    assert "[403] Forbidden" in result.output
    admin_token = service.user(unique("a"), {org: "admin"})
    assert stack_names(service, admin_token, organization=org) == set()


def test_member_cannot_remove_an_org_stack(new_cli, service):
    org = unique("org")
    member = new_cli({org: "member"})
    member.write_program("resources: {}\n")
    member.run("stack", "init", f"{org}/dev")
    result = member.run("stack", "rm", "--yes", check=False)
    assert result.returncode != 0
    assert "[403] Forbidden" in result.output
    assert stack_names(service, member.token, organization=org) == {f"{org}/proj/dev"}


def test_outsider_cannot_see_or_touch_an_orgs_stacks(new_cli, service):
    org = unique("org")
    member = new_cli({org: "member"})
    member.write_program("resources: {}\n")
    member.run("stack", "init", f"{org}/dev")

    outsider = new_cli()
    outsider.write_program("resources: {}\n")
    assert org not in outsider.run("stack", "ls", "--all").stdout
    selected = outsider.run("stack", "select", f"{org}/dev", check=False)
    assert selected.returncode != 0
    created = outsider.run("stack", "init", f"{org}/dev2", check=False)
    assert created.returncode != 0
    outsider.run("stack", "select", f"{outsider.login_name}/proj/mine", "--create")
    removed = outsider.run("stack", "rm", f"{org}/proj/dev", "--yes", check=False)
    assert removed.returncode != 0
    assert stack_names(service, member.token, organization=org) == {f"{org}/proj/dev"}
