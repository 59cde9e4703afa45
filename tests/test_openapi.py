"""The OpenAPI document: generated from the route table, complete, valid, served publicly."""
import pytest
from flask import Blueprint
from openapi_spec_validator import validate

from app import create_app, openapi
from app.auth import authenticated
from tests.support.apps import make_config

SPEC_PATHS = ["/api/openapi", "/api/openapi/pulumi-spec.json"]


def operations_of(app):
    """(METHOD, OpenAPI path, view) of every operation the route table serves."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or openapi.is_console(app.view_functions[rule.endpoint]):
            continue  # the console's HTML pages are not API (tests/test_console.py)
        path, _ = openapi._path(rule)
        methods = set(rule.methods) - {"OPTIONS"}
        if "GET" in methods:
            methods.discard("HEAD")
        for method in methods:
            yield method, path, app.view_functions[rule.endpoint]


@pytest.fixture(scope="module")
def document(app):
    return app.extensions["openapi"]


def test_every_route_is_in_the_document_with_a_declaration(app, document):
    missing, undeclared = [], []
    for method, path, view in operations_of(app):
        operation = document["paths"].get(path, {}).get(method.lower())
        if operation is None:
            missing.append(f"{method} {path}")
        if getattr(view, "openapi", None) is None or (operation or {}).get("x-undocumented"):
            undeclared.append(f"{method} {path} ({view.__module__}.{view.__name__})")
    assert not missing, f"routes missing from the OpenAPI document: {missing}"
    assert not undeclared, f"routes without @documented(...): {undeclared}"


def test_document_lists_nothing_the_app_does_not_serve(app, document):
    served = {(method.lower(), path) for method, path, _ in operations_of(app)}
    listed = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert listed == served


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_a_route_without_a_declaration_is_reported(database_url):
    bp = Blueprint("extra", __name__)

    @bp.get("/api/extra/<org>")
    @authenticated
    def extra(org):
        return {}

    app = create_app(make_config(database_url))
    app.register_blueprint(bp)
    document = openapi.build(app)
    assert openapi.undocumented(document) == [("GET", "/api/extra/{org}")]
    parameters = document["paths"]["/api/extra/{org}"]["get"]["parameters"]
    assert [p["name"] for p in parameters] == ["org"]


def test_security_and_role_come_from_the_auth_declaration(app, document):
    for method, path, view in operations_of(app):
        operation = document["paths"][path][method.lower()]
        kind, role = view.auth
        expected = {
            "public": ([], "public"),
            "lease": ([{"update-token": []}], "lease"),
            "token": ([{"token": []}], role or "authenticated"),
        }[kind]
        assert (operation["security"], operation["x-pulumi-role"]) == expected, (method, path)


def test_security_schemes_are_the_two_authorization_forms(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["token"] == {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": schemes["token"]["description"],
    }
    assert "token <token>" in schemes["token"]["description"]
    assert "update-token <token>" in schemes["update-token"]["description"]


def test_every_error_response_is_the_shared_error_schema(document):
    responses = document["components"]["responses"]
    for path, ops in document["paths"].items():
        for method, operation in ops.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                if "$ref" in response:
                    response = responses[response["$ref"].rsplit("/", 1)[1]]
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path)
    error = document["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["code", "message"]


def test_bodies_and_responses_come_from_the_marshmallow_schemas(document):
    create = document["paths"]["/api/stacks/{org}/{project}"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateStack"}
    schema = document["components"]["schemas"]["CreateStack"]
    assert schema["required"] == ["stackName"]
    assert schema["properties"]["stackName"]["pattern"] == "^[A-Za-z0-9_.-]{1,100}$"
    listing = document["paths"]["/api/user/stacks"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "organization", "project", "tagName", "tagValue", "continuationToken"}


@pytest.mark.parametrize("path", SPEC_PATHS)
def test_document_is_served_without_credentials_or_pulumi_accept(app, document, path):
    # A browser or an OpenAPI tool sends neither a token nor the Pulumi Accept header.
    response = app.test_client().get(path, headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.get_json() == document


def test_document_is_served_to_the_cli_explorer(anonymous, document):
    # `pulumi cloud api` sends Accept: application/json next to its Pulumi Accept header.
    response = anonymous.get("/api/openapi/pulumi-spec.json",
                             headers={"Accept": "application/json, application/vnd.pulumi+9"})
    assert response.status_code == 200
    assert response.get_json()["paths"].keys() == document["paths"].keys()


def test_other_api_routes_still_require_the_pulumi_accept_header(app):
    response = app.test_client().get("/api/user", headers={"Accept": "application/json"})
    assert response.status_code == 415
