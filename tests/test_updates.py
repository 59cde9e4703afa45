"""The update lifecycle: create, start, lease, complete, cancel, conflicts and roles."""
import uuid

import pytest

from tests.support.deployments import untyped
from tests.support.rows import expire_lease
from tests.support.updates import STACK, Operation, make_stack, run

CONFLICT = "Conflict: Another update is currently in progress."


@pytest.fixture
def member(acme):
    make_stack(acme["member"])
    return acme["member"]


# --- create and start ---------------------------------------------------------------------------

def test_create_returns_an_update_id(member):
    response = member.post(f"{STACK}/update", body={"options": {"dryRun": False}})
    assert response.status_code == 200
    assert uuid.UUID(response.get_json()["updateID"])


@pytest.mark.parametrize("kind", ["update", "preview", "refresh", "destroy"])
def test_every_kind_can_be_created_and_started(member, kind):
    op = Operation(member, kind=kind, dry_run=kind == "preview")
    response = op.start()
    assert response.get_json()["token"]


def test_create_on_a_missing_stack_is_404(member):
    response = member.post("/api/stacks/acme/proj/nope/update", body={})
    assert response.status_code == 404


def test_create_with_a_bad_option_is_400(member):
    response = member.post(f"{STACK}/update", body={"options": {"dryRun": "maybe"}})
    assert response.status_code == 400
    assert response.get_json()["code"] == 400


def test_viewer_cannot_create_an_update(acme, member):
    response = acme["viewer"].post(f"{STACK}/update", body={})
    assert response.status_code == 403


def test_outsider_cannot_see_the_update(acme, member):
    op = Operation(member)
    assert acme["outsider"].get(op.path).status_code == 404


def test_first_real_update_gets_version_1_and_a_lease(member):
    response = Operation(member).start()
    body = response.get_json()
    assert body["version"] == 1
    assert body["token"]
    assert body["tokenExpiration"] > 0
    assert "journalVersion" not in body


def test_start_offers_journal_version_1_to_a_cli_asking_for_journaling(member):
    op = Operation(member)
    response = member.post(op.path, body={"journalVersion": 2})
    assert response.status_code == 200
    assert response.get_json()["journalVersion"] == 1


def test_start_offers_no_journaling_for_a_preview(member):
    op = Operation(member, dry_run=True)
    response = member.post(op.path, body={"journalVersion": 2})
    assert "journalVersion" not in response.get_json()


def test_preview_gets_the_current_version_and_a_token(member):
    run(member, 2)
    response = Operation(member, dry_run=True).start()
    assert response.get_json()["version"] == 1
    assert response.get_json()["token"]


def test_real_operations_claim_consecutive_versions(member):
    versions = [run(member, 2, kind=kind).version for kind in ("update", "refresh", "destroy")]
    assert versions == [1, 2, 3]


def test_previews_do_not_claim_versions(member):
    run(member, 2)
    preview = Operation(member, kind="preview", dry_run=True)
    preview.start()
    preview.complete()
    assert run(member, 2).version == 2
    assert member.get(STACK).get_json()["version"] == 2


def test_start_on_the_preview_path_segment_is_accepted(member):
    op = Operation(member, kind="preview", dry_run=True)
    assert op.start(segment="preview").status_code == 200


def test_start_replaces_the_stack_tags(member):
    member.patch(f"{STACK}/tags", body={"old": "tag"})
    Operation(member).start(tags={"pulumi:project": "proj", "new": "tag"})
    assert member.get(STACK).get_json()["tags"] == {"pulumi:project": "proj", "new": "tag"}


def test_start_without_tags_keeps_them(member):
    member.patch(f"{STACK}/tags", body={"keep": "me"})
    Operation(member).start()
    assert member.get(STACK).get_json()["tags"] == {"keep": "me"}


def test_start_with_an_invalid_tag_is_400(member):
    op = Operation(member)
    op.start(tags={"bad tag": "x"}, expect=400)


def test_starting_twice_is_409(member):
    op = Operation(member)
    op.start()
    op.start(expect=409)


def test_starting_an_unknown_update_is_404(member):
    response = member.post(f"{STACK}/update/{uuid.uuid4()}", body={})
    assert response.status_code == 404


def test_an_update_cannot_be_started_through_another_stack(member):
    other = make_stack(member, name="other")
    op = Operation(member)
    assert member.post(f"{other}/update/{op.id}", body={}).status_code == 404


def test_viewer_cannot_start_an_update(acme, member):
    op = Operation(member)
    assert acme["viewer"].post(op.path, body={}).status_code == 403


# --- one real operation at a time ---------------------------------------------------------------

