"""ESC environments over HTTP: create, list, get (ETag, Pulumi-ESC-Revision), edit with
optimistic concurrency, revisions, delete; secrets sealed at rest; check, open and read
(named and anonymous); roles; and bad input answered with JSON, never a 500."""
import base64
import json

import pytest

from app import create_app, secrets
from tests.support.api import Api, assert_error
from tests.support.apps import make_config
from tests.support.deployments import untyped
from tests.support.updates import STACK, Operation, make_stack

BASE = "/api/esc/environments"
ENV = f"{BASE}/acme/proj/dev"
DEFINITION = ("# shared settings\nvalues:\n  region: us-west-2\n"
              "  password:\n    fn::secret: hunter2\n"
              "  pulumiConfig:\n    aws:region: ${region}\n    dbPassword: ${password}\n"
              "  environmentVariables:\n    DB_PASSWORD: ${password}\n")


def yaml(api, method, path, text, headers=None):
    return api.call(method, path, data=text.encode(), headers=headers)


@pytest.fixture
def dev(acme):
    assert acme["member"].post(f"{BASE}/acme", {"project": "proj", "name": "dev"}).status_code == 200
    return acme


def save(api, text, path=ENV, etag=None):
    response = yaml(api, "PATCH", path, text, headers={"ETag": etag} if etag else None)
    assert response.status_code == 200, response.get_data(as_text=True)
    return int(response.headers["Pulumi-ESC-Revision"])


def test_a_new_environment_is_revision_1_and_empty(dev):
    got = dev["viewer"].get(ENV)
    assert got.status_code == 200
    assert got.get_data(as_text=True) == ""
    assert got.headers["Pulumi-ESC-Revision"] == "1" and got.headers["ETag"]


def test_creating_an_existing_environment_is_409(dev):
    assert_error(dev["member"].post(f"{BASE}/acme", {"project": "proj", "name": "dev"}), 409)


def test_bad_names_are_400(acme):
    assert_error(acme["member"].post(f"{BASE}/acme", {"project": "proj", "name": "a/b"}), 400)
    assert_error(acme["member"].post(f"{BASE}/acme", {"project": "proj"}), 400)


def test_save_makes_revisions_and_get_reads_each(dev):
    assert save(dev["member"], "values:\n  a: 1\n") == 2
    assert save(dev["member"], "values:\n  a: 2\n") == 3
    latest = dev["viewer"].get(ENV)
    assert latest.headers["Pulumi-ESC-Revision"] == "3"
    assert latest.get_data(as_text=True) == "values:\n  a: 2\n"
    old = dev["viewer"].get(f"{ENV}/versions/2")
    assert old.get_data(as_text=True) == "values:\n  a: 1\n" and old.headers["Pulumi-ESC-Revision"] == "2"
    assert dev["viewer"].get(f"{ENV}/versions/latest").headers["Pulumi-ESC-Revision"] == "3"
    assert_error(dev["viewer"].get(f"{ENV}/versions/9"), 404)
    revisions = dev["viewer"].get(f"{ENV}/versions").get_json()
    assert [r["number"] for r in revisions] == [3, 2, 1]
    # What the ESC CLI sends: before=0 for "from the latest", and a count.
    paged = dev["viewer"].get(f"{ENV}/versions?before=0&count=2").get_json()
    assert [r["number"] for r in paged] == [3, 2]
    assert revisions[0]["tags"] == ["latest"] and revisions[0]["creatorLogin"] == "mona"


def test_a_stale_edit_is_409_and_changes_nothing(dev):
    etag = dev["member"].get(ENV).headers["ETag"]
    save(dev["member"], "values:\n  first: 1\n", etag=etag)
    response = yaml(dev["admin"], "PATCH", ENV, "values:\n  second: 1\n",
                    headers={"If-Match": etag})
    assert_error(response, 409, "changed")
    assert dev["viewer"].get(ENV).get_data(as_text=True) == "values:\n  first: 1\n"


