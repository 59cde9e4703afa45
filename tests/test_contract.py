"""Every sentence of the Stack API contract (../shared/contract/stack-api.txt), with the real
CLI's forms of the same calls where they differ (spec section 17)."""
import json

import pytest

from app import stacks
from app.state.stored import decompress as load
from app.queries import queries
from tests.support.api import assert_error
from tests.support.rows import add_checkpoint, add_engine_event, add_update, count, stack_id

STACK = "/api/stacks/acme/proj/dev"


@pytest.fixture
def dev(acme):
    """acme/proj/dev, created by a member."""
    response = acme["member"].post("/api/stacks/acme/proj", {"stackName": "dev"})
    assert response.status_code == 200
    return acme


def stack_names(db):
    with db.cursor() as cur:
        cur.execute(
            "SELECT o.name || '/' || p.name || '/' || s.name AS ref FROM stacks s "
            "JOIN projects p ON p.id = s.project_id JOIN organizations o ON o.id = p.org_id "
            "ORDER BY 1"
        )
        names = [row["ref"] for row in cur.fetchall()]
    db.rollback()
    return names


# --- headers: Accept ----------------------------------------------------------------------------

ROUTES = [
    ("POST", "/api/stacks/acme/proj"),
    ("HEAD", "/api/stacks/acme/proj"),
    ("GET", STACK),
    ("DELETE", STACK),
    ("POST", STACK + "/rename"),
    ("PATCH", STACK + "/tags"),
    ("GET", "/api/user/stacks"),
]


@pytest.mark.parametrize("method, path", ROUTES)
def test_request_without_accept_header_is_415(dev, method, path):
    dev["admin"].accept = None
    response = dev["admin"].call(method, path, {"stackName": "x"})
    assert response.status_code == 415
    if method != "HEAD":
        assert_error(response, 415)


@pytest.mark.parametrize("accept", [
    "application/json",
    "*/*",
    "text/html",
    "application/vnd.pulumi",
    "application/vnd.pulumi+json",
    "application/vnd.pulumi+7",
])
def test_other_media_types_and_api_level_7_are_415(dev, accept):
    dev["admin"].accept = accept
    assert_error(dev["admin"].get(STACK), 415)


@pytest.mark.parametrize("accept", ["application/vnd.pulumi+8", "application/vnd.pulumi+9"])
def test_api_levels_8_and_9_are_accepted(dev, accept):
    dev["admin"].accept = accept
    assert dev["admin"].get(STACK).status_code == 200


def test_accept_is_checked_before_the_token(anonymous):
    anonymous.accept = "application/json"
    assert_error(anonymous.get("/api/user/stacks"), 415)


# --- headers: Authorization ---------------------------------------------------------------------

def test_stack_api_requires_a_token(dev, anonymous):
    assert_error(anonymous.get(STACK), 401)


def test_token_identifies_the_caller(acme):
    assert acme["member"].get("/api/user").get_json()["githubLogin"] == "mona"
    assert acme["viewer"].get("/api/user").get_json()["githubLogin"] == "vera"


# --- the org in the URL decides access ----------------------------------------------------------

def test_org_in_url_decides_access(people):
    alice = people.user("alice", {"acme": "member"})
    assert alice.post("/api/stacks/acme/proj", {"stackName": "dev"}).status_code == 200
    assert alice.post("/api/stacks/alice/proj", {"stackName": "dev"}).status_code == 200
    assert_error(alice.post("/api/stacks/globex/proj", {"stackName": "dev"}), 404)


# --- POST /api/stacks/{org}/{project} -----------------------------------------------------------

def test_create_stack_answers_the_contract_body(acme):
    response = acme["member"].post("/api/stacks/acme/proj", {"stackName": "dev"})
    assert response.status_code == 200
    assert response.get_json() == {
        "id": "acme/proj/dev",
        "orgName": "acme",
        "projectName": "proj",
        "stackName": "dev",
        "tags": {},
        "version": 0,
    }


