"""GET .../outputs (the `stack-outputs` capability): the stack resource's outputs and the secrets
provider of the current state, without the rest of it."""
import json

import pytest

from app.state.journal import BEGIN, SUCCESS
from app.state.outputs import stack_outputs, stack_outputs_of_stored, stack_outputs_of_text
from app.state.scan import BadBody
from app.state.stored import StoredDeployment
from tests.support.deployments import deployment, untyped
from tests.support.updates import STACK, Operation, make_stack, run

ROOT = "urn:pulumi:dev::proj::pulumi:pulumi:Stack::proj-dev"


@pytest.fixture
def member(acme):
    make_stack(acme["member"])
    return acme["member"]


def outputs_of(api, stack=STACK):
    response = api.get(f"{stack}/outputs")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_stack_without_state_has_no_outputs(member):
    assert outputs_of(member) == {}


def test_outputs_and_secrets_provider_of_the_current_state(member):
    run(member, 3)
    state = untyped(3)
    assert outputs_of(member) == {"outputs": {"answer": 42},
                                  "secretsProviders": state["deployment"]["secrets_providers"]}


def test_outputs_are_those_of_the_latest_version(member):
    run(member, 3)
    op = Operation(member)
    op.start()
    later = untyped(2)
    later["deployment"]["resources"][0]["outputs"] = {"answer": 43, "secret": {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "ciphertext": "c2VjcmV0"}}
    assert op.checkpoint(later).status_code == 204
    # The running update's checkpoint is the current state, as export has it; secrets as stored.
    assert outputs_of(member)["outputs"] == later["deployment"]["resources"][0]["outputs"]


def test_a_stack_resource_without_outputs_has_empty_outputs(member):
    op = Operation(member)
    op.start()
    state = untyped(2)
    del state["deployment"]["resources"][0]["outputs"]
    op.checkpoint(state)
    assert outputs_of(member)["outputs"] == {}


def test_outputs_of_a_running_journaled_update_are_replayed(member):
    op = Operation(member)
    started = member.post(op.path, body={"journalVersion": 2}).get_json()
    op.token = started["token"]
    root = {"urn": ROOT, "custom": False, "type": "pulumi:pulumi:Stack", "outputs": {"x": 1}}
    entries = [
        {"version": 1, "kind": BEGIN, "sequenceID": 1, "operationID": 1},
        {"version": 1, "kind": SUCCESS, "sequenceID": 2, "operationID": 1, "state": root},
    ]
    assert op.lease_call("PATCH", "/journalentries", {"entries": entries}).status_code == 204
    assert outputs_of(member)["outputs"] == {"x": 1}


def test_viewers_read_outputs_outsiders_see_no_stack(member, acme):
    run(member, 2)
    assert outputs_of(acme["viewer"])["outputs"] == {"answer": 42}
    assert acme["outsider"].get(f"{STACK}/outputs").status_code == 404
    assert member.get("/api/stacks/acme/proj/nope/outputs").status_code == 404


def test_the_reading_update_is_accepted(member):
    run(member, 2)
    response = member.get(f"{STACK}/outputs?readingUpdateID=abc")
    assert response.status_code == 200
    assert response.get_json()["outputs"] == {"answer": 42}


def test_capability_is_advertised_and_can_be_turned_off(member, app, monkeypatch):
    def advertised():
        return member.get("/api/capabilities").get_json()["capabilities"]

    # The CLI honours version 1 only.
    assert {"capability": "stack-outputs", "version": 1} in advertised()
    monkeypatch.setitem(app.config, "STACK_OUTPUTS_ENABLED", False)
    assert "stack-outputs" not in {c["capability"] for c in advertised()}


# --- reading the outputs from the stored text -----------------------------------------------------

