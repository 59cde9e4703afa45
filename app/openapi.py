"""The OpenAPI 3.1 document of the service, generated once at app creation from the route table
(`app.url_map`), the auth declaration of each route (app/auth.py) and the `@documented`
declaration next to it, whose bodies and responses are the marshmallow schemas the route uses.

Nothing here is written by hand per route: a new route appears in the document by being
registered; one without `@documented` is still listed (from its rule and auth) but marked
`x-undocumented`, and tests/test_openapi.py fails until it is declared.
"""
import copy
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from .auth import ROLES
from .schemas.secrets import Base64Bytes

TITLE = "Pulumi Service (self-hosted)"
ACCEPT_NOTE = (
    "Every /api/ request except this document must send `Accept: application/vnd.pulumi+8` "
    "(or a newer API level), as the Pulumi CLI does; others get 415."
)

DOCUMENT_VERSION = "1"

_ARG = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")
_PARAM_TYPES = {
    "int": {"type": "integer", "minimum": 0},
    "uuid": {"type": "string", "format": "uuid"},
}


# The app's own field classes, with the JSON Schema (type, format) they travel as: apispec knows
# only marshmallow's (a plain Field would be documented as any JSON value).
FIELD_TYPES = {
    Base64Bytes: ("string", "byte"),
}


class ErrorResponseSchema(Schema):
    """The one error shape on the wire (app/errors.py)."""

    code = fields.Integer(required=True, metadata={"description": "the HTTP status"})
    message = fields.String(required=True)
    request_id = fields.String(data_key="requestId",
                               metadata={"description": "on a 500: the id to find it in the log"})
    error = fields.String(metadata={"description": "POST /api/oauth/token only: the RFC 6749 "
                                                   "error code"})
    error_description = fields.String(metadata={"description": "POST /api/oauth/token only: "
                                                               "the message, as RFC 6749 names it"})
    diagnostics = fields.List(fields.Dict(), metadata={
        "description": "ESC routes: the definition's errors, each {summary, range?}"})


class Declaration:
    def __init__(self, body, query, response, status, responses, summary, content_type):
        self.body = body
        self.query = query
        self.response = response
        self.status = status
        self.responses = responses or {}
        self.summary = summary
        self.content_type = content_type


def documented(*, body=None, query=None, response=None, status=200, responses=None,
               summary=None, content_type="application/json"):
    """What a route takes and returns, for the OpenAPI document.

    body/query/response: a marshmallow schema (instance or class) or a plain JSON Schema dict;
    status: the success status (204 means no body); responses: {status: description} of the
    errors this route raises itself (the ones every route of its kind can answer, such as 401
    or 404 for an unknown organization, are added from its auth declaration)."""

    def mark(view):
        view.openapi = Declaration(body, query, response, status, responses, summary,
                                   content_type)
        return view

    return mark


def accepts_any(view):
    """Exempt a route from the Pulumi Accept check (documents read by browsers and tools)."""
    view.accepts_any = True
    return view


# --- building the document -----------------------------------------------------------------------

def _operation_id(view):
    return "".join(part.capitalize() for part in view.__name__.split("_"))


def _path(rule):
    """(OpenAPI path, [path parameters]) of a werkzeug rule."""
    params = []

    def param(match):
        converter, arguments, name = match.group(1), match.group(2), match.group(3)
        schema = dict(_PARAM_TYPES.get(converter, {"type": "string", "minLength": 1}))
        if converter == "any":
            # <any(update, preview):kind>: one of the listed words.
            schema = {"type": "string",
                      "enum": [word.strip().strip("'\"") for word in arguments.split(",")]}
        params.append({"in": "path", "name": name, "required": True, "schema": schema})
        return "{" + name + "}"

    return _ARG.sub(param, rule.rule), params


def _methods(rule):
    methods = set(rule.methods) - {"OPTIONS"}
    # Flask adds HEAD to every GET route; HEAD is documented only where it is the route itself.
    if "GET" in methods:
        methods.discard("HEAD")
    return sorted(methods)


def _content(schema, content_type="application/json"):
    return {content_type: {"schema": schema}}


def _error(description):
    return {"description": description, "content": _content("ErrorResponse")}


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                               "schema": {"type": "integer", "minimum": 0}}}

# The errors that a route answers because of what it is (its auth declaration, its parameters, a
# body), shared by reference; a route's own `responses` override them with a specific text.
STANDARD_ERRORS = {
    400: ("BadRequest", "Bad Request: the body, query or a name in the path is invalid"),
    401: ("Unauthorized", "Unauthorized: missing, malformed, unknown or revoked credentials"),
    403: ("Forbidden", "Forbidden: the caller's role in the organization is too low, or the "
                       "update token is not valid for this update"),
    404: ("NotFound", "Not Found: no such organization (or the caller is not a member), "
                      "project or stack"),
    413: ("PayloadTooLarge", "Request Entity Too Large: the body exceeds the configured limit"),
    415: ("UnsupportedMediaType",
          "Unsupported Media Type: the Pulumi Accept header is missing or too old"),
    429: ("TooManyRequests", "Too Many Requests: too many failed authentications from this "
                             "client; retry after the time given in Retry-After"),
    503: ("ServiceUnavailable", "Service Unavailable: the database cannot be reached; retry"),
}


