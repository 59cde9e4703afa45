"""One stack tag at a time (what Pulumi's cloud SDK calls: add, update, delete), beside the
CLI's PATCH .../tags that replaces them all."""
import pytest

STACK = "/api/stacks/acme/proj/dev"


def error(response, status, contains=""):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == status and contains in body["message"], body
    return body


@pytest.fixture
def dev(acme):
    created = acme["member"].post("/api/stacks/acme/proj",
                                  {"stackName": "dev", "tags": {"owner": "mona"}})
    assert created.status_code == 200
    return acme


def tags(api):
    return api.get(STACK).get_json()["tags"]


def test_add_a_tag(dev):
    assert dev["member"].post(f"{STACK}/tags", {"name": "team", "value": "infra"}).status_code == 204
    assert tags(dev["viewer"]) == {"owner": "mona", "team": "infra"}


def test_adding_a_tag_the_stack_has_is_409_and_keeps_its_value(dev):
    error(dev["member"].post(f"{STACK}/tags", {"name": "owner", "value": "x"}), 409)
    assert tags(dev["member"]) == {"owner": "mona"}


def test_update_a_tags_value(dev):
    response = dev["member"].patch(f"{STACK}/tags/owner", {"name": "owner", "value": "adam"})
    assert response.status_code == 204
    assert tags(dev["member"]) == {"owner": "adam"}


def test_update_renames_a_tag_when_the_body_names_another(dev):
    dev["member"].patch(f"{STACK}/tags/owner", {"name": "maintainer", "value": "mona"})
    assert tags(dev["member"]) == {"maintainer": "mona"}


def test_renaming_onto_an_existing_tag_is_409(dev):
    dev["member"].post(f"{STACK}/tags", {"name": "team", "value": "infra"})
    error(dev["member"].patch(f"{STACK}/tags/owner", {"name": "team", "value": "x"}), 409)
    assert tags(dev["member"]) == {"owner": "mona", "team": "infra"}


def test_updating_a_missing_tag_is_404(dev):
    error(dev["member"].patch(f"{STACK}/tags/nope", {"name": "nope", "value": "x"}), 404)


def test_delete_a_tag(dev):
    assert dev["member"].delete(f"{STACK}/tags/owner").status_code == 204
    assert tags(dev["member"]) == {}


def test_deleting_a_missing_tag_is_404(dev):
    error(dev["member"].delete(f"{STACK}/tags/nope"), 404)


@pytest.mark.parametrize("body", [{}, {"name": "team"}, {"value": "x"},
                                  {"name": "bad name", "value": "x"},
                                  {"name": "team", "value": "x" * 257},
                                  {"name": "team", "value": "a\u0000b"}])
def test_invalid_tags_are_400_and_change_nothing(dev, body):
    error(dev["member"].post(f"{STACK}/tags", body), 400)
    error(dev["member"].patch(f"{STACK}/tags/owner", body), 400)
    assert tags(dev["member"]) == {"owner": "mona"}


def test_tags_of_a_missing_stack_are_404(dev):
    error(dev["member"].post("/api/stacks/acme/proj/nope/tags", {"name": "a", "value": "b"}), 404)


@pytest.mark.parametrize("role, status", [("viewer", 403), ("outsider", 404)])
def test_viewers_and_outsiders_cannot_change_tags(dev, role, status):
    error(dev[role].post(f"{STACK}/tags", {"name": "team", "value": "x"}), status)
    error(dev[role].patch(f"{STACK}/tags/owner", {"name": "owner", "value": "x"}), status)
    error(dev[role].delete(f"{STACK}/tags/owner"), status)
    assert tags(dev["member"]) == {"owner": "mona"}


def test_admin_changes_tags_too(dev):
    assert dev["admin"].delete(f"{STACK}/tags/owner").status_code == 204
