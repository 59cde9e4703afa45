"""begin-update with the real CLI: with the capability advertised, every operation creates and
starts its update in one request and reads its first state from the answer; the CLI's opt-out
(PULUMI_DISABLE_BEGIN_UPDATE) and a state over BEGIN_UPDATE_STATE_MAX_BYTES still work. (Every
other e2e test runs through begin-update too, the CLI's default against this service.)"""
import json

import pytest

from tests.support import postgres as pg, unique
from tests.support.cli import PERSISTENCE_MODES as MODES, logged_in, stash_program
from tests.support.servers import Service

CREATE_ROUTE = "/api/stacks/<org>/<project>/<stack>/<any(update, preview, refresh, destroy):kind>"
BEGIN_ROUTE = "/api/stacks/<org>/<project>/<stack>/begin-update"
EXPORT_ROUTE = "/api/stacks/<org>/<project>/<stack>/export"


def calls(service, stack_path):
    """(method, route) of every request the service logged for the stack's own paths."""
    found = []
    for line in service.log().splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("logger") == "app.access" and record.get("path", "").startswith(
                f"/api/stacks/{stack_path}/"):
            found.append((record["method"], record["route"], record["status"]))
    return found


def routes(service, stack_path):
    return [route for _, route, _ in calls(service, stack_path)]


@pytest.mark.parametrize("mode", list(MODES))
def test_each_operation_begins_in_one_request_in_every_mode(mode, cli, service):
    cli.extra_env = dict(MODES[mode])
    cli.write_program(stash_program({"a": "one", "b": "two"}, outputs={"x": "y"}))
    cli.run("stack", "init", "dev")
    stack_path = f"{cli.login_name}/proj/dev"
    cli.run("up", "--yes", "--skip-preview")
    cli.run("preview")
    # The state came with each answer: the CLI read none itself.
    assert EXPORT_ROUTE not in routes(service, stack_path)
    cli.write_program(stash_program({"a": "uno"}, outputs={"x": "z"}))
    cli.run("up", "--yes")  # its preview, then the update
    cli.run("refresh", "--yes", "--skip-preview")
    assert json.loads(cli.run("stack", "output", "--json").stdout) == {"x": "z"}
    cli.run("destroy", "--yes", "--skip-preview")

    seen = routes(service, stack_path)
    assert seen.count(BEGIN_ROUTE) == 6
    assert CREATE_ROUTE not in seen
    assert all(status == 200 for _, route, status in calls(service, stack_path)
               if route == BEGIN_ROUTE)
    history = json.loads(cli.run("stack", "history", "--json").stdout)
    assert [h["kind"] for h in history] == ["destroy", "refresh", "update", "update"]
    assert all(h["result"] == "succeeded" for h in history)


def test_the_clis_opt_out_uses_create_and_start(cli, service):
    cli.extra_env = {"PULUMI_DISABLE_BEGIN_UPDATE": "true"}
    cli.write_program(stash_program({"a": "one"}))
    cli.run("stack", "init", "dev")
    cli.run("up", "--yes", "--skip-preview")
    seen = routes(service, f"{cli.login_name}/proj/dev")
    assert BEGIN_ROUTE not in seen
    assert seen.count(CREATE_ROUTE) == 1


def test_a_state_over_the_limit_is_exported_by_the_cli(postgres, pulumi_bin, tmp_path):
    service = Service(pg.create_database(postgres.url(), prefix="e2e_"),
                      env={"BEGIN_UPDATE_STATE_MAX_BYTES": "10"}).start()
    try:
        login = unique("u")
        cli = logged_in(service, pulumi_bin, tmp_path, login)
        cli.write_program(stash_program({"a": "one", "b": "two"}))
        cli.run("stack", "init", "dev")
        cli.run("up", "--yes", "--skip-preview")
        cli.write_program(stash_program({"a": "one", "b": "three"}))
        cli.run("up", "--yes", "--skip-preview")
        exported = json.loads(cli.run("stack", "export").stdout)
        inputs = sorted(r["inputs"]["input"] for r in exported["deployment"]["resources"]
                        if r["type"] == "pulumi:index:Stash")
        assert inputs == ["one", "three"]
        seen = routes(service, f"{login}/proj/dev")
        assert seen.count(BEGIN_ROUTE) == 2
        # Without the state in the answer the CLI reads it itself before running the engine.
        first_begin = seen.index(BEGIN_ROUTE)
        second_begin = seen.index(BEGIN_ROUTE, first_begin + 1)
        assert EXPORT_ROUTE in seen[second_begin:]
    finally:
        service.stop()
