"""Webhooks with the real CLI and the real delivery worker: `pulumi org webhook`, `pulumi stack
webhook` and `pulumi env webhook` (every subcommand) against a gunicorn allowed to call a loopback receiver that checks the
signature, and an `up` that succeeds and one that fails each delivering exactly one signed
`stack_update` with Pulumi's payload."""
import json
import subprocess
import sys

import pytest

from tests.support import REPO, unique
from tests.support import postgres as pg
from tests.support.cli import logged_in
from tests.support.receiver import Receiver
from tests.support.servers import Service, wait_until

CONSOLE = "https://console.example"


@pytest.fixture(scope="module")
def hooked(postgres):
    """A service allowed to call 127.0.0.1, with its delivery worker."""
    service = Service(pg.create_database(postgres.url(), prefix="e2e_hooks_"), workers=1, env={
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32", "WEBHOOK_RETRY_BASE_SECONDS": "0.05",
        "WEBHOOK_POLL_SECONDS": "0.2", "CONSOLE_URL": CONSOLE}).start()
    worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], cwd=REPO,
                              env=service.env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    yield service
    worker.terminate()
    worker.wait(30)
    service.stop()


@pytest.fixture
def admin(hooked, pulumi_bin, tmp_path):
    org = unique("hooks")
    cli = logged_in(hooked, pulumi_bin, tmp_path, unique("u"), {org: "admin"})
    cli.org = org
    cli.stack = f"{org}/dev"
    cli.write_program("resources: {}\noutputs:\n  answer: 42\n")
    cli.run("stack", "init", cli.stack)
    return cli


def as_json(result):
    return json.loads(result.stdout)


def test_up_succeeded_and_failed_each_deliver_one_signed_stack_update(admin):
    with Receiver(secret="s3cret") as receiver:
        admin.run("stack", "webhook", "new", "--stack", admin.stack, "--name", "ci",
                  "--url", receiver.url, "--secret", "s3cret", "--yes")
        admin.run("up", "--yes", "--skip-preview", "--stack", admin.stack)
        [succeeded] = receiver.wait_for(1, kind="stack_update")
        admin.write_program("outputs:\n  answer: ${nowhere.value}\n")
        failed_up = admin.run("up", "--yes", "--skip-preview", "--stack", admin.stack,
                              check=False)
        assert failed_up.returncode != 0
        updates = receiver.wait_for(2, kind="stack_update")
    assert len(updates) == 2 and all(u["signed"] for u in updates)
    user = {"name": admin.login_name, "githubLogin": admin.login_name, "avatarUrl": ""}
    assert succeeded["json"] == {
        "user": user, "organization": {"name": admin.org, "githubLogin": admin.org,
                                       "avatarUrl": ""},
        "projectName": "proj", "stackName": "dev",
        "updateUrl": f"{CONSOLE}/{admin.org}/proj/dev/updates/1",
        "kind": "update", "result": "succeeded",
        "resourceChanges": succeeded["json"]["resourceChanges"], "isPreview": False}
    assert succeeded["json"]["resourceChanges"].get("create") == 1  # the stack resource
    failed = updates[1]["json"]
    assert (failed["result"], failed["kind"], failed["updateUrl"]) == (
        "failed", "update", f"{CONSOLE}/{admin.org}/proj/dev/updates/2")
    assert receiver.of("stack_preview") == []


def test_org_webhook_commands(admin):
    org = ("--org", admin.org)
    with Receiver(secret="k") as receiver:
        made = as_json(admin.run("org", "webhook", "new", *org, "--name", "deploys",
                                 "--url", receiver.url, "--secret", "k", "--group", "stacks",
                                 "--yes", "--output", "json"))
        hook_id = made["id"]
        assert made["eventGroups"] == ["stacks"]
        listed = as_json(admin.run("org", "webhook", "list", *org, "--output", "json"))
        assert [(h["id"], h["name"], h["url"]) for h in listed["webhooks"]] == [
            (hook_id, "deploys", receiver.url)]
        admin.run("org", "webhook", "edit", hook_id, *org, "--active=false",
                  "--add-event", "environment_created")
        [edited] = as_json(admin.run("org", "webhook", "list", *org, "--output",
                                     "json"))["webhooks"]
        assert edited["active"] is False and edited["events"] == ["environment_created"]
        pinged = admin.run("org", "webhook", "ping", hook_id, *org)
        assert "200" in pinged.stdout
        [ping] = receiver.wait_for(1, kind="ping")
        assert ping["signed"]
        deliveries = admin.run("org", "webhook", "delivery", "list", hook_id, *org).stdout
        assert ping["id"] in deliveries
        admin.run("org", "webhook", "remove", hook_id, *org, "--yes")
        assert as_json(admin.run("org", "webhook", "list", *org, "--output",
                                 "json"))["count"] == 0