def test_create_stack_keeps_its_tags(acme):
    tags = {"pulumi:project": "proj", "pulumi:runtime": "yaml"}
    response = acme["member"].post("/api/stacks/acme/proj", {"stackName": "dev", "tags": tags})
    assert response.get_json()["tags"] == tags
    assert acme["viewer"].get(STACK).get_json()["tags"] == tags


def test_create_stack_creates_the_project(acme, db):
    assert acme["viewer"].head("/api/stacks/acme/proj").status_code == 404
    acme["member"].post("/api/stacks/acme/proj", {"stackName": "dev"})
    assert count(db, "SELECT count(*) FROM projects WHERE name = 'proj'") == 1
    assert acme["viewer"].head("/api/stacks/acme/proj").status_code == 200


def test_create_stack_in_an_existing_project_reuses_it(acme, db):
    acme["member"].post("/api/stacks/acme/proj", {"stackName": "dev"})
    assert acme["member"].post("/api/stacks/acme/proj", {"stackName": "prod"}).status_code == 200
    assert count(db, "SELECT count(*) FROM projects") == 1
    assert stack_names(db) == ["acme/proj/dev", "acme/proj/prod"]


def test_create_stack_creates_a_missing_org_row(people, db):
    """A user always owns the org named after their login; its row is made on first use if gone."""
    alice = people.user("alice")
    with db, db.cursor() as cur:
        cur.execute("DELETE FROM organizations WHERE name = 'alice'")
    response = alice.post("/api/stacks/alice/proj", {"stackName": "dev"})
    assert response.status_code == 200
    assert count(db, "SELECT count(*) FROM organizations WHERE name = 'alice'") == 1
    assert alice.get("/api/stacks/alice/proj/dev").status_code == 200


def test_create_existing_stack_is_409_already_exists(dev):
    response = dev["member"].post("/api/stacks/acme/proj", {"stackName": "dev"})
    assert_error(response, 409, contains="already exists")


def test_create_same_stack_name_in_another_project_is_allowed(dev):
    assert dev["member"].post("/api/stacks/acme/other", {"stackName": "dev"}).status_code == 200


def test_create_stack_with_state_stores_it_as_the_initial_checkpoint(acme, db):
    state = {"version": 3, "deployment": {
        "manifest": {"time": "2024-03-07T16:00:00Z", "magic": "", "version": "v3"},
        "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:abc"}},
    }}
    response = acme["member"].post("/api/stacks/acme/proj", {"stackName": "dev", "state": state})
    assert response.status_code == 200
    latest = queries.latest_checkpoint(db, stack_id=stack_id(db, "acme", "proj", "dev"))
    assert latest["version"] == 0
    assert json.loads(load(latest["deployment_gz"])) == state


# --- HEAD /api/stacks/{org}/{project} -----------------------------------------------------------

def test_head_existing_project_is_200(dev):
    response = dev["viewer"].head("/api/stacks/acme/proj")
    assert response.status_code == 200
    assert response.get_data() == b""


def test_head_unknown_project_is_404(dev):
    assert dev["viewer"].head("/api/stacks/acme/nope").status_code == 404


def test_head_project_whose_last_stack_was_deleted_is_404(dev):
    # Pulumi's rule (the project has at least one stack), not "a project row exists".
    assert dev["admin"].delete(STACK).status_code == 204
    assert dev["viewer"].head("/api/stacks/acme/proj").status_code == 404
    assert dev["member"].post("/api/stacks/acme/proj", {"stackName": "again"}).status_code == 200
    assert dev["viewer"].head("/api/stacks/acme/proj").status_code == 200


def test_head_project_whose_last_stack_was_renamed_away_is_404(dev):
    response = dev["member"].post(f"{STACK}/rename", {"newName": "dev", "newProject": "other"})
    assert response.status_code == 204
    assert dev["viewer"].head("/api/stacks/acme/proj").status_code == 404
    assert dev["viewer"].head("/api/stacks/acme/other").status_code == 200


