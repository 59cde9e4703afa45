"""Webhooks over the API: organization, stack and ESC environment hooks (Pulumi's shapes,
generated names, the secret rules of PATCH), who may manage them, bad input, the events changes
(stacks' and environments') queue in their own transaction, and delivery to a real local receiver that checks the signature (retries, ping,
redeliver, the SSRF guard at send time). The worker's sending runs in-process here
(Worker.deliver_one); tests/test_webhook_worker.py runs the real `pulumi-service worker`."""
import base64
import json
import time

import pytest
from click.testing import CliRunner

from app import create_app
from app.cli import main as cli_main
from app.secrets import generate_master_key, master_key_id
from app.worker import Worker
from tests.support import MASTER_KEY
from tests.support.api import Api, assert_error
from tests.support.apps import make_config
from tests.support.receiver import Receiver
from tests.support.rows import expire_lease
from tests.support.updates import STACK, Operation, make_stack, run

ORG_HOOKS = "/api/orgs/acme/hooks"
STACK_HOOKS = STACK + "/hooks"
ENVS = "/api/esc/environments/acme"
ENV_HOOKS = ENVS + "/proj/dev/hooks"


@pytest.fixture(scope="module")
def app(database_url):
    """The tests' app, allowed to call the loopback receiver, with retries milliseconds apart."""
    return create_app(make_config(
        database_url, WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32", WEBHOOK_RETRY_BASE_SECONDS=0.01,
        WEBHOOK_MAX_ATTEMPTS=4, WEBHOOK_TIMEOUT_SECONDS=5, CONSOLE_URL="https://console.example"))


@pytest.fixture
def worker(app):
    return Worker(app)


def drain(worker, limit=50):
    """Send everything due now (retries included, as they fall due); returns attempts made."""
    sent = 0
    deadline = time.monotonic() + 10
    while sent < limit and time.monotonic() < deadline:
        if worker.deliver_one():
            sent += 1
        elif worker._idle_seconds() >= worker.config["WEBHOOK_POLL_SECONDS"]:
            break  # nothing pending
        else:
            time.sleep(0.01)
    return sent


def hook_body(url, **extra):
    return {"organizationName": "acme", "name": "", "displayName": "ci", "payloadUrl": url,
            "active": True, "format": "raw", **extra}


def create(api, path, url, **extra):
    response = api.post(path, body=hook_body(url, **extra))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- shapes and the secret ------------------------------------------------------------------------

def test_org_hook_lifecycle_in_pulumis_shapes(acme):
    admin = acme["admin"]
    made = create(admin, ORG_HOOKS, "http://127.0.0.1:9/hook", secret="s3cret",
                  groups=["stacks"], filters=["environment_created"])
    name = made["name"]
    assert len(name) == 8 and int(name, 16) >= 0
    assert made["displayName"] == "ci" and made["organizationName"] == "acme"
    assert made["hasSecret"] is True and "secret" not in made
    assert made["secretCiphertext"] and "s3cret" not in json.dumps(made)
    assert made["groups"] == ["stacks"] and made["filters"] == ["environment_created"]
    listed = admin.get(ORG_HOOKS)
    assert listed.status_code == 200 and listed.get_json() == [made]  # a bare array
    got = admin.get(f"{ORG_HOOKS}/{name}").get_json()
    assert got == made
    # The CLI's edit: GET, change a field, PATCH the whole object back (no secret: kept).
    edited = admin.patch(f"{ORG_HOOKS}/{name}", body={**got, "active": False})
    assert edited.status_code == 200 and edited.get_json()["active"] is False
    assert edited.get_json()["hasSecret"] is True
    cleared = admin.patch(f"{ORG_HOOKS}/{name}", body={**got, "secret": "__remove-secret"})
    assert cleared.get_json()["hasSecret"] is False and cleared.get_json()["secretCiphertext"] == ""
    assert admin.delete(f"{ORG_HOOKS}/{name}").status_code == 204
    assert_error(admin.get(f"{ORG_HOOKS}/{name}"), 404)
    assert admin.get(ORG_HOOKS).get_json() == []


