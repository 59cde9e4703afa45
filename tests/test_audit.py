"""The audit log: each change through the API or the admin command leaves exactly its record, in
the change's own transaction; the organization's admins read it (list, CSV and CEF export, the
event types); each organization's records form a hash chain that `audit verify` walks, that
the database refuses to change, and that a prune cuts verifiably."""
import base64
import concurrent.futures
import csv
import io
import json
from datetime import datetime, timedelta, timezone

import psycopg2
import pytest
from click.testing import CliRunner

from app import audit
from app.cli import main as admin_command
from app.db import connect
from app.queries import queries

STACK = "/api/stacks/acme/proj/dev"
AUDIT = "/api/orgs/acme/auditlogs/v2"


# --- helpers --------------------------------------------------------------------------------------

def program(dry_run=False):
    """An UpdateProgramRequest as the CLI sends it."""
    return {"name": "proj", "runtime": "yaml", "main": "", "description": "",
            "options": {"dryRun": dry_run}, "config": {},
            "metadata": {"message": "", "environment": {}}}


def deployment(resources=0):
    urn = "urn:pulumi:dev::proj::pulumi:pulumi:Stack::proj-dev"
    return {"version": 3, "deployment": {
        "manifest": {"time": "2026-01-01T00:00:00Z", "magic": "", "version": ""},
        "resources": [{"urn": urn, "custom": False, "type": "pulumi:pulumi:Stack"}][:resources],
    }}


def start(api, kind="update", dry_run=False):
    """A created and started update: (its path, its lease token)."""
    created = api.post(f"{STACK}/{kind}", body=program(dry_run))
    assert created.status_code == 200, created.get_json()
    path = f"{STACK}/update/{created.get_json()['updateID']}"
    started = api.post(path, body={})
    assert started.status_code == 200, started.get_json()
    return path, started.get_json()["token"]


def lease(api, path, token, suffix, body):
    return api.post(path + suffix, body=body, headers={"Authorization": f"update-token {token}"})


def b64(text):
    return base64.b64encode(text.encode()).decode()


def records(db, org="acme"):
    """(event, actor, target, description) of the organization's chain, oldest first."""
    with db, db.cursor() as cur:
        cur.execute("SELECT event, actor_login, target, description FROM audit_log "
                    "WHERE org_name = %s ORDER BY seq", (org,))
        return [(r["event"], r["actor_login"], r["target"], r["description"])
                for r in cur.fetchall()]


def append(db, org, at, event="stack.created", login="mona", description="x"):
    """A record written as audit.record writes it, at a chosen time (for time filters, pages
    and prunes)."""
    with db:
        head = queries.lock_chain_head(db, org_name=org, genesis=audit.GENESIS)
        row = {"org_name": org, "seq": head["seq"] + 1, "at": at, "event": event,
               "actor_login": login, "actor_name": "", "token_id": None, "source_ip": "10.0.0.1",
               "user_agent": "test", "target": "acme/proj/dev", "description": description,
               "cut_before_seq": None, "cut_anchor": None, "prev_hash": bytes(head["hash"])}
        row["hash"] = audit.content_hash(row)
        queries.append_record(db, **row)


def behind_the_service(db, sql, *args):
    """Run SQL with the audit triggers off, as a superuser tampering with the table would."""
    with db, db.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute(sql, args)


def verify(db, org=None):
    with db:
        return audit.verify(db, org)[1]


@pytest.fixture
def stack(acme):
    response = acme["member"].post("/api/stacks/acme/proj", body={"stackName": "dev"})
    assert response.status_code == 200
    return acme


@pytest.fixture
def admin_command_env(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)

    def run(*args):
        result = CliRunner().invoke(admin_command, list(args), catch_exceptions=False)
        return result

    return run


# --- what is recorded -----------------------------------------------------------------------------

def create_stack(acme):
    assert acme["member"].post("/api/stacks/acme/proj", body={"stackName": "web"}).status_code == 200


def delete_stack(acme):
    assert acme["admin"].delete(STACK).status_code == 204


def rename_stack(acme):
    response = acme["member"].post(STACK + "/rename", body={"newName": "acme/other/prod"})
    assert response.status_code == 204