def test_head_project_of_another_org_is_404(dev, people):
    stranger = people.user("stranger", {"globex": "admin"})
    stranger.post("/api/stacks/globex/other", {"stackName": "dev"})
    assert dev["viewer"].head("/api/stacks/acme/other").status_code == 404


# --- GET /api/stacks/{org}/{project}/{stack} ----------------------------------------------------

def test_get_stack_answers_the_contract_body(dev):
    response = dev["viewer"].get(STACK)
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in
            ("orgName", "projectName", "stackName", "tags", "version", "activeUpdate")} == {
        "orgName": "acme",
        "projectName": "proj",
        "stackName": "dev",
        "tags": {},
        "version": 0,
        "activeUpdate": "",
    }
    assert body["id"] == "acme/proj/dev"
    assert "currentOperation" not in body
    assert "config" not in body  # would switch the CLI to ESC remote config


def test_get_stack_shows_the_latest_update_as_active_update(dev, db):
    add_update(db, "acme", "proj", "dev")
    latest = add_update(db, "acme", "proj", "dev")
    body = dev["viewer"].get(STACK).get_json()
    assert body["activeUpdate"] == latest
    assert body["version"] == 2


def test_get_stack_shows_the_running_update_and_current_operation(dev, db):
    running = add_update(db, "acme", "proj", "dev", kind="destroy", status="running")
    body = dev["viewer"].get(STACK).get_json()
    assert body["activeUpdate"] == running
    assert body["currentOperation"]["kind"] == "destroy"
    assert body["currentOperation"]["started"] == 1709827200


def test_get_unknown_stack_is_404(dev):
    assert_error(dev["viewer"].get("/api/stacks/acme/proj/nope"), 404)


def test_get_stack_in_unknown_project_is_404(dev):
    assert_error(dev["viewer"].get("/api/stacks/acme/nope/dev"), 404)


# --- DELETE /api/stacks/{org}/{project}/{stack} -------------------------------------------------

def test_delete_stack_removes_it(dev):
    response = dev["admin"].delete(STACK)
    assert 200 <= response.status_code < 300
    assert_error(dev["viewer"].get(STACK), 404)


def test_delete_stack_keeps_its_rows_until_the_purge_removes_them_with_it(dev, db):
    """A deleted stack stays restorable (tests/test_deleted_stacks.py): its updates, events and
    checkpoints go only when the purge removes it, past its retention."""
    first = add_update(db, "acme", "proj", "dev")
    add_checkpoint(db, "acme", "proj", "dev", 1, update_id=first)
    add_engine_event(db, first, 1)
    add_engine_event(db, first, 2)
    second = add_update(db, "acme", "proj", "dev", status="failed")
    add_checkpoint(db, "acme", "proj", "dev", 2, update_id=second)
    add_engine_event(db, second, 1)
    # Another stack's rows stay.
    dev["member"].post("/api/stacks/acme/proj", {"stackName": "keep"})
    kept = add_update(db, "acme", "proj", "keep")
    add_checkpoint(db, "acme", "proj", "keep", 1, update_id=kept)
    add_engine_event(db, kept, 1)

    assert dev["admin"].delete(STACK + "?force=false").status_code == 204
    assert count(db, "SELECT count(*) FROM updates") == 3
    with db, db.cursor() as cur:
        cur.execute("UPDATE stacks SET deleted_at = now() - interval '31 days' "
                    "WHERE deleted_at IS NOT NULL")
    with db:
        assert len(stacks.purge_deleted(db, retention_days=30)) == 1

    assert count(db, "SELECT count(*) FROM stacks") == 1
    assert count(db, "SELECT count(*) FROM updates") == 1
    assert count(db, "SELECT count(*) FROM checkpoints") == 1
    assert count(db, "SELECT count(*) FROM engine_events") == 1
    assert count(db, "SELECT count(*) FROM updates WHERE id = %s", kept) == 1


