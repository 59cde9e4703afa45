"""Python programs through Pulumi's official SDK (the `pulumi` package from PyPI) and its
Automation API against the service: inline programs, which the SDK serves from this process
while it runs the real CLI, so no Python language host is needed (tests/support/automation.py).
What depends on how the CLI persists state (component trees, an update killed half-way) runs in
each persistence mode; the rest once, in the CLI's default (journaling)."""
import json
import time

import pytest
from pulumi import automation as auto

from tests.support import unique
from tests.support import automation as pa
from tests.support.cli import PERSISTENCE_MODES as MODES, kill_group, persisted_as


@pytest.fixture
def user(service):
    login = unique("u")
    return login, service.user(login)


@pytest.fixture
def workspace(service, pulumi_bin, user, tmp_path):
    """workspace(name, mode) -> LocalWorkspaceOptions of the user's CLI in folder `name`."""

    def make(name="ws", mode="journal"):
        return pa.options(pulumi_bin, tmp_path / name, service.url, user[1], MODES[mode])

    return make


def resources(stack):
    return stack.export_stack().deployment.get("resources") or []


def tree_names(state):
    """{name: parent name} of the Tree components in a state."""
    by_urn = {r["urn"]: r["urn"].rsplit("::", 1)[1] for r in state}
    return {r["urn"].rsplit("::", 1)[1]: by_urn.get(r.get("parent"))
            for r in state if r["type"] == "test:index:Tree"}


def trees(names, width=2):
    """tree_names of tree_program(names, width, depth=2) (the stack resource is proj-<stack>)."""
    expected = {}
    for name in names:
        expected[name] = "stack"
        expected.update({f"{name}-{i}": name for i in range(width)})
    return expected


def with_stack_parent(found, stack_name):
    return {k: ("stack" if v == f"proj-{stack_name}" else v) for k, v in found.items()}


def updates_of(service, stack_id):
    """(kind, status, journal_version, checkpoint_sequence, journal entries) per update."""
    return service.query(
        "SELECT u.kind, u.status, u.journal_version, u.checkpoint_sequence,"
        " (SELECT count(*) FROM journal_entries j WHERE j.update_id = u.id)"
        " FROM updates u JOIN stacks s ON s.id = u.stack_id JOIN projects p ON p.id = s.project_id"
        " JOIN organizations o ON o.id = p.org_id"
        " WHERE o.name || '/' || p.name || '/' || s.name = %s AND NOT u.dry_run"
        " ORDER BY u.version", (stack_id,))


def wait_until(condition, what, seconds=180, proc=None):
    deadline = time.monotonic() + seconds
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended before {what}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def spawn(service, pulumi_bin, user, tmp_path, stack_id, mode, name, **program):
    """One `up` of tree_program(**program) in a process of its own; (process, result file)."""
    result = tmp_path / f"{name}.json"
    spec = {"bin_dir": str(pulumi_bin), "root": str(tmp_path / name), "url": service.url,
            "token": user[1], "env": MODES[mode], "stack": stack_id,
            "result_file": str(result), "program": program}
    return pa.spawn_up(spec, tmp_path / f"{name}.log"), result


@pytest.mark.parametrize("mode", list(MODES))
def test_component_trees_and_an_update_killed_half_way_in_each_mode(
        mode, service, pulumi_bin, user, workspace, tmp_path):
    stack_id = f"{user[0]}/proj/dev"
    stack = pa.stack(stack_id, pa.tree_program(names=("a", "b")), workspace(mode=mode))
    assert stack.up().summary.result == "succeeded"
    assert with_stack_parent(tree_names(resources(stack)), "dev") == trees("ab")

    # The next program grows a and replaces b by c. Killed (with the CLI it runs) once the
    # engine has registered every resource, before the deletions that follow the program.
    pause = tmp_path / "pause"
    pause.mkdir()
    proc, _ = spawn(service, pulumi_bin, user, tmp_path, stack_id, mode, "killed",
                    names=["a", "c"], width=3, pause=str(pause))
    try:
        wait_until(lambda: (pause / "registered").exists(), "the resources' registration",
                   proc=proc)
    finally:
        kill_group(proc)
    with pytest.raises(auto.ConcurrentUpdateError):
        stack.up()
    stack.cancel()
    # What the service kept: everything the killed update created, and b, not yet deleted.
    assert with_stack_parent(tree_names(resources(stack)), "dev") == {
        **trees("ab"), **trees("ac", width=3)}

    stack = pa.stack(stack_id, pa.tree_program(names=("a", "c"), width=3), workspace(mode=mode))
    assert stack.up().summary.result == "succeeded"
    assert with_stack_parent(tree_names(resources(stack)), "dev") == trees("ac", width=3)
    assert stack.destroy().summary.result == "succeeded"
    assert resources(stack) == []

    # The mode really was the one intended.
    updates = updates_of(service, stack_id)
    assert [(kind, status) for kind, status, *_ in updates] == [
        ("update", "succeeded"), ("update", "cancelled"), ("update", "succeeded"),
        ("destroy", "succeeded")]
    assert {persisted_as(*update[2:]) for update in updates} == {mode}