TRICKY = {
    "version": 3,
    "deployment": {
        "manifest": {"time": "t", "magic": "", "version": "v"},
        "secrets_providers": {"type": "service", "state": {"stack": "dev"}},
        "resources": [
            # A component of the same type but with a parent is not the stack resource.
            {"urn": "urn:pulumi:dev::proj::x$pulumi:pulumi:Stack::inner", "custom": False,
             "type": "pulumi:pulumi:Stack", "parent": ROOT, "outputs": {"inner": True}},
            {"urn": ROOT, "custom": False, "type": "pulumi:pulumi:Stack", "outputs": {
                # Values that look like resources stay as they are.
                "look": {"type": "pulumi:pulumi:Stack", "urn": "u", "parent": ""},
                "list": [{"a": [1, {"b": None}]}, "é\u2603", 1.5e300, -0, True],
                "empty": {}, "nothing": [],
            }},
            {"urn": "urn:pulumi:dev::proj::a:b:C::z", "custom": True, "type": "a:b:C",
             "parent": ROOT, "outputs": {"pulumi:pulumi:Stack": 1}},
        ],
    },
}


# The secrets provider after the resources (the CLI writes it before): the walk cannot stop at
# the stack resource then.
PROVIDERS_LAST = {"version": 3, "deployment": {
    k: TRICKY["deployment"][k] for k in ("manifest", "resources", "secrets_providers")}}


@pytest.mark.parametrize("indent", [None, 4, "\t"])
@pytest.mark.parametrize("state", [TRICKY, PROVIDERS_LAST])
def test_outputs_of_the_text_equal_those_of_the_parsed_state(indent, state):
    text = json.dumps(state, indent=indent, ensure_ascii=indent is None).encode()
    assert stack_outputs_of_text(text) == stack_outputs(state)
    outputs, providers = stack_outputs(state)
    assert outputs == TRICKY["deployment"]["resources"][1]["outputs"]
    assert providers == TRICKY["deployment"]["secrets_providers"]


def test_the_walk_stops_at_the_stack_resource():
    """What follows the stack resource is not read (here it could not be parsed)."""
    text = json.dumps(TRICKY).encode()
    root = json.dumps(TRICKY["deployment"]["resources"][1]).encode()
    cut = text[:text.index(root) + len(root)] + b", {broken"
    assert stack_outputs_of_text(cut) == stack_outputs(TRICKY)


@pytest.mark.parametrize("state", [
    {"version": 3, "deployment": {"manifest": {}}},
    {"version": 3, "deployment": {"manifest": {}, "resources": None}},
    {"version": 3, "deployment": {"manifest": {}, "resources": []}},
    {"version": 3, "deployment": {"resources": [{"urn": "u", "type": "a:b:C"}]}},
    {"version": 3, "deployment": None},
    {"version": 3},
])
def test_states_without_a_stack_resource_have_no_outputs(state):
    text = json.dumps(state).encode()
    assert stack_outputs_of_text(text) == (None, None)
    assert stack_outputs_of_text(text) == stack_outputs(state)


def test_a_large_state_is_read(member):
    """Many resources, the stack resource last: the text is walked resource by resource."""
    state = deployment(20000)
    state["resources"].append(state["resources"].pop(0))
    text = json.dumps({"version": 3, "deployment": state}).encode()
    assert stack_outputs_of_text(text) == ({"answer": 42},
                                                       state["secrets_providers"])


def test_invalid_text_is_refused():
    for text in (b'{"deployment": {"resources": [1 2]}}', b'{"deployment": [', b"[]"):
        with pytest.raises(BadBody):
            stack_outputs_of_text(text)


@pytest.mark.parametrize("root_first", [True, False])
def test_stored_states_are_decompressed_only_as_far_as_needed(root_first):
    state = deployment(3000)
    if not root_first:
        state["resources"].append(state["resources"].pop(0))
    text = json.dumps({"version": 3, "deployment": state}, indent=2).encode()
    stored = StoredDeployment(text, 3000).row()["deployment_gz"]
    # A 64-byte head holds neither the stack resource nor the secrets provider: it grows until
    # they are in it (or, with the stack resource last, until the whole text is).
    for head in (64, 256 * 1024, len(text) * 2):
        assert stack_outputs_of_stored(stored, head) == (
            {"answer": 42}, state["secrets_providers"])


def test_a_stored_state_that_is_not_json_is_refused():
    for text in (b'{"deployment": {"resources": [1 2]}}' + b" " * 5000, b"x" * 5000):
        stored = StoredDeployment(text, 0).row()["deployment_gz"]
        with pytest.raises(BadBody):
            stack_outputs_of_stored(stored, 1024)
