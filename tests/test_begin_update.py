"""begin-update: create and start an update in one request, answered with the stack and the state
the update starts from (what the CLI v3.257+ uses when the capability is advertised)."""
import json

import pytest

from app import create_app
from tests.support.api import Api
from tests.support.apps import make_config
from tests.support.deployments import untyped
from tests.support.updates import STACK, Operation, make_stack, program, run

CONFLICT = "Conflict: Another update is currently in progress."


@pytest.fixture
def member(acme):
    make_stack(acme["member"])
    return acme["member"]


def begin(api, kind="update", dry_run=False, tags=None, journal=2, stack=STACK, expect=200):
    body = {"updateKind": kind, "program": program(dry_run=dry_run), "journalVersion": journal}
    if tags is not None:
        body["tags"] = tags
    response = api.post(f"{stack}/begin-update", body=body)
    assert response.status_code == expect, response.get_data(as_text=True)
    return response.get_json()


def test_the_capability_is_advertised(member):
    found = member.get("/api/capabilities").get_json()["capabilities"]
    assert {"capability": "begin-update", "version": 1} in found


def test_the_capability_can_be_turned_off(database_url, people):
    app = create_app(make_config(database_url, AUTO_MIGRATE=False, BEGIN_UPDATE_ENABLED=False))
    people.user("bea")
    api = Api(app.test_client(), people.tokens["bea"])
    names = [c["capability"] for c in api.get("/api/capabilities").get_json()["capabilities"]]
    assert "begin-update" not in names


def test_a_first_update_starts_at_version_1_with_the_empty_state(member):
    body = begin(member)
    assert body["version"] == 1 and body["token"] and body["tokenExpiration"] > 0
    assert body["journalVersion"] == 1
    assert body["stack"]["stackName"] == "dev"
    assert body["stack"]["activeUpdate"] == body["updateID"]
    assert body["stack"]["currentOperation"]["kind"] == "update"
    assert body["deployment"]["version"] == 3
    assert "resources" not in body["deployment"]["deployment"]


def test_the_update_it_starts_runs_like_any_other(member):
    body = begin(member)
    op = Operation.__new__(Operation)
    op.api, op.stack, op.id, op.token = member, STACK, body["updateID"], body["token"]
    op.path = f"{STACK}/update/{op.id}"
    op.lease_call("PATCH", "/journalentries", {"entries": []})
    assert op.complete().status_code == 204
    history = member.get(f"{STACK}/updates").get_json()["updates"]
    assert [(u["kind"], u["result"], u["version"]) for u in history] == [
        ("update", "succeeded", 1)]


def test_the_state_is_the_one_before_the_update_byte_for_byte(member):
    run(member, 3)
    exported = member.get(f"{STACK}/export").get_data()
    body = begin(member)
    assert body["version"] == 2
    assert body["deployment"] == json.loads(exported) == untyped(3)


def test_a_preview_gets_the_current_version_and_state(member):
    run(member, 2)
    body = begin(member, kind="preview", dry_run=True)
    assert body["version"] == 1
    assert "journalVersion" not in body
    assert body["deployment"] == untyped(2)


def test_a_large_state_is_left_for_the_cli_to_export(database_url, people, acme):
    app = create_app(make_config(database_url, AUTO_MIGRATE=False,
                                 BEGIN_UPDATE_STATE_MAX_BYTES=100))
    api = Api(app.test_client(), people.tokens["mona"])
    make_stack(api)
    run(api, 3)
    body = begin(api)
    assert "deployment" not in body
    assert body["version"] == 2


def test_tags_replace_the_stacks_tags(member):
    body = begin(member, tags={"team": "core"})
    assert body["stack"]["tags"] == {"team": "core"}
    assert member.get(STACK).get_json()["tags"] == {"team": "core"}


def test_resource_import_runs_as_an_update(member):
    body = begin(member, kind="resource-import")
    update = member.get(f"{STACK}/update/{body['updateID']}")
    assert update.status_code == 200
    assert member.get(STACK).get_json()["currentOperation"]["kind"] == "update"


def test_a_second_update_conflicts_and_leaves_nothing_behind(member, db):
    begin(member)
    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM updates")
        before = cur.fetchone()["n"]
    db.rollback()
    response = member.post(f"{STACK}/begin-update",
                           body={"updateKind": "update", "program": program()})
    assert response.status_code == 409
    assert response.get_json() == {"code": 409, "message": CONFLICT}
    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM updates")
        assert cur.fetchone()["n"] == before
    db.rollback()


@pytest.mark.parametrize("body", [
    {"program": {}},
    {"updateKind": "rename", "program": {}},
    {"updateKind": "import", "program": {}},
    {"updateKind": "update"},
    {"updateKind": "update", "program": {"options": {"dryRun": "maybe"}}},
])
def test_a_bad_request_is_400(member, body):
    response = member.post(f"{STACK}/begin-update", body=body)
    assert response.status_code == 400
    assert response.get_json()["code"] == 400


def test_who_may_begin(acme, member):
    body = {"updateKind": "update", "program": program()}
    assert acme["viewer"].post(f"{STACK}/begin-update", body=body).status_code == 403
    assert acme["outsider"].post(f"{STACK}/begin-update", body=body).status_code == 404
    assert member.post("/api/stacks/acme/proj/nope/begin-update", body=body).status_code == 404