def test_workspace_config_outputs_preview_refresh_history_export_import_and_remove(
        service, user, workspace, tmp_path):
    stack_id = f"{user[0]}/proj/dev"
    opts = workspace()
    stack = pa.stack(stack_id, pa.tree_program(names=("a",)), opts)
    stack.set_config("greeting", auto.ConfigValue("hi"))
    stack.set_config("password", auto.ConfigValue("pa55word", secret=True))
    # The secret config is kept encrypted by the service's secrets manager, never in the clear.
    settings = (tmp_path / "ws" / "work" / "Pulumi.dev.yaml").read_text()
    assert "pa55word" not in settings and "secure:" in settings
    password = stack.get_config("password")
    assert (password.value, password.secret) == ("pa55word", True)

    up = stack.up()
    assert up.summary.result == "succeeded"
    outputs = stack.outputs()
    assert {k: (v.value, v.secret) for k, v in outputs.items()} == {
        "plain": ("hello", False), "hidden": ("s3cr3t", True), "greeting": ("hi", False),
        "password": ("pa55word", True)}
    # The SDK exports with --show-secrets: the service decrypted them for it. As stored and
    # exported by default, they are ciphertexts.
    exported = stack.export_stack()
    assert "s3cr3t" in json.dumps(exported.deployment)
    stored = service.api("GET", f"/api/stacks/{stack_id}/export", user[1])
    assert stored.status_code == 200 and "ciphertext" in stored.text
    assert "s3cr3t" not in stored.text and "pa55word" not in stored.text

    preview = stack.preview()
    assert set(preview.change_summary) == {"same"}
    assert stack.refresh().summary.result == "succeeded"

    # An import of the exported state leaves the stack as it was.
    stack.import_stack(exported)
    assert set(stack.preview().change_summary) == {"same"}
    assert with_stack_parent(tree_names(resources(stack)), "dev") == trees("a")

    history = stack.history()
    assert [(h.version, h.kind, h.result) for h in history] == [
        (3, "import", "succeeded"), (2, "refresh", "succeeded"), (1, "update", "succeeded")]
    assert history[2].resource_changes == {"create": 4}

    assert stack.destroy().summary.result == "succeeded"
    stack.workspace.remove_stack(stack_id)
    assert service.api("GET", f"/api/stacks/{stack_id}", user[1]).status_code == 404
    with pytest.raises(auto.StackNotFoundError):
        auto.select_stack(stack_name=stack_id, project_name="proj",
                          program=pa.tree_program(), opts=workspace("again"))


def test_stack_reference_reads_plain_and_secret_outputs_of_another_stack(user, workspace):
    source = pa.stack(f"{user[0]}/proj/source", pa.tree_program(names=(), secret="t0ps3cret"),
                      workspace("source"))
    source.up()
    reader = pa.stack(f"{user[0]}/proj/reader", pa.reference_program(f"{user[0]}/proj/source"),
                      workspace("reader"))
    reader.up()
    outputs = reader.outputs()
    assert (outputs["plain"].value, outputs["plain"].secret) == ("hello", False)
    assert (outputs["hidden"].value, outputs["hidden"].secret) == ("t0ps3cret", True)


def test_a_dynamic_provider_written_in_python_runs_and_its_resource_is_stored(user, workspace):
    stack = pa.stack(f"{user[0]}/proj/dyn", pa.dynamic_program("hello"), workspace())
    assert stack.up().outputs["upper"].value == "HELLO"
    [shout] = [r for r in resources(stack) if r["type"] == "pulumi-python:dynamic:Resource"]
    assert shout["id"] == "upper-hello" and shout["outputs"]["upper"] == "HELLO"
    assert stack.destroy().summary.result == "succeeded"
    assert resources(stack) == []


def test_concurrent_ups_on_one_stack_one_wins_the_others_get_the_conflict_error(
        service, pulumi_bin, user, workspace, tmp_path):
    stack_id = f"{user[0]}/proj/dev"
    pa.stack(stack_id, pa.tree_program(), workspace())  # created before the race
    pause = tmp_path / "pause"
    pause.mkdir()
    racers = [spawn(service, pulumi_bin, user, tmp_path, stack_id, "journal", f"racer{i}",
                    names=["a"], pause=str(pause)) for i in range(3)]
    try:
        # The winner's program waits for `release`: the others must have lost by then.
        wait_until(lambda: sum(result.exists() for _, result in racers) == 2,
                   "two racers' outcomes")
        (pause / "release").write_text("go")
        for proc, _ in racers:
            proc.wait(timeout=180)
    finally:
        for proc, _ in racers:
            kill_group(proc)
    outcomes = sorted(json.loads(result.read_text())["outcome"] for _, result in racers)
    assert outcomes == ["conflict", "conflict", "succeeded"], [
        result.read_text() for _, result in racers]
    assert [(kind, status) for kind, status, *_ in updates_of(service, stack_id)] == [
        ("update", "succeeded")]
