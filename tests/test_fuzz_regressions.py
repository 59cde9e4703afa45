"""One test per defect the fuzzer (tests/test_fuzz.py) or the wire tests found, so that each
stays fixed even if the fuzzer's generated cases change."""
import re

import pytest

from app.schemas.common import STACK_NAME, TAG_NAME
from app.schemas.secrets import CANONICAL_BASE64
from tests.support import ACCEPT


@pytest.fixture
def admin(acme):
    api = acme["admin"]
    assert api.post("/api/stacks/acme/proj", body={"stackName": "dev"}).status_code == 200
    return api


def test_nul_in_a_tag_value_is_refused_not_a_500(admin):
    # Found: PostgreSQL's jsonb cannot hold \u0000 (UntranslatableCharacter -> 500).
    response = admin.patch("/api/stacks/acme/proj/dev/tags", body={"env": "a\u0000b"})
    assert response.status_code == 400
    assert "NUL" in response.get_json()["message"]


def test_nul_in_a_tag_value_at_create_is_refused(admin):
    response = admin.post("/api/stacks/acme/proj",
                          body={"stackName": "nul", "tags": {"env": "\u0000"}})
    assert response.status_code == 400


@pytest.mark.parametrize("param", ["organization", "project", "tagName", "tagValue"])
def test_nul_in_a_stack_list_filter_is_refused_not_a_500(admin, param):
    # Found: psycopg2 refuses to send a string with NUL (ValueError -> 500).
    response = admin.get(f"/api/user/stacks?{param}=a%00b")
    assert response.status_code == 400
    assert response.get_json()["code"] == 400


@pytest.mark.parametrize("token", ["99999999999999999999", "12a", "-1", "\u0663"])
def test_continuation_token_out_of_range_or_not_digits_is_refused(admin, token):
    # Found: a digit string past bigint reached PostgreSQL (NumericValueOutOfRange -> 500).
    response = admin.get("/api/user/stacks", query_string={"continuationToken": token})
    assert response.status_code == 400
    assert response.get_json() == {"code": 400,
                                   "message": "Bad Request: continuationToken: invalid continuationToken"}


def test_largest_documented_continuation_token_is_accepted(admin):
    response = admin.get("/api/user/stacks", query_string={"continuationToken": "9" * 18})
    assert response.status_code == 200
    assert response.get_json()["stacks"] == []


def test_document_states_the_deployment_version_range(app):
    # Found: a version outside 1..4 was refused (400) while the document allowed any integer.
    schema = app.extensions["openapi"]["components"]["schemas"]["UntypedDeployment"]
    assert schema["properties"]["version"]["minimum"] == 1
    assert schema["properties"]["version"]["maximum"] == 4


def test_deployment_version_outside_the_range_is_refused(admin):
    response = admin.post("/api/stacks/acme/proj", body={
        "stackName": "v", "state": {"version": 1024, "deployment": {}}})
    assert response.status_code == 400
    assert "unsupported deployment version 1024" in response.get_json()["message"]


def test_document_states_both_rename_forms(app):
    # Found: the document allowed any newName; the service requires a stack name with
    # newProject (the CLI's form) or org/project/stack (the contract's).
    body = app.extensions["openapi"]["paths"]["/api/stacks/{org}/{project}/{stack}/rename"][
        "post"]["requestBody"]["content"]["application/json"]["schema"]
    cli_form, qualified_form = body["oneOf"]
    assert cli_form["required"] == ["newName", "newProject"]
    assert qualified_form["properties"]["newName"]["pattern"].count("/") == 2


def test_document_states_tag_rules(app):
    # Tag names and values have rules (a custom validator) the document must state too.
    create = app.extensions["openapi"]["components"]["schemas"]["CreateStack"]
    tags = create["properties"]["tags"]
    assert tags["propertyNames"]["pattern"] == TAG_NAME.pattern
    assert tags["additionalProperties"]["maxLength"] == 256