def test_delete_unknown_stack_is_404(dev):
    assert_error(dev["admin"].delete("/api/stacks/acme/proj/nope"), 404)


@pytest.mark.parametrize("force", ["", "?force=false", "?force=true"])
def test_delete_stack_with_a_running_update_is_409(dev, db, force):
    add_update(db, "acme", "proj", "dev", status="running")
    assert_error(dev["admin"].delete(STACK + force), 409)
    assert dev["viewer"].get(STACK).status_code == 200


def test_delete_stack_after_its_update_finished_is_allowed(dev, db):
    add_update(db, "acme", "proj", "dev", status="succeeded")
    assert dev["admin"].delete(STACK).status_code == 204


@pytest.mark.parametrize("force", ["", "?force=", "?force=false", "?force=False", "?force=0"])
def test_delete_stack_with_resources_without_force_is_400_with_the_exact_message(dev, db, force):
    update = add_update(db, "acme", "proj", "dev")
    add_checkpoint(db, "acme", "proj", "dev", 1, resources=2, update_id=update)
    body = assert_error(dev["admin"].delete(STACK + force), 400)
    assert body["message"] == "Bad Request: Stack still contains resources."
    assert dev["viewer"].get(STACK).status_code == 200


@pytest.mark.parametrize("force", ["?force=true", "?force=True", "?force=1"])
def test_delete_stack_with_resources_with_force_deletes_it(dev, db, force):
    update = add_update(db, "acme", "proj", "dev")
    add_checkpoint(db, "acme", "proj", "dev", 1, resources=2, update_id=update)
    assert dev["admin"].delete(STACK + force).status_code == 204
    assert_error(dev["viewer"].get(STACK), 404)


def test_delete_stack_looks_only_at_the_latest_checkpoint(dev, db):
    """Resources destroyed since an older version: the stack is empty now."""
    add_checkpoint(db, "acme", "proj", "dev", 1, resources=3)
    add_checkpoint(db, "acme", "proj", "dev", 2, resources=0)
    assert dev["admin"].delete(STACK + "?force=false").status_code == 204


def test_delete_stack_without_checkpoint_needs_no_force(dev):
    assert dev["admin"].delete(STACK + "?force=false").status_code == 204


def test_deleted_stack_name_can_be_created_again(dev):
    dev["admin"].delete(STACK)
    response = dev["member"].post("/api/stacks/acme/proj", {"stackName": "dev"})
    assert response.status_code == 200
    assert response.get_json()["version"] == 0


# --- GET /api/user/stacks -----------------------------------------------------------------------

def listed(api, query=""):
    response = api.get("/api/user/stacks" + query)
    assert response.status_code == 200
    return response.get_json()


def refs(body):
    return sorted(s["id"] for s in body["stacks"])


@pytest.fixture
def spread(acme, people):
    """Stacks in acme (two projects), in each user's personal org, and in an org mona is not in."""
    member = acme["member"]
    member.post("/api/stacks/acme/web", {"stackName": "dev", "tags": {"team": "a", "env": "dev"}})
    member.post("/api/stacks/acme/web", {"stackName": "prod", "tags": {"team": "a", "env": "prod"}})
    member.post("/api/stacks/acme/api", {"stackName": "dev", "tags": {"team": "b"}})
    member.post("/api/stacks/mona/web", {"stackName": "mine", "tags": {"env": "dev"}})
    acme["outsider"].post("/api/stacks/globex/web", {"stackName": "dev"})
    acme["outsider"].post("/api/stacks/otto/web", {"stackName": "dev"})
    return acme


def test_list_stacks_shows_only_orgs_the_caller_belongs_to_including_personal(spread):
    assert refs(listed(spread["member"])) == [
        "acme/api/dev", "acme/web/dev", "acme/web/prod", "mona/web/mine",
    ]
    assert refs(listed(spread["viewer"])) == ["acme/api/dev", "acme/web/dev", "acme/web/prod"]
    assert refs(listed(spread["outsider"])) == ["globex/web/dev", "otto/web/dev"]


