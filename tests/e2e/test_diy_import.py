"""`pulumi-service import-diy` on DIY backends the real CLI wrote (`pulumi login file://...`):
several projects and stacks, several updates each, a passphrase secret, tags, gzip files and a
stack left locked by a killed update. After the import the real CLI, logged in to the service,
sees the same stacks, history and states, reads the secret with the same passphrase and finds
nothing to change; an import killed half-way resumes without a half-imported stack."""
import gzip
import json
import os
import signal
import subprocess
import sys
import time

import psycopg2
import pytest

from tests.support import REPO
from tests.support.cli import Pulumi, kill_group, normalised, stash_program

PASSPHRASE = "correct horse battery staple"
PROGRAMS = [
    stash_program({"a": "one", "b": "two"},
                  outputs={"greeting": "hello", "hidden": {"fn::secret": "s3cr3t"}}),
    stash_program({"a": "uno", "b": {"input": "zwei", "replaceOnChanges": ["*"]}, "c": "drei"},
                  outputs={"greeting": "hi", "hidden": {"fn::secret": "s3cr3t"}}),
]


@pytest.fixture
def diy(pulumi_bin, tmp_path):
    """make(project) -> a CLI logged in to one file:// backend, in a folder of that project."""
    state = tmp_path / "diy-state"
    state.mkdir()

    def make(project):
        pulumi = Pulumi(pulumi_bin, None, None, tmp_path / f"diy-{project}")
        pulumi.extra_env = {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
        pulumi.run("login", f"file://{state}")
        pulumi.project = project
        return pulumi

    make.url = f"file://{state}"
    make.root = state
    return make


def import_diy(service, *args, wait=True):
    command = [sys.executable, "-m", "app.cli", "import-diy", *args]
    env = dict(service.env(), PYTHONUNBUFFERED="1")
    if not wait:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def history(pulumi, stack):
    return [{k: u.get(k) for k in ("kind", "result", "message", "startTime", "resourceChanges")}
            for u in json.loads(pulumi.run("stack", "history", "--json", "-s", stack).stdout)]


def export(pulumi, stack, *args):
    return json.loads(pulumi.run("stack", "export", "-s", stack, *args).stdout)


def diy_checkpoints(root, project, stack):
    """The DIY history's states, oldest first, as `stack export` shows a state."""
    folder = root / ".pulumi/history" / project / stack
    found = []
    paths = [p for p in folder.glob("*.checkpoint.json*") if not p.name.endswith(".attrs")]
    for path in sorted(paths, key=lambda p: int(p.name.split(".")[0].rsplit("-", 1)[1])):
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        found.append({"version": 3, "deployment": json.loads(data)["checkpoint"]["latest"]})
    return found


def build(diy):
    """The DIY backend: alpha/dev (three updates, gzip from the second, a tag), alpha/prod (one),
    beta/dev (an update and a destroy). Returns {project: CLI}."""
    alpha, beta = diy("alpha"), diy("beta")
    alpha.write_program(PROGRAMS[0], project="alpha")
    alpha.run("stack", "init", "dev")
    alpha.run("up", "--yes", "--skip-preview", "-m", "first")
    alpha.run("stack", "tag", "set", "owner", "team-a")
    alpha.write_program(PROGRAMS[1], project="alpha")
    alpha.run("up", "--yes", "--skip-preview", "-m", "second",
              env={"PULUMI_DIY_BACKEND_GZIP": "true"})
    alpha.run("refresh", "--yes", "--skip-preview", env={"PULUMI_DIY_BACKEND_GZIP": "true"})
    alpha.run("stack", "init", "prod")
    alpha.run("up", "--yes", "--skip-preview", "-m", "prod's only")
    beta.write_program(stash_program({"x": 1}), project="beta")
    beta.run("stack", "init", "dev")
    beta.run("up", "--yes", "--skip-preview")
    beta.run("destroy", "--yes", "--skip-preview")
    return {"alpha": alpha, "beta": beta}


def kill_mid_update(pulumi, stack_file, count=200):
    """Start an up of `count` resources and SIGKILL the CLI once it has written some: the stack
    stays locked, its state half-done, with no history entry for the update."""
    pulumi.write_program(stash_program({f"r{i}": i for i in range(count)}), project=pulumi.project)
    pulumi.run("stack", "init", "locked")
    proc = pulumi.popen("up", "--yes", "--skip-preview")
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "the up ended before it could be interrupted"
            assert time.monotonic() < deadline, "the update never wrote its state"
            # Frozen while the file is read: killed only when what it wrote is whole (a kill in
            # the middle of a write would leave a file the DIY backend itself cannot load).
            os.killpg(proc.pid, signal.SIGSTOP)
            try:
                if json.loads(stack_file.read_text()).get("checkpoint", {}) and \
                        stack_file.read_text().count('"pulumi:index:Stash"') >= 20:
                    break
            except (OSError, ValueError):
                pass
            os.killpg(proc.pid, signal.SIGCONT)
            time.sleep(0.05)
    finally:
        kill_group(proc)


def test_a_diy_backend_moves_into_the_service_with_its_history(diy, service, new_cli):
    clis = build(diy)
    kill_mid_update(clis["beta"], diy.root / ".pulumi/stacks/beta/locked.json")
    assert list((diy.root / ".pulumi/locks/organization/beta/locked").glob("*.json"))
    ours = new_cli()
    org = ours.login_name

    plan = import_diy(service, diy.url, "--org", org, "--dry-run")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "project-scoped layout, 4 stack(s)" in plan.stdout
    assert "warning: beta/locked: left locked by an update that is no longer running" in plan.stdout

    done = import_diy(service, diy.url, "--org", org, "--verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(", verified") == 4

    ours.extra_env = {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    listed = {s["name"] for s in json.loads(ours.run("stack", "ls", "--json", "-a").stdout)}
    assert listed == {f"{org}/alpha/dev", f"{org}/alpha/prod", f"{org}/beta/dev",
                      f"{org}/beta/locked"}
    for project, stack in (("alpha", "dev"), ("alpha", "prod"), ("beta", "dev")):
        theirs, cwd = clis[project], clis[project].cwd
        ref = f"{org}/{project}/{stack}"
        theirs.run("stack", "select", stack)
        # The same history, newest first: kinds, results, messages, times, changes.
        assert history(ours, ref) == history(theirs, stack), ref
        # Every version exports the state the DIY backend kept for it; the last is the current.
        states = diy_checkpoints(diy.root, project, stack)
        for number, expected in enumerate(states, 1):
            assert normalised(export(ours, ref, "--version", str(number))) == \
                normalised(expected), (ref, number)
        assert normalised(export(ours, ref)) == normalised(export(theirs, stack))
    tags = json.loads(ours.run("stack", "tag", "ls", "--json", "-s", f"{org}/alpha/dev").stdout)
    assert tags.get("owner") == "team-a"

    # The half-done update's state is there as the stack's last version: the state the DIY
    # backend's stack file holds (read as the file, not through the DIY CLI, which has once failed
    # to load the stack its killed update left, although the import had read and verified it).
    kept = json.loads((diy.root / ".pulumi/stacks/beta/locked.json").read_text())
    assert normalised(export(ours, f"{org}/beta/locked")) == \
        normalised({"version": 3, "deployment": kept["checkpoint"]["latest"]})

    # The passphrase still opens the secrets, and the programs find nothing to change.
    alpha = clis["alpha"]
    shown = ours.run("stack", "output", "hidden", "--show-secrets", "-s", f"{org}/alpha/dev",
                     cwd=alpha.cwd)
    assert shown.stdout.strip() == "s3cr3t"
    ours.run("stack", "select", f"{org}/alpha/dev", cwd=alpha.cwd)
    ours.run("preview", "--expect-no-changes", cwd=alpha.cwd)
    up = ours.run("up", "--yes", "--skip-preview", cwd=alpha.cwd)
    assert "+ " not in up.stdout and "~ " not in up.stdout
    after = history(ours, f"{org}/alpha/dev")
    assert len(after) == 4 and after[0]["kind"] == "update" and after[0]["result"] == "succeeded"


def test_an_import_killed_half_way_resumes_without_a_half_imported_stack(diy, service, new_cli):
    build(diy)
    org = new_cli().login_name
    # Hold beta's project row in an open transaction: the import commits alpha's stacks, then
    # waits on beta's first stack, where it is killed.
    blocker = psycopg2.connect(service.database_url)
    with blocker.cursor() as cur:
        cur.execute("INSERT INTO projects (org_id, name) SELECT id, 'beta' FROM organizations"
                    " WHERE name = %s", (org,))
    proc = import_diy(service, diy.url, "--org", org, wait=False)
    try:
        deadline = time.monotonic() + 120
        while service.query("SELECT count(*) FROM diy_imports d JOIN stacks s ON s.id = d.stack_id"
                            " JOIN projects p ON p.id = s.project_id JOIN organizations o"
                            " ON o.id = p.org_id WHERE o.name = %s", (org,))[0][0] < 2:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)  # into beta/dev's transaction, waiting on the project row
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    finally:
        blocker.rollback()
        blocker.close()
    stacks = lambda: sorted(row[0] for row in service.query(
        "SELECT p.name || '/' || s.name FROM stacks s JOIN projects p ON p.id = s.project_id"
        " JOIN organizations o ON o.id = p.org_id WHERE o.name = %s", (org,)))
    assert stacks() == ["alpha/dev", "alpha/prod"]

    resumed = import_diy(service, diy.url, "--org", org, "--resume", "--verify")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.count("already imported, verified") == 2
    assert resumed.stdout.count("| imported, verified") == 1
    assert stacks() == ["alpha/dev", "alpha/prod", "beta/dev"]

    again = import_diy(service, diy.url, "--org", org)
    assert again.returncode == 1
    assert again.stdout.count("imported by an earlier run: --resume skips it") == 3


def test_to_service_secrets_lets_the_cli_read_secrets_without_the_passphrase(
        diy, service, new_cli):
    alpha = diy("alpha")
    alpha.write_program(PROGRAMS[0], project="alpha")
    alpha.run("stack", "init", "dev")
    alpha.run("up", "--yes", "--skip-preview", "-m", "first")
    alpha.write_program(PROGRAMS[1], project="alpha")
    alpha.run("up", "--yes", "--skip-preview", "-m", "second")
    ours = new_cli()
    org = ours.login_name
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "import-diy", diy.url, "--org", org,
         "--to-service-secrets", "--service-url", service.url, "--verify"],
        cwd=REPO, env=dict(service.env(), PULUMI_CONFIG_PASSPHRASE=PASSPHRASE),
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "secrets now the service's" in done.stdout and "imported, verified" in done.stdout
    # No passphrase, no project folder: the service's key opens every version's secrets.
    ref = f"{org}/alpha/dev"
    shown = ours.run("stack", "output", "hidden", "--show-secrets", "-s", ref)
    assert shown.stdout.strip() == "s3cr3t"
    for version in ("1", "2"):
        exported = ours.run("stack", "export", "-s", ref, "--version", version, "--show-secrets")
        assert "s3cr3t" in exported.stdout
        assert json.loads(exported.stdout)["deployment"]["secrets_providers"]["type"] == "service"


def test_an_s3_diy_backend_moves_into_the_service(s3_server, pulumi_bin, tmp_path, service,
                                                   new_cli):
    # The session's real S3 server (versitygw, tests/support/s3.py), in a bucket of its own.
    bucket, aws = s3_server.bucket(), s3_server.env
    url = f"s3://{bucket}?endpoint={s3_server.endpoint}&s3ForcePathStyle=true&region=us-east-1"
    theirs = Pulumi(pulumi_bin, None, None, tmp_path / "diy-s3")
    theirs.extra_env = {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE, **aws}
    theirs.run("login", url)
    theirs.write_program(PROGRAMS[0], project="alpha")
    theirs.run("stack", "init", "dev")
    theirs.run("up", "--yes", "--skip-preview", "-m", "first")
    theirs.run("stack", "tag", "set", "owner", "team-s3")
    theirs.write_program(PROGRAMS[1], project="alpha")
    theirs.run("up", "--yes", "--skip-preview", "-m", "second")
    ours = new_cli()
    org = ours.login_name

    wrong = subprocess.run([sys.executable, "-m", "app.cli", "import-diy", url, "--org", org],
                           cwd=REPO, env={**service.env(), **aws,
                                "AWS_SECRET_ACCESS_KEY": "not-the-secret"},
                           capture_output=True, text=True, timeout=300)
    assert wrong.returncode != 0 and "wrong credentials" in wrong.stderr + wrong.stdout

    done = subprocess.run([sys.executable, "-m", "app.cli", "import-diy", url, "--org", org,
                           "--verify"], cwd=REPO, env=dict(service.env(), **aws),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"s3://{bucket}: project-scoped layout, 1 stack(s)" in done.stdout
    ref = f"{org}/alpha/dev"
    assert history(ours, ref) == history(theirs, "dev")
    assert normalised(export(ours, ref)) == normalised(export(theirs, "dev"))
    tags = json.loads(ours.run("stack", "tag", "ls", "--json", "-s", ref).stdout)
    assert tags.get("owner") == "team-s3"
    ours.extra_env = {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    ours.run("stack", "select", ref, cwd=theirs.cwd)
    ours.run("preview", "--expect-no-changes", cwd=theirs.cwd)
