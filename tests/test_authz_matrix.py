"""The authorization matrix: every route of the app's route table called by every kind of caller.

Nothing here lists routes. The expected outcome of each (route, caller) is derived from the one
auth declaration next to the route (`view.auth`, set by app/auth.py's decorators), so a new route
is checked as soon as it exists, and one without a declaration fails (the app also refuses to
start with one, see the last tests).

An allowed caller must get past authorization: any status but 401/403/404 (a 400 or 409 for the
minimal `{}` body is fine), and never a 5xx. A refused caller must get exactly the status its
kind is due, never a 2xx.

A second table (`TEAM_CALLERS`) puts the organization under defaultStackPermission and
defaultEnvironmentPermission "none" and calls every token route as members with each team grant
on the stack and the environment of the URL, a viewer whose team may write, organization tokens
(plain and admin), team tokens (with and without a grant) and an expired token. On a route whose
URL names a stack (an environment), what each may do follows from its permission on that stack
(environment) alone: a route that checked the organization role instead of the permission (or
forgot the teams) fails it.
"""
import copy
import datetime
import json
import re
import uuid

import pytest
from flask import Blueprint, jsonify

from app import create_app
from app.state.stored import EMPTY_DEPLOYMENT, StoredDeployment
from app.auth import (ENV_LEVELS, ENV_PERMISSION, ROLES, STACK_PERMISSION, authenticated,
                      hash_token, new_token, requires_lease)
from app.db import connect
from app.tokens import create_token
from tests.support.apps import make_config
from app.queries import queries
from tests.support import snapshots
from tests.support.api import People
from tests.support.routes import route_table, served

ALLOW = "allow"

# Token callers, in order; the lease callers apply to @requires_lease routes only.
TOKEN_CALLERS = ["no token", "malformed header", "unknown token", "revoked token",
                 "user of another org", "viewer", "member", "admin"]
LEASE_CALLERS = ["no token", "api token instead of lease", "lease of another update",
                 "expired lease", "own lease"]


def expected(auth, caller, plaintext_role=None, settings=None):
    """What `caller` must get from a route declared with `auth` = (kind, role); routes that
    return secret plaintexts also declare `plaintext_role` = (role, setting that lowers it to
    the route's own role)."""
    if auth is None:
        pytest.fail("the route has no auth declaration (@requires_role, @authenticated, "
                    "@requires_lease or @public)")
    kind, role = auth
    if kind == "public":
        return ALLOW
    if kind == "lease":
        return {
            "no token": 401, "api token instead of lease": 401,
            "lease of another update": 403, "expired lease": 403, "own lease": ALLOW,
        }[caller]
    assert kind == "token", f"unknown auth kind {kind!r}"
    if caller in ("no token", "malformed header", "unknown token", "revoked token"):
        return 401
    if role is None:
        return ALLOW
    if caller == "user of another org":
        return 404
    if plaintext_role and not (settings or {}).get(plaintext_role[1]):
        role = plaintext_role[0]
    return ALLOW if ROLES[caller] >= ROLES[role] else 403


def callers_of(view):
    kind = getattr(view, "auth", (None, None))[0]
    return LEASE_CALLERS if kind == "lease" else TOKEN_CALLERS


def api_routes(table):
    """The API's routes: the console's HTML pages have a matrix of their own, with session
    callers (tests/test_console_authz.py)."""
    return [(method, rule, view) for method, rule, view in table
            if getattr(view, "auth", (None, None))[0] != "console"]


def cases(table):
    return [
        pytest.param(method, rule.rule, caller, id=f"{method} {rule.rule} as {caller}")
        for method, rule, view in api_routes(table)
        for caller in callers_of(view)
    ]