def test_second_real_update_is_refused_while_one_runs(member):
    Operation(member).start()
    response = Operation(member).start(expect=409)
    assert response.get_json() == {"code": 409, "message": CONFLICT}


def test_refused_update_does_not_claim_a_version(member):
    first = Operation(member)
    first.start()
    Operation(member).start(expect=409)
    first.checkpoint(untyped(1))
    first.complete()
    assert run(member, 1).version == 2


def test_preview_runs_while_an_update_runs(member):
    Operation(member).start()
    assert Operation(member, dry_run=True).start().status_code == 200


def test_next_update_starts_once_the_first_completed(member):
    run(member, 1)
    assert Operation(member).start().get_json()["version"] == 2


def test_database_refuses_two_running_real_updates(member, db):
    first, second = Operation(member), Operation(member)
    first.start()
    with pytest.raises(Exception, match="updates_one_running_per_stack"):
        with db, db.cursor() as cur:
            cur.execute("UPDATE updates SET status = 'running', version = 9 WHERE id = %s",
                        (second.id,))


def test_update_whose_lease_expired_long_ago_is_abandoned_by_the_next(member, db):
    stale = Operation(member)
    stale.start()
    expire_lease(db, stale.id, 3600)
    fresh = Operation(member)
    assert fresh.start().get_json()["version"] == 2
    history = member.get(f"{STACK}/updates").get_json()["updates"]
    assert [(u["version"], u["result"]) for u in history] == [(2, "in-progress"), (1, "failed")]


def test_an_abandoned_update_is_in_the_audit_log_by_the_service(member, db):
    stale = Operation(member)
    stale.start()
    expire_lease(db, stale.id, 3600)
    Operation(member).start()
    with db, db.cursor() as cur:
        cur.execute("SELECT event, actor_login, actor_name, target, description FROM audit_log "
                    "WHERE event LIKE 'update.%' ORDER BY seq")
        rows = [tuple(r.values()) for r in cur.fetchall()]
    ref = STACK.removeprefix("/api/stacks/")
    assert rows[1:] == [
        ("update.abandoned", "", "pulumi-service (an expired update lease)", ref,
         f"the update of stack {ref} (version 1) ended as failed: its lease had expired"),
        ("update.started", "mona", "", ref, rows[2][4])]


def test_abandoned_update_keeps_its_state_and_resource_count_in_history(member, db):
    stale = Operation(member)
    stale.start()
    stale.checkpoint(untyped(2))
    expire_lease(db, stale.id, 3600)
    Operation(member).start()
    [abandoned] = [u for u in member.get(f"{STACK}/updates").get_json()["updates"]
                   if u["version"] == 1]
    assert (abandoned["result"], abandoned["resourceCount"]) == ("failed", 2)
    assert abandoned["endTime"] > 0


def test_update_whose_lease_expired_recently_still_blocks(member, db):
    stale = Operation(member)
    stale.start()
    expire_lease(db, stale.id, 10)
    Operation(member).start(expect=409)


def test_stack_shows_the_running_update(member):
    op = Operation(member)
    op.start()
    stack = member.get(STACK).get_json()
    assert stack["activeUpdate"] == op.id
    assert stack["currentOperation"]["kind"] == "update"
    assert stack["currentOperation"]["author"] == "mona"
    assert stack["currentOperation"]["started"] > 0


@pytest.mark.parametrize("recorded", ["none", "an earlier update"])
def test_stack_shows_the_running_update_whatever_the_stack_row_records(member, db, recorded):
    earlier = run(member, 1).id
    op = Operation(member)
    op.start()
    with db, db.cursor() as cur:
        cur.execute("UPDATE stacks SET active_update_id = %s",
                    (None if recorded == "none" else earlier,))
    assert member.get(STACK).get_json()["activeUpdate"] == op.id


def test_stack_keeps_the_last_update_but_no_operation_once_done(member):
    op = run(member, 1)
    stack = member.get(STACK).get_json()
    assert stack["activeUpdate"] == op.id
    assert "currentOperation" not in stack


def test_previews_are_not_the_active_update(member):
    Operation(member, dry_run=True).start()
    stack = member.get(STACK).get_json()
    assert stack["activeUpdate"] == ""
    assert "currentOperation" not in stack


# --- the lease ----------------------------------------------------------------------------------

def test_renew_lease_returns_a_token_and_a_later_expiry(member):
    op = Operation(member)
    first = op.start().get_json()["tokenExpiration"]
    response = op.renew()
    assert response.status_code == 200
    assert response.get_json()["token"] == op.token
    assert response.get_json()["tokenExpiration"] >= first


def test_renew_lease_again_with_the_same_token_works(member):
    op = Operation(member)
    op.start()
    assert op.renew().status_code == 200
    assert op.renew().status_code == 200


