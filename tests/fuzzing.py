"""What the fuzzer (schemathesis) checks beyond its built-in conformance checks, and the world it
runs in: shared by tests/test_fuzz.py (CI, in-process) and bench/fuzz.py (long, real gunicorn)."""
import base64
import json

import schemathesis
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from tests.support import ACCEPT

# The fixtures path parameters are drawn from (half of the time; the other half is generated).
ORG, PROJECT, STACKS = "acme", "proj", ("dev", "prod")


HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def operation_count(document):
    """How many operations the OpenAPI document has (each is one fuzzed test)."""
    return sum(1 for operations in document["paths"].values()
               for method in operations if method in HTTP_METHODS)


def per_operation(total, operations, minimum):
    """Cases per operation so that all of them together run about `total` cases."""
    return max(minimum, total // max(1, operations))


OAUTH_TOKEN = "/api/oauth/token"


def error_body_is_the_error_shape(ctx, response, case):
    """Every error body is {"code": <the status>, "message": "..."} (app/errors.py)."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"error {response.status_code} without a JSON body: "
                             f"{response.content[:200]!r}")
    if not isinstance(body, dict) or not {"code", "message"} <= set(body):
        raise AssertionError(f"error body is not {{code, message}}: {body!r}")
    # ESC routes add the definition's diagnostics (the ESC CLI reads them).
    allowed = {"code", "message", "requestId", "diagnostics"}
    if case.path == OAUTH_TOKEN:
        # RFC 6749's error body, beside the service's own (app/routes/oidc.py).
        allowed |= {"error", "error_description"}
    extra = set(body) - allowed
    if extra:
        raise AssertionError(f"error body has extra members {extra}: {body!r}")
    if body["code"] != response.status_code:
        raise AssertionError(f"error code {body['code']} != HTTP status {response.status_code}")
    if not isinstance(body["message"], str) or not body["message"]:
        raise AssertionError(f"error message is not a non-empty string: {body!r}")
    return True


def real_path_parameters(context, path_parameters):
    """Half the cases aim at resources that exist (org acme, project proj, stacks dev/prod), so
    the fuzzer reaches past the 404 of an unknown organization."""
    if not path_parameters:
        return st.just(path_parameters)
    real = dict(path_parameters)
    strategies = {}
    if "org" in real:
        real["org"] = ORG
    if "project" in real:
        real["project"] = PROJECT
    if "stack" in real:
        strategies["stack"] = st.sampled_from(STACKS)
    if strategies:
        aimed = st.fixed_dictionaries({k: st.just(v) for k, v in real.items()} | strategies)
    else:
        aimed = st.just(real)
    return st.one_of(st.just(path_parameters), aimed)


# {stack: [base64 ciphertexts its key made]}, filled for each test by `encrypt_samples`.
CIPHERTEXTS = {}
# Plaintexts of those: empty, text, and every byte value.
SAMPLE_PLAINTEXTS = [b"", b"s3cret", bytes(range(256))]
DECRYPT_PATHS = ("/decrypt", "/batch-decrypt")


def encrypt_samples(post):
    """Fill CIPHERTEXTS through the service's own batch-encrypt; `post(path, body)` -> (status,
    JSON body) calls the service under test as the fuzzer's caller."""
    CIPHERTEXTS.clear()
    plaintexts = [base64.b64encode(p).decode("ascii") for p in SAMPLE_PLAINTEXTS]
    for stack in STACKS:
        status, body = post(f"/api/stacks/{ORG}/{PROJECT}/{stack}/batch-encrypt",
                            {"plaintexts": plaintexts})
        assert status == 200, (status, body)
        CIPHERTEXTS[stack] = body["ciphertexts"]


def real_ciphertexts(context, case):
    """A ciphertext is valid only if the stack's own key made it, which JSON Schema cannot
    state: schema-valid decrypt requests aimed at a stack of the world carry ciphertexts the
    service made for that stack (any other is refused with 400, as it must be)."""
    pool = CIPHERTEXTS.get(case.path_parameters.get("stack"))
    if (not context.operation.path.endswith(DECRYPT_PATHS) or pool is None
            or case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE
            or (case.path_parameters.get("org"), case.path_parameters.get("project"))
            != (ORG, PROJECT)
            or not isinstance(case.body, dict)):
        return st.just(case)

    def with_values(values):
        body = dict(case.body)
        if "ciphertexts" in body:
            body["ciphertexts"] = values
        else:
            body["ciphertext"] = values[0]
        case.body = body
        return case

    size = len(case.body.get("ciphertexts") or [None])
    return st.lists(st.sampled_from(pool), min_size=1, max_size=size).map(with_values)


