"""The caller: who they are, their default organization, their stacks; and the service's
capabilities (what the CLI may use)."""
from flask import Blueprint, current_app, g, jsonify

from ..auth import authenticated
from ..capabilities import advertised
from ..db import transaction
from ..errors import ApiError
from ..queries import queries
from ..schemas import stacks as schemas
from . import parse_query, stack_ref, unix
from .stacks import RESULTS

bp = Blueprint("user", __name__, url_prefix="/api")


@bp.get("/user")
@authenticated
def get_user():
    user = g.user
    with transaction() as conn:
        orgs = queries.orgs_of_user(conn, user_id=user["id"])
    # githubLogin must be non-empty for the user and every organization, or the CLI refuses.
    return jsonify({
        "id": str(user["id"]),
        "githubLogin": user["login"],
        "name": user["name"] or user["login"],
        "email": user["email"],
        "avatarUrl": "",
        "organizations": [
            {"name": o["name"], "githubLogin": o["name"], "avatarUrl": ""} for o in orgs
        ],
        "identities": [],
        "siteAdmin": False,
    })


@bp.get("/user/organizations/default")
@authenticated
def default_org():
    # No JSON tags on the CLI's type: the field names are Go's.
    return jsonify({"GitHubLogin": g.user["login"], "Messages": []})


@bp.get("/capabilities")
@authenticated
def capabilities():
    return jsonify({"capabilities": advertised(current_app.config)})


@bp.get("/user/stacks")
@authenticated
def list_stacks():
    query = parse_query(schemas.list_stacks_query)
    after = query.get("continuation_token", "0")
    if not after.isdigit():
        raise ApiError(400, "Bad Request: invalid continuationToken")
    page_size = current_app.config["STACK_PAGE_SIZE"]
    with transaction() as conn:
        rows = list(queries.list_stacks(
            conn,
            login=g.user["login"],
            user_id=g.user["id"],
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