def test_the_secret_is_stored_sealed(acme, db):
    made = create(acme["admin"], ORG_HOOKS, "http://127.0.0.1:9/hook", secret="plain-secret-xyz")
    with db.cursor() as cur:
        cur.execute("SELECT secret_sealed FROM webhooks WHERE name = %s", (made["name"],))
        sealed = bytes(cur.fetchone()["secret_sealed"])
    assert b"plain-secret-xyz" not in sealed and len(sealed) > 16


def test_stack_hooks_belong_to_their_stack(acme):
    admin = acme["admin"]
    make_stack(admin)
    made = create(admin, STACK_HOOKS, "http://127.0.0.1:9/hook", projectName="proj",
                  stackName="dev", groups=["stacks"])
    assert made["projectName"] == "proj" and made["stackName"] == "dev"
    assert admin.get(STACK_HOOKS).get_json() == [made]
    assert admin.get(ORG_HOOKS).get_json() == []
    assert_error(admin.get(f"{ORG_HOOKS}/{made['name']}"), 404)
    assert admin.get(f"{STACK_HOOKS}/{made['name']}").get_json() == made
    assert_error(admin.post(STACK_HOOKS, body=hook_body("http://127.0.0.1:9/", stackName="prod")),
                 400, "stackName")


# --- who may --------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["viewer", "member"])
def test_only_admins_manage_hooks(acme, role):
    caller = acme[role]
    make_stack(acme["admin"])
    for path in (ORG_HOOKS, STACK_HOOKS):
        assert_error(caller.post(path, body=hook_body("http://127.0.0.1:9/")), 403)
        assert_error(caller.get(path), 403)
    assert_error(acme["outsider"].get(ORG_HOOKS), 404)


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"payloadUrl": "not a url"}, "http:// or https://"),
    ({"payloadUrl": "ftp://example.com/x"}, "http:// or https://"),
    ({"payloadUrl": "http://10.1.2.3/hook"}, "private"),
    ({"payloadUrl": "http://169.254.169.254/latest"}, "metadata"),
    ({"payloadUrl": "http://[::1]:8080/"}, "loopback"),
    ({"filters": ["update_exploded"]}, "unknown event filter 'update_exploded'"),
    ({"groups": ["everything"]}, "unknown event group 'everything'"),
    ({"format": "xml"}, "unknown format"),
    ({"displayName": "x" * 101}, "longer than 100"),
    ({"displayName": ""}, "it is empty"),
    ({"organizationName": "globex"}, "organizationName"),
])
def test_bad_hooks_are_refused_with_a_clear_message(acme, db, change, message):
    body = {**hook_body("http://127.0.0.1:9/"), **change}
    assert_error(acme["admin"].post(ORG_HOOKS, body=body), 400, message)
    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM webhooks")
        assert cur.fetchone()["n"] == 0


def test_stack_hooks_refuse_organization_only_events(acme):
    make_stack(acme["admin"])
    assert_error(acme["admin"].post(STACK_HOOKS, body=hook_body(
        "http://127.0.0.1:9/", filters=["stack_created"])), 400, "stack_created")
    assert_error(acme["admin"].post(STACK_HOOKS, body=hook_body(
        "http://127.0.0.1:9/", groups=["environments"])), 400, "environments")


def test_private_addresses_need_the_setting(database_url, people):
    """Without WEBHOOK_ALLOWED_NETWORKS, the loopback receiver itself is refused."""
    strict = create_app(make_config(database_url))
    token = people.user("sam", {"acme": "admin"}).token
    api = Api(strict.test_client(), token)
    assert_error(api.post(ORG_HOOKS, body=hook_body("http://127.0.0.1:9/")), 400,
                 "WEBHOOK_ALLOWED_NETWORKS")


