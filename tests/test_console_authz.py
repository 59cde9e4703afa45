"""The console's authorization matrix: every console route of the route table, called by every
kind of person, with the outcome derived from its `console_page` declaration (as
tests/test_authz_matrix.py does for the API's routes with token callers). Nothing here lists
routes: a new page is checked as soon as it exists."""
import re

from app.auth import CONSOLE_ANYONE, ROLES
import pytest

from tests.support.console import deploy_example, signed_in
from tests.support.routes import route_table

CALLERS = ["signed out", "user of another org", "viewer", "member", "admin"]
ALLOW = "allow"


def console_routes():
    return [(method, rule) for method, rule, view in route_table()
            if getattr(view, "auth", (None, None))[0] == "console"]


def expected(role, caller, method):
    if role == CONSOLE_ANYONE:
        return ALLOW
    if caller == "signed out":
        return 302 if method == "GET" else 401  # to the sign-in page, with next=
    if role is None:
        return ALLOW
    if caller == "user of another org":
        return 404
    return ALLOW if ROLES[caller] >= ROLES[role] else 403


@pytest.fixture
def deployed(acme):
    assert acme["admin"].post("/api/orgs/acme/teams/pulumi", body={"name": "ops"}
                              ).status_code == 201
    deployed = deploy_example(acme["admin"])
    hook = {"displayName": "ci", "payloadUrl": "http://93.184.216.34/hook"}
    for scope, path in (("org", "/api/orgs/acme/hooks"),
                        ("stack", "/api/stacks/acme/proj/dev/hooks")):
        made = acme["admin"].post(path, body=hook)
        assert made.status_code == 201, made.get_json()
        deployed[f"{scope} hook"] = made.get_json()["name"]
    return deployed


def test_console_routes_exist():
    assert len(console_routes()) >= 10


def test_every_console_route_for_every_caller(app, acme, deployed):
    """One test over the whole table (each caller signed in once): a failure names its route."""
    values = {"org": "acme", "project": "proj", "stack": "dev", "version": "1",
              "update_id": deployed["preview"], "filename": "console.css", "token_id": "1",
              "login": "vera", "invite_id": "1", "secret": "not-a-secret", "team": "ops",
              "stack_id": "1",
              # An organization's hook, or a stack's on a stack's page.
              "hook_name": lambda rule: deployed["stack hook" if "<project>" in rule
                                                 else "org hook"]}
    clients = {caller: app.test_client() if caller == "signed out" else signed_in(
        app, acme["outsider" if caller == "user of another org" else caller].token)
        for caller in CALLERS}
    wrong = []
    for method, rule in console_routes():
        url = rule.rule
        for name in rule.arguments:
            assert name in values, f"no value for <{name}> of {rule.rule}: add one above"
            value = values[name](rule.rule) if callable(values[name]) else values[name]
            url = re.sub(rf"<(?:[^<>:]+:)?{name}>", value, url)
        role = app.view_functions[rule.endpoint].auth[1]
        for caller, client in clients.items():
            response = client.open(url, method=method, data={})
            response.close()  # a static file's answer holds the file open
            outcome = expected(role, caller, method)
            status = response.status_code
            if status >= 500 or (outcome == ALLOW and status in (401, 403, 404)) or (
                    outcome != ALLOW and status != outcome) or (
                    outcome == 302 and not response.headers["Location"].startswith("/login?next=")):
                wrong.append(f"{method} {url} as {caller}: {status}, expected {outcome}")
    assert not wrong, "\n".join(wrong)
