"""Journaled updates (PATCH .../journalentries) and delta checkpoints (checkpointverbatim and
checkpointdelta), driven the way the CLI drives them."""
import hashlib
import json
import threading
import time

import pytest

from app.state.journal import BEGIN, SUCCESS
from tests.support.api import Api
from tests.support.deployments import text_edit, untyped
from tests.support.updates import STACK, Operation, export_json, make_stack, run

ROOT = "urn:pulumi:dev::proj::pulumi:pulumi:Stack::proj-dev"


@pytest.fixture
def member(acme):
    make_stack(acme["member"])
    return acme["member"]


def resource(name, **fields):
    return {"urn": f"urn:pulumi:dev::proj::pulumi:index:Stash::{name}", "custom": True,
            "type": "pulumi:index:Stash", "parent": ROOT, **fields}


def entry(kind, op, seq, **fields):
    return {"version": 1, "kind": kind, "sequenceID": seq, "operationID": op,
            "removeOld": None, "removeNew": None, **fields}


def journaled(api, **meta):
    op = Operation(api, **meta)
    response = api.post(op.path, body={"journalVersion": 2})
    assert response.get_json()["journalVersion"] == 1
    op.token, op.version = response.get_json()["token"], response.get_json()["version"]
    return op


def send(op, *entries):
    return op.lease_call("PATCH", "/journalentries", {"entries": list(entries)})


def names(untyped_deployment):
    return [r["urn"].rsplit("::", 1)[1]
            for r in untyped_deployment["deployment"].get("resources", [])]


def test_journaled_update_ends_with_the_replayed_state(member):
    run(member, 2)  # version 1: the root and thing1
    op = journaled(member)
    assert send(op, entry(BEGIN, 1, 1, operation={"resource": resource("a"), "type": "creating"}),
                entry(SUCCESS, 1, 2, state=resource("a", outputs={"v": 1}))).status_code == 204
    assert op.complete().status_code == 204
    state = export_json(member, f"{STACK}/export")
    assert names(state) == ["a", "proj-dev", "thing1"]
    assert export_json(member, f"{STACK}/export/2") == state
    assert member.get(STACK).get_json()["resourceCount"] == 3


def test_state_of_a_running_journaled_update_is_read_through_its_journal(member):
    op = journaled(member)
    send(op, entry(BEGIN, 1, 1, operation={"resource": resource("a"), "type": "creating"}))
    pending = export_json(member, f"{STACK}/export")["deployment"]["pending_operations"]
    assert [p["resource"]["urn"] for p in pending] == [resource("a")["urn"]]
    send(op, entry(SUCCESS, 1, 2, state=resource("a")))
    assert names(export_json(member, f"{STACK}/export")) == ["a"]


def test_retried_and_out_of_order_batches_are_applied_once_in_sequence_order(member):
    op = journaled(member)
    second = [entry(SUCCESS, 2, 3, state=resource("b")), entry(SUCCESS, 3, 4, removeNew=1)]
    first = [entry(SUCCESS, 1, 1, state=resource("a"))]
    for batch in (second, first, second, first):
        assert send(op, *batch).status_code == 204
    op.complete()
    assert names(export_json(member, f"{STACK}/export")) == ["b"]


def test_cancelled_journaled_update_keeps_its_pending_operations(member, acme):
    op = journaled(member)
    send(op, entry(SUCCESS, 1, 1, state=resource("done")),
         entry(BEGIN, 2, 2, operation={"resource": resource("half"), "type": "creating"}))
    assert op.cancel(acme["member"]).status_code == 204
    state = export_json(member, f"{STACK}/export/1")["deployment"]
    assert [r["urn"] for r in state["resources"]] == [resource("done")["urn"]]
    assert state["pending_operations"][0]["type"] == "creating"


