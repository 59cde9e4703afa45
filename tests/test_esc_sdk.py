"""Pulumi's official ESC client (PyPI `pulumi-esc-sdk`, EscClient) against a real gunicorn:
every answer it reads decodes into its models (list, get, get at a version, create, clone,
update, open, read, check, decrypt, revisions, revision tags, environment tags), and the
service's refusals reach it as ApiException with the status."""
import uuid

import pytest
from pulumi_esc_sdk import ApiException

from tests.support.api import user_with_token
from tests.support.sdk import esc_client

DEFINITION = """values:
  region: us-west-2
  password:
    fn::secret: hunter2
  pulumiConfig:
    region: ${region}
"""


@pytest.fixture(scope="module")
def org(sdk_service):
    """An organization with a member and a viewer, each an EscClient, on the clients' service."""
    gunicorn, database_url = sdk_service
    name = "org-" + uuid.uuid4().hex[:8]
    clients = {role: esc_client(gunicorn.url, user_with_token(database_url, f"{role}-{name}",
                                                              {name: role}))
               for role in ("member", "viewer")}
    return name, clients["member"], clients["viewer"]


def refused(call, status):
    with pytest.raises(ApiException) as raised:
        call()
    assert raised.value.status == status


def test_environments_lifecycle_and_evaluation(org):
    name, member, viewer = org
    member.create_environment(name, "shared", "dev")
    member.update_environment_yaml(name, "shared", "dev", DEFINITION)
    listed = viewer.list_environments(name)
    assert [(e.project, e.name) for e in listed.environments] == [("shared", "dev")]

    definition, raw = viewer.get_environment(name, "shared", "dev")
    assert definition.values.additional_properties["region"] == "us-west-2"
    assert b"hunter2" not in raw and b"ciphertext" in raw
    decrypted, text = member.decrypt_environment(name, "shared", "dev")
    assert "hunter2" in text
    old, _ = viewer.get_environment_at_version(name, "shared", "dev", "1")
    assert old is None or not old.values

    env, values, _ = member.open_and_read_environment(name, "shared", "dev")
    assert values == {"region": "us-west-2", "password": "hunter2",
                      "pulumiConfig": {"region": "us-west-2"}}
    assert env.properties["password"].secret is True
    opened = member.open_environment(name, "shared", "dev")
    one, value = member.read_open_environment_property(name, "shared", "dev", opened.id,
                                                       "pulumiConfig.region")
    assert value == "us-west-2"
    _, shown, _ = viewer.open_and_read_environment(name, "shared", "dev")
    _, older, _ = member.open_and_read_environment_at_version(name, "shared", "dev", "1")
    assert older == {}
    assert shown["password"] == "[secret]"
    refused(lambda: viewer.decrypt_environment(name, "shared", "dev"), 403)

    checked = member.check_environment_yaml(name, "values:\n  a: ${nope}\n")
    assert checked.diagnostics and "nope" in checked.diagnostics[0].summary
    assert member.check_environment_yaml(name, "values: {a: 1}\n").properties["a"].value == 1


def test_revisions_tags_clone_and_delete(org):
    name, member, viewer = org
    member.create_environment(name, "shared", "tagged")
    member.update_environment_yaml(name, "shared", "tagged", "values: {a: 1}\n")
    member.update_environment_yaml(name, "shared", "tagged", "values: {a: 2}\n")
    revisions = viewer.list_environment_revisions(name, "shared", "tagged")
    assert [r.number for r in revisions] == [3, 2, 1] and revisions[0].tags == ["latest"]

    member.create_environment_revision_tag(name, "shared", "tagged", "stable", 2)
    assert viewer.get_environment_revision_tag(name, "shared", "tagged", "stable").revision == 2
    member.update_environment_revision_tag(name, "shared", "tagged", "stable", 3)
    tags = viewer.list_environment_revision_tags(name, "shared", "tagged")
    assert [(t.name, t.revision) for t in tags.tags] == [("latest", 3), ("stable", 3)]
    member.delete_environment_revision_tag(name, "shared", "tagged", "stable")

    made = member.create_environment_tag(name, "shared", "tagged", "team", "infra")
    assert (made.name, made.value) == ("team", "infra")
    assert viewer.get_environment_tag(name, "shared", "tagged", "team").value == "infra"
    changed = member.update_environment_tag(name, "shared", "tagged", "team", "infra",
                                            "owner", "platform")
    assert (changed.name, changed.value) == ("owner", "platform")
    listed = viewer.list_environment_tags(name, "shared", "tagged")
    assert list(listed.tags) == ["owner"] and listed.next_token == "0"
    member.delete_environment_tag(name, "shared", "tagged", "owner")

    member.clone_environment(name, "shared", "tagged", "other", "copy",
                             {"preserve_history": True})
    assert [r.number for r in viewer.list_environment_revisions(name, "other", "copy")] == [3, 2, 1]
    refused(lambda: member.clone_environment(name, "shared", "tagged", "other", "copy"), 409)
    refused(lambda: viewer.create_environment(name, "shared", "x"), 403)
    refused(lambda: member.delete_environment(name, "other", "copy"), 403)
