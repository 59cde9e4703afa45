"""Deleted stacks: a deleted stack answers no stack route, list, page or lookup while its name is
free at once; an organization admin lists the deleted ones (GET /api/orgs/{org}/restore-stack)
and restores one (POST .../restore-stack/{programId}) with its history, state, secrets key, tags
and team grants; the worker's purge removes those past STACK_RETENTION_DAYS for good."""
import base64

import pytest

from app.worker import PURGE_STACKS_LOCK, Worker
from tests.support.api import assert_error
from tests.support.console import signed_in
from tests.support.rows import count
from tests.support.updates import STACK, Operation, make_stack, run

DELETED = "/api/orgs/acme/restore-stack"


def deleted(api, org="acme"):
    response = api.get(f"/api/orgs/{org}/restore-stack")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["deletedStacks"]


def restore(api, program_id, body=None, org="acme"):
    return api.post(f"/api/orgs/{org}/restore-stack/{program_id}", body=body)


def encrypt(api, text, path=STACK):
    response = api.post(path + "/encrypt", body={"plaintext": base64.b64encode(text.encode())
                                                 .decode()})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["ciphertext"]


def decrypt(api, ciphertext, path=STACK):
    response = api.post(path + "/decrypt", body={"ciphertext": ciphertext})
    assert response.status_code == 200, response.get_json()
    return base64.b64decode(response.get_json()["plaintext"]).decode()


def backdate(db, days):
    """Every deleted stack deleted `days` ago (the clock of the retention is the row's)."""
    with db, db.cursor() as cur:
        cur.execute("UPDATE stacks SET deleted_at = now() - make_interval(days => %s) "
                    "WHERE deleted_at IS NOT NULL", (days,))


@pytest.fixture
def deployed(acme):
    """acme/proj/dev with two versions (2 resources), tags, a secret and a team with write on it."""
    admin = acme["admin"]
    make_stack(admin, tags={"owner": "ops"})
    run(admin, 1)
    run(admin, 2)
    assert admin.post("/api/orgs/acme/teams/pulumi", body={"name": "writers"}).status_code == 201
    assert admin.patch("/api/console/stacks/acme/proj/dev/teams/writers",
                       body={"permissions": 102}).status_code == 204
    return {"ciphertext": encrypt(admin, "hunter2"), "export": admin.get(STACK + "/export"),
            "history": admin.get(STACK + "/updates").get_json()["updates"],
            "teams": admin.get(STACK + "/teams").get_json(), "tags": admin.get(STACK)
            .get_json()["tags"]}


def test_a_deleted_stack_answers_no_route_list_page_or_lookup(app, acme, deployed, db):
    admin, member = acme["admin"], acme["member"]
    assert admin.delete(STACK + "?force=true").status_code == 204

    for path in (STACK, STACK + "/export", STACK + "/updates", STACK + "/updates/latest",
                 STACK + "/teams", STACK + "/hooks", STACK + "/resources/latest"):
        assert_error(admin.get(path), 404)
    assert_error(admin.post(STACK + "/decrypt", body={"ciphertext": deployed["ciphertext"]}), 404)
    assert_error(admin.post(STACK + "/update", body={}), 404)
    assert admin.head("/api/stacks/acme/proj").status_code == 404  # the project had one stack
    assert admin.get("/api/user/stacks").get_json()["stacks"] == []
    assert admin.get("/api/orgs/acme/metadata").get_json()["stackCount"] == 0
    assert admin.get("/api/orgs/acme/teams/writers").get_json()["stacks"] == []
    assert signed_in(app, member.token).get("/acme/proj/dev").status_code == 404
    # Kept whole for its restore.
    assert count(db, "SELECT count(*) FROM updates") == 2
    assert count(db, "SELECT count(*) FROM stack_secret_keys") == 1


def test_a_former_name_of_a_deleted_stack_leads_nowhere(acme, deployed):
    admin = acme["admin"]
    assert admin.post(STACK + "/rename", body={"newName": "prod", "newProject": ""}).status_code == 204
    assert decrypt(admin, deployed["ciphertext"]) == "hunter2"  # through the former name
    assert admin.delete("/api/stacks/acme/proj/prod?force=true").status_code == 204
    assert_error(admin.post(STACK + "/decrypt", body={"ciphertext": deployed["ciphertext"]}), 404)


