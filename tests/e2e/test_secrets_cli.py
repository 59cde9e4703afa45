"""Service-managed secrets with the real CLI: `pulumi config set --secret` stores only the
service's ciphertext, `config get` / `config --show-secrets` decrypt it through the service, and
that keeps working after a stack rename and after a master key rotation and restart; viewers and
other stacks are refused with a readable error."""
import base64
import os

import pytest

from tests.support import postgres as pg, unique
from tests.support.cli import Pulumi
from tests.support.servers import Service


@pytest.fixture
def project(cli):
    cli.write_program("resources: {}\n")
    cli.run("stack", "init", "dev")
    return cli


def config_file(pulumi, stack="dev"):
    return (pulumi.cwd / f"Pulumi.{stack}.yaml").read_text()


def test_config_set_secret_stores_only_ciphertext_and_config_get_decrypts_it(project):
    project.run("config", "set", "--secret", "dbPassword", "s3cr3t")

    stored = config_file(project)
    assert "secure:" in stored and "s3cr3t" not in stored
    assert project.run("config", "get", "dbPassword").stdout.strip() == "s3cr3t"


def test_config_hides_secrets_unless_show_secrets(project):
    project.run("config", "set", "--secret", "dbPassword", "s3cr3t")
    project.run("config", "set", "--secret", "apiKey", "k-123")
    project.run("config", "set", "region", "eu-west-1")

    hidden = project.run("config").stdout
    shown = project.run("config", "--show-secrets").stdout

    assert "s3cr3t" not in hidden and "[secret]" in hidden
    assert "s3cr3t" in shown and "k-123" in shown and "eu-west-1" in shown


def test_secret_config_still_decrypts_after_stack_rename(project):
    project.run("config", "set", "--secret", "dbPassword", "s3cr3t")

    project.run("stack", "rename", "staging")

    assert project.run("config", "get", "dbPassword").stdout.strip() == "s3cr3t"
    assert "s3cr3t" in project.run("config", "--show-secrets").stdout


def test_ciphertext_copied_to_another_stack_is_refused(project):
    project.run("config", "set", "--secret", "dbPassword", "s3cr3t")
    project.run("stack", "init", "prod")
    project.run("config", "set", "--secret", "other", "x")  # prod has a key of its own
    (project.cwd / "Pulumi.prod.yaml").write_text(config_file(project, "dev"))

    result = project.run("config", "get", "dbPassword", check=False)

    assert result.returncode != 0
    assert "[400]" in result.output and "another stack" in result.output


def test_stack_recreated_under_the_same_name_cannot_read_the_old_secrets(project):
    project.run("config", "set", "--secret", "dbPassword", "s3cr3t")
    old_config = config_file(project)
    project.run("stack", "rm", "--yes", "--preserve-config")
    project.run("stack", "init", "dev")
    (project.cwd / "Pulumi.dev.yaml").write_text(old_config)

    result = project.run("config", "get", "dbPassword", check=False)

    assert result.returncode != 0
    assert "[400]" in result.output


def test_viewer_cannot_read_an_org_stacks_secrets(new_cli):
    org = unique("org")
    member, viewer = new_cli({org: "member"}), new_cli({org: "viewer"})
    for pulumi in (member, viewer):
        pulumi.write_program("resources: {}\n")
    member.run("stack", "init", f"{org}/dev")
    member.run("config", "set", "--secret", "dbPassword", "s3cr3t")
    (viewer.cwd / "Pulumi.dev.yaml").write_text(config_file(member))
    viewer.run("stack", "select", f"{org}/dev")

    result = viewer.run("config", "get", "dbPassword", check=False)

    assert result.returncode != 0
    assert "[403] Forbidden: reading the secrets of stack" in result.output
    assert "s3cr3t" not in result.output


