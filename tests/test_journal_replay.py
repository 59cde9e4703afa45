"""Journal replay against the reference algorithm's rules (the CLI's JournalReplayer)."""
import pytest

from app.state.journal import (BEGIN, FAILURE, OUTPUTS, REBUILT_BASE_STATE, REFRESH_SUCCESS,
                         SECRETS_MANAGER, SUCCESS, WRITE, JournalError, replay)

STACK = "urn:pulumi:dev::proj::"


def res(name, **fields):
    return {"urn": f"{STACK}pulumi:index:Stash::{name}", "custom": True, "type": "pulumi:index:Stash",
            **fields}


def entry(kind, op, seq, **fields):
    return {"version": 1, "kind": kind, "sequenceID": seq, "operationID": op,
            "removeOld": None, "removeNew": None, **fields}


def base(*resources, **deployment):
    return {"version": 3, "deployment": {"manifest": {"time": "t", "magic": "", "version": ""},
                                          "resources": list(resources), **deployment}}


def names(untyped):
    return [r["urn"].rsplit("::", 1)[1] for r in untyped["deployment"].get("resources", [])]


def test_creates_come_first_and_untouched_base_resources_follow():
    out = replay(base(res("a"), res("b")), [
        entry(BEGIN, 1, 1, operation={"resource": res("c"), "type": "creating"}),
        entry(SUCCESS, 1, 2, state=res("c")),
    ])
    assert names(out) == ["c", "a", "b"]
    assert "pending_operations" not in out["deployment"]


def test_update_replaces_the_base_resource_and_delete_removes_it():
    out = replay(base(res("a"), res("b")), [
        entry(BEGIN, 1, 1), entry(SUCCESS, 1, 2, state=res("a", outputs={"v": 2}), removeOld=0),
        entry(BEGIN, 2, 3), entry(SUCCESS, 2, 4, removeOld=1),
    ])
    assert names(out) == ["a"]
    assert out["deployment"]["resources"][0]["outputs"] == {"v": 2}


def test_unfinished_operations_become_pending_operations():
    pending = {"resource": res("c"), "type": "creating"}
    out = replay(base(res("a")), [entry(BEGIN, 1, 1, operation=pending)])
    assert out["deployment"]["pending_operations"] == [pending]
    failed = replay(base(res("a")), [entry(BEGIN, 1, 1, operation=pending),
                                      entry(FAILURE, 1, 2)])
    assert "pending_operations" not in failed["deployment"]


def test_base_pending_creates_are_carried_forward_and_others_dropped():
    creating = {"resource": res("x"), "type": "creating"}
    updating = {"resource": res("a"), "type": "updating"}
    out = replay(base(res("a"), pending_operations=[creating, updating]), [])
    assert out["deployment"]["pending_operations"] == [creating]


def test_replacement_marks_the_old_resource_for_deletion_then_removes_it():
    steps = [
        entry(BEGIN, 1, 1), entry(SUCCESS, 1, 2, state=res("a", id="new"), deleteOld=0),
    ]
    out = replay(base(res("a", id="old")), steps)
    assert [(r.get("id"), r.get("delete", False)) for r in out["deployment"]["resources"]] == [
        ("new", False), ("old", True)]
    steps += [entry(BEGIN, 2, 3), entry(SUCCESS, 2, 4, removeOld=0)]
    out = replay(base(res("a", id="old")), steps)
    assert [r.get("id") for r in out["deployment"]["resources"]] == ["new"]


def test_removing_a_new_resource_by_operation_id():
    out = replay(base(), [
        entry(SUCCESS, 1, 1, state=res("a")), entry(SUCCESS, 2, 2, state=res("b")),
        entry(SUCCESS, 3, 3, removeNew=1),
    ])
    assert names(out) == ["b"]


def test_outputs_entry_replaces_state_in_place():
    out = replay(base(res("a")), [
        entry(OUTPUTS, 1, 1, state=res("a", outputs={"x": 1}), removeOld=0),
    ])
    assert out["deployment"]["resources"][0]["outputs"] == {"x": 1}


def test_refresh_deletes_and_rebuilds_dependencies():
    a = res("a")
    b = res("b", dependencies=[a["urn"]], parent=a["urn"])
    out = replay(base(a, b), [entry(REFRESH_SUCCESS, 1, 1, removeOld=0)])
    assert names(out) == ["b"]
    only = out["deployment"]["resources"][0]
    assert only["dependencies"] == [] and "parent" not in only


def test_write_entry_replaces_the_base():
    new_base = {"manifest": {}, "resources": [res("z")]}
    out = replay(base(res("a")), [entry(WRITE, 0, 1, newSnapshot=new_base)])
    assert names(out) == ["z"]


def test_rebuilt_base_state_folds_the_journal_so_far():
    out = replay(base(res("a")), [
        entry(SUCCESS, 1, 1, state=res("b")),
        entry(REBUILT_BASE_STATE, 0, 2),
        entry(SUCCESS, 2, 3, removeOld=0),
    ])
    assert names(out) == ["a"]


def test_secrets_manager_entry_sets_the_provider():
    provider = {"type": "service", "state": {"owner": "o"}}
    out = replay(base(res("a")), [entry(SECRETS_MANAGER, 0, 1, secretsProvider=provider)])
    assert out["deployment"]["secrets_providers"] == provider


def test_aliases_are_resolved_and_dropped():
    old = f"{STACK}pulumi:index:Stash::old"
    new = res("new", aliases=[old])
    child = res("child", dependencies=[old])
    out = replay(base(), [entry(SUCCESS, 1, 1, state=new), entry(SUCCESS, 2, 2, state=child)])
    first, second = out["deployment"]["resources"]
    assert "aliases" not in first
    assert second["dependencies"] == [new["urn"]]


def test_features_make_a_version_4_deployment():
    out = replay(base(), [entry(SUCCESS, 1, 1, state=res("a", taint=True))])
    assert out["version"] == 4 and out["features"] == ["taint"]
    plain = replay(base(), [entry(SUCCESS, 1, 1, state=res("a"))])
    assert plain["version"] == 3 and "features" not in plain


def test_unknown_kinds_and_versions_are_refused():
    with pytest.raises(JournalError):
        replay(base(), [entry(99, 1, 1)])
    with pytest.raises(JournalError):
        replay(base(), [dict(entry(SUCCESS, 1, 1), version=7)])