def test_list_stacks_for_a_caller_without_stacks_is_empty(people, spread):
    body = listed(people.user("newbie"))
    assert body["stacks"] == []
    assert body.get("continuationToken") is None


def test_list_stacks_after_losing_membership_hides_the_org(spread, db):
    with db, db.cursor() as cur:
        cur.execute("DELETE FROM memberships m USING users u WHERE u.id = m.user_id "
                    "AND u.login = 'vera'")
    assert refs(listed(spread["viewer"])) == []


def test_list_stacks_filters_by_organization(spread):
    assert refs(listed(spread["member"], "?organization=mona")) == ["mona/web/mine"]
    assert refs(listed(spread["member"], "?organization=globex")) == []


def test_list_stacks_filters_by_project(spread):
    assert refs(listed(spread["member"], "?project=web")) == [
        "acme/web/dev", "acme/web/prod", "mona/web/mine",
    ]


def test_list_stacks_filters_by_tag_name(spread):
    assert refs(listed(spread["member"], "?tagName=env")) == [
        "acme/web/dev", "acme/web/prod", "mona/web/mine",
    ]


def test_list_stacks_filters_by_tag_name_and_value(spread):
    assert refs(listed(spread["member"], "?tagName=env&tagValue=dev")) == [
        "acme/web/dev", "mona/web/mine",
    ]


def test_list_stacks_combines_filters(spread):
    query = "?organization=acme&project=web&tagName=team&tagValue=a"
    assert refs(listed(spread["member"], query)) == ["acme/web/dev", "acme/web/prod"]


def test_list_stacks_pages_with_continuation_token(spread, app, monkeypatch):
    monkeypatch.setitem(app.config, "STACK_PAGE_SIZE", 3)
    first = listed(spread["member"])
    assert len(first["stacks"]) == 3
    assert first["continuationToken"]
    second = listed(spread["member"], "?continuationToken=" + first["continuationToken"])
    assert len(second["stacks"]) == 1
    assert second.get("continuationToken") is None
    assert not set(refs(first)) & set(refs(second))
    assert sorted(refs(first) + refs(second)) == [
        "acme/api/dev", "acme/web/dev", "acme/web/prod", "mona/web/mine",
    ]


def test_list_stacks_pages_keep_the_filters(spread, app, monkeypatch):
    monkeypatch.setitem(app.config, "STACK_PAGE_SIZE", 1)
    seen, query = [], "?project=web"
    while True:
        body = listed(spread["member"], query)
        seen += refs(body)
        if not body.get("continuationToken"):
            break
        query = "?project=web&continuationToken=" + body["continuationToken"]
    assert seen == ["acme/web/dev", "acme/web/prod", "mona/web/mine"]


@pytest.mark.parametrize("token", ["abc", "-1", "1.5", ""])
def test_list_stacks_with_an_invalid_continuation_token_is_400(spread, token):
    assert_error(spread["member"].get("/api/user/stacks?continuationToken=" + token), 400)


def test_list_stacks_row_of_a_stack_never_updated(dev):
    (row,) = listed(dev["viewer"])["stacks"]
    assert row["id"] == "acme/proj/dev"
    assert (row["orgName"], row["projectName"], row["stackName"]) == ("acme", "proj", "dev")
    assert row["tags"] == {}
    assert row["version"] == 0
    assert row["activeUpdate"] == ""
    assert "lastUpdate" not in row
    assert "lastUpdateInfo" not in row


def test_list_stacks_row_of_an_updated_stack(dev, db):
    update = add_update(db, "acme", "proj", "dev", start_time="2024-03-07 16:00:00+00")
    (row,) = listed(dev["viewer"])["stacks"]
    assert row["version"] == 1
    assert row["activeUpdate"] == update
    assert row["lastUpdate"] == 1709827200
    assert row["lastUpdateInfo"] == {"kind": "update", "status": "succeeded",
                                     "startTime": 1709827200}