def install(schema):
    """Register the hooks on one schema (not globally)."""
    schema.hook("flatmap_path_parameters")(real_path_parameters)
    schema.hook("flatmap_case")(real_ciphertexts)
    return schema


def make_world(conn, create_user, hash_token, queries):
    """Organization acme with an admin (the fuzzer's caller, holding TOKEN) and stacks proj/dev
    and proj/prod."""
    admin = create_user(conn, "adam")
    org = queries.org_by_name(conn, name=ORG) or queries.create_org(conn, name=ORG)
    queries.set_membership(conn, org_id=org["id"], user_id=admin["id"], role="admin")
    project_id = queries.ensure_project(conn, org_name=ORG, project_name=PROJECT)
    for stack in STACKS:
        queries.insert_stack(conn, project_id=project_id, stack_name=stack,
                             tags=json.dumps({"env": stack}))
    queries.create_token(conn, user_id=admin["id"], token_hash=hash_token(TOKEN),
                         description="fuzzer")


# The fuzzer's own API token (an admin of acme): fixed, so that schemathesis' configuration can
# name it. It exists only in the throwaway databases of the test and the bench runs.
TOKEN = "pul-" + "f0cc" * 10


def config():
    """schemathesis configuration: the caller's credentials through the `token` security scheme
    (so the fuzzer knows requests are authenticated, and does not generate Authorization
    headers of its own), and the checks that cannot hold for an operation, with the reason.
    Only constraints JSON Schema cannot state go here; everything else is fixed in the app or
    its document instead."""
    import schemathesis

    return schemathesis.Config.from_dict({
        "headers": {"Accept": ACCEPT},
        "auth": {"openapi": {"token": {"api_key": f"token {TOKEN}"}}},
        "generation": {"with-security-parameters": False},
        "operations": [
            {
                # A fully qualified target must be in the stack's own organization (the path's
                # `org`): a constraint between the body and the path, answered 400.
                "include-operation-id": "RenameStack",
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
            *({
                # A webhook's payload URL must resolve to public addresses (or allowed networks),
                # and its organization and stack must be the path's: constraints of DNS and of
                # the body against the path, answered 400 naming them.
                "include-operation-id": operation,
                "checks": {"positive_data_acceptance": {"enabled": False}},
            } for operation in ("CreateOrgWebhook", "UpdateOrgWebhook", "CreateStackWebhook",
                                "UpdateStackWebhook")),
            *({
                # An ESC definition is a language (YAML with imports, interpolation and
                # functions) and a continuation token an opaque cursor from a previous page:
                # not JSON Schema, answered 400 with diagnostics or naming the token.
                "include-operation-id": operation,
                "checks": {"positive_data_acceptance": {"enabled": False}},
            } for operation in ("CheckYaml", "OpenYaml", "UpdateEnvironment",
                                "ListEnvironments", "ListAllEnvironments")),
            {
                # A token's expiry must be in the future: a constraint on the time of the
                # request, answered 400.
                "include-operation-id": "CreateToken",
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
            {
                # The same for organization and team tokens, whose names must also be new in
                # their owner (a constraint on the database, answered 409 or 400).
                "include-operation-id": ["CreateOrgToken", "CreateTeamToken"],
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
            {
                # `teams` must name teams the organization has (a constraint on the database,
                # answered 400, nothing created).
                "include-operation-id": "CreateStack",
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
            {
                # Exactly one action per call (a rule between the body's fields, answered 400).
                "include-operation-id": "UpdateTeam",
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
            {
                # OIDC: an ID token must be signed by a trusted issuer, an issuer URL must serve
                # a discovery document, a key set must hold a usable key, an allow policy needs
                # a rule: constraints on the world or between fields, answered 400.
                "include-operation-id": "ExchangeToken",
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
            {
                "include-operation-id": "RegisterIssuer",
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
            {
                "include-operation-id": "UpdateIssuer",
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
            {
                "include-operation-id": "UpdateAuthPolicy",
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
        ],
    })
