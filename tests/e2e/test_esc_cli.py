"""ESC with the real CLI beyond the basics (tests/e2e/test_env_cli.py): `env edit -f`,
`env version tag|history|rollback|retract`, `env diff`, `env run`, `env tag`, `env clone`, and a stack's
`pulumi config env add|ls|rm` with `pulumi config` showing what comes from the environment."""
import json

from tests.support import unique

DEFINITION = """values:
  greeting: hello
  password:
    fn::secret: hunter2
  environmentVariables:
    GREETING: ${greeting}
    DB_PASSWORD: ${password}
  pulumiConfig:
    region: us-west-2
    dbPassword: ${password}
"""


def member_with_environment(new_cli):
    """(a member of a new organization, its environment `shared/dev` at revision 2: DEFINITION
    saved with `env edit -f`)."""
    org = unique("org")
    member = new_cli({org: "member"})
    env = f"{org}/shared/dev"
    member.run("env", "init", env)
    (member.cwd / "def.yaml").write_text(DEFINITION)
    member.run("env", "edit", env, "-f", "def.yaml")
    return member, org, env


def test_env_edit_versions_tags_run_and_clone(new_cli):
    member, org, env = member_with_environment(new_cli)
    member.run("env", "set", env, "greeting", "bonjour")                  # revision 3

    member.run("env", "version", "tag", f"{env}@stable", "@2")
    history = member.run("env", "version", "history", env, "--pager", "cat").stdout
    assert "revision 3 (tag: latest)" in history and "revision 2 (tag: stable)" in history
    assert json.loads(member.run("env", "open", f"{env}@stable").stdout)["greeting"] == "hello"
    assert "hunter2" in member.run("env", "get", f"{env}@stable", "--show-secrets").stdout

    ran = member.run("env", "run", env, "--", "sh", "-c", "echo $GREETING/$DB_PASSWORD")
    assert ran.stdout.strip() == "bonjour/[secret]"  # env run filters secrets from its output

    # diff between revisions, and rollback to one (a new revision with its definition).
    diff = member.run("env", "diff", f"{env}@stable", "@3").stdout
    assert "hello" in diff and "bonjour" in diff
    member.run("env", "version", "rollback", f"{env}@2")                  # revision 4
    assert json.loads(member.run("env", "open", env).stdout)["greeting"] == "hello"
    # retract revision 3: gone, and shown as retracted in the history.
    member.run("env", "version", "retract", f"{env}@3", "--reason", "wrong greeting")
    assert member.run("env", "get", f"{env}@3", check=False).returncode != 0
    history = member.run("env", "version", "history", env, "--pager", "cat").stdout
    assert "revision 3 (retracted)" in history and "wrong greeting" in history

    member.run("env", "tag", env, "team", "infra")
    assert "infra" in member.run("env", "tag", "ls", env).stdout

    member.run("env", "clone", env, "copy", "--preserve-history", "--preserve-env-tags")
    copy = json.loads(member.run("env", "open", f"{org}/shared/copy").stdout)
    assert copy["password"] == "hunter2"
    assert "revision 4" in member.run("env", "version", "history", f"{org}/shared/copy",
                                   "--pager", "cat").stdout


def test_config_env_add_ls_rm_and_config_shows_environment_values(new_cli):
    member, org, _ = member_with_environment(new_cli)
    member.write_program("config:\n  region: {type: string}\n")
    member.run("stack", "init", f"{org}/dev")

    member.run("config", "env", "add", "shared/dev", "--yes")
    assert "shared/dev" in (member.cwd / "Pulumi.dev.yaml").read_text()
    assert "shared/dev" in member.run("config", "env", "ls").stdout
    shown = member.run("config").stdout
    assert "us-west-2" in shown and "hunter2" not in shown
    config = json.loads(member.run("config", "--json", "--show-secrets").stdout)
    assert config["proj:region"]["value"] == "us-west-2"
    assert config["proj:dbPassword"] == {**config["proj:dbPassword"], "value": "hunter2",
                                         "secret": True}

    member.run("config", "env", "rm", "shared/dev", "--yes")
    assert "shared/dev" not in (member.cwd / "Pulumi.dev.yaml").read_text()
    assert "us-west-2" not in member.run("config").stdout
