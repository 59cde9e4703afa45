"""Request hooks: the Pulumi Accept check, the caller behind `Authorization: token ...` or
`update-token ...`, and the role each route declares in the organization of its URL.

Every view states who may call it with one of the decorators below; the hook reads that
declaration, so a reader sees the rule next to the route and a route without one cannot be served
(`check_declarations` refuses to start the app).
"""
import hashlib
import hmac
import re
import secrets
from datetime import datetime

from flask import current_app, g, request

from . import text
from .db import get_conn
from .errors import ApiError
from .queries import queries

ROLES = {"viewer": 1, "member": 2, "admin": 3}
# Pulumi's environment permissions, stored as their index (migration 0025), and the one each
# role stands for on an environment route.
ENV_LEVELS = ("none", "read", "open", "write", "admin")
ENV_READ, ENV_OPEN = 1, 2
ENV_PERMISSION = {"viewer": 1, "member": 3, "admin": 4}

_ACCEPT = re.compile(r"application/vnd\.pulumi\+(\d+)")
# The first API level with paginated /api/user/stacks; every CLI since v3.9 sends 8 or newer.
MIN_API_LEVEL = 8

TOKEN_PREFIX = "pul-"
# An API token's last_used_at is written at most this often (seconds): reads do not each cost a
# write, and the figure stays good enough to tell a token in use from an abandoned one.
TOKEN_TOUCH_SECONDS = 60


def hash_token(token):
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_token():
    return TOKEN_PREFIX + secrets.token_hex(20)


# --- route declarations -------------------------------------------------------------------------

def requires_role(role, stack_action=None, stack_summary=False, env_permission=None):
    """The caller needs at least `role` in the organization named by the URL's `org`.

    On a route about one stack (its URL names `org`, `project` and `stack`) the role stands for
    a permission on that stack, Pulumi's stack permissions: viewer read (101), member write
    (102), admin admin (103), where the caller's permission is the union of what their
    organization role gives and their teams' grants (sql/queries/auth.sql). A stack the caller
    may not even read is not found (404). `stack_action`: "create" (the route creates a stack:
    members need the organization's membersCanCreateStacks) or "delete" (write is enough with
    membersCanDeleteStacks). `stack_summary`: the route answers with the stack's summary, which
    the authentication statement then fetches too (see `stack_summary()`).

    On a route about one ESC environment (`org`, `project` and `env`) the role likewise stands
    for Pulumi's environment permissions: viewer read, member write, admin admin, the caller's
    being the union of what their role gives and their teams' grants (an environment they may
    not read is not found). `env_permission` ("open" ...) asks for that permission instead,
    the caller also needing `role` in the organization (a clone creates an environment)."""
    assert role in ROLES
    assert stack_action in (None, "create", "delete")
    assert env_permission in (None, *ENV_LEVELS)

    def mark(view):
        view.auth = ("token", role)
        view.stack_action = stack_action
        view.stack_summary = stack_summary
        view.env_permission = env_permission
        return view

    return mark


def authenticated(view):
    """Any caller with a valid API token (routes about the caller, not an organization)."""
    view.auth = ("token", None)
    return view


def requires_user(view):
    """A caller with a personal token (routes about the caller's own user, which an organization
    or team token has none of: 403 for those). Combines with @requires_role."""
    if getattr(view, "auth", None) is None:
        view.auth = ("token", None)
    view.user_only = True
    return view


def requires_lease(view=None, *, finished_ok=False):
    """The lease token of the update in the URL (`Authorization: update-token ...`), while the
    update runs and its lease lasts. `finished_ok`: also once the update is over (complete is
    retried by the CLI and must find the update it already completed)."""

    def mark(view):
        view.auth = ("lease", None)
        view.lease_finished_ok = finished_ok
        return view

    return mark(view) if view is not None else mark


def public(view):
    """No credentials (health checks, metrics)."""
    view.auth = ("public", None)
    return view


CONSOLE_ANYONE = "anyone"


def console_page(role=None):
    """A page of the web console (app/console), for a person signed in to it (a session, not an
    API token): with at least `role` in the organization of the URL's `org`; None: anyone signed
    in; CONSOLE_ANYONE: no sign-in needed (the sign-in pages themselves). The console's own hook
    checks it (app/console/__init__.py), answering in HTML."""
    assert role is None or role == CONSOLE_ANYONE or role in ROLES

    def mark(view):
        view.auth = ("console", role)
        return view

    return mark


def check_declarations(app):
    missing = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and getattr(app.view_functions[rule.endpoint], "auth", None) is None
    ]
    if missing:
        raise RuntimeError(f"routes without an auth declaration: {missing}")