# --- events and delivery --------------------------------------------------------------------------

def test_events_are_queued_with_the_change_and_delivered_signed(acme, worker):
    admin = acme["admin"]
    with Receiver(secret="k3y") as receiver:
        create(admin, ORG_HOOKS, receiver.url, secret="k3y")
        make_stack(admin)
        run(admin, 2, changes={"create": 2})
        Operation(admin, dry_run=True).start()  # a preview that never ends: no event
        drain(worker)
        [created] = receiver.of("stack")
        [update] = receiver.of("stack_update")
    assert created["signed"] and update["signed"]
    assert created["json"] == {
        "user": {"name": "adam", "githubLogin": "adam", "avatarUrl": ""},
        "organization": {"name": "acme", "githubLogin": "acme", "avatarUrl": ""},
        "action": "created", "projectName": "proj", "stackName": "dev"}
    assert update["json"] == {
        "user": {"name": "adam", "githubLogin": "adam", "avatarUrl": ""},
        "organization": {"name": "acme", "githubLogin": "acme", "avatarUrl": ""},
        "projectName": "proj", "stackName": "dev",
        "updateUrl": "https://console.example/acme/proj/dev/updates/1",
        "kind": "update", "result": "succeeded", "resourceChanges": {"create": 2},
        "isPreview": False}
    assert update["headers"]["Content-Type"] == "application/json"
    assert created["id"] != update["id"]


def test_filters_choose_events_and_inactive_hooks_get_none(acme, worker):
    admin = acme["admin"]
    with Receiver() as receiver:
        create(admin, ORG_HOOKS, receiver.url, filters=["update_failed"])
        create(admin, ORG_HOOKS, receiver.url, active=False)
        make_stack(admin)
        run(admin, 1)
        run(admin, 1, status="failed")
        drain(worker)
        [failed] = receiver.requests
    assert failed["kind"] == "stack_update" and failed["json"]["result"] == "failed"
    assert "Pulumi-Webhook-Signature" not in failed["headers"]


def test_a_rolled_back_change_queues_nothing(acme, db):
    admin = acme["admin"]
    create(admin, ORG_HOOKS, "http://127.0.0.1:9/")
    make_stack(admin)
    assert admin.post("/api/stacks/acme/proj", body={"stackName": "dev"}).status_code == 409
    with db.cursor() as cur:
        cur.execute("SELECT event FROM webhook_events")
        assert [r["event"] for r in cur.fetchall()] == ["stack_created"]


def test_500_twice_then_200_is_three_attempts_and_one_success(acme, worker):
    admin = acme["admin"]
    with Receiver(secret="k", statuses=[500, 500]) as receiver:
        hook = create(admin, ORG_HOOKS, receiver.url, secret="k")
        make_stack(admin)
        drain(worker)
        got = receiver.wait_for(3)
        assert len(got) == 3 and len({r["id"] for r in got}) == 1
        assert all(r["signed"] for r in got)
        deliveries = admin.get(f"{ORG_HOOKS}/{hook['name']}/deliveries").get_json()
    assert [d["responseCode"] for d in deliveries] == [200, 500, 500]  # newest first
    assert {d["id"] for d in deliveries} == {got[0]["id"]}
    first = deliveries[-1]
    assert first["kind"] == "stack" and first["requestUrl"] == receiver.url
    assert "Pulumi-Webhook-Kind: stack" in first["requestHeaders"]
    assert json.loads(first["payload"])["action"] == "created"
    assert first["responseBody"] == "status 500" and first["duration"] >= 0


