"""Every validation rule: names, tags, malformed and mistyped bodies, oversized bodies. Each bad
request is a 400 (or 413) JSON error that writes nothing, and never a 500."""
import gzip
import json

import pytest

from app import create_app
from tests.support.api import Api
from tests.support.apps import make_config
from tests.support.api import assert_error
from tests.support.rows import count

STACK = "/api/stacks/acme/proj/dev"

VALID_NAMES = ["a", "dev", "Dev-1_x.y", "1", "...", "-", "_", "n" * 100]
INVALID_NAMES = ["", " ", "bad name", "a/b", "dév", "n" * 101, "dev\n", "\ndev", "dev\t",
                 "a+b", "a:b", "a@b", "a%b", "ü"]


@pytest.fixture
def dev(acme):
    assert acme["member"].post("/api/stacks/acme/proj", {"stackName": "dev"}).status_code == 200
    return acme


def stacks_written(db):
    return count(db, "SELECT count(*) FROM stacks")


def tags_of_dev(db):
    with db.cursor() as cur:
        cur.execute("SELECT tags FROM stacks WHERE name = 'dev'")
        tags = cur.fetchone()["tags"]
    db.rollback()
    return tags


# --- stack and project names --------------------------------------------------------------------

@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_stack_name_is_accepted(acme, name):
    response = acme["member"].post("/api/stacks/acme/proj", {"stackName": name})
    assert response.status_code == 200
    assert response.get_json()["stackName"] == name


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_stack_name_is_400(acme, db, name):
    response = acme["member"].post("/api/stacks/acme/proj", {"stackName": name})
    assert_error(response, 400, contains="stackName")
    assert stacks_written(db) == 0
    assert count(db, "SELECT count(*) FROM projects") == 0


@pytest.mark.parametrize("name", ["p", "my-project", "my_project.v2", "p" * 100])
def test_valid_project_name_is_accepted(acme, name):
    response = acme["member"].post(f"/api/stacks/acme/{name}", {"stackName": "dev"})
    assert response.status_code == 200
    assert response.get_json()["projectName"] == name


@pytest.mark.parametrize("name", ["p" * 101, "bad%20name", "d%C3%A9v", "a+b", "a:b", "dev%0A"])
def test_invalid_project_name_is_400(acme, db, name):
    response = acme["member"].post(f"/api/stacks/acme/{name}", {"stackName": "dev"})
    assert_error(response, 400, contains="project")
    assert stacks_written(db) == 0
    assert count(db, "SELECT count(*) FROM projects") == 0


# --- tags ---------------------------------------------------------------------------------------

VALID_TAGS = [
    {"a": ""},
    {"pulumi:project": "proj", "vcs:owner": "me", "a.b-c_d": "x"},
    {"t" * 40: "v"},
    {"name": "v" * 256},
    {"unicode": "dév ü 雪"},
]
INVALID_TAGS = [
    {"": "v"},
    {"t" * 41: "v"},
    {"bad name": "v"},
    {"a/b": "v"},
    {"dév": "v"},
    {"a\n": "v"},
    {"name": "v" * 257},
    {"name": 5},
    {"name": True},
    {"name": None},
    {"name": ["v"]},
    {"name": {"nested": "v"}},
    {"name": 1.5},
]


def set_tags_cli(api, tags):
    return api.patch(STACK + "/tags", tags)


def set_tags_contract(api, tags):
    return api.patch(STACK + "/tags", {"tags": tags})


def create_with_tags(api, tags):
    return api.post("/api/stacks/acme/proj", {"stackName": "tagged", "tags": tags})


TAG_WRITERS = [set_tags_cli, set_tags_contract, create_with_tags]


@pytest.mark.parametrize("tags", VALID_TAGS)
@pytest.mark.parametrize("write", TAG_WRITERS)
def test_valid_tags_are_accepted(dev, tags, write):
    assert write(dev["member"], tags).status_code in (200, 204)
    name = "tagged" if write is create_with_tags else "dev"
    assert dev["viewer"].get(f"/api/stacks/acme/proj/{name}").get_json()["tags"] == tags


@pytest.mark.parametrize("tags", INVALID_TAGS)
@pytest.mark.parametrize("write", TAG_WRITERS)
def test_invalid_tags_are_400_and_change_nothing(dev, db, tags, write):
    dev["member"].patch(STACK + "/tags", {"before": "x"})
    assert_error(write(dev["member"], tags), 400)
    assert tags_of_dev(db) == {"before": "x"}
    assert stacks_written(db) == 1