class World:
    """Organization acme with a project, a stack and a running update holding a lease; a second
    stack with a running update of its own; one user of each role; an outsider; a revoked
    token of an acme admin."""

    ORG, PROJECT, STACK, OTHER_STACK = "acme", "proj", "dev", "other"
    # A tag of both stacks, a member of acme, a team of acme with write on the stack (the path
    # values of tag, member and team routes).
    TAG, MEMBER, TEAM = "owner", "mona", "writers"

    def __init__(self, people, db):
        self.db = db
        self.api = {
            "viewer": people.user("vera", {"acme": "viewer"}),
            "member": people.user("mona", {"acme": "member"}),
            "admin": people.user("adam", {"acme": "admin"}),
            "user of another org": people.user("otto", {"globex": "admin"}),
        }
        self.tokens = {name: api.token for name, api in self.api.items()}
        revoked = people.user("rick", {"acme": "admin"}).token
        with db, db.cursor() as cur:
            cur.execute("UPDATE access_tokens SET revoked_at = now() WHERE token_hash = %s",
                        (hash_token(revoked),))
        self.tokens["revoked token"] = revoked
        admin = self.api["admin"]
        for stack in (self.STACK, self.OTHER_STACK):
            created = admin.post(f"/api/stacks/{self.ORG}/{self.PROJECT}",
                                 body={"stackName": stack, "tags": {self.TAG: "1"}})
            assert created.status_code == 200, created.get_json()
        self.issuer_id, self.policy_id = self._oidc_issuer()
        self._first_version(self.STACK)
        self.update_id, self.lease = self._running_update(self.STACK)
        self.other_update_id, self.other_lease = self._running_update(self.OTHER_STACK)
        self.hooks = {"org": self._hook(None), "stack": self._hook(self.STACK)}
        self.org_token_id = self.team_token_id = None

    def again(self, db):
        """This world as just made (its rows put back meanwhile), over the connection `db`: what
        is made on first need is made again."""
        world = copy.copy(self)
        world.db, world.tokens = db, dict(self.tokens)
        world.org_token_id = world.team_token_id = None
        return world

    def deleted_stack(self):
        """A deleted stack of acme (the <program_id> of the restore routes), made on first use
        and again once a call restored it or a snapshot put the world back from before it."""
        admin, org = self.api["admin"], self.ORG
        listed = admin.get(f"/api/orgs/{org}/restore-stack").get_json()["deletedStacks"]
        if not listed:
            name = "gone-" + uuid.uuid4().hex[:8]
            assert admin.post(f"/api/stacks/{org}/{self.PROJECT}",
                              body={"stackName": name}).status_code == 200
            assert admin.delete(f"/api/stacks/{org}/{self.PROJECT}/{name}").status_code == 204
            listed = admin.get(f"/api/orgs/{org}/restore-stack").get_json()["deletedStacks"]
        return listed[0]["programId"]

    def teams_and_tokens(self):
        """Team `writers` (write on the stack), team `nogrant`, an organization token and a
        token of `writers`: made on first need (most routes need none of them)."""
        if self.org_token_id is not None:
            return
        admin = self.api["admin"]
        for name in (self.TEAM, "nogrant"):
            assert admin.post(f"/api/orgs/{self.ORG}/teams/pulumi",
                              body={"name": name}).status_code == 201
        assert admin.patch(f"/api/console/stacks/{self.ORG}/{self.PROJECT}/{self.STACK}/teams/"
                           f"{self.TEAM}", body={"permissions": 102}).status_code == 204
        with self.db:
            org = queries.org_by_name(self.db, name=self.ORG)
            team = queries.team_by_name(self.db, org_id=org["id"], name=self.TEAM)
            self.org_token_id, _ = create_token(self.db, kind="organization", org_id=org["id"],
                                                name="ci")
            self.team_token_id, _ = create_token(self.db, kind="team", org_id=org["id"],
                                                 team_id=team["id"], name="ci")

    def _oidc_issuer(self):
        """An OIDC issuer of acme with a static key set (nothing to fetch), and its policy."""
        jwks = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k",
                          "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                          "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}
        with self.db, self.db.cursor() as cur:
            cur.execute("INSERT INTO oidc_issuers (org_id, name, url, issuer, jwks, max_expiration)"
                        " SELECT id, 'ci', 'https://idp.example', 'https://idp.example', %s, 3600"
                        " FROM organizations WHERE name = %s RETURNING id",
                        (json.dumps(jwks), self.ORG))
            issuer_id = cur.fetchone()["id"]
            cur.execute("INSERT INTO oidc_auth_policies (issuer_id) VALUES (%s) RETURNING id",
                        (issuer_id,))
            return str(issuer_id), str(cur.fetchone()["id"])

    def _first_version(self, stack):
        """Version 1 of the stack: a succeeded update with its checkpoint, so that routes about
        a version (<version> = 1: history, export of a version) find one."""
        update_id = str(uuid.uuid4())
        stored = StoredDeployment.from_untyped(EMPTY_DEPLOYMENT)
        with self.db:
            row = queries.get_stack(self.db, org_name=self.ORG, project_name=self.PROJECT,
                                    stack_name=stack)
            with self.db.cursor() as cur:
                cur.execute(
                    """INSERT INTO updates (id, stack_id, kind, status, version, start_time,
                                            end_time, resource_count)
                       VALUES (%s, %s, 'update', 'succeeded', 1, now(), now(), 0)""",
                    (update_id, row["id"]))
                cur.execute("UPDATE stacks SET version = 1, active_update_id = %s WHERE id = %s",
                            (update_id, row["id"]))
            queries.put_checkpoint(self.db, stack_id=row["id"], version=1, update_id=update_id,
                                   blob_key=None, **stored.row())

    def _hook(self, stack):
        """A webhook of acme (or of its stack) with one event: (hook name, event id)."""
        name, event_id = uuid.uuid4().hex[:8], str(uuid.uuid4())
        with self.db, self.db.cursor() as cur:
            cur.execute(
                """INSERT INTO webhooks (org_id, stack_id, name, display_name, payload_url)
                   SELECT o.id, s.id, %s, 'hook', 'http://127.0.0.1:9/'
                     FROM organizations o
                     LEFT JOIN projects p ON p.org_id = o.id AND p.name = %s
                     LEFT JOIN stacks s ON s.project_id = p.id AND s.name = %s
                    WHERE o.name = %s RETURNING id""", (name, self.PROJECT, stack, self.ORG))
            cur.execute("INSERT INTO webhook_events (id, webhook_id, kind, event, payload) "
                        "VALUES (%s, %s, 'stack', 'stack_created', '{}')",
                        (event_id, cur.fetchone()["id"]))
        return name, event_id

    def _running_update(self, stack):
        """A running update with a live lease, inserted directly (the row the update routes
        create), so the lease routes can be checked whatever creates it."""
        update_id, lease = str(uuid.uuid4()), new_token()
        with self.db, self.db.cursor() as cur:
            cur.execute(
                """INSERT INTO updates (id, stack_id, kind, status, version, initiator_id,
                                        start_time, lease_token_hash, lease_expires_at)
                   SELECT %s, s.id, 'update', 'running', s.version + 1, u.id, now(), %s,
                          now() + interval '1 hour'
                     FROM stacks s JOIN projects p ON p.id = s.project_id
                     JOIN organizations o ON o.id = p.org_id, users u
                    WHERE o.name = %s AND p.name = %s AND s.name = %s AND u.login = 'mona'""",
                (update_id, hash_token(lease), self.ORG, self.PROJECT, stack))
            assert cur.rowcount == 1
        return update_id, lease

    def expire_lease(self):
        with self.db, self.db.cursor() as cur:
            cur.execute("UPDATE updates SET lease_expires_at = now() - interval '1 second' "
                        "WHERE id = %s", (self.update_id,))

    # The value of each path argument a route may have; a route with another one fails here.
    def path_value(self, name, caller=None, rule=""):
        if rule.startswith("/api/esc/") and name in ("hook_name", "event_id"):
            hook = self.environment_hook()
        else:
            hook = self.hooks["stack" if rule.startswith("/api/stacks/") else "org"]
        if name == "team" or (name == "token_id" and rule.startswith("/api/orgs/")):
            self.teams_and_tokens()
        values = {
            "hook_name": hook[0], "event_id": hook[1],
            "org": self.ORG, "project": self.PROJECT, "stack": self.STACK,
            "update_id": self.update_id, "version": "1", "kind": "update",
            "tag_name": self.TAG, "login": self.MEMBER, "team": self.TEAM,
            # Routes about the caller's own tokens: the caller's token (any id for a caller
            # without a valid one, who is refused first); an organization's or a team's: one
            # of theirs.
            "token_id": lambda: str(self.team_token_id if "/teams/" in rule
                                    else self.org_token_id if rule.startswith("/api/orgs/")
                                    else self.token_id(caller)),
            "issuer_id": self.issuer_id, "policy_id": self.policy_id,
            "program_id": self.deleted_stack,
        }
        if name in ("env", "open_id", "yaml_open_id", "revision_tag", "env_tag"):
            values[name] = self.environment(name)
        if name not in values:
            pytest.fail(f"no fixture value for the path argument <{name}>: add one to "
                        "World.path_value in tests/test_authz_matrix.py")
        value = values[name]
        return value() if callable(value) else value

    def environment(self, name):
        """ESC environment acme/proj/dev, made on first use (only its routes pay for it), and
        open sessions of it (open_id) and of an anonymous document (yaml_open_id)."""
        admin, base = self.api["admin"], f"/api/esc/environments/{self.ORG}"
        # Made again after a test that puts its world back from a snapshot taken before.
        if admin.get(f"{base}/{self.PROJECT}/dev").status_code == 404:
            assert admin.post(base, {"project": self.PROJECT, "name": "dev"}).status_code == 200
        if name == "open_id":
            return admin.post(f"{base}/{self.PROJECT}/dev/open").get_json()["id"]
        if name == "yaml_open_id":
            return admin.call("POST", f"{base}/yaml/open", data=b"values: {a: 1}").get_json()["id"]
        if name == "revision_tag":
            admin.post(f"{base}/{self.PROJECT}/dev/versions/tags", {"name": "stable"})
            return "stable"
        if name == "env_tag":
            admin.post(f"{base}/{self.PROJECT}/dev/tags", {"name": "team", "value": "infra"})
            return "team"
        return "dev"

    def environment_hook(self):
        """A webhook of environment acme/proj/dev with one event: (hook name, event id), made on
        first use, and again once a snapshot put the world back from before it."""
        self.environment("env")
        name, event_id = "e5c04001", "5e5c0000-0000-4000-8000-000000000001"
        with self.db, self.db.cursor() as cur:
            cur.execute(
                """INSERT INTO webhooks (org_id, environment_id, name, display_name, payload_url)
                   SELECT e.org_id, e.id, %s, 'hook', 'http://127.0.0.1:9/'
                     FROM environments e JOIN organizations o ON o.id = e.org_id
                    WHERE o.name = %s AND e.project = %s AND e.name = 'dev'
                       ON CONFLICT (name) DO NOTHING RETURNING id""",
                (name, self.ORG, self.PROJECT))
            made = cur.fetchone()
            if made is not None:
                cur.execute("INSERT INTO webhook_events (id, webhook_id, kind, event, payload) "
                            "VALUES (%s, %s, 'environment', 'environment_created', '{}')",
                            (event_id, made["id"]))
        return name, event_id

    def token_id(self, caller):
        token = self.tokens.get(caller)
        if token is None:
            return 0
        with self.db, self.db.cursor() as cur:
            cur.execute("SELECT id FROM access_tokens WHERE token_hash = %s", (hash_token(token),))
            return cur.fetchone()["id"]

    def headers(self, caller):
        token = {
            "no token": None,
            "malformed header": "Bearer-ish nonsense",
            "unknown token": "token " + new_token(),
            "revoked token": "token " + self.tokens["revoked token"],
            "api token instead of lease": "token " + self.tokens["member"],
            "lease of another update": "update-token " + self.other_lease,
            "expired lease": "update-token " + self.lease,
            "own lease": "update-token " + self.lease,
        }.get(caller)
        if token is None and caller in self.tokens:
            token = "token " + self.tokens[caller]
        return {"Authorization": token} if token else {}


