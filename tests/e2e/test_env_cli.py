"""ESC environments with the real CLI: `pulumi env init|set|get|open|ls|rm|settings` against the
service, with a secret set through `--secret` stored sealed and shown only with --show-secrets,
and deletion protection refusing `env rm`."""
import json

from tests.support import unique


def test_env_lifecycle_with_the_cli(new_cli):
    org = unique("org")
    member, viewer = new_cli({org: "member"}), new_cli({org: "viewer"})
    env = f"{org}/shared/dev"
    member.run("env", "init", env)
    member.run("env", "set", env, "region", "us-west-2")
    member.run("env", "set", env, "pulumiConfig.region", "${region}")
    member.run("env", "set", env, "password", "hunter2", "--secret")

    got = member.run("env", "get", env).stdout
    assert "us-west-2" in got and "hunter2" not in got and "ciphertext" in got
    assert "hunter2" in member.run("env", "get", env, "--show-secrets").stdout

    opened = json.loads(member.run("env", "open", env).stdout)
    assert opened["pulumiConfig"] == {"region": "us-west-2"}
    assert opened["password"] == "hunter2"

    assert env in viewer.run("env", "ls").stdout
    refused = viewer.run("env", "set", env, "x", "1", check=False)
    assert refused.returncode != 0 and "403" in refused.output

    member.run("env", "rm", env, "--yes", check=False)  # members may not delete
    admin = new_cli({org: "admin"})
    admin.run("env", "settings", "set", env, "deletion-protected", "true")
    assert "true" in admin.run("env", "settings", "get", env, "deletion-protected").stdout
    protected = admin.run("env", "rm", env, "--yes", check=False)
    assert protected.returncode != 0 and "deletion protection is enabled" in protected.output
    admin.run("env", "settings", "set", env, "deletion-protected", "false")
    admin.run("env", "rm", env, "--yes")
    assert env not in admin.run("env", "ls").stdout


def test_a_stack_reads_config_and_secrets_from_its_environment(new_cli):
    org = unique("org")
    member = new_cli({org: "member"})
    member.run("env", "init", f"{org}/shared/dev")
    member.run("env", "set", f"{org}/shared/dev", "pulumiConfig.region", "us-west-2")
    member.run("env", "set", f"{org}/shared/dev", "pulumiConfig.password", "hunter2", "--secret")
    member.write_program("config:\n  region: {type: string}\n  password: {type: string}\n"
                         "outputs:\n  region: ${region}\n  password: ${password}\n")
    member.run("stack", "init", f"{org}/dev")
    (member.cwd / "Pulumi.dev.yaml").write_text("environment:\n  - shared/dev\n")

    assert member.run("config", "get", "region").stdout.strip() == "us-west-2"
    member.run("up", "--yes", "--skip-preview")
    outputs = json.loads(member.run("stack", "output", "--json", "--show-secrets").stdout)
    assert outputs == {"region": "us-west-2", "password": "hunter2"}
    assert "hunter2" not in member.run("stack", "output", "--json").stdout