def test_secrets_are_stored_as_ciphertext_and_decrypted_for_members(dev, db):
    save(dev["member"], DEFINITION)
    shown = dev["viewer"].get(ENV).get_data(as_text=True)
    assert "hunter2" not in shown and "ciphertext:" in shown and shown.startswith("# shared")
    with db, db.cursor() as cur:
        cur.execute("SELECT yaml FROM environment_revisions")
        assert not any("hunter2" in row["yaml"] for row in cur.fetchall())
    decrypted = dev["member"].get(f"{ENV}/decrypt")
    assert decrypted.status_code == 200 and "hunter2" in decrypted.get_data(as_text=True)
    assert_error(dev["viewer"].get(f"{ENV}/decrypt"), 403)


def test_saving_the_decrypted_text_back_keeps_the_secret(dev):
    save(dev["member"], DEFINITION)
    text = dev["member"].get(f"{ENV}/decrypt").get_data(as_text=True)
    save(dev["member"], text)
    assert "hunter2" not in dev["member"].get(ENV).get_data(as_text=True)
    assert "hunter2" in dev["member"].get(f"{ENV}/decrypt").get_data(as_text=True)


def test_a_definition_with_errors_is_400_with_diagnostics_and_not_saved(dev):
    response = yaml(dev["member"], "PATCH", ENV, "values:\n  a: ${missing}\n")
    body = assert_error(response, 400)
    assert body["diagnostics"][0]["summary"] == 'unknown property "missing"'
    assert body["diagnostics"][0]["range"]["begin"]["line"] == 2
    assert dev["viewer"].get(ENV).headers["Pulumi-ESC-Revision"] == "1"


@pytest.mark.parametrize("text", ["values: [unclosed\n", "\x00", "a: " + "[" * 3000, "- 1\n"])
def test_bad_definitions_are_400_not_500(dev, text):
    assert_error(yaml(dev["member"], "PATCH", ENV, text), 400)


def test_an_oversized_definition_is_413(dev, app):
    big = "values:\n  a: '" + "x" * app.config["ESC_MAX_DEFINITION_BYTES"] + "'\n"
    assert_error(yaml(dev["member"], "PATCH", ENV, big), 413)


def test_list_shows_the_callers_environments(dev):
    dev["member"].post(f"{BASE}/acme", {"project": "other", "name": "a"})
    listed = dev["viewer"].get(f"{BASE}/acme").get_json()["environments"]
    assert [(e["organization"], e["project"], e["name"]) for e in listed] == [
        ("acme", "other", "a"), ("acme", "proj", "dev")]
    assert all(e["created"].endswith("Z") and e["modified"] for e in listed)
    assert len(dev["viewer"].get(BASE).get_json()["environments"]) == 2
    assert dev["outsider"].get(BASE).get_json()["environments"] == []
    assert_error(dev["viewer"].get(f"{BASE}?continuationToken=nope"), 400)


def test_roles_viewers_read_members_edit_admins_delete(dev):
    assert_error(yaml(dev["viewer"], "PATCH", ENV, "values: {a: 1}\n"), 403)
    assert_error(dev["viewer"].post(f"{BASE}/acme", {"project": "proj", "name": "x"}), 403)
    assert_error(dev["member"].delete(ENV), 403)
    assert_error(dev["outsider"].get(ENV), 404)
    assert_error(dev["outsider"].post(f"{ENV}/open"), 404)
    assert dev["admin"].delete(ENV).status_code == 200
    assert_error(dev["viewer"].get(ENV), 404)
    assert_error(dev["admin"].delete(ENV), 404)


def test_changes_are_audited(dev):
    save(dev["member"], "values: {a: 1}\n")
    dev["admin"].delete(ENV)
    events = [e["event"] for e in dev["admin"].get("/api/orgs/acme/auditlogs").get_json()["auditLogEvents"]]
    assert {"environment.created", "environment.updated", "environment.deleted"} <= set(events)


# --- evaluation -------------------------------------------------------------------------------

def test_open_then_read_the_environment_and_one_property(dev):
    save(dev["member"], DEFINITION)
    opened = dev["member"].post(f"{ENV}/open?duration=2h0m0s")
    assert opened.status_code == 200
    session = opened.get_json()["id"]
    env = dev["member"].get(f"{ENV}/open/{session}").get_json()
    config = env["properties"]["pulumiConfig"]["value"]
    assert config["aws:region"]["value"] == "us-west-2"
    assert config["dbPassword"] == {**config["dbPassword"], "value": "hunter2", "secret": True}
    one = dev["member"].get(f"{ENV}/open/{session}?property=pulumiConfig.dbPassword").get_json()
    assert one["value"] == "hunter2" and one["secret"] is True
    assert_error(dev["member"].get(f"{ENV}/open/{session}?property=nope"), 404)
    assert_error(dev["member"].get(f"{ENV}/open/unknown-session"), 404)


