"""What the fuzzer (schemathesis) checks beyond its built-in conformance checks, and the world it
runs in: shared by tests/test_fuzz.py (CI, in-process) and bench/fuzz.py (long, real gunicorn)."""
import json

import schemathesis
from hypothesis import strategies as st

ACCEPT = "application/vnd.pulumi+8"

# The fixtures path parameters are drawn from (half of the time; the other half is generated).
ORG, PROJECT, STACKS = "acme", "proj", ("dev", "prod")


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
    extra = set(body) - {"code", "message", "requestId"}
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


def install(schema):
    """Register the hooks on one schema (not globally)."""
    schema.hook("flatmap_path_parameters")(real_path_parameters)
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
        ],
    })