# --- hooks --------------------------------------------------------------------------------------

def _check_accept():
    match = _ACCEPT.search(request.headers.get("Accept", ""))
    if not match or int(match.group(1)) < MIN_API_LEVEL:
        raise ApiError(
            415,
            f"Unsupported Media Type: send 'Accept: application/vnd.pulumi+{MIN_API_LEVEL}' or newer",
        )


def _check_text():
    """PostgreSQL text cannot hold NUL: a URL carrying one can name nothing, and would otherwise
    reach the driver and fail there (a 500)."""
    if text.has_nul(request.path) or any(text.has_nul(key + value)
                                         for key, value in request.args.items(multi=True)):
        raise ApiError(400, "Bad Request: the URL contains a NUL character")


def _credential(scheme):
    header = request.headers.get("Authorization", "")
    if not header:
        raise ApiError(401, "Unauthorized: No credentials provided or are invalid.")
    parts = header.split(" ", 1)
    if len(parts) != 2 or parts[0] != scheme or not parts[1].strip():
        raise ApiError(
            401, f"Unauthorized: expected 'Authorization: {scheme} <{scheme.replace('-', ' ')}>'"
        )
    return parts[1].strip()


def _client():
    return request.remote_addr or "unknown"


def _failure_window():
    config = current_app.config
    return {"client": _client(), "failure_limit": max(config["AUTH_FAIL_LIMIT"], 0),
            "window_seconds": config["AUTH_FAIL_WINDOW_SECONDS"]}


def _refuse_if_blocked(found):
    retry_after = found["retry_after"]
    if retry_after is not None:
        raise ApiError(
            429, "Too Many Requests: too many failed authentications from this address; "
            f"retry in {max(retry_after, 1)} seconds",
            headers={"Retry-After": str(max(retry_after, 1))},
        )


# Stack permissions (Pulumi's) each role stands for on a stack route, and back.
STACK_PERMISSION = {"viewer": 101, "member": 102, "admin": 103}
PERMISSION_ROLE = {101: "viewer", 102: "member", 103: "admin"}


def _authenticate_token(token, view):
    """The caller, and for a route that declares a role their role in the organization of the
    URL (and on a stack route their permission on the stack), in one statement (outside any
    transaction: it commits by itself, see app/db.py). Tokens are looked up by their SHA-256
    (only hashes are stored): the database compares hashes, so the time a lookup takes tells
    nothing about how much of a guessed token was right, and no token is ever compared in
    Python."""
    role = view.auth[1]
    args = request.view_args or {}
    org = args.get("org") if role is not None else None
    stack = args.get("stack") if org is not None and "project" in args else None
    env = args.get("env") if org is not None and "project" in args else None
    token_hash = hash_token(token)
    found = queries.authenticate_token(
        get_conn(), token_hash=token_hash, org_name=org,
        project_name=args.get("project") if stack is not None or env is not None else None,
        stack_name=stack, env_name=env, viewer_env_cap=_viewer_env_cap(),
        with_summary=stack is not None and getattr(view, "stack_summary", False),
        touch_seconds=TOKEN_TOUCH_SECONDS, **_failure_window())
    _refuse_if_blocked(found)
    if found["token_id"] is None:
        raise ApiError(401, "Unauthorized: No credentials provided or are invalid.")
    kind = found["token_kind"]
    g.token_hash = token_hash
    g.token = {"kind": kind, "name": found["token_name"], "org": found["token_org"],
               "team": found["token_team"], "admin": found["token_admin"],
               "org_id": found["token_org_id"], "team_id": found["token_team_id"]}
    # An organization or team token acts as its organization: that is its login (the audit
    # log's actor, /api/user's githubLogin); it has no user id.
    g.user = {"id": found["id"], "login": found["login"] or found["token_org"],
              "name": found["name"] or found["token_name"], "email": found["email"] or "",
              "token_id": found["token_id"]}
    if getattr(view, "user_only", False) and kind != "personal":
        raise ApiError(403, f"Forbidden: this needs a personal access token; this is an "
                            f"{kind} token")
    if role is None:
        return
    held = found["role"]
    # No membership at all looks the same as an organization that does not exist: 404 everywhere.
    if held is None:
        raise ApiError(404, f"Not Found: organization '{org}' not found")
    if stack is not None:
        g.role = check_stack_permission(found, role, view, org, args["project"], stack)
        g.stack_summary = found["stack_summary"]
        return
    if env is not None:
        g.env_permission = check_env_permission(found, role, view, org, args["project"], env)
        g.role = held
        return
    if getattr(view, "stack_action", None) == "create":
        _check_create(found, held, org)
    elif ROLES[held] < ROLES[role]:
        raise ApiError(
            403,
            f"Forbidden: this requires the '{role}' role in organization '{org}'; you are '{held}'",
        )
    g.role = held