def test_a_hook_that_keeps_failing_gives_up_and_does_not_hold_others(acme, worker, db):
    admin = acme["admin"]
    with Receiver(statuses=[500] * 10) as failing, Receiver() as healthy:
        create(admin, ORG_HOOKS, failing.url)
        create(admin, ORG_HOOKS, healthy.url)
        make_stack(admin)
        drain(worker)
        assert len(healthy.requests) == 1
        assert len(failing.requests) == 4  # WEBHOOK_MAX_ATTEMPTS
    with db.cursor() as cur:
        cur.execute("SELECT state, attempts FROM webhook_events ORDER BY state")
        assert [tuple(r.values()) for r in cur.fetchall()] == [("delivered", 1), ("failed", 4)]


def test_ping_and_redeliver_send_at_once(acme):
    admin = acme["admin"]
    make_stack(admin)
    with Receiver(secret="p", statuses=[503]) as receiver:
        hook = create(admin, STACK_HOOKS, receiver.url, secret="p")
        path = f"{STACK_HOOKS}/{hook['name']}"
        pinged = admin.post(path + "/ping")
        assert pinged.status_code == 200, pinged.get_json()
        delivery = pinged.get_json()
        assert delivery["kind"] == "ping" and delivery["responseCode"] == 503
        assert json.loads(delivery["payload"])["message"] == "ping"
        again = admin.post(f"{path}/deliveries/{delivery['id']}/redeliver").get_json()
        assert again["id"] == delivery["id"] and again["responseCode"] == 200
        assert [r["id"] for r in receiver.requests] == [delivery["id"]] * 2
        assert all(r["signed"] for r in receiver.requests)
    listed = admin.get(path + "/deliveries").get_json()
    assert [d["responseCode"] for d in listed] == [200, 503]
    assert_error(admin.post(f"{path}/deliveries/not-an-event/redeliver"), 404)
    assert_error(admin.post(f"{path}/deliveries/{'0' * 32}/redeliver"), 404)


def test_chat_formats(acme, worker):
    admin = acme["admin"]
    with Receiver() as receiver:
        create(admin, ORG_HOOKS, receiver.url, format="slack", filters=["update_succeeded"])
        create(admin, ORG_HOOKS, receiver.url, format="ms_teams", filters=["update_succeeded"])
        make_stack(admin)
        run(admin, 1)
        drain(worker)
        slack, teams = sorted(receiver.requests, key=lambda r: "@type" in r["json"])
    assert slack["json"]["text"].startswith("update of acme/proj/dev succeeded (by adam)")
    assert "<https://console.example/acme/proj/dev/updates/1|" in slack["json"]["text"]
    assert teams["json"]["@type"] == "MessageCard"
    assert "update of acme/proj/dev succeeded" in teams["json"]["text"]
    assert teams["json"]["potentialAction"][0]["targets"][0]["uri"].endswith("/updates/1")


def test_the_guard_also_holds_at_send_time(acme, database_url):
    """A hook stored while its address was allowed, sent after the setting changed: refused,
    recorded as a failed attempt with the reason, nothing sent."""
    admin = acme["admin"]
    with Receiver() as receiver:
        create(admin, ORG_HOOKS, receiver.url)
        make_stack(admin)
        strict = create_app(make_config(database_url, WEBHOOK_MAX_ATTEMPTS=1))
        Worker(strict).deliver_one()
        assert receiver.requests == []
    delivery = admin.get(f"{ORG_HOOKS}/{admin.get(ORG_HOOKS).get_json()[0]['name']}/deliveries")
    [attempt] = delivery.get_json()
    assert attempt["responseCode"] == 0 and "loopback" in attempt["responseBody"]


def test_webhook_changes_are_audited(acme):
    admin = acme["admin"]
    hook = create(admin, ORG_HOOKS, "http://127.0.0.1:9/", secret="never-logged")
    admin.patch(f"{ORG_HOOKS}/{hook['name']}", body={**hook, "displayName": "renamed"})
    admin.delete(f"{ORG_HOOKS}/{hook['name']}")
    events = admin.get("/api/orgs/acme/auditlogs/v2").get_json()["auditLogEvents"]
    seen = [e["event"] for e in events if e["event"].startswith("webhook.")]
    assert seen == ["webhook.deleted", "webhook.updated", "webhook.created"]
    assert "never-logged" not in json.dumps(events)