def test_a_preview_running_on_a_deleted_stack_loses_its_lease(acme):
    member = acme["member"]
    make_stack(member)
    preview = Operation(member, dry_run=True)
    preview.start()
    assert acme["admin"].delete(STACK).status_code == 204
    assert preview.renew().status_code in (401, 404)
    assert preview.complete().status_code in (401, 404)


def test_the_list_shows_what_pulumis_deleted_stack_has(acme, deployed):
    admin = acme["admin"]
    assert admin.delete(STACK + "?force=true").status_code == 204
    (found,) = deleted(admin)
    assert found["id"] == found["programId"] and found["id"].isdigit()
    assert (found["projectName"], found["stackName"], found["version"]) == ("proj", "dev", 2)
    assert isinstance(found["deletedAt"], int) and found["deletedAt"] > 0
    last = found["lastUpdate"]
    assert (last["result"], last["resourceCount"]) == ("succeeded", 2)
    assert last["startTime"] > 0 and last["endTime"] >= last["startTime"]


def test_a_stack_never_updated_lists_a_not_started_last_update(acme):
    make_stack(acme["admin"])
    assert acme["admin"].delete(STACK).status_code == 204
    (found,) = deleted(acme["admin"])
    assert found["lastUpdate"] == {"result": "not-started", "startTime": 0, "endTime": 0,
                                   "resourceCount": 0}


def test_only_admins_of_the_organization_list_and_restore(acme, deployed, people):
    assert acme["admin"].delete(STACK + "?force=true").status_code == 204
    program_id = deleted(acme["admin"])[0]["programId"]
    for role in ("viewer", "member"):
        assert_error(acme[role].get(DELETED), 403)
        assert_error(restore(acme[role], program_id), 403)
    assert_error(acme["outsider"].get(DELETED), 404)
    assert_error(restore(acme["outsider"], program_id), 404)
    # An admin elsewhere finds no deleted stack of acme through their own organization.
    assert deleted(acme["outsider"], org="globex") == []
    assert_error(restore(acme["outsider"], program_id, org="globex"), 404)
    assert deleted(acme["admin"])[0]["programId"] == program_id  # nothing was restored


def test_the_name_is_free_at_once_and_a_taken_name_refuses_the_restore(acme, deployed):
    admin = acme["admin"]
    assert admin.delete(STACK + "?force=true").status_code == 204
    program_id = deleted(admin)[0]["programId"]
    make_stack(admin)  # a new, empty stack of the same name
    assert admin.get(STACK).get_json()["version"] == 0
    assert admin.get(STACK + "/updates").get_json()["updates"] == []

    body = assert_error(restore(admin, program_id), 409)
    assert "acme/proj/dev" in body["message"] and "stackName" in body["message"]
    assert_error(restore(admin, program_id, {"stackName": "dev"}), 409)
    assert [s["programId"] for s in deleted(admin)] == [program_id]


def test_restore_brings_back_history_state_secrets_tags_and_grants(acme, deployed, db):
    admin, member = acme["admin"], acme["member"]
    assert admin.delete(STACK + "?force=true").status_code == 204
    program_id = deleted(admin)[0]["programId"]
    make_stack(admin)
    assert admin.delete(STACK).status_code == 204  # the new one goes too (listed first)
    assert [s["programId"] for s in deleted(admin)][1] == program_id

    restored = restore(admin, program_id, {"stackName": "dev"})
    assert restored.status_code == 200, restored.get_json()
    assert restored.get_json()["stackName"] == "dev"
    assert admin.get(STACK + "/updates").get_json()["updates"] == deployed["history"]
    export = admin.get(STACK + "/export")
    assert export.get_data() == deployed["export"].get_data()
    assert decrypt(member, deployed["ciphertext"]) == "hunter2"
    assert admin.get(STACK).get_json()["tags"] == deployed["tags"]
    assert admin.get(STACK + "/teams").get_json() == deployed["teams"]
    assert [s["stackName"] for s in admin.get("/api/user/stacks").get_json()["stacks"]] == ["dev"]
    assert len(deleted(admin)) == 1  # the other one is still deleted
    # The next update goes on from the restored version.
    assert run(member, 3).version == 3
    with db, db.cursor() as cur:
        cur.execute("SELECT event, actor_login, target, description FROM audit_log "
                    "WHERE event = 'stack.restored'")
        assert [tuple(r.values()) for r in cur.fetchall()] == [
            ("stack.restored", "adam", "acme/proj/dev", "restored deleted stack acme/proj/dev")]