@pytest.mark.parametrize("tags", [[], "x", 5, None, [["a", "b"]]])
def test_create_with_tags_that_are_not_an_object_is_400(dev, db, tags):
    assert_error(create_with_tags(dev["member"], tags), 400, contains="tags")
    assert stacks_written(db) == 1


@pytest.mark.parametrize("tags", [[], 5, None])
def test_contract_tags_form_with_a_non_object_is_400(dev, db, tags):
    """(`{"tags": "x"}` is the bare map of one tag named `tags`, see test_contract.)"""
    dev["member"].patch(STACK + "/tags", {"before": "x"})
    assert_error(set_tags_contract(dev["member"], tags), 400)
    assert tags_of_dev(db) == {"before": "x"}


# --- bodies: malformed, mistyped, missing -------------------------------------------------------

BODY_ROUTES = [
    ("POST", "/api/stacks/acme/proj"),
    ("POST", STACK + "/rename"),
    ("PATCH", STACK + "/tags"),
]


def unchanged(db):
    with db.cursor() as cur:
        cur.execute("SELECT s.name, p.name AS project, s.tags, s.version FROM stacks s "
                    "JOIN projects p ON p.id = s.project_id ORDER BY s.id")
        rows = cur.fetchall()
        cur.execute("SELECT count(*) AS n FROM updates")
        rows.append(cur.fetchone())
    db.rollback()
    return rows


@pytest.mark.parametrize("raw", [
    b'{"stackName":',
    b"{stackName: 'dev'}",
    b'{"stackName": "dev",}',
    b"not json",
    b"\xff\xfe\x00",
    b'{"stackName": "d\xffev"}',
])
@pytest.mark.parametrize("method, path", BODY_ROUTES)
def test_malformed_json_is_400(dev, db, method, path, raw):
    before = unchanged(db)
    assert_error(dev["member"].call(method, path, data=raw), 400)
    assert unchanged(db) == before


@pytest.mark.parametrize("raw", [b"[]", b'["dev"]', b'"dev"', b"5", b"null", b"true"])
@pytest.mark.parametrize("method, path", BODY_ROUTES)
def test_body_that_is_not_an_object_is_400(dev, db, method, path, raw):
    before = unchanged(db)
    assert_error(dev["member"].call(method, path, data=raw), 400)
    assert unchanged(db) == before


@pytest.mark.parametrize("raw", [b"", b"   ", b"\n"])
@pytest.mark.parametrize("method, path", BODY_ROUTES)
def test_empty_body_is_400(dev, db, method, path, raw):
    before = unchanged(db)
    assert_error(dev["member"].call(method, path, data=raw), 400)
    assert unchanged(db) == before


@pytest.mark.parametrize("body", [
    {},
    {"stackName": 5},
    {"stackName": None},
    {"stackName": ["dev"]},
    {"stackName": {"name": "dev"}},
    {"stackName": True},
    {"stackName": "x", "tags": []},
    {"stackName": "x", "teams": "a"},
    {"stackName": "x", "state": "v3"},
    {"stackName": "x", "state": {"version": 3}},
    {"stackName": "x", "state": {"version": "three", "deployment": {}}},
    {"stackName": "x", "state": {"version": 99, "deployment": {}}},
    {"stackName": "x", "state": {"version": 3, "deployment": []}},
    {"stackName": "x", "config": "env"},
    {"name": "dev"},
])
def test_create_with_wrong_types_is_400(dev, db, body):
    before = unchanged(db)
    assert_error(dev["member"].post("/api/stacks/acme/proj", body), 400)
    assert unchanged(db) == before
    assert count(db, "SELECT count(*) FROM checkpoints") == 0


@pytest.mark.parametrize("body", [
    {},
    {"newName": 5},
    {"newName": None},
    {"newName": ["acme", "proj", "x"]},
    {"newName": "x", "newProject": 5},
    {"newName": 5, "newProject": "proj"},
    {"newProject": "proj"},
])
def test_rename_with_wrong_types_is_400(dev, db, body):
    before = unchanged(db)
    assert_error(dev["member"].post(STACK + "/rename", body), 400)
    assert unchanged(db) == before


def test_unknown_fields_are_ignored(acme):
    response = acme["member"].post("/api/stacks/acme/proj",
                                   {"stackName": "dev", "futureField": {"x": 1}})
    assert response.status_code == 200


def test_error_message_names_the_bad_field(acme):
    body = assert_error(acme["member"].post("/api/stacks/acme/proj", {"stackName": 5}), 400)
    assert "stackName" in body["message"]


# --- gzip and size limits -----------------------------------------------------------------------

