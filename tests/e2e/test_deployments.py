"""Deployments with the real CLI: preview, up, refresh, destroy, history, export/import, state
edits, rename, cancel, conflicts and a large stack, all kept in the service."""
import json
import time

import pytest

from tests.support.cli import PERSISTENCE_MODES, kill_group, stash_program


@pytest.fixture(autouse=True, params=list(PERSISTENCE_MODES))
def mode(request, cli):
    """Every test here runs in each of the CLI's three persistence modes."""
    cli.extra_env.update(PERSISTENCE_MODES[request.param])
    return request.param


def stack_path(cli, stack="dev", project="proj"):
    return f"/api/stacks/{cli.login_name}/{project}/{stack}"


def api_json(service, cli, path):
    response = service.api("GET", path, cli.token)
    assert response.status_code == 200, response.text
    return response.json()


def export(cli, *args):
    return json.loads(cli.run("stack", "export", *args).stdout)


def resource_names(deployment):
    return sorted(r["urn"].rsplit("::", 1)[1] for r in deployment["deployment"].get("resources", [])
                  if r["type"] == "pulumi:index:Stash")


@pytest.fixture
def deployed(cli):
    """A stack `dev` with three stashes and an output, deployed once."""
    cli.write_program(stash_program({"a": "one", "b": "two", "c": "three"},
                                    outputs={"greeting": "hello"}))
    cli.run("stack", "init", "dev")
    cli.run("up", "--yes")
    return cli


def test_preview_shows_the_changes_and_records_nothing(cli, service):
    cli.write_program(stash_program({"a": "one", "b": "two"}))
    cli.run("stack", "init", "dev")
    result = cli.run("preview")
    assert "+ 3 to create" in result.stdout
    stack = api_json(service, cli, stack_path(cli))
    assert stack["version"] == 0
    assert api_json(service, cli, stack_path(cli) + "/updates")["updates"] == []


def test_up_creates_the_resources_and_outputs(deployed, service):
    assert resource_names(export(deployed)) == ["a", "b", "c"]
    assert deployed.run("stack", "output", "greeting").stdout.strip() == "hello"
    stack = api_json(service, deployed, stack_path(deployed))
    assert stack["version"] == 1
    assert "currentOperation" not in stack


def history(cli):
    return json.loads(cli.run("stack", "history", "--json").stdout)


def test_code_change_updates_replaces_and_deletes(deployed, service):
    deployed.write_program(stash_program({
        "a": "uno",                                             # update
        "b": {"input": "dos", "replaceOnChanges": ["input"]},   # replace
        "d": "four",                                            # create; c is deleted
    }, outputs={"greeting": "hello"}))
    result = deployed.run("up", "--yes")
    assert "1 created" in result.stdout
    assert "1 updated" in result.stdout
    assert "1 deleted" in result.stdout
    assert "1 replaced" in result.stdout
    assert resource_names(export(deployed)) == ["a", "b", "d"]
    latest = api_json(service, deployed, stack_path(deployed) + "/updates/latest")["info"]
    assert latest["version"] == 2
    changes = latest["resourceChanges"]
    assert (changes["create"], changes["update"], changes["delete"], changes["replace"]) == (
        1, 1, 1, 1)


def test_preview_after_up_shows_no_changes(deployed):
    deployed.run("preview", "--expect-no-changes")


def test_refresh_and_destroy_are_recorded(deployed, service):
    deployed.run("refresh", "--yes")
    deployed.run("destroy", "--yes")
    assert resource_names(export(deployed)) == []
    kinds = [(u["version"], u["kind"], u["result"])
             for u in api_json(service, deployed, stack_path(deployed) + "/updates")["updates"]]
    assert kinds == [(3, "destroy", "succeeded"), (2, "refresh", "succeeded"),
                     (1, "update", "succeeded")]


def test_stack_rm_is_refused_while_resources_exist_then_forced(deployed, service):
    refused = deployed.run("stack", "rm", "--yes", check=False)
    assert refused.returncode != 0
    assert "still has resources" in refused.output
    assert service.api("GET", stack_path(deployed), deployed.token).status_code == 200
    deployed.run("stack", "rm", "--yes", "--force")
    assert service.api("GET", stack_path(deployed), deployed.token).status_code == 404


def test_stack_rm_after_destroy_needs_no_force(deployed, service):
    deployed.run("destroy", "--yes")
    deployed.run("stack", "rm", "--yes")
    assert service.api("GET", stack_path(deployed), deployed.token).status_code == 404


def test_stack_history_shows_each_operation_with_its_changes(deployed):
    deployed.write_program(stash_program({"a": "uno", "b": "two"}, outputs={"greeting": "hi"}))
    deployed.run("up", "--yes", "-m", "second")
    entries = history(deployed)
    assert [(e["version"], e["kind"], e["result"]) for e in entries] == [
        (2, "update", "succeeded"), (1, "update", "succeeded")]
    assert entries[0]["message"] == "second"
    assert entries[0]["resourceChanges"]["update"] == 1
    assert entries[0]["resourceChanges"]["delete"] == 1
    assert entries[1]["resourceChanges"]["create"] == 4
    text = deployed.run("stack", "history").stdout
    assert "second" in text and "succeeded" in text.lower()


def test_stack_export_of_a_version(deployed):
    deployed.write_program(stash_program({"a": "one"}, outputs={"greeting": "hello"}))
    deployed.run("up", "--yes")
    assert resource_names(export(deployed)) == ["a"]
    assert resource_names(export(deployed, "--version", "1")) == ["a", "b", "c"]
    assert export(deployed, "--version", "2") == export(deployed)