def test_restore_under_a_new_name_records_a_rename(acme, deployed):
    admin = acme["admin"]
    assert admin.delete(STACK + "?force=true").status_code == 204
    make_stack(admin)
    program_id = deleted(admin)[0]["programId"]

    restored = restore(admin, program_id, {"stackName": "dev-restored"})
    assert restored.status_code == 200, restored.get_json()
    path = "/api/stacks/acme/proj/dev-restored"
    history = admin.get(path + "/updates").get_json()["updates"]
    assert [u["kind"] for u in history] == ["rename", "update", "update"]
    state = admin.get(path + "/export").get_json()["deployment"]
    assert [r["urn"].split("::")[0] for r in state["resources"]] == ["urn:pulumi:dev-restored"] * 2
    assert decrypt(admin, deployed["ciphertext"], path) == "hunter2"
    assert admin.get(STACK).get_json()["version"] == 0  # the other dev is untouched


@pytest.mark.parametrize("program_id, body, status", [
    ("999999", None, 404), ("abc", None, 404), ("1" * 40, None, 404),
    ("{id}", {"stackName": "no/slashes"}, 400), ("{id}", {"stackName": ""}, 400),
])
def test_bad_restores_are_refused_with_json_errors(acme, program_id, body, status):
    admin = acme["admin"]
    make_stack(admin)
    assert admin.delete(STACK).status_code == 204
    real = deleted(admin)[0]["programId"]
    assert_error(restore(admin, program_id.format(id=real), body), status)
    assert deleted(admin)[0]["programId"] == real


def test_a_stack_is_restored_once(acme):
    admin = acme["admin"]
    make_stack(admin)
    assert admin.delete(STACK).status_code == 204
    program_id = deleted(admin)[0]["programId"]
    assert restore(admin, program_id).status_code == 200
    assert_error(restore(admin, program_id), 404)
    assert deleted(admin) == []


def test_the_purge_removes_stacks_past_their_retention_with_their_rows(app, acme, deployed, db):
    admin = acme["admin"]
    assert admin.delete(STACK + "?force=true").status_code == 204
    old = deleted(admin)[0]["programId"]
    backdate(db, 31)
    make_stack(admin, name="recent")
    assert admin.delete("/api/stacks/acme/proj/recent").status_code == 204

    # Past the retention it is neither listed nor restorable, even before the purge runs.
    assert [s["stackName"] for s in deleted(admin)] == ["recent"]
    assert_error(restore(admin, old), 404)

    assert Worker(app).purge_deleted_stacks() == 1
    assert count(db, "SELECT count(*) FROM stacks WHERE id = %s", int(old)) == 0
    for table in ("updates", "checkpoints", "stack_secret_keys", "team_stack_permissions"):
        assert count(db, f"SELECT count(*) FROM {table}") == 0, table
    assert [s["stackName"] for s in deleted(admin)] == ["recent"]
    with db, db.cursor() as cur:
        cur.execute("SELECT actor_name, target FROM audit_log WHERE event = 'stack.purged'")
        assert [tuple(r.values()) for r in cur.fetchall()] == [
            ("pulumi-service worker", "acme/proj/dev")]
    assert Worker(app).purge_deleted_stacks() == 0


def test_the_purge_waits_for_no_other_worker(app, acme, db):
    """One worker at a time: while another holds the job's lock, a purge does nothing."""
    make_stack(acme["admin"])
    assert acme["admin"].delete(STACK).status_code == 204
    backdate(db, 31)
    with db, db.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (PURGE_STACKS_LOCK,))
        assert Worker(app).purge_deleted_stacks() == 0
    assert Worker(app).purge_deleted_stacks() == 1