def test_list_stacks_last_update_is_the_latest_version(dev, db):
    add_update(db, "acme", "proj", "dev", kind="update", start_time="2024-03-07 16:00:00+00")
    add_update(db, "acme", "proj", "dev", kind="refresh", status="failed",
               start_time="2024-03-08 16:00:00+00")
    add_update(db, "acme", "proj", "dev", kind="preview", dry_run=True, version=2,
               start_time="2024-03-09 16:00:00+00")
    (row,) = listed(dev["viewer"])["stacks"]
    assert row["lastUpdateInfo"] == {"kind": "refresh", "status": "failed",
                                     "startTime": 1709913600}
    assert row["lastUpdate"] == 1709913600


# --- POST /api/stacks/{org}/{project}/{stack}/rename ------------------------------------------

def test_rename_cli_form_within_the_project(dev):
    response = dev["member"].post(STACK + "/rename", {"newName": "staging", "newProject": "proj"})
    assert response.status_code == 204
    assert_error(dev["viewer"].get(STACK), 404)
    body = dev["viewer"].get("/api/stacks/acme/proj/staging").get_json()
    assert (body["orgName"], body["projectName"], body["stackName"]) == ("acme", "proj", "staging")


def test_rename_cli_form_to_another_project_creates_it(dev, db):
    response = dev["member"].post(STACK + "/rename", {"newName": "dev", "newProject": "newproj"})
    assert response.status_code == 204
    assert dev["viewer"].head("/api/stacks/acme/newproj").status_code == 200
    assert stack_names(db) == ["acme/newproj/dev"]


def test_rename_contract_form_with_a_fully_qualified_name(dev, db):
    response = dev["member"].post(STACK + "/rename", {"newName": "acme/new-project/staging"})
    assert response.status_code == 204
    assert stack_names(db) == ["acme/new-project/staging"]
    assert dev["viewer"].head("/api/stacks/acme/new-project").status_code == 200


def test_rename_keeps_tags_version_and_history(dev, db):
    dev["member"].patch(STACK + "/tags", {"team": "a"})
    first = add_update(db, "acme", "proj", "dev")
    dev["member"].post(STACK + "/rename", {"newName": "acme/proj/staging"})
    body = dev["viewer"].get("/api/stacks/acme/proj/staging").get_json()
    assert body["tags"] == {"team": "a"}
    assert body["version"] == 2
    assert count(db, "SELECT count(*) FROM updates WHERE id = %s", first) == 1


def test_rename_cli_form_with_an_empty_project_keeps_the_project(dev, db):
    response = dev["member"].post(STACK + "/rename", {"newName": "staging", "newProject": ""})
    assert response.status_code == 204
    assert stack_names(db) == ["acme/proj/staging"]


def test_rename_cli_form_with_an_empty_name_keeps_the_name(dev, db):
    response = dev["member"].post(STACK + "/rename", {"newName": "", "newProject": "other"})
    assert response.status_code == 204
    assert stack_names(db) == ["acme/other/dev"]


def test_rename_cli_form_with_both_empty_is_400(dev, db):
    response = dev["member"].post(STACK + "/rename", {"newName": "", "newProject": ""})
    assert_error(response, 400)
    assert stack_names(db) == ["acme/proj/dev"]


def test_rename_to_another_org_is_400(dev, db, people):
    people.user("both", {"acme": "admin", "globex": "admin"})
    response = dev["member"].post(STACK + "/rename", {"newName": "globex/proj/dev"})
    assert_error(response, 400)
    assert stack_names(db) == ["acme/proj/dev"]


@pytest.mark.parametrize("new_name", ["staging", "proj/staging", "acme/proj/staging/x", "",
                                      "acme//staging", "/proj/staging"])