def set_tags(acme):
    response = acme["member"].patch(STACK + "/tags", body={"tags": {"team": "a", "env": "b"}})
    assert response.status_code == 204


def import_state(acme):
    response = acme["member"].post(STACK + "/import", body=deployment(1))
    assert response.status_code == 200, response.get_json()


def export_state(acme):
    assert acme["viewer"].get(STACK + "/export").status_code == 200


def export_version(acme):
    import_state(acme)
    assert acme["viewer"].get(STACK + "/export/1").status_code == 200
    assert acme["viewer"].get(STACK + "/export/9").status_code == 404  # nothing exported


def start_update(acme):
    start(acme["member"])


def begin_refresh(acme):
    response = acme["member"].post(STACK + "/begin-update", body={
        "updateKind": "refresh", "program": program(), "journalVersion": 1})
    assert response.status_code == 200, response.get_json()


def start_preview(acme):
    start(acme["member"], kind="preview", dry_run=True)


def complete_update(acme):
    path, token = start(acme["member"])
    assert lease(acme["member"], path, token, "/complete", {"status": "failed"}).status_code == 204
    # A retried complete changes nothing and records nothing.
    assert lease(acme["member"], path, token, "/complete", {"status": "failed"}).status_code == 204


def cancel_update(acme):
    path, _ = start(acme["member"])
    assert acme["member"].post(path + "/cancel").status_code == 204
    assert acme["member"].post(path + "/cancel").status_code == 204  # a retry: no second record


def decrypt(acme):
    encrypted = acme["member"].post(STACK + "/encrypt", body={"plaintext": b64("hunter2")})
    ciphertext = encrypted.get_json()["ciphertext"]
    response = acme["member"].post(STACK + "/batch-decrypt",
                                   body={"ciphertexts": [ciphertext, ciphertext]})
    assert response.status_code == 200


def refused_decrypt(acme):
    response = acme["viewer"].post(STACK + "/decrypt", body={"ciphertext": b64("x" * 60)})
    assert response.status_code == 403


def show_secrets(acme):
    response = acme["viewer"].post(STACK + "/decrypt/log-batch-decryption",
                                   body={"commandName": "pulumi stack export"})
    assert response.status_code == 200


def add_tag(acme):
    response = acme["member"].post(STACK + "/tags", body={"name": "team", "value": "a"})
    assert response.status_code == 204, response.get_json()


def rename_tag(acme):
    add_tag(acme)
    response = acme["member"].patch(STACK + "/tags/team", body={"name": "owner", "value": "b"})
    assert response.status_code == 204, response.get_json()


def delete_tag(acme):
    add_tag(acme)
    assert acme["member"].delete(STACK + "/tags/team").status_code == 204


def change_org_settings(acme):
    response = acme["admin"].patch("/api/orgs/acme", body={"setMembersCanDeleteStacks": True})
    assert response.status_code == 200, response.get_json()


def add_member(acme):
    response = acme["admin"].post("/api/orgs/acme/members/otto", body={"role": "member"})
    assert response.status_code == 200, response.get_json()


def change_member_role(acme):
    response = acme["admin"].patch("/api/orgs/acme/members/vera", body={"role": "member"})
    assert response.status_code == 204, response.get_json()


def remove_member(acme):
    assert acme["admin"].delete("/api/orgs/acme/members/vera").status_code == 204


def forbidden_admin_action(acme):
    assert acme["member"].delete(STACK).status_code == 403


UPDATE_1 = "update of stack acme/proj/dev started (version 1)"