def _viewer_env_cap():
    """The most a viewer's role gives on an environment: read, or open (plaintext secrets) when
    the service lets viewers decrypt."""
    return ENV_OPEN if current_app.config["SECRETS_VIEWERS_CAN_DECRYPT"] else ENV_READ


class CallerRights:
    """The caller's rights on the stacks and environments a request names in its body rather
    than its URL (ESC imports, `fn::open::pulumi-stacks`, ciphertexts of other environments),
    by the one rule of the stack and environment routes (the same statement). Made by a route
    for the domain (app/environments.py), which knows nothing of the request. Each answer is
    kept for the rest of the request only: an evaluation naming one environment many times (its
    imports, each of its ciphertexts) asks once; the next request asks again."""

    def __init__(self):
        self.token_hash = g.token_hash
        self.login = g.user["login"]
        self.client = _client()
        self.viewer_env_cap = _viewer_env_cap()
        self.viewers_decrypt = current_app.config["SECRETS_VIEWERS_CAN_DECRYPT"]
        self._answers = {}

    def _found(self, conn, org, project, stack=None, env=None):
        key = (org, project, stack, env)
        if key not in self._answers:
            self._answers[key] = queries.authenticate_token(
                conn, token_hash=self.token_hash, org_name=org, project_name=project,
                stack_name=stack, env_name=env, viewer_env_cap=self.viewer_env_cap,
                with_summary=False, touch_seconds=TOKEN_TOUCH_SECONDS, client=self.client,
                failure_limit=0, window_seconds=0)
        return self._answers[key]

    def stack_permission(self, conn, org, project, stack):
        """0 none, 101 read, 102 write, 103 admin; whether the stack exists is the caller's to
        check."""
        return self._found(conn, org, project, stack=stack)["stack_permission"] or 0

    def may_decrypt_stack(self, permission):
        """Whether this permission on a stack shows its secrets in plain text (as the stack
        routes' plaintext rule: write, or read when viewers may decrypt)."""
        needed = STACK_PERMISSION["viewer" if self.viewers_decrypt else "member"]
        return permission >= needed

    def environment_permission(self, conn, org, project, env):
        """An index of ENV_LEVELS; 0 also when there is no such environment."""
        return self._found(conn, org, project, env=env)["env_permission"] or 0

    def caller(self):
        """Who the caller is, as the environment list's query takes it."""
        return {"user_id": g.user["id"], "token_kind": g.token["kind"],
                "token_org_id": g.token["org_id"], "token_team_id": g.token["team_id"],
                "token_admin": bool(g.token["admin"]), "viewer_env_cap": self.viewer_env_cap}


def check_stack_permission(found, role, view, org, project, stack):
    """The role the caller's permission on the stack stands for (what the route reads as
    g.role), or the refusal: 404 when they may not read the stack, 403 when they may not do
    this to it."""
    permission = found["stack_permission"]
    ref = f"{org}/{project}/{stack}"
    if permission < STACK_PERMISSION["viewer"]:
        raise ApiError(404, f"Not Found: stack '{ref}' not found")
    needed = STACK_PERMISSION[role]
    if getattr(view, "stack_action", None) == "delete" and found["members_can_delete_stacks"]:
        needed = min(needed, STACK_PERMISSION["member"])
    if permission < needed:
        raise ApiError(403, f"Forbidden: this requires the '{PERMISSION_ROLE[needed]}' "
                            f"permission on stack '{ref}'; you have "
                            f"'{PERMISSION_ROLE[permission]}'")
    return PERMISSION_ROLE[permission]


def check_env_permission(found, role, view, org, project, env):
    """The caller's permission on the environment (an index of ENV_LEVELS, what the route reads
    as g.env_permission), or the refusal: 404 when they may not read it, 403 when they may not
    do this to it."""
    permission = found["env_permission"]
    ref = f"{org}/{project}/{env}"
    if permission < ENV_READ:
        raise ApiError(404, f"Not Found: environment '{ref}' not found")
    declared = getattr(view, "env_permission", None)
    if declared is not None and ROLES[found["role"]] < ROLES[role]:
        raise ApiError(403, f"Forbidden: this requires the '{role}' role in organization "
                            f"'{org}'; you are '{found['role']}'")
    needed = ENV_LEVELS.index(declared) if declared else ENV_PERMISSION[role]
    if permission < needed:
        raise ApiError(403, f"Forbidden: this requires the '{ENV_LEVELS[needed]}' permission on "
                            f"environment '{ref}'; you have '{ENV_LEVELS[permission]}'")
    return permission


