"""The three ways the CLI persists an update's state, each against the real CLI: journaling (its
default), delta checkpoints (journaling disabled in the CLI) and full checkpoints (both off). In
each mode, after every operation, the service's state equals what the same program leaves on the
CLI's own file:// backend (normalised: times, ids, ciphertexts and the secrets provider differ)."""
import json
import time

import pytest

from tests.support.cli import (
    PERSISTENCE_MODES as MODES, Pulumi, kill_group, normalised, persisted_as, stash_program,
)

STEPS = [
    # (program, command)
    (stash_program({"a": "one", "b": "two", "c": "three"},
                   outputs={"greeting": "hello", "hidden": {"fn::secret": "s3cr3t"}}), "up"),
    # a changes (update), b is replaced, c goes, d comes
    (stash_program({"a": "uno", "b": {"input": "zwei", "replaceOnChanges": ["*"]}, "d": "four"},
                   outputs={"greeting": "hi"}), "up"),
    (None, "refresh"),
    (None, "destroy"),
]


def export(cli):
    return json.loads(cli.run("stack", "export").stdout)


@pytest.fixture(params=list(MODES))
def mode(request):
    return request.param


@pytest.fixture
def file_backend(pulumi_bin, tmp_path):
    pulumi = Pulumi(pulumi_bin, None, None, tmp_path / "file-backend")
    state = tmp_path / "file-state"
    state.mkdir()
    pulumi.extra_env = {"PULUMI_CONFIG_PASSPHRASE": "test"}
    pulumi.run("login", f"file://{state}")
    return pulumi


# The rows of one stack's updates, the stack named "org/project/stack" (the only parameter).
OF_STACK = (" JOIN stacks s ON s.id = u.stack_id JOIN projects p ON p.id = s.project_id"
            " JOIN organizations o ON o.id = p.org_id"
            " WHERE o.name || '/' || p.name || '/' || s.name = %s")


def persistence_of_updates(service, stack_id_path):
    return service.query(
        "SELECT u.kind, u.journal_version, u.checkpoint_sequence,"
        " (SELECT count(*) FROM journal_entries j WHERE j.update_id = u.id)"
        " FROM updates u" + OF_STACK + " AND NOT u.dry_run ORDER BY u.version", (stack_id_path,))


def test_every_operation_leaves_the_state_the_file_backend_leaves(mode, cli, file_backend,
                                                                   service):
    cli.extra_env = dict(MODES[mode])
    file_backend.extra_env.update(MODES[mode])
    for pulumi in (cli, file_backend):
        pulumi.write_program(STEPS[0][0])
        pulumi.run("stack", "init", "dev")
    for program, command in STEPS:
        for pulumi in (cli, file_backend):
            if program is not None:
                pulumi.write_program(program)
            pulumi.run(command, "--yes", "--skip-preview")
        ours, theirs = normalised(export(cli)), normalised(export(file_backend))
        assert ours == theirs, command

    # The mode really was the one intended.
    updates = persistence_of_updates(service, f"{cli.login_name}/proj/dev")
    assert [u[0] for u in updates] == ["update", "update", "refresh", "destroy"]
    assert {persisted_as(*update[1:]) for update in updates} == {mode}
    # Secrets still decrypt through the service from the stored state.
    assert "s3cr3t" not in cli.run("stack", "export").stdout


def test_preview_after_up_shows_no_changes_in_every_mode(mode, cli):
    cli.extra_env = dict(MODES[mode])
    cli.write_program(stash_program({f"r{i}": i for i in range(30)}, outputs={"x": 1}))
    cli.run("stack", "init", "dev")
    cli.run("up", "--yes", "--skip-preview")
    result = cli.run("preview", "--expect-no-changes")
    assert result.returncode == 0


# CLIs after v3.229 (v3.274.1 among them) also keep a local copy of the state while they journal,
# rebuilt, serialised and checked after every step: O(N) per step, O(N^2) per update, and most of
# a large journaled `up` (README, Benchmarks). PULUMI_SKIP_CHECKPOINTS=true turns off only that
# copy's per-step work; the journal still carries every step to the service, as these show.
SKIP_LOCAL = {"PULUMI_SKIP_CHECKPOINTS": "true"}


def journal_of_running_update(service, stack_id_path):
    """The running update's stored journal entries (parsed), in order."""
    return [json.loads(entry) for entry, in service.query(
        "SELECT j.entry FROM journal_entries j JOIN updates u ON u.id = j.update_id" + OF_STACK
        + " AND u.status = 'running' ORDER BY j.sequence_id", (stack_id_path,))]


def stash_names(resources):
    return {r["urn"].rsplit("::", 1)[1] for r in resources or []
            if r["type"] == "pulumi:index:Stash"}


def test_journaling_with_the_clis_local_copy_off_leaves_the_file_backends_state(
        cli, file_backend, service):
    cli.extra_env = dict(SKIP_LOCAL)
    for pulumi in (cli, file_backend):
        pulumi.write_program(STEPS[0][0])
        pulumi.run("stack", "init", "dev")
    for program, command in STEPS:
        for pulumi in (cli, file_backend):
            if program is not None:
                pulumi.write_program(program)
            pulumi.run(command, "--yes", "--skip-preview")
        assert normalised(export(cli)) == normalised(export(file_backend)), command
    updates = persistence_of_updates(service, f"{cli.login_name}/proj/dev")
    assert all(journal_version == 1 and entries > 0 for _, journal_version, _, entries in updates)


def test_journaling_with_the_clis_local_copy_off_persists_every_step(cli, service):
    """Killed mid-update, the CLI has left on the service each resource it had created."""
    cli.extra_env = dict(SKIP_LOCAL)
    count = 300
    cli.write_program(stash_program({f"r{i}": i for i in range(count)}))
    cli.run("stack", "init", "dev")
    proc = cli.popen("up", "--yes", "--skip-preview")
    stack = f"{cli.login_name}/proj/dev"
    try:
        deadline = time.monotonic() + 120
        while len(journal_of_running_update(service, stack)) < 60:
            assert proc.poll() is None, "the up ended before it could be interrupted"
            assert time.monotonic() < deadline, "the update never journaled"
            time.sleep(0.02)
    finally:
        kill_group(proc)
    # What the service acknowledged before the CLI died: the stashes whose creation succeeded.
    succeeded = stash_names(e.get("state") for e in journal_of_running_update(service, stack)
                            if e["kind"] == 1 and e.get("state"))  # 1: Success
    assert 0 < len(succeeded) < count
    cli.run("cancel", "--yes")
    created = [r for r in export(cli)["deployment"].get("resources") or []
               if r["type"] == "pulumi:index:Stash"]
    assert stash_names(created) == succeeded
    assert all(r["outputs"]["output"] == int(r["urn"].rsplit("::r", 1)[1]) for r in created)
    cli.run("up", "--yes", "--skip-preview")
    assert stash_names(export(cli)["deployment"]["resources"]) == {f"r{i}" for i in range(count)}