OPERATIONS = {
    create_stack: [("stack.created", "mona", "acme/proj/web", "created stack acme/proj/web")],
    delete_stack: [("stack.deleted", "adam", "acme/proj/dev", "deleted stack acme/proj/dev")],
    rename_stack: [("stack.renamed", "mona", "acme/other/prod",
                    "renamed stack acme/proj/dev to acme/other/prod")],
    set_tags: [("stack.tags_updated", "mona", "acme/proj/dev",
                "set the tags of stack acme/proj/dev to: env, team")],
    import_state: [("stack.imported", "mona", "acme/proj/dev",
                    "imported a state of 1 resources into stack acme/proj/dev")],
    export_state: [("stack.exported", "vera", "acme/proj/dev", "exported stack acme/proj/dev")],
    export_version: [("stack.imported", "mona", "acme/proj/dev",
                      "imported a state of 1 resources into stack acme/proj/dev"),
                     ("stack.exported", "vera", "acme/proj/dev",
                      "exported version 1 of stack acme/proj/dev")],
    start_update: [("update.started", "mona", "acme/proj/dev", UPDATE_1)],
    begin_refresh: [("update.started", "mona", "acme/proj/dev",
                     "refresh of stack acme/proj/dev started (version 1)")],
    start_preview: [("update.started", "mona", "acme/proj/dev",
                     "preview of stack acme/proj/dev started")],
    complete_update: [("update.started", "mona", "acme/proj/dev", UPDATE_1),
                      ("update.completed", "mona", "acme/proj/dev",
                       "update of stack acme/proj/dev failed (version 1)")],
    cancel_update: [("update.started", "mona", "acme/proj/dev", UPDATE_1),
                    ("update.cancelled", "mona", "acme/proj/dev",
                     "cancelled the update of stack acme/proj/dev (version 1)")],
    decrypt: [("secrets.decrypted", "mona", "acme/proj/dev",
               "decrypted 2 secret values of stack acme/proj/dev")],
    refused_decrypt: [("secrets.decrypt_refused", "vera", "acme/proj/dev",
                       "refused to decrypt secrets of stack acme/proj/dev (role viewer)")],
    show_secrets: [("secrets.shown", "vera", "acme/proj/dev",
                    "the CLI showed secrets of stack acme/proj/dev (pulumi stack export)")],
    add_tag: [("stack.tags_updated", "mona", "acme/proj/dev", "added tag team to stack acme/proj/dev")],
    rename_tag: [("stack.tags_updated", "mona", "acme/proj/dev", "added tag team to stack acme/proj/dev"),
                 ("stack.tags_updated", "mona", "acme/proj/dev",
                  "set tag owner of stack acme/proj/dev (was team)")],
    delete_tag: [("stack.tags_updated", "mona", "acme/proj/dev", "added tag team to stack acme/proj/dev"),
                 ("stack.tags_updated", "mona", "acme/proj/dev",
                  "removed tag team from stack acme/proj/dev")],
    change_org_settings: [("org.updated", "adam", "acme",
                           "changed the settings of acme: members_can_delete_stacks")],
    add_member: [("member.added", "adam", "otto", "otto is now member of acme")],
    change_member_role: [("member.added", "adam", "vera", "vera is now member of acme")],
    remove_member: [("member.removed", "adam", "vera", "removed vera from acme")],
    forbidden_admin_action: [("auth.forbidden", "mona", STACK,
                              f"mona was refused DELETE {STACK} (it requires the admin role)")],
}


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda f: f.__name__)
def test_each_operation_leaves_exactly_its_record(stack, db, operation):
    before = records(db)
    assert before == [("stack.created", "mona", "acme/proj/dev", "created stack acme/proj/dev")]

    operation(stack)

    assert records(db)[1:] == OPERATIONS[operation]
    assert verify(db) is None


def test_personal_tokens_made_and_deleted_over_the_api_are_recorded_in_the_callers_log(
        stack, db):
    created = stack["member"].post("/api/user/tokens", body={"description": "laptop"})
    assert created.status_code == 200, created.get_json()
    token_id = created.get_json()["id"]
    assert stack["member"].delete(f"/api/user/tokens/{token_id}").status_code == 204
    assert records(db, "mona") == [
        ("token.created", "mona", f"token {token_id}",
         f"created token {token_id} for mona (laptop)"),
        ("token.revoked", "mona", f"token {token_id}", f"deleted token {token_id} of mona")]
    assert verify(db, "mona") is None
    assert created.get_json()["tokenValue"] not in str(records(db, "mona"))


def test_a_record_holds_the_address_agent_and_token_id_but_no_token(stack, db, people):
    with db, db.cursor() as cur:
        cur.execute("SELECT * FROM audit_log")
        row = cur.fetchone()
    assert row["source_ip"] == "127.0.0.1"
    assert row["user_agent"].startswith("Werkzeug")
    assert row["token_id"] is not None
    assert people.tokens["mona"] not in json.dumps({k: str(v) for k, v in row.items()})