@pytest.fixture
def own_service(postgres):
    """A service of this test's own, which the test may stop and restart (same port, same
    database) with other master key settings."""
    services = []

    def start(database_url=None, port=None, master_key=None, env=None):
        svc = Service(database_url or pg.create_database(postgres.url(), prefix="e2e_"), port=port, master_key=master_key,
                      env=env, workers=1).start()
        services.append(svc)
        return svc

    yield start
    for svc in services:
        svc.stop()


def test_secrets_still_decrypt_after_master_key_rotation_and_restart(
        own_service, pulumi_bin, tmp_path):
    service = own_service()
    login = unique("u")
    pulumi = Pulumi(pulumi_bin, service.url, service.user(login), tmp_path)
    pulumi.login()
    pulumi.write_program("resources: {}\n")
    pulumi.run("stack", "init", "dev")
    pulumi.run("config", "set", "--secret", "dbPassword", "s3cr3t")
    new_key = tmp_path / "new.key"
    new_key.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    new_key.chmod(0o600)

    rotated = service.admin("secrets", "rotate-master-key", "--new-key-file", str(new_key))
    service.stop()
    restarted = own_service(service.database_url, port=service.port,
                            master_key=new_key.read_text().strip())

    assert "re-wrapped 1 stack data key(s)" in rotated.stdout
    assert pulumi.run("config", "get", "dbPassword").stdout.strip() == "s3cr3t"
    # The old key alone no longer opens the database: the service refuses to start.
    restarted.stop()
    with pytest.raises(RuntimeError, match="does not match the one this database was set up"):
        own_service(service.database_url, master_key=service.master_key)


# --- secret outputs in the state (need the update and checkpoint routes) -------------------------

SECRET_PROGRAM = """resources:
  vault:
    type: pulumi:index:Stash
    properties:
      input:
        fn::secret: stashed-s3cr3t
outputs:
  plain: visible
  token:
    fn::secret: out-s3cr3t
"""


@pytest.fixture
def deployed(project):
    """`pulumi up` of a program with a secret output and a secret resource input."""
    project.write_program(SECRET_PROGRAM)
    project.run("up", "--yes", "--skip-preview")
    return project


def assert_secret_outputs_work(pulumi):
    hidden = pulumi.run("stack", "output").stdout
    assert "visible" in hidden and "[secret]" in hidden and "out-s3cr3t" not in hidden
    assert "out-s3cr3t" in pulumi.run("stack", "output", "--show-secrets").stdout
    assert pulumi.run("stack", "output", "token", "--show-secrets").stdout.strip() == "out-s3cr3t"
    exported = pulumi.run("stack", "export").stdout
    assert "ciphertext" in exported
    assert "out-s3cr3t" not in exported and "stashed-s3cr3t" not in exported
    shown = pulumi.run("stack", "export", "--show-secrets").stdout
    assert "out-s3cr3t" in shown and "stashed-s3cr3t" in shown


def test_secret_outputs_are_hidden_and_shown_with_show_secrets(deployed):
    assert_secret_outputs_work(deployed)


def test_secret_outputs_still_decrypt_after_stack_rename(deployed):
    deployed.run("stack", "rename", "staging")

    assert_secret_outputs_work(deployed)
    deployed.run("up", "--yes", "--skip-preview")  # and the renamed stack updates with them
    assert_secret_outputs_work(deployed)


def test_secret_outputs_still_decrypt_after_master_key_rotation_and_restart(
        own_service, pulumi_bin, tmp_path):
    service = own_service()
    login = unique("u")
    pulumi = Pulumi(pulumi_bin, service.url, service.user(login), tmp_path)
    pulumi.login()
    pulumi.write_program("resources: {}\n")
    pulumi.run("stack", "init", "dev")
    pulumi.write_program(SECRET_PROGRAM)
    pulumi.run("up", "--yes", "--skip-preview")
    new_key = tmp_path / "new.key"
    new_key.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")

    service.admin("secrets", "rotate-master-key", "--new-key-file", str(new_key))
    service.stop()
    own_service(service.database_url, port=service.port, master_key=new_key.read_text().strip())

    assert_secret_outputs_work(pulumi)