# --- team grants and token kinds ---------------------------------------------------------------
# Each caller: (the organization role it holds, its permission on the stack of the URL, its
# permission on the environment of the URL) with the organization's defaultStackPermission and
# defaultEnvironmentPermission at none; the expired token is refused whatever. The teams' grants
# on the environment: readers read, writers open, admins admin.
TEAM_CALLERS = {
    "member in no team": ("member", 0, "none"),
    "member, team read": ("member", 101, "read"),
    "member, team write": ("member", 102, "open"),
    "member, team admin": ("member", 103, "admin"),
    "viewer, team write": ("viewer", 102, "open"),
    "org token": ("member", 102, "write"),
    "admin org token": ("admin", 103, "admin"),
    "team token": ("member", 102, "open"),
    "team token without grant": ("member", 0, "none"),
    "expired token": None,
}
TEAM_ENV_GRANTS = {"readers": "read", "writers": "open", "admins": "admin"}
NOT_PERSONAL = ("org token", "admin org token", "team token", "team token without grant")


def add_team_callers(world, people):
    """The callers of TEAM_CALLERS in `world`, with acme's default stack permission at none."""
    world.teams_and_tokens()
    admin, org = world.api["admin"], World.ORG
    stack_teams = f"/api/console/stacks/{org}/{World.PROJECT}/{World.STACK}/teams/"
    for team, permission, login in [("readers", 101, "rita"), (World.TEAM, 102, "will"),
                                    ("admins", 103, "alma"), (World.TEAM, 102, "vic")]:
        role = "viewer" if login == "vic" else "member"
        world.tokens[{"rita": "member, team read", "will": "member, team write",
                      "alma": "member, team admin", "vic": "viewer, team write"}[login]] = \
            people.user(login, {org: role}).token
        if team != World.TEAM:
            assert admin.post(f"/api/orgs/{org}/teams/pulumi", body={"name": team}).status_code == 201
            assert admin.patch(stack_teams + team, body={"permissions": permission}).status_code == 204
        assert admin.patch(f"/api/orgs/{org}/teams/{team}",
                           body={"memberAction": "add", "member": login}).status_code == 204
    world.environment("env")
    for team, permission in TEAM_ENV_GRANTS.items():
        assert admin.patch(f"/api/orgs/{org}/teams/{team}", body={"addEnvironmentPermission": {
            "projectName": World.PROJECT, "envName": "dev", "permission": permission}}
        ).status_code == 204
    world.tokens["member in no team"] = people.user("nick", {org: "member"}).token
    expired = people.user("ezra", {org: "admin"}).token
    with world.db, world.db.cursor() as cur:
        cur.execute("UPDATE access_tokens SET expires_at = now() - interval '1 second' "
                    "WHERE token_hash = %s", (hash_token(expired),))
        cur.execute("UPDATE organizations SET default_stack_permission = 0, "
                    "default_environment_permission = 0 WHERE name = %s", (org,))
    world.tokens["expired token"] = expired
    with world.db:
        org_row = queries.org_by_name(world.db, name=org)
        writers = queries.team_by_name(world.db, org_id=org_row["id"], name=World.TEAM)
        nogrant = queries.team_by_name(world.db, org_id=org_row["id"], name="nogrant")
        for caller, args in [
            ("org token", {"kind": "organization", "name": "plain"}),
            ("admin org token", {"kind": "organization", "name": "admin", "admin": True}),
            ("team token", {"kind": "team", "team_id": writers["id"], "name": "t"}),
            ("team token without grant", {"kind": "team", "team_id": nogrant["id"], "name": "t"}),
        ]:
            world.tokens[caller] = create_token(world.db, org_id=org_row["id"], **args)[1]