def stack_summary():
    """The summary of the URL's stack (a row of the stack_summaries view) that the authentication
    statement fetched for a route declared with `stack_summary=True`; None when it did not (the
    URL names the stack by a former name): the route then reads it itself."""
    summary = g.get("stack_summary")
    if summary is not None and summary["op_started"] is not None:
        # to_jsonb gives the timestamp as ISO 8601 text.
        summary["op_started"] = datetime.fromisoformat(summary["op_started"])
    return summary


def _check_create(found, held, org):
    """Creating a stack: admins and organization tokens may; members and team tokens when the
    organization lets members create stacks; viewers never."""
    if held == "admin" or found["token_kind"] == "organization":
        return
    if held == "member" and found["members_can_create_stacks"]:
        return
    raise ApiError(403, f"Forbidden: creating stacks in organization '{org}' requires the "
                        + ("'admin' role (membersCanCreateStacks is off)" if held == "member"
                           else f"'member' role; you are '{held}'"))


def _authenticate_lease(token, finished_ok):
    args = request.view_args
    # By hash, like API tokens (see _authenticate_token).
    lease = queries.authenticate_lease(get_conn(), lease_token_hash=hash_token(token),
                                       **_failure_window())
    _refuse_if_blocked(lease)
    if lease["id"] is None:
        raise ApiError(401, "Unauthorized: unknown update token")
    expected = (args.get("org"), args.get("project"), args.get("stack"), args.get("update_id"))
    held = (lease["org_name"], lease["project_name"], lease["stack_name"], str(lease["id"]))
    if not hmac.compare_digest("/".join(held), "/".join(str(a) for a in expected)):
        raise ApiError(403, "Forbidden: the update token is not valid for this update")
    over = lease["status"] in ("succeeded", "failed", "cancelled")
    if not (finished_ok and over) and (lease["status"] != "running" or lease["expired"]):
        raise ApiError(403, "Forbidden: the update's lease has expired or the update is over")
    g.user = {"id": lease["initiator_id"], "login": lease["initiator_login"]}
    g.lease = lease


# --- failed authentications -----------------------------------------------------------------------
# Counted per client address in PostgreSQL (migration 0005), so that the limit holds across
# gunicorn workers and hosts: one upsert per failure; the check of a blocked client is part of
# each request's authentication statement. Requests that authenticate are never counted.

def _refuse_blocked_client():
    """For requests without well-formed credentials, which skip the authentication statement."""
    window = _failure_window()
    if window["failure_limit"] <= 0:
        return
    retry_after = queries.auth_retry_after(get_conn(), **window)
    _refuse_if_blocked({"retry_after": retry_after})


def blocked_for(conn=None):
    """Seconds a client that reached AUTH_FAIL_LIMIT must still wait; None when it may try (the
    console's sign-in forms share the API's count)."""
    window = _failure_window()
    if window["failure_limit"] <= 0:
        return None
    return queries.auth_retry_after(conn or get_conn(), **window)


def record_failure():
    """Count one failed sign-in or authentication of the client."""
    _record_failure()


def _record_failure():
    if current_app.config["AUTH_FAIL_LIMIT"] <= 0:
        return
    # One statement in autocommit (app/db.py): counted even though the request then fails.
    queries.record_auth_failure(
        get_conn(), client=_client(), window_seconds=current_app.config["AUTH_FAIL_WINDOW_SECONDS"])


def _authenticate(view):
    """The caller behind the credentials (and their role, for a route that declares one). A
    blocked client is refused whatever it sends; a failure with credentials present (malformed,
    unknown, revoked) counts against the client, a request without any does not."""
    kind = view.auth[0]
    try:
        credential = _credential("update-token" if kind == "lease" else "token")
    except ApiError:
        _refuse_blocked_client()
        if request.headers.get("Authorization"):
            _record_failure()
        raise
    try:
        if kind == "lease":
            _authenticate_lease(credential, getattr(view, "lease_finished_ok", False))
        else:
            _authenticate_token(credential, view)
    except ApiError as err:
        if err.status == 401:
            _record_failure()
        raise


def before_request():
    view = current_app.view_functions.get(request.url_rule.endpoint) if request.url_rule else None
    if request.path.startswith("/api/") and not getattr(view, "accepts_any", False):
        _check_accept()
    _check_text()
    if request.routing_exception is not None:
        raise request.routing_exception
    if view.auth[0] in ("public", "console"):
        return
    _authenticate(view)


def init_app(app):
    app.before_request(before_request)
