"""What stack operations do to deployed state: rename keeps it usable, delete refuses to drop
resources unless forced and takes updates, events and checkpoints with the stack."""
import pytest

from app import stacks
from tests.support.deployments import event, untyped
from tests.support.updates import STACK, Operation, export_json, make_stack, run

STILL_HAS_RESOURCES = "Bad Request: Stack still contains resources."


@pytest.fixture
def member(acme):
    make_stack(acme["member"])
    return acme["member"]


def test_rename_rewrites_the_urns_of_the_state(member):
    run(member, 3)
    member.post(f"{STACK}/rename", body={"newName": "prod", "newProject": "proj"})
    exported = export_json(member, "/api/stacks/acme/proj/prod/export")
    assert exported == untyped(3, stack="prod")


def test_rename_to_another_project_rewrites_the_project_too(member):
    run(member, 2)
    member.post(f"{STACK}/rename", body={"newName": "dev", "newProject": "other"})
    exported = export_json(member, "/api/stacks/acme/other/dev/export")
    assert exported == untyped(2, project="other")


def test_rename_rewrites_every_place_the_cli_keeps_a_urn(member):
    old = "urn:pulumi:dev::proj::"
    new = "urn:pulumi:prod::proj::"
    provider = old + "pulumi:providers:test::default"
    ref = {"4dabf18193072939515e22adb298388d": "5cf8f73096256a8f31e491e813e4eb8e",
           "urn": old + "test:index:Thing::a"}
    thing = {
        "urn": old + "pulumi:pulumi:Stack$test:index:Thing::b", "type": "test:index:Thing",
        "custom": True, "id": "b", "parent": old + "pulumi:pulumi:Stack::proj-dev",
        "provider": provider + "::1234", "dependencies": [old + "test:index:Thing::a"],
        "propertyDependencies": {"x": [old + "test:index:Thing::a"]},
        "aliases": [old + "test:index:Thing::old-b"], "deletedWith": old + "test:index:Thing::a",
        "inputs": {"ref": ref, "text": old + "test:index:Thing::a",
                   "elsewhere": "urn:pulumi:qa::proj::test:index:Thing::a"},
        "outputs": {"refs": [ref]},
    }
    member.post(f"{STACK}/import", body={"version": 3, "deployment": {"resources": [thing]}})
    member.post(f"{STACK}/rename", body={"newName": "prod", "newProject": "proj"})
    [renamed] = export_json(member, "/api/stacks/acme/proj/prod/export")["deployment"]["resources"]
    new_ref = {**ref, "urn": new + "test:index:Thing::a"}
    assert renamed == {
        **thing,
        "urn": new + "pulumi:pulumi:Stack$test:index:Thing::b",
        "parent": new + "pulumi:pulumi:Stack::proj-prod",
        "provider": new + "pulumi:providers:test::default::1234",
        "dependencies": [new + "test:index:Thing::a"],
        "propertyDependencies": {"x": [new + "test:index:Thing::a"]},
        "aliases": [new + "test:index:Thing::old-b"], "deletedWith": new + "test:index:Thing::a",
        # A plain string that looks like a URN is not a reference: the CLI leaves it, and so do we.
        "inputs": {**thing["inputs"], "ref": new_ref},
        "outputs": {"refs": [new_ref]},
    }


def test_renamed_stack_keeps_its_versions(member):
    run(member, 2)
    member.post(f"{STACK}/rename", body={"newName": "prod", "newProject": "proj"})
    assert export_json(member, "/api/stacks/acme/proj/prod/export/1") == untyped(2)
    assert member.get("/api/stacks/acme/proj/prod").get_json()["version"] == 2


def test_renamed_stack_can_be_updated(member):
    run(member, 2)
    member.post(f"{STACK}/rename", body={"newName": "prod", "newProject": "proj"})
    op = run(member, 2, stack="/api/stacks/acme/proj/prod")
    assert op.version == 3


def test_rename_while_an_update_runs_is_409(member):
    Operation(member).start()
    response = member.post(f"{STACK}/rename", body={"newName": "prod", "newProject": "proj"})
    assert response.status_code == 409


def test_delete_of_a_stack_with_resources_is_refused(acme, member):
    run(member, 2)
    response = acme["admin"].delete(f"{STACK}?force=false")
    assert response.status_code == 400
    assert response.get_json() == {"code": 400, "message": STILL_HAS_RESOURCES}


def test_delete_after_destroy_is_allowed(acme, member):
    run(member, 2)
    run(member, 0, kind="destroy")
    assert acme["admin"].delete(f"{STACK}?force=false").status_code == 204


def test_forced_delete_then_purge_takes_updates_events_and_checkpoints(acme, member, db):
    op = run(member, 2)
    assert acme["admin"].delete(f"{STACK}?force=true").status_code == 204
    assert member.get(STACK).status_code == 404
    # Kept, restorable, until the purge (tests/test_deleted_stacks.py).
    with db, db.cursor() as cur:
        cur.execute("UPDATE stacks SET deleted_at = now() - interval '31 days'")
    with db:
        assert len(stacks.purge_deleted(db, retention_days=30)) == 1
    with db.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM updates) AS updates, "
                    "(SELECT count(*) FROM engine_events) AS events, "
                    "(SELECT count(*) FROM checkpoints) AS checkpoints")
        assert cur.fetchone() == {"updates": 0, "events": 0, "checkpoints": 0}
    assert member.get(op.path).status_code == 404


def test_delete_while_an_update_runs_is_409(acme, member):
    op = Operation(member)
    op.start()
    op.events(event(0))
    assert acme["admin"].delete(f"{STACK}?force=true").status_code == 409


def test_recreated_stack_starts_from_nothing(acme, member):
    run(member, 2)
    acme["admin"].delete(f"{STACK}?force=true")
    make_stack(member)
    assert member.get(STACK).get_json()["version"] == 0
    assert member.get(f"{STACK}/updates").get_json() == {"updates": []}