def test_rename_contract_form_not_fully_qualified_is_400(dev, db, new_name):
    assert_error(dev["member"].post(STACK + "/rename", {"newName": new_name}), 400)
    assert stack_names(db) == ["acme/proj/dev"]


@pytest.mark.parametrize("body", [
    {"newName": "acme/proj/bad name"},
    {"newName": "acme/bad$project/dev"},
    {"newName": "acme/proj/" + "s" * 101},
    {"newName": "bad name", "newProject": "proj"},
    {"newName": "dev", "newProject": "bad/project"},
    {"newName": "dev", "newProject": "p" * 101},
])
def test_rename_with_an_invalid_name_is_400(dev, db, body):
    assert_error(dev["member"].post(STACK + "/rename", body), 400)
    assert stack_names(db) == ["acme/proj/dev"]


def test_rename_unknown_stack_is_404(dev):
    response = dev["member"].post("/api/stacks/acme/proj/nope/rename", {"newName": "acme/proj/x"})
    assert_error(response, 404)


def test_rename_onto_an_existing_stack_is_409_and_changes_nothing(dev, db):
    dev["member"].post("/api/stacks/acme/proj", {"stackName": "prod"})
    before = dev["viewer"].get(STACK).get_json()
    response = dev["member"].post(STACK + "/rename", {"newName": "prod", "newProject": "proj"})
    assert_error(response, 409, contains="already exists")
    assert stack_names(db) == ["acme/proj/dev", "acme/proj/prod"]
    assert dev["viewer"].get(STACK).get_json() == before
    assert count(db, "SELECT count(*) FROM updates") == 0


def test_rename_onto_an_existing_stack_in_a_new_project_leaves_no_project(dev, db):
    dev["member"].post("/api/stacks/acme/other", {"stackName": "dev"})
    response = dev["member"].post(STACK + "/rename", {"newName": "acme/other/dev"})
    assert_error(response, 409)
    assert count(db, "SELECT count(*) FROM projects") == 2


def test_rename_while_an_update_runs_is_409(dev, db):
    add_update(db, "acme", "proj", "dev", status="running")
    assert_error(dev["member"].post(STACK + "/rename", {"newName": "acme/proj/x"}), 409)
    assert stack_names(db) == ["acme/proj/dev"]


def snapshot(db):
    """Everything a rename touches."""
    rows = {}
    with db.cursor() as cur:
        for table, order in (("stacks", "id"), ("projects", "id"), ("updates", "id"),
                             ("checkpoints", "stack_id, version")):
            cur.execute(f"SELECT * FROM {table} ORDER BY {order}")
            rows[table] = cur.fetchall()
    db.rollback()
    return rows


@pytest.mark.parametrize("failing", ["insert_recorded_update", "set_active_update",
                                     "put_checkpoint"])
