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

from flask import current_app, g, request

from . import text
from .db import get_conn
from .errors import ApiError
from .queries import queries

ROLES = {"viewer": 1, "member": 2, "admin": 3}

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

def requires_role(role):
    """The caller needs at least `role` in the organization named by the URL's `org`."""
    assert role in ROLES

    def mark(view):
        view.auth = ("token", role)
        return view

    return mark


def authenticated(view):
    """Any caller with a valid API token (routes about the caller, not an organization)."""
    view.auth = ("token", None)
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


def _authenticate_token(token, role):
    """The caller, and with `role` their role in the organization of the URL, in one statement
    (outside any transaction: it commits by itself, see app/db.py). Tokens are looked up by
    their SHA-256 (only hashes are stored): the database compares hashes, so the time a lookup
    takes tells nothing about how much of a guessed token was right, and no token is ever
    compared in Python."""
    org = request.view_args.get("org") if role is not None else None
    found = queries.authenticate_token(
        get_conn(), token_hash=hash_token(token), org_name=org,
        touch_seconds=TOKEN_TOUCH_SECONDS, **_failure_window())
    _refuse_if_blocked(found)
    if found["id"] is None:
        raise ApiError(401, "Unauthorized: No credentials provided or are invalid.")
    g.user = {key: found[key] for key in ("id", "login", "name", "email", "token_id")}
    if role is None:
        return
    held = found["role"]
    # No membership at all looks the same as an organization that does not exist: 404 everywhere.
    if held is None:
        raise ApiError(404, f"Not Found: organization '{org}' not found")
    if ROLES[held] < ROLES[role]:
        raise ApiError(
            403,
            f"Forbidden: this requires the '{role}' role in organization '{org}'; you are '{held}'",
        )
    g.role = held


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
    kind, role = view.auth
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
            _authenticate_token(credential, role)
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