def expected_for_team_caller(view, rule, caller, settings):
    kind, role = view.auth
    if TEAM_CALLERS[caller] is None:
        return 401
    if getattr(view, "user_only", False) and caller in NOT_PERSONAL:
        return 403
    if role is None:
        return ALLOW
    held, permission, env_permission = TEAM_CALLERS[caller]
    if {"org", "project", "env"} <= set(rule.arguments):
        declared = getattr(view, "env_permission", None)
        needed = ENV_LEVELS.index(declared) if declared else ENV_PERMISSION[role]
        if ENV_LEVELS.index(env_permission) < 1:
            return 404
        if declared and ROLES[held] < ROLES[role]:
            return 403
        return ALLOW if ENV_LEVELS.index(env_permission) >= needed else 403
    plaintext_role = getattr(view, "plaintext_role", None)
    if plaintext_role and not settings.get(plaintext_role[1]) \
            and ROLES[plaintext_role[0]] > ROLES[role]:
        role = plaintext_role[0]  # secrets in plaintext (stacks', environments')
    if {"org", "project", "stack"} <= set(rule.arguments):
        needed = STACK_PERMISSION[role]
        if permission < STACK_PERMISSION["viewer"]:
            return 404
        return ALLOW if permission >= needed else 403
    if getattr(view, "stack_action", None) == "create":
        # membersCanCreateStacks is on (the default); viewers never create.
        return ALLOW if held != "viewer" else 403
    return ALLOW if ROLES[held] >= ROLES[role] else 403


