"""The caller's personal access tokens (Pulumi's /api/user/tokens): list, create (the value is
answered once), delete."""
import datetime

from flask import Blueprint, g, jsonify

from .. import audit, tokens
from ..api import actor, parse_body, parse_query, unix
from ..auth import requires_user
from ..db import transaction
from ..openapi import documented
from ..schemas import tokens as schemas

bp = Blueprint("tokens", __name__, url_prefix="/api/user/tokens")


def utc(ts):
    return ts.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def token_of(row):
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "description": row["description"],
        "created": utc(row["created_at"]),
        "last_used": unix(row["last_used_at"]) or 0,
        "expires": unix(row["expires_at"]) or 0,
        "admin": False,
        "created_by": row["created_by"],
        "type": "personal",
    }


@bp.get("")
@requires_user
@documented(response=schemas.access_tokens)
def list_tokens():
    """The caller's personal tokens (not their values), expired ones included."""
    with transaction() as conn:
        rows = tokens.personal_tokens(conn, g.user)
    return jsonify(schemas.access_tokens.dump({"tokens": [token_of(r) for r in rows]}))


@bp.post("")
@requires_user
@documented(body=schemas.create_personal_token, query=schemas.create_token_query,
            response=schemas.created_token,
            responses={400: "Bad Request: invalid description or expiry"})
def create_token():
    """A new personal token; its value is in this response only (the service keeps a hash)."""
    parse_query(schemas.create_token_query)
    body = parse_body(schemas.create_personal_token)
    expires = body.get("expires") or 0
    expires_at = (datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
                  if expires else None)
    with transaction() as conn:
        token_id, value = tokens.create_personal(conn, g.user, body.get("description") or "",
                                                 expires_at)
        # In the caller's own organization's log: its id and description, never the token.
        audit.record(conn, actor(), g.user["login"], "token.created", f"token {token_id}",
                     f"created token {token_id} for {g.user['login']}"
                     + (f" ({body['description']})" if body.get("description") else ""))
    return jsonify(schemas.created_token.dump({"id": str(token_id), "token_value": value}))


@bp.delete("/<int:token_id>")
@requires_user
@documented(status=204, responses={404: "Not Found: the caller has no such token"})
def delete_token(token_id):
    """Revoke one of the caller's tokens: it is refused (401) from its next request on."""
    with transaction() as conn:
        tokens.delete_personal(conn, g.user, token_id)
        audit.record(conn, actor(), g.user["login"], "token.revoked", f"token {token_id}",
                     f"deleted token {token_id} of {g.user['login']}")
    return "", 204
