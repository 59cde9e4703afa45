"""Export of the current and past states, and import of a new one."""
import gzip
import json

import pytest

from app.state.stored import EMPTY_DEPLOYMENT
from tests.support.deployments import gzipped, untyped
from tests.support.updates import STACK, Operation, export_json, make_stack, run


@pytest.fixture
def member(acme):
    make_stack(acme["member"])
    return acme["member"]


# --- export -------------------------------------------------------------------------------------

def test_never_deployed_stack_exports_an_empty_deployment(member):
    assert export_json(member, f"{STACK}/export") == EMPTY_DEPLOYMENT


def test_state_given_at_create_is_exported(acme):
    state = {"version": 3, "deployment": {
        "manifest": {"time": "2026-01-01T00:00:00Z", "magic": "", "version": ""},
        "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:abc"}}}}
    make_stack(acme["member"], state=state)
    assert export_json(acme["member"], f"{STACK}/export") == state


def test_export_is_the_latest_state(member):
    run(member, 1)
    run(member, 4)
    assert export_json(member, f"{STACK}/export") == untyped(4)


def test_export_of_a_version(member):
    run(member, 1)
    run(member, 4)
    assert export_json(member, f"{STACK}/export/1") == untyped(1)


def test_export_of_an_unknown_version_is_404(member):
    run(member, 1)
    response = member.get(f"{STACK}/export/2")
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


def test_export_is_sent_compressed_to_a_client_that_takes_gzip(member):
    run(member, 3)
    response = member.get(f"{STACK}/export", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(response.get_data())) == untyped(3)


def test_viewer_can_export(acme, member):
    run(member, 1)
    assert export_json(acme["viewer"], f"{STACK}/export") == untyped(1)


def test_outsider_cannot_export(acme, member):
    assert acme["outsider"].get(f"{STACK}/export").status_code == 404


def test_export_of_a_missing_stack_is_404(member):
    assert member.get("/api/stacks/acme/proj/nope/export").status_code == 404


# --- import -------------------------------------------------------------------------------------

def test_import_replaces_the_state(member):
    run(member, 1)
    response = member.post(f"{STACK}/import", body=untyped(5))
    assert response.status_code == 200
    assert export_json(member, f"{STACK}/export") == untyped(5)


def test_import_takes_the_next_version(member):
    run(member, 1)
    member.post(f"{STACK}/import", body=untyped(5))
    assert member.get(STACK).get_json()["version"] == 2
    assert export_json(member, f"{STACK}/export/2") == untyped(5)
    assert export_json(member, f"{STACK}/export/1") == untyped(1)


def test_import_status_is_succeeded_without_a_continuation_token(member):
    update_id = member.post(f"{STACK}/import", body=untyped(2)).get_json()["updateId"]
    status = member.get(f"{STACK}/update/{update_id}").get_json()
    assert status == {"status": "succeeded", "events": []}


def test_import_becomes_the_active_update(member):
    update_id = member.post(f"{STACK}/import", body=untyped(2)).get_json()["updateId"]
    assert member.get(STACK).get_json()["activeUpdate"] == update_id


def test_gzip_import_is_accepted(member):
    response = member.post(f"{STACK}/import", data=gzipped(untyped(3)),
                           headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert export_json(member, f"{STACK}/export") == untyped(3)


def test_import_is_stored_as_sent(member):
    sent = '{"version":3,"deployment":{"resources":[],"manifest":{"b":1,"a":2}}}'
    member.post(f"{STACK}/import", data=sent)
    assert member.get(f"{STACK}/export").get_data(as_text=True) == sent


def test_import_of_an_unknown_version_is_400(member):
    response = member.post(f"{STACK}/import", body={"version": 0, "deployment": {}})
    assert response.status_code == 400


def test_import_without_a_deployment_is_400(member):
    assert member.post(f"{STACK}/import", body={"version": 3}).status_code == 400


def test_import_of_a_deployment_whose_resources_are_not_a_list_is_400(member):
    body = {"version": 3, "deployment": {"resources": {"a": 1}}}
    assert member.post(f"{STACK}/import", body=body).status_code == 400


def test_import_that_is_not_json_is_400(member):
    assert member.post(f"{STACK}/import", data="nope").status_code == 400


def test_failed_import_leaves_state_and_version_alone(member):
    run(member, 2)
    member.post(f"{STACK}/import", body={"version": 3})
    assert member.get(STACK).get_json()["version"] == 1
    assert export_json(member, f"{STACK}/export") == untyped(2)


def test_import_while_an_update_runs_is_409(member):
    Operation(member).start()
    response = member.post(f"{STACK}/import", body=untyped(1))
    assert response.status_code == 409


def test_import_abandons_an_update_whose_lease_expired_long_ago(member, db):
    stale = Operation(member)
    stale.start()
    with db, db.cursor() as cur:
        cur.execute("UPDATE updates SET lease_expires_at = now() - interval '2 hours' "
                    "WHERE id = %s", (stale.id,))
    assert member.post(f"{STACK}/import", body=untyped(1)).status_code == 200
    assert member.get(stale.path).get_json()["status"] == "failed"


def test_import_needs_the_member_role(acme, member):
    assert acme["viewer"].post(f"{STACK}/import", body=untyped(1)).status_code == 403


def test_import_of_100_megabytes_is_accepted(member):
    big = untyped(1000, filler="y" * 100_000)
    body = gzip.compress(json.dumps(big).encode(), compresslevel=1)
    del big
    response = member.post(f"{STACK}/import", data=body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert member.get(STACK).get_json()["resourceCount"] == 1000