def test_every_token_route_as_team_and_token_callers(app, people, db):
    """Every caller of TEAM_CALLERS on every route taking an API token, over one world (put back
    after each change that got through, so that every call meets the same world)."""
    world = World(people, db)
    add_team_callers(world, people)
    restore = snapshots.take(db, "authz_snapshot")
    wrong, calls = [], 0
    try:
        for method, rule, view in route_table():
            if getattr(view, "auth", ("token",))[0] != "token":
                continue
            rule, view = rule_of(app, method, rule.rule)
            for caller in TEAM_CALLERS:
                outcome = expected_for_team_caller(view, rule, caller, app.config)
                response = call(app, world, method, rule, caller)
                calls += 1
                try:
                    check(response, outcome, method, rule, caller)
                except AssertionError as err:
                    wrong.append(str(err).splitlines()[0])
                if response.status_code < 300 and method not in ("GET", "HEAD"):
                    snapshots.restore(db, restore)
    finally:
        snapshots.drop(db, "authz_snapshot")
    assert calls > 100
    assert not wrong, f"{len(wrong)} of {calls} calls:\n" + "\n".join(wrong)


def call(app, world, method, rule, caller):
    if caller == "expired lease":
        world.expire_lease()
    path = rule.rule
    for name in rule.arguments:
        # <name>, <int:name>, <any(a, b):name> ...: any converter.
        path = re.sub(rf"<(?:[^<>:]+:)?{name}>", world.path_value(name, caller, rule.rule), path)
    assert "<" not in path, f"unfilled path argument in {path}"
    client = app.test_client()
    headers = {"Accept": "application/vnd.pulumi+8", "Content-Type": "application/json"}
    headers.update(world.headers(caller))
    data = "{}" if method in ("POST", "PUT", "PATCH") else None
    return client.open(path, method=method, headers=headers, data=data)