def _standard_responses():
    responses = {}
    for status, (name, description) in STANDARD_ERRORS.items():
        response = _error(description)
        if status in (429, 503):
            response["headers"] = RETRY_AFTER
        responses[name] = response
    return responses


def _security(auth):
    kind, role = auth
    if kind == "public":
        return [], "public"
    if kind == "lease":
        return [{"update-token": []}], "lease"
    return [{"token": []}], role or "authenticated"


def _standard_errors(rule, view, auth, declaration, params):
    """{status} of the errors a route can answer because of what it is."""
    kind, role = auth
    errors = set()
    if declaration and (declaration.body is not None or declaration.query is not None):
        errors.add(400)
    if kind in ("token", "lease"):
        errors |= {401, 429}
    if kind == "lease" or (kind == "token" and role is not None and ROLES[role] > ROLES["viewer"]) \
            or getattr(view, "user_only", False):
        errors.add(403)
    if params or (kind == "token" and role is not None):
        errors.add(404)
    if declaration and declaration.body is not None:
        errors.add(413)
    if rule.rule.startswith("/api/") and not getattr(view, "accepts_any", False):
        errors.add(415)
    if kind != "public":
        errors.add(503)
    return errors


def _operation(rule, method, view, params):
    auth = getattr(view, "auth", None) or ("token", None)
    declaration = getattr(view, "openapi", None)
    security, role = _security(auth)
    blueprint = rule.endpoint.split(".")[0] if "." in rule.endpoint else "service"
    operation = {
        "operationId": _operation_id(view),
        "tags": [blueprint.capitalize()],
        "security": security,
        "x-pulumi-role": role,
        "responses": {},
    }
    doc = (view.__doc__ or "").strip()
    if declaration and declaration.summary:
        operation["summary"] = declaration.summary
    elif doc:
        operation["summary"] = doc.splitlines()[0]
    if declaration is None:
        operation["x-undocumented"] = True
    parameters = list(params)
    if declaration is not None:
        if declaration.query is not None:
            parameters.append({"in": "query", "schema": declaration.query})
        if declaration.body is not None:
            operation["requestBody"] = {
                "required": True, "content": _content(declaration.body),
            }
        success = {"description": "OK" if declaration.status != 204 else "No Content"}
        if declaration.response is not None and declaration.status != 204 and method != "HEAD":
            success["content"] = _content(declaration.response, declaration.content_type)
        operation["responses"][str(declaration.status)] = success
    else:
        operation["responses"]["default"] = {"description": "not documented yet"}
    if parameters:
        operation["parameters"] = parameters
    errors = {status: {"$ref": f"#/components/responses/{STANDARD_ERRORS[status][0]}"}
              for status in _standard_errors(rule, view, auth, declaration, params)}
    if declaration is not None:
        errors.update({status: _error(text) for status, text in declaration.responses.items()})
    for status in sorted(errors):
        operation["responses"][str(status)] = errors[status]
    return operation


def _field_extras(self, field, **kwargs):
    """JSON Schema a field states for itself where a marshmallow validator can't say it
    (`metadata={"openapi": {...}}`), e.g. the rule a custom validator enforces."""
    return dict(field.metadata.get("openapi", {}))


def build(app):
    """The OpenAPI document (a dict) of every route in `app.url_map`."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title=TITLE,
        # The document's version, not the software's: the service publishes no version banner.
        version=DOCUMENT_VERSION,
        openapi_version="3.1.0",
        plugins=[plugin],
        info={"description": ACCEPT_NOTE},
    )
    for field_class, (json_type, json_format) in FIELD_TYPES.items():
        plugin.map_to_openapi_type(field_class, json_type, json_format)
    plugin.converter.add_attribute_function(_field_extras)
    spec.components.schema("ErrorResponse", schema=ErrorResponseSchema)
    for name, response in _standard_responses().items():
        spec.components.response(name, response)
    spec.components.security_scheme("token", {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "An API access token: `Authorization: token <token>`.",
    })
    spec.components.security_scheme("update-token", {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "The lease token of a running update: `Authorization: update-token <token>`.",
    })
    paths = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        if is_console(view):
            continue
        path, params = _path(rule)
        for method in _methods(rule):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, method, view, params)
    seen = {}
    for path, operations in paths.items():
        for method, operation in operations.items():
            other = seen.setdefault(operation["operationId"], (method, path))
            if other != (method, path):
                operation["operationId"] += method.capitalize()
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def is_console(view):
    """A page of the web console (HTML for people, not part of the API)."""
    return getattr(view, "auth", (None, None))[0] == "console"


def undocumented(document):
    """[(METHOD, path)] of operations without a `@documented` declaration."""
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("x-undocumented")
    ]


# Documents already built, by route table: build() reads nothing else (the views' declarations
# are fixed when their module is imported), so an app with the same routes and views gets the
# same document. Only tests make many apps in one process; one with a view swapped in has a
# table of its own.
_built = {}


def _route_table(app):
    return tuple(sorted(
        (rule.rule, tuple(sorted(rule.methods)), rule.endpoint,
         app.view_functions.get(rule.endpoint))
        for rule in app.url_map.iter_rules() if rule.endpoint != "static"
    ))


def init_app(app):
    """The document, after every blueprint is registered: built once per route table."""
    key = _route_table(app)
    if key not in _built:
        _built[key] = build(app)
    app.extensions["openapi"] = copy.deepcopy(_built[key])