def test_a_batch_still_on_its_way_when_the_update_is_cancelled_is_refused_not_lost(
        member, app, db):
    """A batch that passed the lease check and reaches the database only once a cancel (or an
    abandon) has ended the update and stored its version's state is refused, as a checkpoint
    would be: a batch the service acknowledges is always in the state."""
    op = journaled(member)
    send(op, entry(SUCCESS, 1, 1, state=resource("a")))
    late = {}
    with db.cursor() as cur:
        # The batch's insert waits behind this lock until the cancel is over.
        cur.execute("LOCK TABLE journal_entries IN SHARE MODE")
        sender = Api(app.test_client(), member.token)
        thread = threading.Thread(target=lambda: late.update(response=op.lease_call(
            "PATCH", "/journalentries", {"entries": [entry(SUCCESS, 2, 2, state=resource("b"))]})))
        thread.start()
        deadline = time.monotonic() + 30
        while not waiting_journal_inserts(cur):
            assert time.monotonic() < deadline and thread.is_alive(), late
            time.sleep(0.01)
        assert op.cancel(sender).status_code == 204
        db.commit()
    thread.join()
    assert late["response"].status_code == 403, late["response"].get_json()
    assert names(export_json(member, f"{STACK}/export/1")) == ["a"]


def waiting_journal_inserts(cur):
    cur.execute("SELECT count(*) AS n FROM pg_locks"
                " WHERE relation = 'journal_entries'::regclass AND NOT granted")
    return cur.fetchone()["n"]


def test_batches_over_the_limit_get_413(member, app, monkeypatch):
    monkeypatch.setitem(app.config, "JOURNAL_MAX_BATCH_ENTRIES", 2)
    op = journaled(member)
    too_many = [entry(SUCCESS, i, i, state=resource(f"r{i}")) for i in range(1, 4)]
    assert send(op, *too_many).status_code == 413
    assert send(op, *too_many[:2]).status_code == 204


def test_entries_of_an_unknown_kind_or_version_are_refused(member):
    op = journaled(member)
    assert send(op, entry(42, 1, 1)).status_code == 400
    assert send(op, dict(entry(SUCCESS, 1, 1), version=2)).status_code == 400
    assert send(op, {"kind": 1}).status_code == 400


def test_journal_entries_for_an_update_that_does_not_journal_are_refused(member):
    op = Operation(member)
    op.start()
    assert send(op, entry(SUCCESS, 1, 1, state=resource("a"))).status_code == 400


def test_journaling_can_be_turned_off(member, app, monkeypatch):
    monkeypatch.setitem(app.config, "JOURNALING_ENABLED", False)
    op = Operation(member)
    response = member.post(op.path, body={"journalVersion": 2})
    assert "journalVersion" not in response.get_json()


# --- delta checkpoints ------------------------------------------------------------------------------

def text_of(untyped_deployment):
    return json.dumps(untyped_deployment, separators=(",", ":")).encode()


def verbatim(op, text, sequence):
    body = (b'{"version":3,"untypedDeployment":' + text + b',"sequenceNumber":'
            + str(sequence).encode() + b"}")
    return op.lease_call("PATCH", "/checkpointverbatim", data=body)


def delta(op, old, new, sequence):
    """A delta the way the CLI makes one: one edit replacing the differing middle."""
    edit = text_edit(old, new)
    return op.lease_call("PATCH", "/checkpointdelta", {
        "version": 3, "checkpointHash": hashlib.sha256(new).hexdigest(),
        "sequenceNumber": sequence, "deploymentDelta": [edit]})


def test_verbatim_text_is_kept_byte_for_byte(member):
    op = Operation(member)
    op.start()
    text = b'{"version":3,"deployment":{"manifest":{"time":"t","magic":"","version":""},' \
           b'"resources":[{"urn":"u","type":"t\\u003c"}]}}'
    assert verbatim(op, text, 1).status_code == 204
    assert member.get(f"{STACK}/export").get_data() == text


def test_deltas_apply_in_sequence_and_retries_are_not_applied_twice(member):
    op = Operation(member)
    op.start()
    one, two, three = (text_of(untyped(n)) for n in (1, 2, 3))
    assert verbatim(op, one, 1).status_code == 204
    assert delta(op, one, two, 2).status_code == 204
    assert delta(op, one, two, 2).status_code == 204  # a retry: acknowledged, not applied
    assert member.get(f"{STACK}/export").get_data() == two
    assert delta(op, two, three, 3).status_code == 204
    op.complete()
    assert export_json(member, f"{STACK}/export/1") == untyped(3)
    assert member.get(STACK).get_json()["resourceCount"] == 3