def test_a_viewer_opens_but_sees_no_secret(dev):
    save(dev["member"], DEFINITION)
    session = dev["viewer"].post(f"{ENV}/open").get_json()["id"]
    env = dev["viewer"].get(f"{ENV}/open/{session}").get_json()
    assert env["properties"]["password"]["value"] == "[secret]"
    assert env["properties"]["region"]["value"] == "us-west-2"


def test_open_at_a_revision(dev):
    save(dev["member"], "values: {a: old}\n")
    save(dev["member"], "values: {a: new}\n")
    session = dev["member"].post(f"{ENV}/versions/2/open").get_json()["id"]
    assert dev["member"].get(f"{ENV}/open/{session}").get_json()["properties"]["a"]["value"] == "old"


def test_a_bad_duration_is_400(dev):
    assert_error(dev["member"].post(f"{ENV}/open?duration=forever"), 400)


def test_yaml_open_reads_imports_like_a_stacks_environment_block(dev):
    save(dev["member"], DEFINITION)
    opened = yaml(dev["member"], "POST", f"{BASE}/acme/yaml/open?duration=2h0m0s",
                  '{"imports": ["proj/dev"]}')
    assert opened.status_code == 200, opened.get_data(as_text=True)
    session = opened.get_json()["id"]
    env = dev["member"].get(f"{BASE}/acme/yaml/open/{session}").get_json()
    assert env["properties"]["environmentVariables"]["value"]["DB_PASSWORD"]["value"] == "hunter2"
    # The session belongs to the anonymous document: not readable as the named environment's.
    assert_error(dev["member"].get(f"{ENV}/open/{session}"), 404)


def test_yaml_check_returns_values_with_secrets_hidden_unless_asked(dev):
    text = "values:\n  p: {fn::secret: pw}\n  j: {fn::join: ['-', [a, b]]}\n"
    checked = yaml(dev["viewer"], "POST", f"{BASE}/acme/yaml/check", text).get_json()
    assert checked["properties"]["p"]["value"] == "[secret]" and checked["properties"]["j"]["value"] == "a-b"
    shown = yaml(dev["member"], "POST", f"{BASE}/acme/yaml/check?showSecrets=true", text).get_json()
    assert shown["properties"]["p"]["value"] == "pw"
    # A viewer's own plaintext is theirs to see; an environment's secrets (imported, or its
    # ciphertexts pasted) need the 'open' permission on it, which viewers lack.
    own = yaml(dev["viewer"], "POST", f"{BASE}/acme/yaml/check?showSecrets=true", text)
    assert own.get_json()["properties"]["p"]["value"] == "pw"
    save(dev["member"], DEFINITION)
    stored = dev["viewer"].get(ENV).get_data(as_text=True)
    for document in ("imports: [proj/dev]\n", stored):
        refused = assert_error(yaml(dev["viewer"], "POST",
                                    f"{BASE}/acme/yaml/check?showSecrets=true", document), 403)
        assert "'open' permission on proj/dev" in refused["message"]
        hidden = yaml(dev["viewer"], "POST", f"{BASE}/acme/yaml/check", document).get_json()
        assert hidden["properties"]["password"]["value"] == "[secret]"


def test_yaml_open_with_errors_is_400_with_diagnostics(dev):
    body = assert_error(yaml(dev["member"], "POST", f"{BASE}/acme/yaml/open",
                             '{"imports": ["proj/missing"]}'), 400)
    assert 'unknown environment "proj/missing"' in body["diagnostics"][0]["summary"]


def test_an_outsider_cannot_import_another_organizations_environment(dev):
    body = assert_error(yaml(dev["outsider"], "POST", f"{BASE}/globex/yaml/open",
                             "imports: [acme/proj/dev]\n"), 400)
    assert body["diagnostics"]
    assert_error(yaml(dev["outsider"], "POST", f"{BASE}/acme/yaml/open", "imports: [proj/dev]\n"), 404)