def test_gzip_encoded_body_is_accepted(acme):
    raw = gzip.compress(json.dumps({"stackName": "dev"}).encode())
    response = acme["member"].post("/api/stacks/acme/proj", data=raw,
                                   headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200


def test_corrupt_gzip_body_is_400(acme, db):
    response = acme["member"].post("/api/stacks/acme/proj", data=b"\x1f\x8b not gzip",
                                   headers={"Content-Encoding": "gzip"})
    assert_error(response, 400)
    assert stacks_written(db) == 0


@pytest.fixture
def small_app(database_url):
    return create_app(make_config(database_url, MAX_BODY_BYTES=1024, AUTO_MIGRATE=False))


@pytest.fixture
def small(small_app, people):
    """A member of acme talking to an app that accepts bodies of at most 1 KiB."""
    api = people.user("mona", {"acme": "member"})
    return Api(small_app.test_client(), api.token)


def test_oversized_body_is_413(small, db):
    big = {"stackName": "dev", "tags": {f"t{i}": "v" * 200 for i in range(10)}}
    assert_error(small.post("/api/stacks/acme/proj", big), 413)
    assert stacks_written(db) == 0


def test_oversized_body_once_decompressed_is_413(small, db):
    big = {"stackName": "dev", "tags": {f"t{i}": "v" * 200 for i in range(10)}}
    raw = gzip.compress(json.dumps(big).encode())
    assert len(raw) < 1024
    response = small.post("/api/stacks/acme/proj", data=raw, headers={"Content-Encoding": "gzip"})
    assert_error(response, 413)
    assert stacks_written(db) == 0


def test_body_at_the_limit_is_accepted(small):
    body = {"stackName": "dev", "tags": {f"t{i}": "v" * 200 for i in range(4)}}
    body["tags"]["pad"] = "v" * (1024 - len(json.dumps(body)) - len(', "pad": ""'))
    assert len(json.dumps(body)) == 1024
    assert small.post("/api/stacks/acme/proj", body).status_code == 200


# --- query strings ------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["?continuationToken=x", "?continuationToken=-5",
                                   "?continuationToken=" + "9" * 40])
def test_bad_list_query_is_400_or_empty_never_500(dev, query):
    response = dev["viewer"].get("/api/user/stacks" + query)
    if response.status_code == 200:
        assert response.get_json()["stacks"] == []
    else:
        assert_error(response, 400)


# --- text PostgreSQL cannot hold, numbers JSON does not have ------------------------------------

@pytest.mark.parametrize("raw", [
    b'{"stackName": "x", "tags": {"a": "nul\\u0000here"}}',
    b'{"stackName": "x", "tags": {"a": "\\ud800"}}',
    b'{"stackName": "x", "tags": {"\\u0000": "v"}}',
    b'{"stackName": "x", "state": {"version": 3, "deployment": {"m": "\\udfff"}}}',
])
def test_create_with_text_postgresql_cannot_hold_is_400(acme, db, raw):
    assert_error(acme["member"].post("/api/stacks/acme/proj", data=raw), 400)
    assert stacks_written(db) == 0


@pytest.mark.parametrize("raw", [b'{"a": "nul\\u0000here"}', b'{"a": "\\ud800"}',
                                 b'{"tags": {"a": "\\udbff"}}'])
def test_patch_tags_with_text_postgresql_cannot_hold_is_400(dev, db, raw):
    dev["member"].patch(STACK + "/tags", {"before": "x"})
    assert_error(dev["member"].patch(STACK + "/tags", data=raw), 400)
    assert tags_of_dev(db) == {"before": "x"}


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(acme, db, constant):
    raw = b'{"stackName": "x", "state": {"version": 3, "deployment": {"n": ' + constant + b"}}}"
    assert_error(acme["member"].post("/api/stacks/acme/proj", data=raw), 400)
    assert stacks_written(db) == 0


@pytest.mark.parametrize("resources", [5, "abc", {"urn": "x"}, True])
def test_create_with_state_whose_resources_are_not_a_list_is_400(acme, db, resources):
    state = {"version": 3, "deployment": {"resources": resources}}
    assert_error(acme["member"].post("/api/stacks/acme/proj",
                                     {"stackName": "x", "state": state}), 400)
    assert count(db, "SELECT count(*) FROM checkpoints") == 0


@pytest.mark.parametrize("path", [
    "/api/stacks/acme/proj/d%00ev",
    "/api/stacks/ac%00me/proj/dev",
    "/api/user/stacks?organization=%00",
    "/api/user/stacks?project=a%00b",
    "/api/user/stacks?tagName=a&tagValue=%00",
    "/api/user/stacks?%00=x",
])
def test_nul_in_the_url_is_400(dev, path):
    assert_error(dev["viewer"].get(path), 400)
