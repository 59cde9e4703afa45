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

from .db import transaction
from .errors import ApiError
from .queries import queries

ROLES = {"viewer": 1, "member": 2, "admin": 3}

_ACCEPT = re.compile(r"application/vnd\.pulumi\+(\d+)")
# The first API level with paginated /api/user/stacks; every CLI since v3.9 sends 8 or newer.
MIN_API_LEVEL = 8

TOKEN_PREFIX = "pul-"


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
        view.auth = ("lease", "finished_ok" if finished_ok else None)
        return view

    return mark(view) if view is not None else mark


def public(view):
    """No credentials (health checks, metrics)."""
    view.auth = ("public", None)
    return view


def declared_auth(endpoint):
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "auth", None)


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
    if "\x00" in request.path or any("\x00" in key + value
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


def _authenticate_token():
    token = _credential("token")
    # Tokens are looked up by their SHA-256 (only hashes are stored): the database compares
    # hashes, so the time a lookup takes tells nothing about how much of a guessed token was
    # right, and no token is ever compared in Python.
    with transaction() as conn:
        user = queries.user_by_token(conn, token_hash=hash_token(token))
        if user is not None:
            queries.touch_token(conn, token_id=user["token_id"])
    if user is None:
        raise ApiError(401, "Unauthorized: No credentials provided or are invalid.")
    g.user = user


def _authorize_org(role):
    org = request.view_args.get("org")
    with transaction() as conn:
        held = queries.role_in_org(conn, org_name=org, user_id=g.user["id"])
    # No membership at all looks the same as an organization that does not exist: 404 everywhere.
    if held is None:
        raise ApiError(404, f"Not Found: organization '{org}' not found")
    if ROLES[held] < ROLES[role]:
        raise ApiError(
            403,
            f"Forbidden: this requires the '{role}' role in organization '{org}'; you are '{held}'",
        )
    g.role = held


def _authenticate_lease(finished_ok=False):
    token = _credential("update-token")
    args = request.view_args
    with transaction() as conn:
        # By hash, like API tokens (see _authenticate_token).
        lease = queries.update_by_lease(conn, lease_token_hash=hash_token(token))
    if lease is None:
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
# gunicorn workers and hosts: one upsert per failure, one primary-key lookup per authenticated
# request. Requests that authenticate are never counted.

def _client():
    return request.remote_addr or "unknown"


def _refuse_blocked_client():
    limit = current_app.config["AUTH_FAIL_LIMIT"]
    if limit <= 0:
        return
    with transaction() as conn:
        retry_after = queries.auth_retry_after(
            conn, client=_client(), failure_limit=limit,
            window_seconds=current_app.config["AUTH_FAIL_WINDOW_SECONDS"])
    if retry_after is not None:
        raise ApiError(
            429, "Too Many Requests: too many failed authentications from this address; "
            f"retry in {max(retry_after, 1)} seconds",
            headers={"Retry-After": str(max(retry_after, 1))},
        )


def _record_failure():
    if current_app.config["AUTH_FAIL_LIMIT"] <= 0:
        return
    with transaction() as conn:
        queries.record_auth_failure(
            conn, client=_client(), window_seconds=current_app.config["AUTH_FAIL_WINDOW_SECONDS"])


def _authenticate(kind, role=None):
    """The caller behind the credentials; a failure with credentials present (malformed,
    unknown, revoked) counts against the client, a request without any does not."""
    _refuse_blocked_client()
    try:
        if kind == "lease":
            _authenticate_lease(finished_ok=role == "finished_ok")
        else:
            _authenticate_token()
    except ApiError as err:
        if err.status == 401 and request.headers.get("Authorization"):
            _record_failure()
        raise


def before_request():
    view = current_app.view_functions.get(request.url_rule.endpoint) if request.url_rule else None
    if request.path.startswith("/api/") and not getattr(view, "accepts_any", False):
        _check_accept()
    _check_text()
    if request.routing_exception is not None:
        raise request.routing_exception
    kind, role = view.auth
    if kind == "public":
        return
    _authenticate(kind, role)
    if kind == "token" and role is not None:
        _authorize_org(role)


def init_app(app):
    app.before_request(before_request)