def test_secrets_survive_a_master_key_rotation(dev, app, db, database_url):
    save(dev["member"], DEFINITION)
    new_key = secrets.generate_master_key()
    with db:
        secrets.rotate_master_key(db, secrets.keyring_of(app),
                                  secrets.parse_master_key(new_key, "test"))
    rotated = create_app(make_config(database_url, SECRETS_MASTER_KEY=new_key))
    member = Api(rotated.test_client(), dev["member"].token)
    assert "hunter2" in member.get(f"{ENV}/decrypt").get_data(as_text=True)


def test_yaml_check_opens_ciphertexts_of_the_organizations_environments(dev):
    # What `env get` does: the stored definition, ciphertexts included, sent to yaml/check.
    save(dev["member"], DEFINITION)
    stored = dev["member"].get(ENV).get_data(as_text=True)
    checked = yaml(dev["member"], "POST", f"{BASE}/acme/yaml/check?showSecrets=true", stored)
    assert checked.get_json()["properties"]["password"]["value"] == "hunter2"
    assert_error(yaml(dev["outsider"], "POST", f"{BASE}/globex/yaml/check", stored), 400)


def test_revision_tags_name_revisions_and_latest_moves(dev):
    save(dev["member"], "values: {a: 1}\n")
    tags = f"{ENV}/versions/tags"
    assert dev["member"].post(tags, {"name": "stable", "revision": 2}).status_code == 200
    assert_error(dev["member"].post(tags, {"name": "stable"}), 409)
    assert_error(dev["member"].post(tags, {"name": "x", "revision": 9}), 400)
    assert_error(dev["member"].post(tags, {"name": "latest"}), 400)
    save(dev["member"], "values: {a: 2}\n")
    assert dev["viewer"].get(f"{tags}/stable").get_json()["revision"] == 2
    assert dev["viewer"].get(f"{tags}/latest").get_json()["revision"] == 3
    assert dev["viewer"].get(f"{ENV}/versions/stable").get_data(as_text=True) == "values: {a: 1}\n"
    listed = dev["viewer"].get(tags).get_json()["tags"]
    assert [(t["name"], t["revision"]) for t in listed] == [("latest", 3), ("stable", 2)]
    revisions = dev["viewer"].get(f"{ENV}/versions").get_json()
    assert revisions[1]["tags"] == ["stable"]
    assert dev["member"].patch(f"{tags}/stable", {"revision": 3}).status_code == 200
    assert dev["viewer"].get(f"{tags}/stable").get_json()["revision"] == 3
    assert_error(dev["viewer"].delete(f"{tags}/stable"), 403)
    assert dev["member"].delete(f"{tags}/stable").status_code == 200
    assert_error(dev["viewer"].get(f"{tags}/stable"), 404)
    assert_error(dev["member"].delete(f"{tags}/latest"), 400)


# --- clone, environment tags --------------------------------------------------------------------

def test_clone_copies_the_latest_definition_with_its_secret_under_a_new_key(dev):
    save(dev["member"], DEFINITION)
    save(dev["member"], DEFINITION.replace("us-west-2", "eu-west-1"))
    clone = dev["member"].post(f"{ENV}/clone", {"name": "copy"})
    assert clone.status_code == 200, clone.get_json()
    copy = dev["member"].get(f"{BASE}/acme/proj/copy")
    assert copy.headers["Pulumi-ESC-Revision"] == "1"
    stored = copy.get_data(as_text=True)
    assert "eu-west-1" in stored and "hunter2" not in stored
    assert stored != dev["member"].get(ENV).get_data(as_text=True)  # re-sealed: its own key
    assert dev["admin"].delete(ENV).status_code == 200  # the copy does not need the source
    assert "hunter2" in dev["member"].get(f"{BASE}/acme/proj/copy/decrypt").get_data(as_text=True)
    assert_error(dev["member"].post(f"{BASE}/acme/proj/copy/clone", {"name": "copy"}), 409)
    assert_error(dev["viewer"].post(f"{BASE}/acme/proj/copy/clone", {"name": "x"}), 403)
    assert_error(dev["outsider"].post(f"{BASE}/acme/proj/copy/clone", {"name": "x"}), 404)


