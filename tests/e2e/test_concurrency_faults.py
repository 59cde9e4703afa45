"""Concurrency and faults with the real CLI (issue 8, items 4 and 5 a/c): many `pulumi up` at
once on one stack, through one gunicorn and through two; gunicorn workers SIGKILLed while an
update writes its state; the CLI killed mid-update and its lease left to expire. Each ends with
the state an undisturbed run of the same program leaves on another stack (after a refresh, where
the test's last step was one). bench/faults.py runs the long variants."""
import random

import pytest

from tests.support import unique
from tests.support.cli import PERSISTENCE_MODES, Pulumi, logged_in, normalised, stash_program
from tests.support.faults import (
    CONFLICT_HINT, CONFLICT_TEXT, check_readable, clear_pending_creates, export, history,
    kill_cli_mid_update, race, reference_state, refreshed_reference_state, sibling,
    staged_program, ups_under_worker_kills, update_lease, wait_for_lease, wide_service,
)


def many(count):
    return stash_program({f"r{i}": i for i in range(count)})


# Resource names of the programs here (the pending creates a killed update leaves are some).
NAMES = {f"r{i}" for i in range(1000)}


# --- 20 `pulumi up` at once on one stack ----------------------------------------------------

@pytest.fixture(scope="module")
def wide(service):
    """Two more gunicorns on the suite's database, with a thread for every racer."""
    started = []
    try:
        for _ in range(2):
            started.append(wide_service(service, threads=24).start())
        yield started
    finally:
        for svc in started:
            svc.stop()


def check_race(results, cli, stack, expected):
    winners = [output for code, output in results if code == 0]
    losers = [output for code, output in results if code != 0]
    assert len(winners) == 1, "\n=====\n".join(winners)
    for output in losers:
        assert CONFLICT_TEXT in output and CONFLICT_HINT in output, output
    assert normalised(export(cli, stack), stack) == expected
    assert history(cli, stack) == [(1, "update", "succeeded")]


def test_twenty_ups_at_once_on_one_stack_one_succeeds_and_the_rest_conflict(
        wide, pulumi_bin, tmp_path):
    cli = logged_in(wide[0], pulumi_bin, tmp_path, unique("u"))
    expected = reference_state(cli, many(20))
    cli.run("stack", "init", "dev")
    results = race([cli] * 20, f"{cli.login_name}/proj/dev", wide[0].database_url,
                   cli.login_name, "proj", "dev")
    check_race(results, cli, "dev", expected)


def test_ten_ups_through_each_of_two_gunicorns_one_succeeds_and_the_rest_conflict(
        wide, pulumi_bin, tmp_path):
    first = logged_in(wide[0], pulumi_bin, tmp_path, unique("u"))
    # The same user through the other gunicorn, from a folder of its own.
    second = Pulumi(pulumi_bin, wide[1].url, first.token, tmp_path / "second")
    second.login()
    expected = reference_state(first, many(20))
    second.write_program(many(20))
    first.run("stack", "init", "dev")
    results = race([first, second] * 10, f"{first.login_name}/proj/dev", wide[0].database_url,
                   first.login_name, "proj", "dev")
    check_race(results, first, "dev", expected)


# --- gunicorn workers killed while an update writes its state -------------------------------

@pytest.fixture
def faulted(service):
    """A gunicorn of this test's own on the suite's database, whose workers the test kills."""
    svc = sibling(service, workers=2).start()
    yield svc
    svc.stop()


@pytest.mark.parametrize("mode", ["full", "journal"])
def test_workers_killed_during_up_lose_no_acknowledged_state_and_up_completes(
        mode, faulted, service, pulumi_bin, tmp_path):
    cli = logged_in(faulted, pulumi_bin, tmp_path, unique("u"))
    cli.extra_env.update(PERSISTENCE_MODES[mode])  # full: a whole checkpoint after every step
    expected = reference_state(cli, many(150))
    cli.run("stack", "init", "dev")
    # The state is read through the suite's gunicorn, so the faulted one serves the CLI alone.
    result = ups_under_worker_kills(cli, faulted, service, "dev",
                                    [random.uniform(0.05, 0.4) for _ in range(5)], expected)
    print(f"{mode}: " + "\n".join(result.log))
    assert result.kills == 5
    assert result.reads, "no state was read during the up"
    assert result.problems == []  # every read parsed, and none went back
    assert result.unreadable == []
    assert result.wrong_states == []
    assert result.history[0][2] == "succeeded"