def test_a_delta_after_a_gap_or_with_a_wrong_hash_is_refused(member):
    op = Operation(member)
    op.start()
    one, two = text_of(untyped(1)), text_of(untyped(2))
    verbatim(op, one, 1)
    assert delta(op, one, two, 3).status_code == 409
    bad = delta(op, one + b" ", two, 2)  # computed against other text: the hash differs
    assert bad.status_code == 400
    assert member.get(f"{STACK}/export").get_data() == one
    # The CLI's fallback: the whole text verbatim, with the same sequence number.
    assert verbatim(op, two, 2).status_code == 204
    assert member.get(f"{STACK}/export").get_data() == two


def test_more_than_nine_pending_operations_are_kept_where_the_cli_reads_them(member, acme):
    op = Operation(member)
    op.start()
    state = untyped(1)
    ops = [{"resource": resource(f"p{i}"), "type": "creating"} for i in range(12)]
    # The CLI's verbatim serializer writes them under this key when there are more than nine.
    state["deployment"]["pendingOperations"] = ops
    verbatim(op, text_of(state), 1)
    op.cancel(acme["member"])
    kept = export_json(member, f"{STACK}/export/1")["deployment"]
    assert kept["pending_operations"] == ops and "pendingOperations" not in kept


def test_delta_capability_is_advertised_and_can_be_turned_off(member, app, monkeypatch):
    names_of = lambda: {c["capability"] for c in member.get("/api/capabilities")
                        .get_json()["capabilities"]}
    assert "delta-checkpoint-uploads-v2" in names_of()
    monkeypatch.setitem(app.config, "DELTA_CHECKPOINTS_ENABLED", False)
    assert "delta-checkpoint-uploads-v2" not in names_of()


def step_event(sequence, payload, op, name):
    urn = resource(name)["urn"]
    state = {"type": "pulumi:index:Stash", "urn": urn, "custom": True, "parent": ROOT,
             "inputs": {"input": "[secret]"}, "outputs": {}}
    return {"sequence": sequence, "timestamp": 1, payload: {"metadata": {
        "op": op, "urn": urn, "type": "pulumi:index:Stash", "old": state if op == "delete" else None,
        "new": None if op == "delete" else state, "provider": ""}}}


def test_nine_or_fewer_pending_operations_dropped_by_the_cli_are_recovered(member, acme):
    op = Operation(member)
    op.start()
    verbatim(op, text_of(untyped(1)), 1)  # the serializer wrote no pending operations
    op.events(step_event(0, "resourcePreEvent", "create", "done"),
              step_event(1, "resOutputsEvent", "create", "done"),
              step_event(2, "resourcePreEvent", "create", "half"),
              step_event(3, "resourcePreEvent", "delete", "going"),
              step_event(4, "resourcePreEvent", "update", "failing"),
              step_event(5, "resOpFailedEvent", "update", "failing"))
    op.cancel(acme["member"])
    pending = export_json(member, f"{STACK}/export/1")["deployment"]["pending_operations"]
    assert [(p["type"], p["resource"]["urn"].rsplit("::", 1)[1]) for p in pending] == [
        ("creating", "half"), ("deleting", "going")]
    assert all("inputs" not in p["resource"] for p in pending)  # events mask secrets


def test_a_completed_delta_update_gets_no_invented_pending_operations(member):
    op = Operation(member)
    op.start()
    verbatim(op, text_of(untyped(1)), 1)
    op.events(step_event(0, "resourcePreEvent", "create", "a"),
              step_event(1, "resOutputsEvent", "create", "a"))
    op.complete()
    assert "pending_operations" not in export_json(member, f"{STACK}/export/1")["deployment"]


# --- delta saves cost what they change ----------------------------------------------------------

def delta_rows(db, op):
    with db.cursor() as cur:
        cur.execute("SELECT u.checkpoint_sequence, u.checkpoint_base_sequence,"
                    " (SELECT count(*) FROM checkpoint_deltas d WHERE d.update_id = u.id) AS n,"
                    " (SELECT c.sha256 FROM checkpoints c WHERE c.update_id = u.id"
                    "   AND c.version = u.version) AS stored_sha"
                    " FROM updates u WHERE u.id = %s", (op.id,))
        row = cur.fetchone()
    db.rollback()
    return row


def texts(count):
    return [text_of(untyped(n)) for n in range(1, count + 1)]


def saved_in_steps(api, count):
    """An update that saved `count` texts: the first verbatim, each next one as a delta."""
    op = Operation(api)
    op.start()
    steps = texts(count)
    verbatim(op, steps[0], 1)
    for sequence, (old, new) in enumerate(zip(steps, steps[1:]), start=2):
        assert delta(op, old, new, sequence).status_code == 204
    return op, steps