def check(response, outcome, method, rule, caller):
    where = f"{method} {rule.rule} as {caller}"
    body = response.get_data(as_text=True)[:300]
    assert response.status_code < 500, f"{where}: {response.status_code} {body}"
    if outcome == ALLOW:
        assert response.status_code not in (401, 403, 404), \
            f"{where} must be let through, got {response.status_code} {body}"
    else:
        assert response.status_code == outcome, \
            f"{where} must get {outcome}, got {response.status_code} {body}"
        if method != "HEAD":
            assert response.get_json()["code"] == outcome


@pytest.fixture(scope="module")
def _world_snapshot(app, database_url):
    """The World made once for the module and kept in a snapshot (tests/support/snapshots.py)."""
    people, conn = People(app, database_url), connect(database_url)
    try:
        template = World(people, conn)
        restore = snapshots.take(conn, "authz_world")
        yield template, restore
        snapshots.drop(conn, "authz_world")
    finally:
        people.close()
        conn.close()


@pytest.fixture
def world(_world_snapshot, db):
    """A World as World(people, db) makes it: the module's, put back from its snapshot."""
    template, restore = _world_snapshot
    snapshots.restore(db, restore)
    return template.again(db)


def rule_of(app, method, path):
    for m, rule, view in served(app):
        if m == method and rule.rule == path:
            return rule, view
    pytest.fail(f"{method} {path} is no longer served")