def test_clone_with_history_and_tags_into_another_project(dev):
    save(dev["member"], "values: {a: 1}\n")
    save(dev["member"], "values: {a: 2}\n")
    dev["member"].post(f"{ENV}/versions/tags", {"name": "stable", "revision": 2})
    dev["member"].post(f"{ENV}/tags", {"name": "team", "value": "infra"})
    assert dev["member"].post(f"{ENV}/clone", {
        "project": "other", "name": "dev", "preserveHistory": True,
        "preserveRevisionTags": True, "preserveEnvironmentTags": True}).status_code == 200
    copy = f"{BASE}/acme/other/dev"
    assert [r["number"] for r in dev["viewer"].get(f"{copy}/versions").get_json()] == [3, 2, 1]
    assert dev["viewer"].get(f"{copy}/versions/stable").get_data(as_text=True) == "values: {a: 1}\n"
    assert dev["viewer"].get(f"{copy}/tags/team").get_json()["value"] == "infra"
    # An older revision alone, and a revision that does not exist.
    assert dev["member"].post(f"{ENV}/clone", {"name": "old", "version": 2}).status_code == 200
    assert dev["viewer"].get(f"{BASE}/acme/proj/old").get_data(as_text=True) == "values: {a: 1}\n"
    assert_error(dev["member"].post(f"{ENV}/clone", {"name": "none", "version": 9}), 404)


def test_environment_tags_set_list_rename_and_delete(dev):
    tags = f"{ENV}/tags"
    made = dev["member"].post(tags, {"name": "team", "value": "infra"})
    assert made.status_code == 200 and made.get_json()["editorLogin"] == "mona"
    assert_error(dev["member"].post(tags, {"name": "team", "value": "x"}), 409)
    assert_error(dev["member"].post(tags, {"name": "bad name!", "value": "x"}), 400)
    assert_error(dev["viewer"].post(tags, {"name": "v", "value": "x"}), 403)
    dev["member"].post(tags, {"name": "cost", "value": "low"})
    listed = dev["viewer"].get(tags).get_json()
    assert {k: t["value"] for k, t in listed["tags"].items()} == {"cost": "low", "team": "infra"}
    assert listed["nextToken"] == "0"  # the ESC CLI's "last page"
    page = dev["viewer"].get(f"{tags}?count=1").get_json()
    assert list(page["tags"]) == ["cost"] and page["nextToken"] != "0"
    rest = dev["viewer"].get(f"{tags}?count=1&after={page['nextToken']}").get_json()
    assert list(rest["tags"]) == ["team"]
    assert_error(dev["viewer"].get(f"{tags}?after=%25%25"), 400)
    # A stale current value is 409; an empty new value keeps it (what the CLI sends on rename).
    assert_error(dev["admin"].patch(f"{tags}/team", {"currentTag": {"value": "old"},
                                                     "newTag": {"value": "x"}}), 409)
    renamed = dev["admin"].patch(f"{tags}/team", {"currentTag": {"value": "infra"},
                                                  "newTag": {"name": "owner", "value": ""}})
    assert renamed.get_json()["name"] == "owner" and renamed.get_json()["value"] == "infra"
    assert_error(dev["admin"].patch(f"{tags}/owner", {"newTag": {"name": "cost"}}), 409)
    assert_error(dev["viewer"].get(f"{tags}/team"), 404)
    assert dev["member"].delete(f"{tags}/owner").status_code == 200
    assert_error(dev["member"].delete(f"{tags}/owner"), 404)
    logged = dev["admin"].get("/api/orgs/acme/auditlogs").get_json()["auditLogEvents"]
    assert "environment.tag_changed" in {e["event"] for e in logged}


# --- editors, imports, fn::open::pulumi-stacks ---------------------------------------------

def test_two_editors_with_the_same_etag_one_gets_409(dev):
    etag = dev["member"].get(ENV).headers["ETag"]
    first = yaml(dev["member"], "PATCH", ENV, "values: {by: mona}\n", headers={"If-Match": etag})
    second = yaml(dev["admin"], "PATCH", ENV, "values: {by: adam}\n", headers={"If-Match": etag})
    assert first.status_code == 200
    assert_error(second, 409)
    assert dev["viewer"].get(ENV).get_data(as_text=True) == "values: {by: mona}\n"


