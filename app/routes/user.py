"""The caller: who they are, their default organization, their stacks; and the service's
capabilities (what the CLI may use)."""
from flask import Blueprint, current_app, g, jsonify

from .. import orgs
from ..auth import authenticated, requires_role, requires_user
from ..capabilities import advertised
from ..db import reading, transaction
from ..errors import ApiError
from ..openapi import documented
from ..queries import queries
from ..schemas import stacks as schemas
from ..schemas import user as user_schemas
from ..api import parse_query, stack_ref, unix
from ..updates import RESULTS

bp = Blueprint("user", __name__, url_prefix="/api")


@bp.get("/user")
@authenticated
@documented(response=user_schemas.user)
def get_user():
    """The caller and the organizations they belong to, with their role in each, their
    personal one included (as Pulumi Cloud lists it). With an organization or team token: the
    organization it acts as, its one organization, and `tokenInfo` (`pulumi whoami -v`)."""
    user, token = g.user, g.token
    if token["kind"] == "personal":
        with transaction() as conn:
            found = [(o["name"], o["role"]) for o in queries.orgs_of_user(conn, user_id=user["id"])]
    else:
        found = [(token["org"], "admin" if token["admin"] else "member")]
    body = {
        "id": str(user["id"] if user["id"] is not None else f"token-{user['token_id']}"),
        # githubLogin must be non-empty for the user and every organization, or the CLI refuses.
        "github_login": user["login"],
        "name": user["name"] or user["login"],
        "email": user["email"],
        "avatar_url": "",
        "organizations": [
            {"name": name, "github_login": name, "avatar_url": "", "role": orgs.PULUMI_ROLE[role]}
            for name, role in found
        ],
        "identities": [],
        "site_admin": False,
        "has_mfa": False,
        "is_org_managed": False,
        "is_managed_by_multi_org": False,
    }
    if token["kind"] != "personal":
        # The SDK's TokenInfo requires all three; the CLI reads `team` first, then
        # `organization` ("Token type: team: x" / "organization: y").
        body["token_info"] = {"name": token["name"], "organization": token["org"],
                              "team": token["team"] or ""}
    return jsonify(user_schemas.user.dump(body))


@bp.get("/user/organizations/default")
@authenticated
@documented(response=user_schemas.default_org)
def default_org():
    """The caller's default organization: the one they chose, else their personal one."""
    with transaction() as conn:
        name = orgs.default_org(conn, g.user)
    return jsonify(user_schemas.default_org.dump({"github_login": name, "messages": []}))


@bp.post("/user/organizations/<org>/default")
@requires_role("viewer")
@requires_user
@documented(status=204)
def set_default_org(org):
    """Make an organization the caller belongs to their default."""
    with transaction() as conn:
        orgs.set_default_org(conn, g.user, org)
    return "", 204


@bp.get("/capabilities")
@authenticated
@documented(response=user_schemas.capabilities)
def capabilities():
    """What the service supports beyond the basic API (the CLI adapts to it)."""
    return jsonify(user_schemas.capabilities.dump({"capabilities": advertised(current_app.config)}))


@bp.get("/user/stacks")
@authenticated
@documented(query=schemas.list_stacks_query, response=schemas.list_stacks,
            responses={400: "Bad Request: invalid continuationToken"})
def list_stacks():
    """The stacks the caller can read (the same rule as GET of a stack), filtered and
    paginated."""
    query = parse_query(schemas.list_stacks_query)
    after = query.get("continuation_token", "0")
    # ASCII digits that fit a stack id (str.isdigit() also takes '²', which int() refuses).
    if not (after.isascii() and after.isdigit() and len(after) <= 18):
        raise ApiError(400, "Bad Request: invalid continuationToken")
    page_size = current_app.config["STACK_PAGE_SIZE"]
    with reading() as conn:
        token = g.token
        rows = list(queries.list_stacks(
            conn,
            login=g.user["login"] if token["kind"] == "personal" else None,
            user_id=g.user["id"],
            token_org_id=token["org_id"] if token["kind"] == "organization" else None,
            token_permission=103 if token["admin"] else 102,
            team_id=token["team_id"],
            organization=query.get("organization"),
            project_name=query.get("project"),
            tag_name=query.get("tag_name"),
            tag_value=query.get("tag_value"),
            after_id=int(after),
            page_size=page_size + 1,
        ))
    more = len(rows) > page_size
    rows = rows[:page_size]
    return jsonify(schemas.list_stacks.dump({
        "stacks": [summary(row) for row in rows],
        "continuation_token": str(rows[-1]["id"]) if more else None,
    }))


def summary(row):
    body = {
        "id": stack_ref(row["org_name"], row["project_name"], row["stack_name"]),
        "org_name": row["org_name"],
        "project_name": row["project_name"],
        "stack_name": row["stack_name"],
        "tags": row["tags"],
        "version": row["version"],
        "active_update": str(row["active_update_id"] or ""),
        "resource_count": row["resource_count"] or 0,
    }
    if row["last_kind"] is not None:
        body["last_update"] = unix(row["last_start"])
        body["last_update_info"] = {
            "kind": row["last_kind"],
            "status": RESULTS.get(row["last_status"], row["last_status"]),
            "start_time": unix(row["last_start"]),
        }
    return body