def test_a_master_key_rotation_reseals_webhook_secrets(acme, database_url, people, tmp_path, db):
    with Receiver(secret="kept") as receiver:
        hook = create(acme["admin"], ORG_HOOKS, receiver.url, secret="kept")
        new_key = generate_master_key()
        key_file = tmp_path / "new.key"
        key_file.write_text(new_key + "\n")
        key_file.chmod(0o600)
        rotated = CliRunner().invoke(cli_main, [
            "secrets", "rotate-master-key", "--new-key-file", str(key_file)], env={
            "DATABASE_URL": database_url, "SECRETS_MASTER_KEY": MASTER_KEY,
            "SECRETS_MASTER_KEY_FILE": None, "SECRETS_PREVIOUS_MASTER_KEYS": None})
        assert rotated.exit_code == 0, rotated.output
        with db.cursor() as cur:
            cur.execute("SELECT secret_master_key_id FROM webhooks")
            assert cur.fetchone()["secret_master_key_id"] == master_key_id(
                base64.b64decode(new_key))
        only_new = create_app(make_config(database_url, SECRETS_MASTER_KEY=new_key,
                                          WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32"))
        api = Api(only_new.test_client(), people.tokens["adam"])
        assert api.post(f"{ORG_HOOKS}/{hook['name']}/ping").get_json()["responseCode"] == 200
        [ping] = receiver.requests
    assert ping["signed"]


def test_previews_and_deleted_stacks(acme, worker):
    """A preview is a stack_preview (its link the preview's); a deleted stack a `stack` event
    for organization hooks (the stack's own hooks go with it)."""
    admin = acme["admin"]
    with Receiver() as receiver:
        create(admin, ORG_HOOKS, receiver.url, filters=["preview_succeeded", "stack_deleted"])
        make_stack(admin)
        create(admin, STACK_HOOKS, receiver.url)
        preview = Operation(admin, kind="preview", dry_run=True)
        preview.start()
        assert preview.complete().status_code == 204
        drain(worker)
        assert admin.delete(STACK).status_code == 204
        assert admin.get(ORG_HOOKS).get_json()[0]["name"]  # the org hook stays
        drain(worker)
        previews = receiver.of("stack_preview")
        [deleted] = receiver.of("stack")
    assert len(previews) == 2  # the org hook's and the stack hook's
    assert previews[0]["json"]["isPreview"] is True
    assert previews[0]["json"]["updateUrl"] == (
        f"https://console.example/acme/proj/dev/previews/{preview.id}")
    assert deleted["json"]["action"] == "deleted"


def test_an_abandoned_update_is_a_failed_update(acme, worker, db):
    """An update whose lease ran out long ago, ended by the next one, fires update_failed."""
    admin = acme["admin"]
    with Receiver() as receiver:
        create(admin, ORG_HOOKS, receiver.url, filters=["update_failed"])
        make_stack(admin)
        stale = Operation(admin)
        stale.start()
        expire_lease(db, stale.id, 3600)
        Operation(admin).start()
        drain(worker)
        [failed] = receiver.requests
    assert (failed["json"]["result"], failed["json"]["updateUrl"]) == (
        "failed", "https://console.example/acme/proj/dev/updates/1")


def test_a_failing_hook_defers_its_other_events(acme, database_url, db):
    """After a failed attempt the hook's other due events wait out the same backoff: a receiver
    that is down takes no sender threads from the hooks that work."""
    patient = Worker(create_app(make_config(database_url, WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32",
                                            WEBHOOK_RETRY_BASE_SECONDS=600)))
    admin = acme["admin"]
    with Receiver(statuses=[503] * 5) as down, Receiver() as up:
        create(admin, ORG_HOOKS, down.url)
        create(admin, ORG_HOOKS, up.url)
        for name in ("a", "b", "c"):
            make_stack(admin, name=name)
        while patient.deliver_one():
            pass
        assert len(up.requests) == 3
        assert len(down.requests) == 1
    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM webhook_events "
                    "WHERE state = 'pending' AND next_attempt_at > now() + interval '9 minutes'")
        assert cur.fetchone()["n"] == 3


# --- environment hooks and events -----------------------------------------------------------------

def make_environment(api, name="dev"):
    assert api.post(ENVS, body={"project": "proj", "name": name}).status_code == 200


def env_hook_body(url, env="dev", **extra):
    """What `pulumi env webhook new` sends."""
    return {**hook_body(url), "projectName": "proj", "envName": env, **extra}


def save(api, env, text):
    response = api.call("PATCH", f"{ENVS}/proj/{env}", data=text.encode())
    assert response.status_code == 200, response.get_json()
    return int(response.headers["Pulumi-ESC-Revision"])


def test_environment_hook_lifecycle_in_the_esc_clis_shapes(acme):
    admin = acme["admin"]
    make_environment(admin)
    made = admin.post(ENV_HOOKS, body=env_hook_body("http://127.0.0.1:9/", format="ms_teams",
                                                    groups=["environments"]))
    assert made.status_code == 201, made.get_json()
    made = made.get_json()
    name = made["name"]
    assert len(name) == 8 and int(name, 16) >= 0
    assert (made["organizationName"], made["projectName"], made["envName"]) == (
        "acme", "proj", "dev")
    assert "stackName" not in made and made["format"] == "ms_teams"
    assert admin.get(ENV_HOOKS).get_json() == [made]
    assert admin.get(ORG_HOOKS).get_json() == []
    assert_error(admin.get(f"{ORG_HOOKS}/{name}"), 404)
    # The ESC CLI's edit: the whole state back, without the names, and a format only to change it.
    edited = admin.patch(f"{ENV_HOOKS}/{name}", body={
        "active": False, "displayName": "renamed", "payloadUrl": "http://127.0.0.1:9/x",
        "filters": ["environment_revision_created"], "secret": "s"})
    assert edited.status_code == 200, edited.get_json()
    assert admin.get(f"{ENV_HOOKS}/{name}").get_json() == {
        **made, "active": False, "displayName": "renamed", "payloadUrl": "http://127.0.0.1:9/x",
        "filters": ["environment_revision_created"], "groups": [], "hasSecret": True,
        "secretCiphertext": edited.get_json()["secretCiphertext"]}
    assert admin.delete(f"{ENV_HOOKS}/{name}").status_code == 204
    assert_error(admin.get(f"{ENV_HOOKS}/{name}"), 404)
    events = admin.get("/api/orgs/acme/auditlogs/v2").get_json()["auditLogEvents"]
    assert [e["description"].split(" posting")[0] for e in events
            if e["event"] in ("webhook.created", "webhook.deleted")] == [
        f"deleted webhook {name} (renamed) of environment acme/proj/dev",
        f"created webhook {name} (ci) on environment acme/proj/dev"]


@pytest.mark.parametrize("change, message", [
    ({"envName": "prod"}, "envName 'prod' does not match"),
    ({"projectName": "other"}, "projectName 'other' does not match"),
    ({"organizationName": "globex"}, "organizationName"),
    ({"groups": ["stacks"]}, "unknown event group 'stacks' for environment hooks"),
    ({"filters": ["environment_created"]}, "unknown event filter 'environment_created'"),
    ({"filters": ["update_succeeded"]}, "unknown event filter 'update_succeeded'"),
])
def test_environment_hooks_refuse_a_body_that_is_not_theirs(acme, change, message):
    make_environment(acme["admin"])
    assert_error(acme["admin"].post(ENV_HOOKS, body=env_hook_body("http://127.0.0.1:9/",
                                                                  **change)), 400, message)
    assert acme["admin"].get(ENV_HOOKS).get_json() == []


def test_environment_hooks_need_the_environments_admin_permission(acme):
    make_environment(acme["admin"])
    for role in ("viewer", "member"):  # read, write: not admin
        caller = acme[role]
        assert_error(caller.post(ENV_HOOKS, body=env_hook_body("http://127.0.0.1:9/")), 403)
        assert_error(caller.get(ENV_HOOKS), 403)
    assert_error(acme["outsider"].get(ENV_HOOKS), 404)
    assert_error(acme["admin"].get(f"{ENVS}/proj/nowhere/hooks"), 404)


def test_a_deleted_environments_hooks_go_with_it(acme, db):
    admin = acme["admin"]
    make_environment(admin)
    name = admin.post(ENV_HOOKS, body=env_hook_body("http://127.0.0.1:9/")).get_json()["name"]
    assert admin.delete(f"{ENVS}/proj/dev").status_code == 200
    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM webhooks WHERE name = %s", (name,))
        assert cur.fetchone()["n"] == 0
    make_environment(admin)  # the same name again: a new environment, without hooks
    assert admin.get(ENV_HOOKS).get_json() == []


def test_environment_events_reach_the_hooks_that_select_them(acme, worker):
    """Every change of an environment queues its event for the organization's hooks that want
    it and for the environment's own hooks; another environment's hooks get nothing."""
    admin = acme["admin"]
    make_environment(admin)
    make_environment(admin, "prod")
    with Receiver(secret="k3y") as receiver:
        url = receiver.url
        create(admin, ORG_HOOKS, url + "?org-all", groups=["environments"], secret="k3y")
        create(admin, ORG_HOOKS, url + "?org-revisions",
               filters=["environment_revision_created"], secret="k3y")
        create(admin, ORG_HOOKS, url + "?org-stacks", groups=["stacks"], secret="k3y")
        create(admin, ORG_HOOKS, url + "?org-teams", format="ms_teams",
               filters=["environment_tag_created"])
        for env in ("dev", "prod"):
            assert admin.post(f"{ENVS}/proj/{env}/hooks", body=env_hook_body(
                f"{url}?env-{env}", env=env, secret="k3y")).status_code == 201
        assert save(admin, "dev", "values: {a: 1}") == 2
        assert save(admin, "dev", "values: {a: 2}") == 3
        assert admin.post(f"{ENVS}/proj/dev/versions/2/retract", body={}).status_code == 204
        assert admin.post(f"{ENVS}/proj/dev/versions/tags",
                          body={"name": "stable", "revision": 3}).status_code == 200
        assert admin.delete(f"{ENVS}/proj/dev/versions/tags/stable").status_code == 200
        assert admin.post(f"{ENVS}/proj/dev/tags",
                          body={"name": "owner", "value": "infra"}).status_code == 200
        assert admin.post(f"{ENVS}/proj/dev/clone", body={"name": "copy"}).status_code == 200
        assert admin.delete(f"{ENVS}/proj/copy").status_code == 200
        drain(worker)
        got = {}
        for request in receiver.requests:
            got.setdefault(request["path"].split("?")[1], []).append(request)
    assert "org-stacks" not in got and "env-prod" not in got
    assert all(r["signed"] for hook in ("org-all", "org-revisions", "env-dev")
               for r in got[hook])

    def seen(hook):
        return sorted((r["kind"], r["json"].get("environmentName"), r["json"]["action"],
                       r["json"].get("revision"), r["json"].get("tagName")) for r in got[hook])

    dev_events = [
        ("environment_revision", "dev", "created", 2, None),
        ("environment_revision", "dev", "created", 3, None),
        ("environment_revision", "dev", "retracted", 2, None),
        ("environment_revision_tag", "dev", "created", 3, "stable"),
        ("environment_revision_tag", "dev", "deleted", 3, "stable"),
        ("environment_tag", "dev", "created", None, "owner")]
    assert seen("env-dev") == dev_events  # not the organization-only created/deleted
    assert seen("org-all") == sorted(dev_events + [
        ("environment", "copy", "created", None, None),
        ("environment", "copy", "deleted", None, None)])
    assert seen("org-revisions") == dev_events[:2]
    first = min(got["org-revisions"], key=lambda r: r["json"]["revision"])
    assert first["json"] == {
        "user": {"name": "adam", "githubLogin": "adam", "avatarUrl": ""},
        "organization": {"name": "acme", "githubLogin": "acme", "avatarUrl": ""},
        "projectName": "proj", "environmentName": "dev", "action": "created", "revision": 2}
    assert first["headers"]["Pulumi-Webhook-Kind"] == "environment_revision"
    [teams] = got["org-teams"]
    assert teams["json"]["text"] == "adam created tag 'owner' of environment acme/proj/dev"


def test_environment_hook_ping_deliveries_and_redeliver(acme, worker):
    admin = acme["admin"]
    make_environment(admin)
    with Receiver(statuses=[503]) as receiver:
        name = admin.post(ENV_HOOKS, body=env_hook_body(receiver.url)).get_json()["name"]
        path = f"{ENV_HOOKS}/{name}"
        ping = admin.post(path + "/ping").get_json()
        assert (ping["kind"], ping["responseCode"]) == ("ping", 503)
        again = admin.post(f"{path}/deliveries/{ping['id']}/redeliver").get_json()
        assert (again["id"], again["responseCode"]) == (ping["id"], 200)
        save(admin, "dev", "values: {a: 1}")
        drain(worker)
        assert [r["kind"] for r in receiver.requests] == ["ping", "ping", "environment_revision"]
    listed = admin.get(path + "/deliveries").get_json()
    assert [(d["kind"], d["responseCode"]) for d in listed] == [
        ("environment_revision", 200), ("ping", 200), ("ping", 503)]


def test_environments_importing_a_changed_one_get_imported_environment_changed(acme, worker):
    """A new revision of `base` changes what `app` (importing it) and `top` (importing `app`)
    evaluate to; not `pinned`, which imports one revision of it."""
    admin = acme["admin"]
    for env in ("base", "app", "top", "pinned"):
        make_environment(admin, env)
    save(admin, "app", "imports: [proj/base]\nvalues: {a: 1}")
    save(admin, "top", "imports:\n  - proj/app: {merge: true}\n")
    save(admin, "pinned", "imports: [proj/base@1]")
    with Receiver() as receiver:
        create(admin, ORG_HOOKS, receiver.url + "?org", filters=["imported_environment_changed"])
        for env in ("base", "app", "top", "pinned"):
            assert admin.post(f"{ENVS}/proj/{env}/hooks", body=env_hook_body(
                f"{receiver.url}?{env}", env=env, filters=["imported_environment_changed"])
            ).status_code == 201
        assert save(admin, "base", "values: {b: 2}") == 2
        drain(worker)
        got = sorted((r["path"].split("?")[1], r["json"]["environmentName"])
                     for r in receiver.requests)
        app = next(r for r in receiver.requests if r["path"].endswith("?app"))
    assert got == [("app", "app"), ("org", "app"), ("org", "top"), ("top", "top")]
    assert app["kind"] == "imported_environment_changed"
    assert app["json"] == {
        "user": {"name": "adam", "githubLogin": "adam", "avatarUrl": ""},
        "organization": {"name": "acme", "githubLogin": "acme", "avatarUrl": ""},
        "projectName": "proj", "environmentName": "app", "affectedRevisions": [2],
        "importedEnvironmentReference": {"projectName": "proj", "environmentName": "base",
                                         "revision": 2}}
