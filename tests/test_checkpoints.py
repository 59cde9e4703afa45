"""Full checkpoints: each request stored whole, the current state always readable, every version
kept, large compressed bodies accepted."""
import gzip
import json

import pytest

from tests.support.deployments import untyped
from tests.support.updates import STACK, Operation, export_json, make_stack, run


@pytest.fixture
def member(acme):
    make_stack(acme["member"])
    return acme["member"]


@pytest.fixture
def running(member):
    op = Operation(member)
    op.start()
    return op


def test_checkpoint_becomes_the_current_state(member, running):
    assert running.checkpoint(untyped(3)).status_code == 204
    assert export_json(member, f"{STACK}/export") == untyped(3)


def test_checkpoint_is_exported_byte_for_byte_as_sent(member, running):
    sent = ('{"isInvalid":false,"version":3,"deployment":{"manifest":{"time":"t","magic":"",'
            '"version":"v"},"resources":[{"urn":"urn:pulumi:dev::proj::a:b:C::x","z":1,"a":2}]}}')
    running.lease_call("PATCH", "/checkpoint", data=sent)
    exported = member.get(f"{STACK}/export").get_data(as_text=True)
    assert exported == '{"version":3,"deployment":' + sent.split('"deployment":', 1)[1]


def test_features_of_a_version_4_deployment_are_kept(member, running):
    running.checkpoint({"version": 4, "features": ["refreshBeforeUpdate"],
                        "deployment": untyped(1)["deployment"]})
    exported = export_json(member, f"{STACK}/export")
    assert exported["version"] == 4
    assert exported["features"] == ["refreshBeforeUpdate"]


def test_last_checkpoint_wins(member, running):
    running.checkpoint(untyped(2))
    running.checkpoint(untyped(5))
    assert len(export_json(member, f"{STACK}/export")["deployment"]["resources"]) == 5


def test_retried_checkpoint_is_harmless(member, running):
    running.checkpoint(untyped(2))
    assert running.checkpoint(untyped(2)).status_code == 204
    assert export_json(member, f"{STACK}/export") == untyped(2)


def test_gzip_checkpoint_is_accepted(member, running):
    assert running.checkpoint(untyped(4), compress=True).status_code == 204
    assert export_json(member, f"{STACK}/export") == untyped(4)


def test_state_during_an_update_is_readable(member):
    run(member, 2)
    op = Operation(member)
    op.start()
    op.checkpoint(untyped(7))
    assert len(export_json(member, f"{STACK}/export")["deployment"]["resources"]) == 7


def test_checkpoint_of_a_preview_is_400(member):
    preview = Operation(member, dry_run=True)
    preview.start()
    assert preview.checkpoint(untyped(1)).status_code == 400


def test_checkpoint_that_is_not_json_is_400(running):
    response = running.lease_call("PATCH", "/checkpoint", data="{not json")
    assert response.status_code == 400
    assert response.get_json()["code"] == 400


def test_checkpoint_of_an_unknown_deployment_version_is_400(running):
    assert running.checkpoint({"version": 9, "deployment": {}}).status_code == 400


def test_checkpoint_without_a_deployment_is_400(running):
    assert running.lease_call("PATCH", "/checkpoint", {"version": 3}).status_code == 400


def test_corrupt_gzip_checkpoint_is_400(running):
    response = running.lease_call("PATCH", "/checkpoint", data=b"\x1f\x8bnot gzip",
                                  headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400


def test_failed_checkpoint_leaves_the_previous_state(member, running):
    running.checkpoint(untyped(2))
    running.lease_call("PATCH", "/checkpoint", data='{"version":3,"deployment":{"resources":[')
    assert export_json(member, f"{STACK}/export") == untyped(2)


def test_checkpoint_after_complete_is_403(member):
    op = run(member, 1)
    assert op.checkpoint(untyped(2)).status_code == 403
    assert export_json(member, f"{STACK}/export") == untyped(1)


def test_each_version_keeps_its_final_state(member):
    for count in (1, 3, 2):
        run(member, count)
    for version, count in ((1, 1), (2, 3), (3, 2)):
        exported = export_json(member, f"{STACK}/export/{version}")
        assert len(exported["deployment"]["resources"]) == count


def test_update_that_failed_before_any_checkpoint_keeps_the_previous_state(member):
    run(member, 3)
    op = Operation(member)
    op.start()
    op.complete("failed")
    assert export_json(member, f"{STACK}/export/2") == untyped(3)


def test_cancelled_update_without_checkpoint_keeps_the_previous_state(member):
    run(member, 3)
    op = Operation(member)
    op.start()
    op.cancel()
    assert export_json(member, f"{STACK}/export/2") == untyped(3)


@pytest.mark.parametrize("end", ["failed", "cancelled"])
def test_first_update_that_ended_before_any_checkpoint_has_an_empty_version(member, end):
    op = Operation(member)
    op.start()
    op.complete("failed") if end == "failed" else op.cancel()
    [entry] = member.get(f"{STACK}/updates").get_json()["updates"]
    assert (entry["version"], entry["resourceCount"]) == (1, 0)
    assert export_json(member, f"{STACK}/export/1") == export_json(member, f"{STACK}/export")
    assert "resources" not in export_json(member, f"{STACK}/export/1")["deployment"]


def test_stack_resource_count_follows_the_latest_checkpoint(member, running):
    running.checkpoint(untyped(6))
    assert member.get(STACK).get_json()["resourceCount"] == 6


def test_checkpoint_is_stored_compressed_with_its_facts(member, running, db):
    running.checkpoint(untyped(3))
    with db.cursor() as cur:
        cur.execute("SELECT version, size_bytes, resource_count, sha256, deployment_gz "
                    "FROM checkpoints")
        row = cur.fetchone()
    text = gzip.decompress(bytes(row["deployment_gz"]))
    assert (row["version"], row["size_bytes"], row["resource_count"]) == (1, len(text), 3)
    assert json.loads(text) == untyped(3)


def test_checkpoint_of_100_megabytes_is_accepted(member, running):
    # 1 000 resources of 100 kB each: roughly 100 MB of JSON, sent gzip-compressed like the CLI.
    filler = "x" * 100_000
    big = untyped(1000, filler=filler)
    body = gzip.compress(json.dumps({"isInvalid": False, **big}).encode(), compresslevel=1)
    del big
    response = running.lease_call("PATCH", "/checkpoint", data=body,
                                  headers={"Content-Encoding": "gzip"})
    assert response.status_code == 204
    assert member.get(STACK).get_json()["resourceCount"] == 1000