@pytest.mark.parametrize("method,path,caller", cases(route_table()))
def test_route_as_caller(app, world, method, path, caller):
    rule, view = rule_of(app, method, path)
    outcome = expected(getattr(view, "auth", None), caller, getattr(view, "plaintext_role", None),
                       app.config)
    check(call(app, world, method, rule, caller), outcome, method, rule, caller)


def test_matrix_covers_every_route_and_caller():
    table = route_table()
    assert table, "no routes found"
    covered = {(p.values[0], p.values[1]) for p in cases(table)}
    assert covered == {(method, rule.rule) for method, rule, _ in api_routes(table)}


# --- the matrix's own machinery, on probe routes (lease routes live on another branch) ---------

def probe_app(database_url):
    bp = Blueprint("probe", __name__)

    @bp.post("/api/stacks/<org>/<project>/<stack>/update/<update_id>/probe")
    @requires_lease
    def lease_probe(org, project, stack, update_id):
        return jsonify({})

    app = create_app(make_config(database_url))
    app.register_blueprint(bp)
    return app


@pytest.mark.parametrize("caller", LEASE_CALLERS)
def test_lease_route_as_caller(database_url, world, caller):
    app = probe_app(database_url)
    rule, view = rule_of(app, "POST", "/api/stacks/<org>/<project>/<stack>/update/<update_id>/probe")
    outcome = expected(view.auth, caller)
    check(call(app, world, "POST", rule, caller), outcome, "POST", rule, caller)


def test_lease_of_the_right_update_on_another_stack_url_is_refused(database_url, world):
    app = probe_app(database_url)
    response = app.test_client().post(
        f"/api/stacks/acme/proj/{World.OTHER_STACK}/update/{world.update_id}/probe",
        headers={"Accept": "application/vnd.pulumi+8",
                 "Authorization": "update-token " + world.lease})
    assert response.status_code == 403


def test_undeclared_route_fails_the_matrix():
    with pytest.raises(pytest.fail.Exception, match="no auth declaration"):
        expected(None, "admin")


def blueprint_in_place_of_stacks(monkeypatch, view, rule):
    """create_app() registering `view` at `rule` in place of the stack routes."""
    import app.routes.stacks as stack_routes

    bp = Blueprint("stacks", __name__)
    bp.get(rule)(view)
    monkeypatch.setattr(stack_routes, "bp", bp)


def test_app_refuses_to_start_with_an_undeclared_route(database_url, monkeypatch):
    def unguarded():
        return jsonify({})

    blueprint_in_place_of_stacks(monkeypatch, unguarded, "/api/unguarded")
    with pytest.raises(RuntimeError, match="routes without an auth declaration.*/api/unguarded"):
        create_app(make_config(database_url))


def test_app_starts_with_the_same_route_declared(database_url, monkeypatch):
    @authenticated
    def guarded():
        return jsonify({})

    blueprint_in_place_of_stacks(monkeypatch, guarded, "/api/guarded")
    app = create_app(make_config(database_url))
    assert "/api/guarded" in {rule.rule for rule in app.url_map.iter_rules()}