def forget_worker_texts(op):
    """As if the next save reached another worker (or one restarted)."""
    from app import checkpoints
    checkpoints._TEXTS.forget(op.id)


def test_a_delta_is_appended_and_the_stored_text_stays_until_compaction(member, db):
    op, steps = saved_in_steps(member, 4)
    row = delta_rows(db, op)
    assert (row["checkpoint_sequence"], row["checkpoint_base_sequence"], row["n"]) == (4, 1, 3)
    assert row["stored_sha"] == hashlib.sha256(steps[0]).hexdigest()
    # Readers see the current text all the same.
    assert member.get(f"{STACK}/export").get_data() == steps[-1]
    outputs = member.get(f"{STACK}/outputs").get_json()
    assert outputs["outputs"] == {"answer": 42}


def test_every_compact_every_deltas_the_text_is_stored_whole(database_url, people, db):
    from app import create_app
    from tests.support.api import Api
    from tests.support.apps import make_config

    app = create_app(make_config(database_url, AUTO_MIGRATE=False, CHECKPOINT_COMPACT_EVERY=3))
    people.user("cora", {"acme": "member"})
    api = Api(app.test_client(), people.tokens["cora"])
    make_stack(api)
    op, steps = saved_in_steps(api, 5)
    row = delta_rows(db, op)
    # Sequence 4 was the third delta after the verbatim save at 1: stored whole, deltas dropped.
    assert (row["checkpoint_sequence"], row["checkpoint_base_sequence"], row["n"]) == (5, 4, 1)
    assert row["stored_sha"] == hashlib.sha256(steps[3]).hexdigest()
    assert api.get(f"{STACK}/export").get_data() == steps[-1]


def test_a_worker_without_the_text_rebuilds_it_from_the_stored_text_and_deltas(member, db):
    op = Operation(member)
    op.start()
    steps = texts(4)
    verbatim(op, steps[0], 1)
    delta(op, steps[0], steps[1], 2)
    forget_worker_texts(op)
    assert delta(op, steps[1], steps[2], 3).status_code == 204
    forget_worker_texts(op)
    assert delta(op, steps[2], steps[3], 4).status_code == 204
    assert delta(op, steps[0], steps[1], 5).status_code == 400  # against a stale text: refused
    assert member.get(f"{STACK}/export").get_data() == steps[3]


@pytest.mark.parametrize("end", ["complete", "cancel"])
def test_an_update_ending_with_deltas_pending_stores_its_last_text(member, acme, db, end):
    op = Operation(member)
    op.start()
    steps = texts(3)
    verbatim(op, steps[0], 1)
    delta(op, steps[0], steps[1], 2)
    delta(op, steps[1], steps[2], 3)
    response = op.complete() if end == "complete" else op.cancel(acme["member"])
    assert response.status_code == 204
    assert export_json(member, f"{STACK}/export/1") == untyped(3)
    assert member.get(STACK).get_json()["resourceCount"] == 3
    assert delta_rows(db, op)["n"] == 0


def test_a_delta_after_the_update_ended_is_refused_and_changes_nothing(member, acme):
    op = Operation(member)
    op.start()
    one, two = texts(2)
    verbatim(op, one, 1)
    op.complete()
    assert delta(op, one, two, 2).status_code == 403
    assert member.get(f"{STACK}/export").get_data() == one


def test_a_worker_with_an_earlier_text_catches_up_with_the_deltas_saved_elsewhere(member):
    from app import checkpoints
    from app.state.delta import EditableText

    op = Operation(member)
    op.start()
    steps = texts(4)
    verbatim(op, steps[0], 1)
    delta(op, steps[0], steps[1], 2)
    sequence, sha256, earlier = checkpoints._TEXTS.copy(op.id)
    assert (sequence, earlier) == (2, steps[1])
    delta(op, steps[1], steps[2], 3)
    # As if save 3 had reached the other worker: this one still holds the text of save 2.
    checkpoints._TEXTS.put(op.id, sequence, sha256, EditableText(earlier), limit=1 << 30)
    assert delta(op, steps[2], steps[3], 4).status_code == 204
    assert checkpoints._TEXTS.get(op.id)[0] == 4
    assert member.get(f"{STACK}/export").get_data() == steps[3]
