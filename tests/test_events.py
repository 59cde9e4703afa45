"""Engine events: batches stored once per sequence number whatever their order, read back in
order with continuation tokens."""
import pytest

from tests.support.deployments import event, summary
from tests.support.updates import STACK, Operation, make_stack


@pytest.fixture
def member(acme):
    make_stack(acme["member"])
    return acme["member"]


@pytest.fixture
def running(member):
    op = Operation(member)
    op.start()
    return op


def read_all(api, op, query=""):
    """Every page of events, and the token of the last page."""
    events, token = [], None
    path = f"{op.path}/events"
    for _ in range(100):
        sep = "&" if query else ""
        suffix = f"?{query}{sep}continuationToken={token}" if token is not None else (
            f"?{query}" if query else "")
        body = api.get(path + suffix).get_json()
        events += body["events"]
        if body["continuationToken"] is None or not body["events"]:
            return events, body["continuationToken"]
        token = body["continuationToken"]
    raise AssertionError("never ended")


def sequences(events):
    return [e["sequence"] for e in events]


def test_batch_is_stored_and_read_back(member, running):
    assert running.events(event(0), event(1)).status_code == 204
    running.complete()
    events, token = read_all(member, running)
    assert events == [event(0), event(1)]
    assert token is None


def test_batches_out_of_order_are_read_in_order(member, running):
    running.events(event(3), event(4))
    running.events(event(0), event(1), event(2))
    running.complete()
    assert sequences(read_all(member, running)[0]) == [0, 1, 2, 3, 4]


def test_repeated_batches_are_stored_once(member, running):
    running.events(event(0), event(1))
    running.events(event(0), event(1))
    running.events(event(1), event(2))
    running.complete()
    assert sequences(read_all(member, running)[0]) == [0, 1, 2]


def test_preview_events_are_stored(member):
    preview = Operation(member, dry_run=True)
    preview.start()
    assert preview.events(event(0)).status_code == 204


def test_events_of_a_running_update_keep_a_continuation_token(member, running):
    running.events(event(0))
    body = member.get(f"{running.path}/events").get_json()
    assert sequences(body["events"]) == [0]
    assert body["continuationToken"] == "0"
    again = member.get(f"{running.path}/events?continuationToken=0").get_json()
    assert again == {"events": [], "continuationToken": "0"}


def test_events_past_a_gap_wait_for_the_gap_while_running(member, running):
    running.events(event(0), event(2))
    body = member.get(f"{running.path}/events").get_json()
    assert sequences(body["events"]) == [0]
    running.events(event(1))
    body = member.get(f"{running.path}/events?continuationToken=0").get_json()
    assert sequences(body["events"]) == [1, 2]


def test_events_are_paged(member, running, app, monkeypatch):
    monkeypatch.setitem(app.config, "EVENTS_PAGE_SIZE", 2)
    running.events(*[event(i) for i in range(5)])
    running.complete()
    first = member.get(f"{running.path}/events").get_json()
    assert sequences(first["events"]) == [0, 1]
    assert sequences(read_all(member, running)[0]) == [0, 1, 2, 3, 4]


def test_token_is_null_once_all_events_of_a_finished_update_are_read(member, running):
    running.events(event(0))
    running.complete()
    body = member.get(f"{running.path}/events").get_json()
    assert body["continuationToken"] is None


def test_events_filtered_by_type(member, running):
    running.events(event(0), summary(1, create=1), event(2))
    running.complete()
    events, _ = read_all(member, running, "type=summaryEvent")
    assert sequences(events) == [1]


def test_events_filtered_by_urn(member, running):
    urn = "urn:pulumi:dev::proj::test:index:Thing::a"
    running.events(event(0), event(1, resourcePreEvent={"metadata": {"op": "create", "urn": urn}}))
    running.complete()
    events, _ = read_all(member, running, f"urn={urn}")
    assert sequences(events) == [1]


def test_bad_continuation_token_is_400(member, running):
    assert member.get(f"{running.path}/events?continuationToken=abc").status_code == 400


def test_event_without_a_sequence_is_400(running):
    response = running.lease_call("POST", "/events/batch", {"events": [{"timestamp": 1}]})
    assert response.status_code == 400


def test_gzip_batch_is_accepted(member, running):
    from tests.support.deployments import gzipped
    response = running.lease_call("POST", "/events/batch", data=gzipped({"events": [event(0)]}),
                                  headers={"Content-Encoding": "gzip"})
    assert response.status_code == 204


def test_events_after_complete_are_refused(running):
    running.complete()
    assert running.events(event(0)).status_code == 403


def test_summary_event_feeds_the_history(member, running):
    running.events(event(0), summary(1, create=2, same=1))
    running.complete()
    info = member.get(f"{STACK}/updates/latest").get_json()["info"]
    assert info["resourceChanges"] == {"create": 2, "same": 1}


def test_viewer_can_read_events(acme, member, running):
    assert acme["viewer"].get(f"{running.path}/events").status_code == 200


def test_event_text_jsonb_cannot_hold_is_stored_replaced(member, running):
    text = '{"events": [{"sequence": 0, "stdoutEvent": {"message": "a\\u0000b \\ud800c"}}]}'
    assert running.lease_call("POST", "/events/batch", data=text).status_code == 204
    running.complete()
    [stored] = read_all(member, running)[0]
    assert stored["stdoutEvent"]["message"] == "a\ufffdb \ufffdc"
