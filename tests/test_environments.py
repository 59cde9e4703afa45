"""ESC environments over HTTP: create, list, get (ETag, Pulumi-ESC-Revision), edit with
optimistic concurrency, revisions, delete; secrets sealed at rest; check, open and read
(named and anonymous); roles; and bad input answered with JSON, never a 500."""
import pytest

from app import create_app, secrets
from tests.support.api import Api, assert_error
from tests.support.apps import make_config

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
    assert_error(yaml(dev["viewer"], "POST", f"{BASE}/acme/yaml/check?showSecrets=true", text), 403)


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