def test_a_rename_onto_a_taken_name_records_nothing(stack, db):
    stack["member"].post("/api/stacks/acme/proj", body={"stackName": "prod"})
    response = stack["member"].post(STACK + "/rename", body={"newName": "acme/proj/prod"})

    assert response.status_code == 409
    assert [r[0] for r in records(db)] == ["stack.created", "stack.created"]


def test_creating_an_existing_stack_records_nothing(stack, db):
    assert stack["member"].post("/api/stacks/acme/proj",
                                body={"stackName": "dev"}).status_code == 409
    assert len(records(db)) == 1


def test_a_change_that_fails_after_its_record_keeps_neither(stack, db, monkeypatch):
    """The record is written in the change's transaction: when that transaction rolls back
    (here: a failure right after the record), neither the stack nor the record remains."""
    real = audit.record

    def record_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(audit, "record", record_then_fail)
    response = stack["member"].post("/api/stacks/acme/proj", body={"stackName": "web"})

    assert response.status_code == 500
    assert stack["member"].get("/api/stacks/acme/proj/web").status_code == 404
    assert len(records(db)) == 1
    assert verify(db) is None


def test_a_rolled_back_record_leaves_the_chain_head_alone(db):
    actor = audit.Actor(login="mona")
    with db:
        audit.record(db, actor, "acme", "stack.created", "acme/p/a", "one")
    audit.record(db, actor, "acme", "stack.created", "acme/p/b", "two")
    db.rollback()
    with db:
        audit.record(db, actor, "acme", "stack.created", "acme/p/c", "three")

    assert [r[3] for r in records(db)] == ["one", "three"]
    assert verify(db) is None


def test_a_viewer_is_refused_the_audit_log_and_that_is_recorded(stack, db):
    assert stack["viewer"].get(AUDIT).status_code == 403
    assert records(db)[-1][:2] == ("auth.forbidden", "vera")


