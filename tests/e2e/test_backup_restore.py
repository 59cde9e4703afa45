"""Backup and restore with the real CLI (issue 19, item 3): a service with stacks, history,
secret outputs, tokens and organizations, its versions in an object store, is backed up while it
runs, restored into an empty database and an empty bucket, and served again with the same master
key: every row and object is the same, every exported version is the same, secrets decrypt, the
old token works, and an `up` carries on from the restored state."""
import pytest
from click.testing import CliRunner

from app.cli import main

from tests.support import postgres as pg, unique
from tests.support.cli import logged_in, stash_program
from tests.support.rows import every_row
from tests.support.servers import Service


@pytest.fixture
def original(postgres, s3_server, tmp_path):
    with pg.throwaway_database(postgres.url()) as url:
        svc = Service(url, workdir=tmp_path / "original", env={
            "BLOB_STORE_MIN_BYTES": 0, **s3_server.settings(s3_server.bucket())}).start()
        yield svc
        svc.stop()


@pytest.fixture
def empty(postgres):
    with pg.throwaway_database(postgres.url()) as url:
        yield url


def run(svc, *args):
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": svc.database_url,
                                                     **svc.extra_env})


def views(svc, token, org, stack):
    """What the API shows of the stack, its history and every version, the org and tokens."""
    path = f"/api/stacks/{org}/proj/{stack}"
    updates = svc.api("GET", path + "/updates", token).json()["updates"]
    return {
        "stack": svc.api("GET", path, token).json(),
        "updates": updates,
        "versions": {u["version"]: svc.api("GET", f"{path}/export/{u['version']}", token).json()
                     for u in updates},
        "latest": svc.api("GET", path + "/export", token).json(),
        "members": svc.api("GET", f"/api/orgs/{org}/members", token).json(),
    }


def test_a_restored_service_serves_the_same_stacks_secrets_and_tokens_and_up_continues(
        original, empty, s3_server, pulumi_bin, tmp_path):
    org = unique("org")
    cli = logged_in(original, pulumi_bin, tmp_path, unique("u"), {org: "admin"})
    stack = f"{org}/proj/dev"
    cli.write_program(stash_program({"r0": 0}))
    cli.run("stack", "init", stack)
    for count in (2, 3):
        cli.write_program(stash_program({f"r{i}": i for i in range(count)},
                                        outputs={"hidden": {"fn::secret": f"s3cr3t-{count}"}}))
        cli.run("up", "--yes", "--skip-preview", "--stack", stack)
    before = views(original, cli.token, org, "dev")

    backup = tmp_path / "backup"
    # The admin command in this process (tests/test_admin_cli.py runs the installed one).
    assert run(original, "backup", str(backup)).exit_code == 0
    bucket = s3_server.bucket()
    restored = Service(empty, master_key=original.master_key, workdir=tmp_path / "restored",
                       env={**original.extra_env, **s3_server.settings(bucket)})
    result = run(restored, "restore", str(backup))
    assert "its secrets need the master key" in result.output, result.output
    assert every_row(empty) == every_row(original.database_url)
    kept = s3_server.keys(original.extra_env["BLOB_STORE_URL"].split("/")[2])
    assert len(kept) == 2 and s3_server.keys(bucket) == kept  # both versions, as objects

    restored.start()
    try:
        assert views(restored, cli.token, org, "dev") == before
        assert len(before["versions"]) == 2
        cli.service_url = restored.url
        cli.login()
        assert cli.run("stack", "output", "--stack", stack, "hidden",
                       "--show-secrets").stdout.strip() == "s3cr3t-3"
        cli.write_program(stash_program({f"r{i}": i for i in range(4)}))
        up = cli.run("up", "--yes", "--skip-preview", "--stack", stack)
        assert "+ 1 created" in up.stdout and "4 unchanged" in up.stdout, up.stdout
        updates = restored.api("GET", f"/api/stacks/{org}/proj/dev/updates",
                               cli.token).json()["updates"]
        assert [(u["version"], u["result"]) for u in updates] == [
            (3, "succeeded"), (2, "succeeded"), (1, "succeeded")]
    finally:
        restored.stop()