def test_an_import_chain_past_the_limit_is_a_diagnostic(dev):
    def text(i):
        return f"values: {{v{i}: {i}}}\n" + (f"imports: [chain/e{i - 1}]\n" if i else "")
    for i in range(12):
        dev["member"].post(f"{BASE}/acme", {"project": "chain", "name": f"e{i}"})
        if i < 11:
            save(dev["member"], text(i), path=f"{BASE}/acme/chain/e{i}")
    body = assert_error(yaml(dev["member"], "PATCH", f"{BASE}/acme/chain/e11", text(11)), 400)
    assert "imports nest deeper than 10" in body["diagnostics"][0]["summary"]
    opened = dev["member"].post(f"{BASE}/acme/chain/e10/open").get_json()["id"]
    values = dev["member"].get(f"{BASE}/acme/chain/e10/open/{opened}").get_json()["properties"]
    assert values["v0"]["value"] == 0 and values["v10"]["value"] == 10


STACK_REF = ("values:\n  infra:\n    fn::open::pulumi-stacks:\n"
             "      stacks:\n        net: {stack: proj/dev}\n"
             "  vpc: ${infra.net.vpcId}\n")


@pytest.fixture
def stack_with_outputs(dev):
    make_stack(dev["member"])
    secret = dev["member"].post(f"{STACK}/encrypt", {
        "plaintext": base64.b64encode(json.dumps("s3cret").encode()).decode()}).get_json()
    state = untyped(2)
    state["deployment"]["resources"][0]["outputs"] = {"vpcId": "vpc-123", "password": {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "ciphertext": secret["ciphertext"]}}
    op = Operation(dev["member"])
    op.start()
    assert op.checkpoint(state).status_code == 204
    assert op.complete().status_code == 204
    return dev


def test_pulumi_stacks_reads_stack_outputs_and_keeps_secrets_secret(stack_with_outputs):
    dev = stack_with_outputs
    save(dev["member"], STACK_REF)
    session = dev["member"].post(f"{ENV}/open").get_json()["id"]
    values = dev["member"].get(f"{ENV}/open/{session}").get_json()["properties"]
    assert values["vpc"]["value"] == "vpc-123"
    password = values["infra"]["value"]["net"]["value"]["password"]
    assert password["value"] == "s3cret" and password["secret"] is True
    session = dev["viewer"].post(f"{ENV}/open").get_json()["id"]
    shown = dev["viewer"].get(f"{ENV}/open/{session}").get_json()["properties"]
    assert shown["infra"]["value"]["net"]["value"]["password"]["value"] == "[secret]"


def test_pulumi_stacks_reads_with_the_callers_rights(stack_with_outputs, db):
    dev = stack_with_outputs
    # The outsider's own organization cannot name acme's stack.
    text = STACK_REF.replace("proj/dev", "acme/proj/dev")
    body = assert_error(yaml(dev["outsider"], "POST",
                             f"{BASE}/globex/yaml/check", text), 400)
    assert body["diagnostics"][0]["summary"].endswith('stack "acme/proj/dev" not found')
    # A member with no permission on the stack (default none, no team) cannot read it either.
    with db, db.cursor() as cur:
        cur.execute("UPDATE organizations SET default_stack_permission = 0 WHERE name = 'acme'")
    body = assert_error(yaml(dev["member"], "POST", f"{BASE}/acme/yaml/check", STACK_REF), 400)
    assert 'stack "proj/dev" not found' in body["diagnostics"][0]["summary"]
    assert yaml(dev["admin"], "POST", f"{BASE}/acme/yaml/check", STACK_REF).status_code == 200


def test_other_providers_are_not_available_on_this_service(dev):
    text = "values:\n  aws:\n    fn::open::aws-login:\n      oidc: {roleArn: x}\n"
    body = assert_error(yaml(dev["member"], "POST", f"{BASE}/acme/yaml/check", text), 400)
    assert "provider not available on this service" in body["diagnostics"][0]["summary"]
    assert "aws-login" in body["diagnostics"][0]["summary"]