def test_a_burst_of_failed_authentications_is_recorded_once(app, stack, db, anonymous,
                                                           monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_FAIL_LIMIT", 3)
    bad = {"Authorization": "token pul-" + "0" * 40}
    statuses = [anonymous.get(AUDIT, headers=bad).status_code for _ in range(5)]
    statuses += [anonymous.get("/api/user", headers=bad).status_code]

    assert statuses == [401, 401, 401, 429, 429, 429]
    bursts = [r for r in records(db) if r[0] == "auth.failure_burst"]
    assert bursts == [("auth.failure_burst", "", "127.0.0.1",
                       bursts[0][3])]
    assert bursts[0][3].startswith("3 failed authentications from 127.0.0.1")


def test_a_burst_on_a_route_of_no_organization_goes_to_the_service_chain(app, db, anonymous,
                                                                        monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_FAIL_LIMIT", 2)
    for _ in range(2):
        anonymous.get("/api/user", headers={"Authorization": "token nope"})

    assert [r[0] for r in records(db, audit.SERVICE_CHAIN)] == ["auth.failure_burst"]


def test_the_admin_command_records_its_changes(admin_command_env, db):
    run = admin_command_env
    assert run("user", "create", "alice").exit_code == 0
    assert run("org", "create", "initech").exit_code == 0
    assert run("org", "add-member", "initech", "alice", "--role", "member").exit_code == 0
    assert run("org", "add-member", "initech", "alice", "--role", "admin").exit_code == 0
    assert run("org", "remove-member", "initech", "alice").exit_code == 0
    token = run("token", "create", "alice", "--description", "laptop").output.strip().splitlines()[-1]
    assert run("token", "revoke", token).exit_code == 0
    assert run("token", "revoke", token).exit_code != 0  # nothing to revoke: nothing recorded

    assert [r[:3] for r in records(db, "initech")] == [
        ("org.created", "", "initech"),
        ("member.added", "", "alice"),
        ("member.added", "", "alice"),
        ("member.removed", "", "alice"),
    ]
    assert [r[3] for r in records(db, "initech")][1:] == [
        "alice is now member of initech", "alice is now admin of initech (was member)",
        "removed alice (admin) from initech"]
    assert records(db, "alice") == [
        ("user.created", "", "alice", "created user alice (admin of organization alice)"),
        ("token.created", "", "token 1", "created token 1 for alice (laptop)"),
        ("token.revoked", "", "token 1", "revoked token 1 of alice (laptop)"),
    ]
    with db, db.cursor() as cur:
        cur.execute("SELECT DISTINCT actor_name FROM audit_log")
        assert [r["actor_name"] for r in cur.fetchall()][0].startswith("pulumi-service admin command (")
        cur.execute("SELECT count(*) AS n FROM audit_log WHERE description LIKE %s",
                    (f"%{token}%",))
        assert cur.fetchone()["n"] == 0


# --- reading it -----------------------------------------------------------------------------------

@pytest.mark.parametrize("who,status", [("viewer", 403), ("member", 403), ("admin", 200),
                                        ("outsider", 404)])
@pytest.mark.parametrize("path", [AUDIT, "/api/orgs/acme/auditlogs",
                                  AUDIT + "/export", "/api/orgs/acme/auditlogs/export",
                                  "/api/orgs/acme/auditlogs/event-types"])
def test_only_admins_read_the_audit_log(acme, who, status, path):
    assert acme[who].get(path).status_code == status


def test_a_listed_event_has_pulumis_shape(stack):
    response = stack["admin"].get(AUDIT)

    assert response.status_code == 200
    [event] = response.get_json()["auditLogEvents"]
    assert "continuationToken" not in response.get_json()
    assert abs(event.pop("timestamp") - datetime.now(timezone.utc).timestamp()) < 60
    assert event.pop("tokenID").isdigit()
    assert event == {
        "sourceIP": "127.0.0.1", "event": "stack.created",
        "description": "created stack acme/proj/dev",
        "user": {"name": "mona", "githubLogin": "mona", "avatarUrl": ""},
        "reqOrgAdmin": False, "reqStackAdmin": False, "authFailure": False,
    }


def logged(api, **query):
    response = api.get(AUDIT, query_string=query)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return [e["description"] for e in body["auditLogEvents"]], body.get("continuationToken")


T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def history(acme, db):
    """Six records a minute apart: mona and adam in turn, stack.created then stack.deleted."""
    for i in range(6):
        append(db, "acme", T0 + timedelta(minutes=i),
               event=["stack.created", "stack.deleted"][i // 3], login=["mona", "adam"][i % 2],
               description=f"r{i}")
    return acme["admin"]


@pytest.mark.parametrize("query,expected", [
    ({}, ["r5", "r4", "r3", "r2", "r1", "r0"]),
    ({"eventFilter": "stack.deleted"}, ["r5", "r4", "r3"]),
    ({"userFilter": "adam"}, ["r5", "r3", "r1"]),
    ({"userFilter": "adam", "eventFilter": "stack.created"}, ["r1"]),
    ({"startTime": int(T0.timestamp()) + 120}, ["r5", "r4", "r3", "r2"]),
    ({"endTime": int(T0.timestamp()) + 120}, ["r2", "r1", "r0"]),
    ({"startTime": int(T0.timestamp()) + 60, "endTime": int(T0.timestamp()) + 180},
     ["r3", "r2", "r1"]),
    ({"userFilter": "nobody"}, []),
])
def test_filters_are_exact(history, query, expected):
    assert logged(history, **query) == (expected, None)


def test_pages_are_exact_and_newest_first(acme, db):
    for i in range(7):
        append(db, "acme", T0 + timedelta(seconds=i), description=f"r{i}")
    seen, token, pages = [], None, 0
    while True:
        query = {"pageSize": 3, **({"continuationToken": token} if token else {})}
        page, token = logged(acme["admin"], **query)
        seen += page
        pages += 1
        if token is None:
            break
    assert pages == 3
    assert seen == [f"r{i}" for i in reversed(range(7))]


def test_the_default_page_is_100(acme, db):
    for i in range(101):
        append(db, "acme", T0 + timedelta(seconds=i), description=f"r{i}")
    page, token = logged(acme["admin"])
    assert len(page) == 100 and page[0] == "r100"
    assert logged(acme["admin"], continuationToken=token) == (["r0"], None)


@pytest.mark.parametrize("query", [{"eventFilter": "stack.nope"}, {"startTime": "yesterday"},
                                   {"continuationToken": "abc"}, {"pageSize": 0}])
def test_bad_filters_are_400(acme, query):
    response = acme["admin"].get(AUDIT, query_string=query)
    assert response.status_code == 400
    assert response.get_json()["code"] == 400


def test_csv_export_has_a_header_row_and_a_row_per_record(history):
    response = history.get(AUDIT + "/export", query_string={"format": "csv",
                                                            "userFilter": "mona"})

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["Timestamp", "Name", "Login", "Event", "Description", "SourceIP",
                       "RequireOrgAdmin", "RequireStackAdmin", "AuthenticationFailure"]
    assert rows[1:] == [
        ["2026-01-01T00:04:00Z", "mona", "mona", "stack.deleted", "r4", "10.0.0.1", "true",
         "true", "false"],
        ["2026-01-01T00:02:00Z", "mona", "mona", "stack.created", "r2", "10.0.0.1", "false",
         "false", "false"],
        ["2026-01-01T00:00:00Z", "mona", "mona", "stack.created", "r0", "10.0.0.1", "false",
         "false", "false"],
    ]


def test_cef_export_has_one_line_per_record(acme, db):
    append(db, "acme", T0, description="a=b|c\\d")

    response = acme["admin"].get(AUDIT + "/export", query_string={"format": "cef"})

    assert response.status_code == 200
    assert response.get_data(as_text=True) == (
        "Jan 01 00:00:00 localhost CEF:0|Pulumi|Pulumi Service (self-hosted)|1|stack.created|"
        "Stack Created|3|dvchost=localhost rt=1767225600000 src=10.0.0.1 suser=mona orgID=acme "
        "userID=mona requireOrgAdmin=false requireStackAdmin=false authenticationFailure=false "
        "msg=a\\=b|c\\\\d\n")


def test_an_unknown_export_format_is_400(acme):
    assert acme["admin"].get(AUDIT + "/export?format=xml").status_code == 400


def test_the_event_types_are_listed(acme):
    response = acme["admin"].get("/api/orgs/acme/auditlogs/event-types")

    types = {t["event"]: t for t in response.get_json()["eventTypes"]}
    assert set(types) == set(audit.EVENT_TYPES)
    assert types["auth.failure_burst"]["authenticationFailure"] is True
    assert types["stack.deleted"] == {
        "event": "stack.deleted", "displayName": "Stack Deleted",
        "description": "A stack was deleted (restorable, with its history, until its "
                       "retention ends).", "requiresOrgAdmin": True,
        "requiresStackAdmin": True, "authenticationFailure": False, "deprecated": False}


# --- the chain ------------------------------------------------------------------------------------

def three_records(db, org="acme"):
    actor = audit.Actor(login="mona", source_ip="10.0.0.1")
    for name in ("a", "b", "c"):
        with db:
            audit.record(db, actor, org, "stack.created", f"{org}/p/{name}", f"created {name}")


def test_records_chain_to_their_predecessors(db):
    three_records(db)
    with db, db.cursor() as cur:
        cur.execute("SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq")
        rows = cur.fetchall()
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert bytes(rows[0]["prev_hash"]) == audit.GENESIS
    assert bytes(rows[1]["prev_hash"]) == bytes(rows[0]["hash"])
    assert bytes(rows[2]["prev_hash"]) == bytes(rows[1]["hash"])
    assert verify(db) is None


def test_the_database_refuses_to_update_or_delete_a_record(db):
    three_records(db)
    for sql in ("UPDATE audit_log SET description = 'nothing happened' WHERE seq = 2",
                "DELETE FROM audit_log WHERE seq = 3",
                "DELETE FROM audit_chain_heads",
                "UPDATE audit_chain_heads SET seq = 1"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            with db, db.cursor() as cur:
                cur.execute(sql)
    assert verify(db) is None


@pytest.mark.parametrize("tamper,expected", [
    ("UPDATE audit_log SET description = 'nothing happened' WHERE seq = 2",
     "organization 'acme': record 2 (id 2): its content does not match its hash (the record "
     "was edited)"),
    ("UPDATE audit_log SET at = at - interval '1 hour' WHERE seq = 1",
     "organization 'acme': record 1 (id 1): its content does not match its hash"),
    ("DELETE FROM audit_log WHERE seq = 2",
     "organization 'acme': record 3 (id 3): records 2 to 2 are missing"),
    ("DELETE FROM audit_log WHERE seq = 3",
     "organization 'acme': its head: the head names record 3, the last record is 2"),
    ("DELETE FROM audit_log WHERE seq = 1",
     "organization 'acme': record 2 (id 2): the chain starts at record 2 without a recorded cut"),
])
def test_verify_names_the_first_broken_link(db, tamper, expected):
    three_records(db)
    behind_the_service(db, tamper)

    assert str(verify(db)).startswith(expected)


def test_a_forged_record_with_a_recomputed_hash_breaks_the_next_link(db):
    three_records(db)
    with db, db.cursor() as cur:
        cur.execute("SELECT * FROM audit_log WHERE seq = 2")
        row = dict(cur.fetchone())
    row["description"] = "nothing happened"
    behind_the_service(db, "UPDATE audit_log SET description = %s, hash = %s WHERE seq = 2",
                       row["description"], audit.content_hash(row))

    assert str(verify(db)).startswith("organization 'acme': record 3 (id 3): it does not name "
                                      "the record before it (2) as its predecessor")


def test_audit_verify_command_passes_then_names_the_tampered_record(admin_command_env, db):
    three_records(db)
    three_records(db, "globex")
    result = admin_command_env("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "acme: 3 record(s) checked" in result.output
    assert "audit log intact (2 chain(s))" in result.output

    behind_the_service(db, "UPDATE audit_log SET actor_login = 'otto' "
                           "WHERE org_name = 'globex' AND seq = 3")
    result = admin_command_env("audit", "verify")
    assert result.exit_code == 1
    assert "BROKEN: organization 'globex': record 3" in result.output
    assert admin_command_env("audit", "verify", "--org", "acme").exit_code == 0


def test_concurrent_changes_in_one_organization_never_fork_the_chain(acme, db):
    def create(i):
        return acme["member"].post("/api/stacks/acme/proj", body={"stackName": f"s{i}"}).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(create, range(24)))

    assert statuses == [200] * 24
    with db, db.cursor() as cur:
        cur.execute("SELECT seq FROM audit_log WHERE org_name = 'acme' ORDER BY seq")
        assert [r["seq"] for r in cur.fetchall()] == list(range(1, 25))
    assert verify(db) is None


def test_concurrent_appends_from_many_connections_take_turns(database_url, db):
    def append_many(n):
        conn = connect(database_url)
        try:
            for i in range(10):
                with conn:
                    audit.record(conn, audit.Actor(login=f"u{n}"), "acme", "stack.created",
                                 "t", f"{n}-{i}")
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(append_many, range(6)))

    assert len(records(db)) == 60
    assert verify(db) is None


# --- pruning --------------------------------------------------------------------------------------

def test_prune_cuts_a_prefix_that_verify_accepts(admin_command_env, db):
    for i in range(5):
        append(db, "acme", T0 + timedelta(days=i), description=f"r{i}")

    result = admin_command_env("audit", "prune", "--before", "2026-01-03")

    assert result.exit_code == 0, result.output
    assert "acme: 2 record(s) removed" in result.output
    kept = records(db)
    assert [r[3] for r in kept[:3]] == ["r2", "r3", "r4"]
    assert kept[3][0] == "audit.pruned"
    assert kept[3][3].startswith("removed records 1 to 2 (older than 2026-01-03 00:00:00 UTC)")
    assert admin_command_env("audit", "verify").exit_code == 0
    # Records above the cut stay immutable.
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        with db, db.cursor() as cur:
            cur.execute("DELETE FROM audit_log WHERE description = 'r2'")


def test_pruning_everything_leaves_the_cut_record(admin_command_env, db):
    three_records(db)
    result = admin_command_env("audit", "prune", "--before", "2999-01-01", "--org", "acme")
    assert result.exit_code == 0, result.output
    assert [r[0] for r in records(db)] == ["audit.pruned"]
    assert verify(db) is None
    three_records(db)
    admin_command_env("audit", "prune", "--before", "2999-01-01")
    assert [r[0] for r in records(db)] == ["audit.pruned"]
    assert verify(db) is None


def test_a_forged_cut_is_detected(db):
    three_records(db)
    behind_the_service(db, "DELETE FROM audit_log WHERE seq < 3")
    assert "without a recorded cut" in str(verify(db))