def test_renew_lease_after_complete_is_403(member):
    op = run(member, 1)
    assert op.renew().status_code == 403


def test_renew_lease_after_cancel_is_403(member):
    op = Operation(member)
    op.start()
    op.cancel()
    assert op.renew().status_code == 403


def test_renew_lease_after_expiry_is_403(member, db):
    op = Operation(member)
    op.start()
    expire_lease(db, op.id, 1)
    assert op.renew().status_code == 403


def test_lease_renewal_is_capped_at_the_lease_length(member, app):
    op = Operation(member)
    op.start()
    expiry = op.renew(duration=10 ** 6).get_json()["tokenExpiration"]
    assert expiry <= op.renew(duration=app.config["LEASE_SECONDS"]).get_json()["tokenExpiration"]


def test_lease_call_with_an_unknown_token_is_401(member):
    op = Operation(member)
    op.start()
    assert op.renew(token="pul-unknown").status_code == 401


def test_lease_call_with_the_api_token_is_401(member):
    op = Operation(member)
    op.start()
    response = member.post(op.path + "/renew_lease", body={"token": "", "duration": 300})
    assert response.status_code == 401


def test_lease_token_of_another_update_is_403(member):
    preview = Operation(member, dry_run=True)
    preview.start()
    op = Operation(member)
    op.start()
    assert op.renew(token=preview.token).status_code == 403


def test_lease_tokens_are_stored_only_as_hashes(member, db):
    op = Operation(member)
    op.start()
    with db.cursor() as cur:
        cur.execute("SELECT lease_token_hash FROM updates WHERE id = %s", (op.id,))
        stored = bytes(cur.fetchone()["lease_token_hash"])
    assert op.token.encode() not in stored
    assert len(stored) == 32


# --- complete and cancel ------------------------------------------------------------------------

def test_complete_marks_the_update_succeeded(member):
    op = run(member, 1)
    assert member.get(op.path).get_json()["status"] == "succeeded"


def test_complete_retried_after_it_happened_succeeds(member):
    op = run(member, 1)
    assert op.complete().status_code == 204


def test_complete_with_another_status_after_it_happened_is_409(member):
    op = run(member, 1)
    assert op.complete("failed").status_code == 409


def test_complete_with_an_unknown_status_is_400(member):
    op = Operation(member)
    op.start()
    assert op.complete("done").status_code == 400


def test_failed_update_is_recorded_as_failed(member):
    op = run(member, 1, status="failed")
    assert member.get(op.path).get_json()["status"] == "failed"
    assert member.get(f"{STACK}/updates/latest").get_json()["info"]["result"] == "failed"


def test_cancel_stops_the_running_update(member):
    op = Operation(member)
    op.start()
    assert op.cancel().status_code == 204
    assert member.get(op.path).get_json()["status"] == "cancelled"
    assert "currentOperation" not in member.get(STACK).get_json()


def test_cancel_lets_the_next_update_start(member):
    op = Operation(member)
    op.start()
    op.cancel()
    assert Operation(member).start().get_json()["version"] == 2


def test_cancel_retried_succeeds(member):
    op = Operation(member)
    op.start()
    op.cancel()
    assert op.cancel().status_code == 204


def test_cancel_of_a_finished_update_is_409(member):
    op = run(member, 1)
    assert op.cancel().status_code == 409


def test_cancel_needs_the_member_role(acme, member):
    op = Operation(member)
    op.start()
    assert op.cancel(acme["viewer"]).status_code == 403
    assert op.cancel(acme["admin"]).status_code == 204


def test_lease_calls_of_a_cancelled_update_are_403(member):
    op = Operation(member)
    op.start()
    op.cancel()
    assert op.checkpoint(untyped(1)).status_code == 403
    assert op.complete("failed").status_code == 409


# --- status polling -----------------------------------------------------------------------------

def test_status_of_a_running_update_has_a_continuation_token(member):
    op = Operation(member)
    op.start()
    body = member.get(op.path).get_json()
    assert body["status"] == "running"
    assert body["continuationToken"]


def test_status_of_a_finished_update_has_no_continuation_token(member):
    op = run(member, 1)
    body = member.get(op.path + "?continuationToken=0").get_json()
    assert body == {"status": "succeeded", "events": []}


def test_status_of_a_created_update_is_not_started(member):
    op = Operation(member)
    assert member.get(op.path).get_json()["status"] == "not started"


def test_status_of_an_unknown_update_is_404(member):
    response = member.get(f"{STACK}/update/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


def test_viewer_can_poll_the_status(acme, member):
    op = Operation(member)
    assert acme["viewer"].get(op.path).status_code == 200