def test_rename_failing_half_way_changes_nothing(dev, db, monkeypatch, failing):
    update = add_update(db, "acme", "proj", "dev")
    add_checkpoint(db, "acme", "proj", "dev", 1, resources=2, update_id=update)
    before = snapshot(db)

    def fail(*args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(queries, failing, fail)
    response = dev["member"].post(STACK + "/rename", {"newName": "acme/newproj/staging"})
    assert response.status_code == 500
    assert response.get_json()["code"] == 500
    assert "injected" not in response.get_data(as_text=True)
    assert snapshot(db) == before
    assert dev["viewer"].get(STACK).get_json()["version"] == 1


def test_rename_records_a_rename_update_shown_in_last_update_info(dev, db):
    add_update(db, "acme", "proj", "dev", start_time="2024-03-07 16:00:00+00")
    dev["member"].post(STACK + "/rename", {"newName": "staging", "newProject": "proj"})
    (row,) = listed(dev["viewer"])["stacks"]
    assert row["stackName"] == "staging"
    assert row["version"] == 2
    assert row["lastUpdateInfo"]["kind"] == "rename"
    assert row["lastUpdateInfo"]["status"] == "succeeded"
    assert row["lastUpdateInfo"]["startTime"] > 1709827200
    assert row["lastUpdate"] == row["lastUpdateInfo"]["startTime"]
    with db.cursor() as cur:
        cur.execute("SELECT id, kind, version, message FROM updates WHERE kind = 'rename'")
        (record,) = cur.fetchall()
    db.rollback()
    assert record["version"] == 2
    assert "acme/proj/dev" in record["message"] and "acme/proj/staging" in record["message"]
    assert row["activeUpdate"] == str(record["id"])


def test_rename_rewrites_the_urns_of_the_latest_checkpoint(dev, db):
    update = add_update(db, "acme", "proj", "dev")
    add_checkpoint(db, "acme", "proj", "dev", 1, resources=2, update_id=update)
    dev["member"].post(STACK + "/rename", {"newName": "acme/newproj/staging"})
    latest = queries.latest_checkpoint(db, stack_id=stack_id(db, "acme", "newproj", "staging"))
    db.rollback()
    assert latest["version"] == 2
    assert latest["resource_count"] == 2
    urns = [r["urn"] for r in json.loads(load(latest["deployment_gz"]))["deployment"]["resources"]]
    assert urns == [f"urn:pulumi:staging::newproj::random:index/randomPet:RandomPet::pet{i}"
                    for i in range(2)]


def test_rename_to_the_same_name_changes_nothing(dev, db):
    response = dev["member"].post(STACK + "/rename", {"newName": "dev", "newProject": "proj"})
    assert response.status_code == 204
    assert count(db, "SELECT count(*) FROM updates") == 0
    assert dev["viewer"].get(STACK).get_json()["version"] == 0


# --- PATCH /api/stacks/{org}/{project}/{stack}/tags ---------------------------------------------

def test_patch_tags_with_the_cli_bare_map_replaces_all_tags(dev):
    dev["member"].patch(STACK + "/tags", {"old": "1", "keep": "x"})
    response = dev["member"].patch(STACK + "/tags", {"keep": "y", "pulumi:project": "proj"})
    assert response.status_code == 204
    assert response.get_data() == b""
    assert dev["viewer"].get(STACK).get_json()["tags"] == {"keep": "y", "pulumi:project": "proj"}


def test_patch_tags_with_the_contract_form_replaces_all_tags(dev):
    dev["member"].patch(STACK + "/tags", {"tags": {"old": "1", "keep": "x"}})
    response = dev["member"].patch(STACK + "/tags", {"tags": {
        "pulumi:project": "my-project", "environment": "staging", "team": "platform",
    }})
    assert response.status_code == 204
    assert dev["viewer"].get(STACK).get_json()["tags"] == {
        "pulumi:project": "my-project", "environment": "staging", "team": "platform",
    }


def test_patch_tags_with_a_bare_tag_named_tags(dev):
    """A bare map whose one tag is called `tags` is still a bare map (its value is a string)."""
    assert dev["member"].patch(STACK + "/tags", {"tags": "mine"}).status_code == 204
    assert dev["viewer"].get(STACK).get_json()["tags"] == {"tags": "mine"}


def test_patch_tags_with_an_empty_map_removes_all_tags(dev):
    dev["member"].patch(STACK + "/tags", {"a": "1"})
    assert dev["member"].patch(STACK + "/tags", {}).status_code == 204
    assert dev["viewer"].get(STACK).get_json()["tags"] == {}


def test_patch_tags_shows_in_list_stacks(dev):
    dev["member"].patch(STACK + "/tags", {"team": "a"})
    assert listed(dev["viewer"], "?tagName=team&tagValue=a")["stacks"][0]["tags"] == {"team": "a"}


def test_patch_tags_of_unknown_stack_is_404(dev):
    assert_error(dev["member"].patch("/api/stacks/acme/proj/nope/tags", {"a": "1"}), 404)
