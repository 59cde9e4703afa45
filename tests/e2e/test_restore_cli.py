"""A stack removed with the real CLI (`pulumi stack rm --force`) and restored by an admin over
Pulumi's restore-stack API comes back whole: the CLI exports the same state, decrypts its
secrets and updates it on."""
from tests.support.cli import stash_program


def test_stack_rm_then_restore_gives_back_the_same_export(cli, service):
    cli.write_program(stash_program({"a": "one"}, outputs={"hidden": {"fn::secret": "s3cr3t"}}))
    cli.run("stack", "init", "dev")
    cli.run("up", "--yes", "--skip-preview")
    before = cli.run("stack", "export").stdout

    cli.run("stack", "rm", "--yes", "--force")
    assert "dev" not in cli.run("stack", "ls").stdout
    org = cli.login_name  # an admin of their own organization
    listed = service.api("GET", f"/api/orgs/{org}/restore-stack", cli.token)
    (found,) = listed.json()["deletedStacks"]
    assert (found["projectName"], found["stackName"]) == ("proj", "dev")
    restored = service.api("POST", f"/api/orgs/{org}/restore-stack/{found['programId']}",
                           cli.token, json={"stackName": "dev"})
    assert restored.status_code == 200, restored.text

    cli.run("stack", "select", "dev")
    assert cli.run("stack", "export").stdout == before
    assert cli.run("stack", "output", "hidden", "--show-secrets").stdout.strip() == "s3cr3t"
    cli.run("up", "--yes", "--skip-preview")