def test_a_retracted_revision_is_gone_and_its_tags_name_its_replacement(dev):
    member = dev["member"]
    for text in ("values: {a: 1}\n", "values: {a: 2}\n", "values: {a: 3}\n"):   # 2, 3, 4
        save(member, text)
    assert member.post(f"{ENV}/versions/tags", {"name": "stable", "revision": 3}).status_code == 200
    retract = lambda api, version, **body: api.post(f"{ENV}/versions/{version}/retract", body)

    assert_error(retract(dev["viewer"], 3), 403)
    assert_error(retract(member, 4), 400, "latest")
    assert_error(retract(member, "latest"), 400, "latest")
    assert_error(retract(member, 9), 404)
    assert retract(member, "stable", reason="leaked a key").status_code == 204
    assert_error(member.get(f"{ENV}/versions/3"), 410, "replaced by revision 2")
    assert_error(member.post(f"{ENV}/versions/3/open"), 410)
    assert member.get(f"{BASE}/acme/proj/dev/versions/tags/stable").get_json()["revision"] == 2
    assert member.get(f"{ENV}/versions/stable").get_data(as_text=True) == "values: {a: 1}\n"
    listed = {r["number"]: r for r in member.get(f"{ENV}/versions").get_json()}
    assert listed[3]["retracted"]["replacement"] == 2
    assert (listed[3]["retracted"]["byLogin"], listed[3]["retracted"]["reason"]) == (
        "mona", "leaked a key")
    assert "retracted" not in listed[2] and "retracted" not in listed[4]
    # Nothing reaches it any more: not a tag, not an import, not a second retraction.
    assert_error(member.post(f"{ENV}/versions/tags", {"name": "again", "revision": 3}), 400)
    body = assert_error(yaml(member, "POST", f"{BASE}/acme/yaml/open", "imports: [proj/dev@3]\n"),
                        400)
    assert "proj/dev@3" in body["diagnostics"][0]["summary"]
    assert_error(retract(member, 3), 410)
    # Replacements must be other, readable revisions; revision 1 has no earlier one.
    assert_error(retract(member, 2, replacement=3), 400, "retracted")
    assert_error(retract(member, 2, replacement=2), 400)
    assert_error(retract(member, 2, replacement=99), 400)
    assert_error(retract(member, 1), 400, "name a replacement")
    assert retract(member, 1, replacement=4).status_code == 204
    # A clone with its history keeps what was retracted retracted.
    assert member.post(f"{ENV}/clone", {"name": "copy", "preserveHistory": True}).status_code == 200
    assert_error(member.get(f"{BASE}/acme/proj/copy/versions/3"), 410)
    assert member.get(f"{BASE}/acme/proj/copy/versions/2").get_data(as_text=True) == "values: {a: 1}\n"
    events = dev["admin"].get("/api/orgs/acme/auditlogs/v2").get_json()["auditLogEvents"]
    assert "retracted revision 3 of environment acme/proj/dev (replaced by revision 2): " \
           "leaked a key" in [e["description"] for e in events]


def test_deletion_protection_refuses_a_delete_until_turned_off(dev):
    admin, settings = dev["admin"], f"{ENV}/settings"
    assert dev["viewer"].get(settings).get_json() == {"deletionProtected": False}
    assert_error(dev["member"].patch(settings, {"deletionProtected": True}), 403)
    assert admin.patch(settings, {"deletionProtected": True}).status_code == 204
    assert admin.patch(settings, {}).status_code == 204              # nothing given: unchanged
    assert dev["viewer"].get(settings).get_json() == {"deletionProtected": True}
    assert_error(admin.patch(settings, {"deletionProtected": "yes please"}), 400)
    refused = assert_error(admin.delete(ENV), 409)
    assert "protect" in refused["message"]      # what the CLI looks for to explain
    assert dev["viewer"].get(ENV).status_code == 200
    assert admin.patch(settings, {"deletionProtected": False}).status_code == 204
    assert admin.delete(ENV).status_code == 200
    assert_error(admin.get(settings), 404)


def test_context_is_the_caller_and_the_organization(dev):
    text = "values:\n  who: ${context.pulumi.user.login}@${context.pulumi.organization.login}\n"
    for role, login in (("member", "mona"), ("viewer", "vera")):
        checked = yaml(dev[role], "POST", f"{BASE}/acme/yaml/check", text).get_json()
        assert checked["properties"]["who"]["value"] == f"{login}@acme"