# --- the CLI killed mid-update, then its lease left to expire -------------------------------

# The real CLI assumes a 5-minute lease whatever the service grants, and renews it only once half
# of that has gone by: a lease shorter than an update ends it (see LEASE_SECONDS in
# app/config.py). This one is short for the test's sake, yet longer than the updates here.
LEASE_SECONDS = 8
ABANDONED_AFTER_SECONDS = 2


@pytest.fixture
def short_leases(service):
    svc = sibling(service, env={"LEASE_SECONDS": str(LEASE_SECONDS),
                                "ABANDONED_AFTER_SECONDS": str(ABANDONED_AFTER_SECONDS)}).start()
    yield svc
    svc.stop()


@pytest.fixture
def killed(short_leases, pulumi_bin, tmp_path):
    """A CLI whose `pulumi up` of 60 resources on `dev` was killed mid-way, leaving its update
    running: always at the same point, with 10 of them created and the next ones begun (the
    killed update's state holds pending creates); `.expected` is the state a whole run leaves
    (on another stack, `reference`)."""
    cli = logged_in(short_leases, pulumi_bin, tmp_path, unique("u"))
    cli.expected = reference_state(cli, staged_program(60, first=10))
    cli.run("stack", "init", "dev")
    cli.update_id = kill_cli_mid_update(cli, short_leases, "dev", at_least=12)
    return cli


def lease(service, cli, what=None):
    found = update_lease(service.database_url, cli.update_id, ABANDONED_AFTER_SECONDS)
    if what is None:
        return found
    wait_for_lease(service.database_url, cli.update_id, ABANDONED_AFTER_SECONDS, what)


def test_killed_update_blocks_the_stack_until_abandoned_then_up_proceeds(killed, short_leases):
    blocked = killed.run("up", "--yes", "--skip-preview", "--stack", "dev", check=False)
    assert blocked.returncode != 0 and CONFLICT_TEXT in blocked.output, blocked
    lease(short_leases, killed, "abandoned")
    killed.run("up", "--yes", "--skip-preview", "--stack", "dev")
    assert lease(short_leases, killed)["status"] == "failed"
    assert history(killed, "dev") == [(2, "update", "succeeded"), (1, "update", "failed")]
    # It ended with the state it had stored, as a cancelled or failed update would: its
    # resources, and the creates it began as pending creates, which the up carried forward.
    entries = short_leases.api("GET", f"/api/stacks/{killed.login_name}/proj/dev/updates",
                               killed.token).json()["updates"]
    assert entries[1]["resourceCount"] == 12  # the stack, the provider, r0..r9
    left = normalised(export(killed, "dev", "--version", "1"), "dev")["pending_operations"]
    state = normalised(export(killed, "dev"), "dev")
    assert state["resources"] == killed.expected["resources"]
    assert left and state["pending_operations"] == left
    cleared = clear_pending_creates(killed, "dev")
    assert sorted(cleared) == sorted(op["resource"]["urn"].rsplit("::", 1)[1] for op in left)
    assert set(cleared) <= NAMES
    # Clearing them was a refresh: the state is the undisturbed one's after a refresh.
    assert normalised(export(killed, "dev"), "dev") == refreshed_reference_state(killed)
    check_readable(killed, "dev")


def test_killed_update_with_its_lease_expired_is_cancelled_then_up_succeeds(killed,
                                                                           short_leases):
    lease(short_leases, killed, "expired")
    assert "has been canceled" in killed.run("cancel", "--yes", "--stack", "dev").output
    assert lease(short_leases, killed)["status"] == "cancelled"
    cleared = clear_pending_creates(killed, "dev")
    assert cleared and set(cleared) <= NAMES
    killed.run("up", "--yes", "--skip-preview", "--stack", "dev")
    entries = history(killed, "dev")
    assert (entries[0][1:], entries[-1]) == (("update", "succeeded"), (1, "update", "failed"))
    assert normalised(export(killed, "dev"), "dev") == killed.expected
    check_readable(killed, "dev")
