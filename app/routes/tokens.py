"""Access tokens (Pulumi's token API): the caller's personal tokens (/api/user/tokens), an
organization's tokens and a team's (admins only). Values are answered once, on creation; the
service keeps their SHA-256."""
import datetime

from flask import Blueprint, g, jsonify

from .. import audit, orgs, teams, tokens
from ..api import actor, parse_body, parse_query, unix
from ..auth import requires_role, requires_user
from ..db import transaction
from ..errors import ApiError
from ..openapi import documented
from ..schemas import tokens as schemas

bp = Blueprint("tokens", __name__, url_prefix="/api")

ORG_TOKENS = "/orgs/<org>/tokens"
TEAM_TOKENS = "/orgs/<org>/teams/<team>/tokens"
# Pulumi's limit for organization and team tokens.
MAX_LIFETIME = datetime.timedelta(days=2 * 366)


def utc(ts):
    return ts.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def token_of(row, kind="personal"):
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "description": row["description"],
        "created": utc(row["created_at"]),
        "last_used": unix(row["last_used_at"]) or 0,
        "expires": unix(row["expires_at"]) or 0,
        "admin": bool(row.get("admin")),
        "created_by": row["created_by"],
        "type": kind,
    }


def expiry(expires, longest=None):
    """Unix seconds (0: never) as an aware datetime (None: never), at most `longest` away."""
    if not expires:
        return None
    at = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
    if longest is not None and at > datetime.datetime.now(datetime.timezone.utc) + longest:
        raise ApiError(400, "Bad Request: expires may be at most two years away")
    return at


# --- personal tokens ------------------------------------------------------------------------------

@bp.get("/user/tokens")
@requires_user
@documented(response=schemas.access_tokens)
def list_tokens():
    """The caller's personal tokens (not their values), expired ones included."""
    with transaction() as conn:
        rows = tokens.personal_tokens(conn, g.user)
    return jsonify(schemas.access_tokens.dump({"tokens": [token_of(r) for r in rows]}))


@bp.post("/user/tokens")
@requires_user
@documented(body=schemas.create_personal_token, query=schemas.create_token_query,
            response=schemas.created_token,
            responses={400: "Bad Request: invalid description or expiry"})
def create_token():
    """A new personal token; its value is in this response only (the service keeps a hash)."""
    parse_query(schemas.create_token_query)
    body = parse_body(schemas.create_personal_token)
    with transaction() as conn:
        token_id, value = tokens.create_personal(conn, g.user, body.get("description") or "",
                                                 expiry(body.get("expires")))
        # In the caller's own organization's log: its id and description, never the token.
        audit.record(conn, actor(), g.user["login"], "token.created", f"token {token_id}",
                     f"created token {token_id} for {g.user['login']}"
                     + (f" ({body['description']})" if body.get("description") else ""))
    return jsonify(schemas.created_token.dump({"id": str(token_id), "token_value": value}))


@bp.delete("/user/tokens/<int:token_id>")
@requires_user
@documented(status=204, responses={404: "Not Found: the caller has no such token"})
def delete_token(token_id):
    """Revoke one of the caller's tokens: it is refused (401) from its next request on."""
    with transaction() as conn:
        tokens.delete_personal(conn, g.user, token_id)
        audit.record(conn, actor(), g.user["login"], "token.revoked", f"token {token_id}",
                     f"deleted token {token_id} of {g.user['login']}")
    return "", 204


# --- organization and team tokens -------------------------------------------------------------------

def _owner(conn, org, team):
    """(organization row, team row or None) of the URL."""
    org_row = orgs.find_org(conn, org)
    return org_row, (teams.get(conn, org_row, team) if team is not None else None)


def _list(org, team=None):
    with transaction() as conn:
        org_row, team_row = _owner(conn, org, team)
        rows = tokens.owned_tokens(conn, org_row["id"], team_row and team_row["id"])
    kind = "team" if team else "organization"
    return jsonify(schemas.access_tokens.dump({"tokens": [token_of(r, kind) for r in rows]}))


def _create(org, team=None):
    parse_query(schemas.create_token_query)
    body = parse_body(schemas.create_org_token if team is None else schemas.create_team_token)
    with transaction() as conn:
        org_row, team_row = _owner(conn, org, team)
        token_id, value = tokens.create_token(
            conn, kind="team" if team else "organization", org_id=org_row["id"],
            team_id=team_row and team_row["id"], name=body["name"],
            description=body.get("description"), admin=body.get("admin") or False,
            expires_at=expiry(body.get("expires"), MAX_LIFETIME), created_by=g.user["id"])
        audit.record(conn, actor(), org, "token.created", *tokens.owned_created_record(
            token_id, body["name"], org, team, body.get("admin")))
    return jsonify(schemas.created_token.dump({"id": str(token_id), "token_value": value}))


def _delete(org, token_id, team=None):
    with transaction() as conn:
        org_row, team_row = _owner(conn, org, team)
        tokens.delete_owned(conn, org_row["id"], token_id, team_row and team_row["id"])
        audit.record(conn, actor(), org, "token.revoked",
                     *tokens.owned_revoked_record(token_id, org, team))
    return "", 204


CREATE_ERRORS = {400: "Bad Request: an invalid name, description or expiry",
                 409: "Conflict: a token of that name exists (deleted ones count)"}


@bp.get(ORG_TOKENS)
@requires_role("admin")
@documented(response=schemas.access_tokens)
def list_org_tokens(org):
    """The organization's tokens (not their values), expired ones included."""
    return _list(org)


@bp.post(ORG_TOKENS)
@requires_role("admin")
@documented(body=schemas.create_org_token, query=schemas.create_token_query,
            response=schemas.created_token, responses=CREATE_ERRORS)
def create_org_token(org):
    """A token that acts as the organization (`admin`: with the admin role; otherwise as a
    member who may write every stack); its value is in this response only."""
    return _create(org)


@bp.delete(ORG_TOKENS + "/<int:token_id>")
@requires_role("admin")
@documented(status=204, responses={404: "Not Found: no such organization token"})
def delete_org_token(org, token_id):
    """Revoke an organization token: refused (401) from its next request on."""
    return _delete(org, token_id)


@bp.get(TEAM_TOKENS)
@requires_role("admin")
@documented(response=schemas.access_tokens, responses={404: "Not Found: no such team"})
def list_team_tokens(org, team):
    """The team's tokens (not their values), expired ones included."""
    return _list(org, team)


@bp.post(TEAM_TOKENS)
@requires_role("admin")
@documented(body=schemas.create_team_token, query=schemas.create_token_query,
            response=schemas.created_token, responses={**CREATE_ERRORS,
                                                       404: "Not Found: no such team"})
def create_team_token(org, team):
    """A token that acts with the team's permissions on stacks; its value is in this response
    only."""
    return _create(org, team)


@bp.delete(TEAM_TOKENS + "/<int:token_id>")
@requires_role("admin")
@documented(status=204, responses={404: "Not Found: no such team or team token"})
def delete_team_token(org, team, token_id):
    """Revoke a team token: refused (401) from its next request on."""
    return _delete(org, token_id, team)