def test_document_patterns_are_portable_regular_expressions(app):
    # JSON Schema patterns are ECMA-262: a '-' between a range and another character in a
    # class (Python's [a-z0-9-_]) is an error there.
    import re

    def patterns(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern":
                    yield value
                else:
                    yield from patterns(value)
        elif isinstance(node, list):
            for value in node:
                yield from patterns(value)

    found = list(patterns(app.extensions["openapi"]))
    assert found
    for pattern in found:
        assert not re.search(r"[0-9a-zA-Z]-[0-9a-zA-Z]-", pattern), pattern


def test_renaming_across_organizations_is_refused_with_400(admin):
    response = admin.post("/api/stacks/acme/proj/dev/rename", body={"newName": "globex/p/s"})
    assert response.status_code == 400


def test_a_value_the_database_refuses_is_a_400_not_a_500(app, admin, monkeypatch):
    # The safety net under validation: PostgreSQL's class 22 (data exception) is the caller's.
    import psycopg2.errors

    from app.routes import user as user_routes

    def refuse(*args, **kwargs):
        raise psycopg2.errors.NumericValueOutOfRange("bigint out of range")

    monkeypatch.setattr(user_routes.queries, "list_stacks", refuse)
    response = admin.get("/api/user/stacks")
    assert response.status_code == 400
    assert response.get_json()["code"] == 400


def test_document_states_the_create_stack_name_rule(app):
    # Found: the name rules became objects that apispec does not read as Regexp validators, so
    # stackName lost its pattern and the fuzzer's schema-valid names (say "ül") were refused.
    schema = app.extensions["openapi"]["components"]["schemas"]["CreateStack"]
    assert schema["properties"]["stackName"]["pattern"] == STACK_NAME.pattern


@pytest.mark.parametrize("name", ["\u00fcl", "dev\n"])
def test_stack_name_outside_the_documented_pattern_is_refused(admin, name):
    # The validator the document reads matches whole strings ("dev\n" too is refused).
    response = admin.post("/api/stacks/acme/proj", body={"stackName": name})
    assert response.status_code == 400
    assert "stack names may only contain" in response.get_json()["message"]


def test_document_states_secret_values_are_standard_padded_base64(app):
    # Found: the secrets routes were undocumented, and their Base64Bytes field has no JSON
    # Schema type of its own: the fuzzer sent any JSON value and the service refused it.
    schemas = app.extensions["openapi"]["components"]["schemas"]
    for name, prop in [("EncryptValue", "plaintext"), ("DecryptValue", "ciphertext")]:
        value = schemas[name]["properties"][prop]
        assert value == {"type": "string", "format": "byte", "pattern": CANONICAL_BASE64}
    for name, prop in [("BatchEncrypt", "plaintexts"), ("BatchDecrypt", "ciphertexts")]:
        assert schemas[name]["properties"][prop]["items"]["pattern"] == CANONICAL_BASE64


@pytest.mark.parametrize("value", ["", "QQ==", "QUI=", "QUJD", "QR==", "QUJ=", "QQ", "QQ=",
                                   "Q===", "QUJD\n", "QU JD", "QUJD-_=="])
def test_the_documented_base64_pattern_is_the_rule_the_service_enforces(admin, value):
    documented = re.fullmatch(CANONICAL_BASE64, value) is not None
    response = admin.post("/api/stacks/acme/proj/dev/encrypt", body={"plaintext": value})
    assert response.status_code == (200 if documented else 400), response.get_json()


def rename_body_schema(app):
    return app.extensions["openapi"]["paths"]["/api/stacks/{org}/{project}/{stack}/rename"][
        "post"]["requestBody"]["content"]["application/json"]["schema"]


@pytest.mark.parametrize("body, status", [
    # Found: an empty newProject (keep the project, the CLI's rule) was accepted by the service
    # while the document required a project name.
    ({"newName": "renamed", "newProject": ""}, 204),
    ({"newName": "", "newProject": "other"}, 204),
    ({"newName": "", "newProject": ""}, 400),
    # With newProject present, even empty, it is the CLI's form: no qualified name then.
    ({"newName": "acme/proj/renamed", "newProject": ""}, 400),
    ({"newName": "acme/proj/renamed", "newProject": None}, 204),
    ({"newName": "acme/proj/renamed"}, 204),
])
def test_document_and_service_agree_on_rename_bodies(app, admin, body, status):
    import jsonschema

    valid = jsonschema.Draft202012Validator(rename_body_schema(app)).is_valid(body)
    assert valid == (status == 204)
    response = admin.post("/api/stacks/acme/proj/dev/rename", body=body)
    assert response.status_code == status, response.get_data(as_text=True)


@pytest.mark.parametrize("route", ["decrypt", "batch-decrypt"])
def test_document_lists_the_decrypt_refusals(app, route):
    # Found: schema-valid ciphertexts that the stack's key did not make are refused (400), and
    # viewers are refused plaintexts (403): the document must say so (the fuzzer sends only
    # ciphertexts the service made for the stack as schema-valid ones, tests/fuzzing.py).
    operation = app.extensions["openapi"]["paths"][f"/api/stacks/{{org}}/{{project}}/{{stack}}/{route}"]["post"]
    assert "did not make" in operation["responses"]["400"]["description"]
    assert "member" in operation["responses"]["403"]["description"]