def test_stack_import_of_an_edited_export(deployed, service):
    state = export(deployed)
    for resource in state["deployment"]["resources"]:
        if resource["urn"].endswith("::a"):
            resource["outputs"]["output"] = "edited"
    edited = deployed.root / "edited.json"
    edited.write_text(json.dumps(state))
    deployed.run("stack", "import", "--file", str(edited))
    [a] = [r for r in export(deployed)["deployment"]["resources"] if r["urn"].endswith("::a")]
    assert a["outputs"]["output"] == "edited"
    latest = api_json(service, deployed, stack_path(deployed) + "/updates/latest")["info"]
    assert (latest["kind"], latest["version"]) == ("import", 2)


def test_state_delete_of_one_resource(deployed):
    [urn] = [r["urn"] for r in export(deployed)["deployment"]["resources"]
             if r["urn"].endswith("::c")]
    deployed.run("state", "delete", urn, "--yes")
    assert resource_names(export(deployed)) == ["a", "b"]
    assert "+ 1 to create" in deployed.run("preview").stdout


def test_rename_of_a_deployed_stack_then_preview_shows_no_changes(deployed, service):
    deployed.write_program(stash_program({"a": "one", "b": "two", "c": "three"},
                                         outputs={"greeting": "hello",
                                                  "password": {"fn::secret": "s3cr3t"}}))
    deployed.run("up", "--yes")
    deployed.run("stack", "rename", "prod")
    assert service.api("GET", stack_path(deployed, "prod"), deployed.token).status_code == 200
    deployed.run("preview", "--expect-no-changes")
    assert deployed.run("stack", "output", "greeting").stdout.strip() == "hello"
    shown = deployed.run("stack", "output", "password", "--show-secrets").stdout.strip()
    assert shown == "s3cr3t"
    deployed.run("up", "--yes", "--expect-no-changes")


def test_stack_reference_reads_another_stacks_outputs(deployed, tmp_path):
    other = tmp_path / "consumer"
    other.mkdir()
    (other / "Pulumi.yaml").write_text(
        "name: consumer\nruntime: yaml\n"
        "resources:\n"
        "  ref:\n"
        "    type: pulumi:pulumi:StackReference\n"
        "    properties:\n"
        f"      name: {deployed.login_name}/proj/dev\n"
        "outputs:\n"
        "  fromDev: ${ref.outputs[\"greeting\"]}\n"
    )
    deployed.run("stack", "init", "consumer", cwd=other)
    deployed.run("up", "--yes", cwd=other)
    assert deployed.run("stack", "output", "fromDev", cwd=other).stdout.strip() == "hello"


@pytest.mark.parametrize("mode", ["journal"], indirect=True)  # reading is the same in all
def test_stack_output_reads_the_outputs_without_exporting_the_state(deployed, service):
    """With `stack-outputs` advertised, the CLI asks for the outputs alone."""
    before = len(service.log())
    assert deployed.run("stack", "output", "greeting").stdout.strip() == "hello"
    routes = [json.loads(line).get("route") or "" for line in service.log()[before:].splitlines()
              if line.startswith("{") and '"app.access"' in line]
    assert any(route.endswith("/outputs") for route in routes)
    assert not any(route.endswith("/export") for route in routes)


def many(count, prefix="r"):
    return stash_program({f"{prefix}{i}": i for i in range(count)})


def wait_for_running_update(service, cli, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack = service.api("GET", stack_path(cli), cli.token).json()
        if "currentOperation" in stack:
            return stack
        time.sleep(0.05)
    raise AssertionError("the update never showed up as running")


def test_cancel_after_the_cli_was_killed_mid_update_then_up(cli, service):
    cli.write_program(many(300))
    cli.run("stack", "init", "dev")
    proc = cli.popen("up", "--yes", "--skip-preview")
    try:
        running = wait_for_running_update(service, cli)
    finally:
        kill_group(proc)  # no complete is sent
    blocked = cli.run("up", "--yes", "--skip-preview", check=False)
    assert "Another update is currently in progress" in blocked.output
    result = cli.run("cancel", "--yes")
    assert "has been canceled" in result.output
    update = api_json(service, cli, stack_path(cli) + f"/update/{running['activeUpdate']}")
    assert update["status"] == "cancelled"
    cli.run("up", "--yes", "--skip-preview")
    assert len(resource_names(export(cli))) == 300
    assert history(cli)[0]["result"] == "succeeded"


def test_second_up_is_refused_while_one_runs(cli, service):
    cli.write_program(many(300))
    cli.run("stack", "init", "dev")
    first = cli.popen("up", "--yes", "--skip-preview")
    wait_for_running_update(service, cli)
    second = cli.run("up", "--yes", "--skip-preview", check=False)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, out + err
    assert second.returncode != 0
    assert "Another update is currently in progress" in second.output
    assert len(resource_names(export(cli))) == 300
    assert [(e["version"], e["result"]) for e in history(cli)] == [(1, "succeeded")]


@pytest.mark.parametrize("mode", ["journal"], indirect=True)  # the CLI's default; the others
def test_a_stack_of_1000_resources_is_created_and_destroyed(cli, service):
    cli.write_program(many(1000))
    cli.run("stack", "init", "dev")
    cli.run("up", "--yes", "--skip-preview")
    assert len(resource_names(export(cli))) == 1000
    assert api_json(service, cli, stack_path(cli))["resourceCount"] >= 1000
    cli.run("destroy", "--yes", "--skip-preview")
    assert resource_names(export(cli)) == []
    cli.run("stack", "rm", "--yes")