def test_stack_webhook_commands(admin):
    stack = ("--stack", admin.stack)
    with Receiver(statuses=[500]) as receiver:
        made = as_json(admin.run("stack", "webhook", "new", *stack, "--name", "chat",
                                 "--url", receiver.url, "--event", "update_succeeded", "--yes",
                                 "--output", "json"))
        hook_id = made["id"]
        assert (made["stackName"], made["events"]) == ("dev", ["update_succeeded"])
        listed = admin.run("stack", "webhook", "list", *stack).stdout
        assert hook_id in listed and "chat" in listed
        got = admin.run("stack", "webhook", "get", hook_id, *stack).stdout
        assert receiver.url in got and "update_succeeded" in got
        admin.run("stack", "webhook", "edit", hook_id, *stack, "--secret", "new-secret",
                  "--display-name", "chat2")
        got = admin.run("stack", "webhook", "get", hook_id, *stack).stdout
        assert "chat2" in got
        pinged = admin.run("stack", "webhook", "ping", hook_id, *stack).stdout
        assert "500" in pinged
        [ping] = receiver.wait_for(1, kind="ping")
        listed = admin.run("stack", "webhook", "delivery", "list", hook_id, *stack).stdout
        assert ping["id"] in listed
        again = admin.run("stack", "webhook", "delivery", "redeliver", hook_id, ping["id"],
                          *stack).stdout
        assert "200" in again
        assert [r["id"] for r in receiver.wait_for(2, kind="ping")] == [ping["id"]] * 2
        receiver.secret = b"new-secret"
        assert receiver.signed(receiver.requests[1]["body"],
                               receiver.requests[1]["headers"].get("Pulumi-Webhook-Signature"))
        admin.run("stack", "webhook", "remove", hook_id, *stack, "--yes")
        assert hook_id not in admin.run("stack", "webhook", "list", *stack).stdout


def test_env_webhook_commands_and_a_revision_event(admin):
    env = f"{admin.org}/proj/config"
    admin.run("env", "init", env)
    with Receiver(secret="k") as receiver:
        made = admin.run("env", "webhook", "new", env, "ci", "--url", receiver.url,
                         "--secret", "k", "--event", "environment_revision_created").stdout
        hook = made.split('"')[1]  # Created webhook "<name>" for ...
        listed = admin.run("env", "webhook", "ls", env).stdout
        assert hook in listed and receiver.url in listed
        admin.run("env", "webhook", "edit", env, hook, "--display-name", "ci2")
        assert "Display name: ci2" in admin.run("env", "webhook", "get", env, hook).stdout
        admin.run("env", "set", env, "greeting", "hello")                 # revision 2
        [revision] = receiver.wait_for(1, kind="environment_revision")
        assert revision["signed"] and revision["json"]["revision"] == 2
        assert (revision["json"]["projectName"], revision["json"]["environmentName"],
                revision["json"]["action"]) == ("proj", "config", "created")
        pinged = admin.run("env", "webhook", "ping", env, hook).stdout
        assert "Response code: 200" in pinged
        [ping] = receiver.wait_for(1, kind="ping")
        deliveries = admin.run("env", "webhook", "delivery", "ls", env, hook).stdout
        assert ping["id"] in deliveries and revision["id"] in deliveries
        admin.run("env", "webhook", "rm", env, hook)
        assert hook not in admin.run("env", "webhook", "ls", env).stdout
