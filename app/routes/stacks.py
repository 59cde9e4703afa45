"""Stacks: create, read, delete, rename and tag (the Stack API contract and the CLI's forms)."""
import json
import uuid

from flask import Blueprint, g, jsonify
from psycopg2.errors import UniqueViolation

from .. import deployments, metrics
from ..auth import requires_role
from ..db import transaction
from ..errors import ApiError
from ..openapi import documented
from ..queries import queries
from ..schemas import stacks as schemas
from ..schemas.common import check_path_names
from . import parse_body, parse_query, stack_ref, unix

bp = Blueprint("stacks", __name__, url_prefix="/api/stacks")

STACK = "/<org>/<project>/<stack>"

# The CLI matches this message exactly to suggest `pulumi stack rm --force`.
STILL_HAS_RESOURCES = "Bad Request: Stack still contains resources."

RESULTS = {
    "not started": "not-started",
    "running": "in-progress",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "failed",
}


def load_stack(conn, org, project, stack):
    row = queries.get_stack(conn, org_name=org, project_name=project, stack_name=stack)
    if row is None:
        raise ApiError(404, f"Not Found: stack '{stack_ref(org, project, stack)}' not found")
    return row


def lock_stack(conn, org, project, stack):
    row = queries.lock_stack(conn, org_name=org, project_name=project, stack_name=stack)
    if row is None:
        raise ApiError(404, f"Not Found: stack '{stack_ref(org, project, stack)}' not found")
    return row


def stack_json(row):
    body = {
        "id": stack_ref(row["org_name"], row["project_name"], row["stack_name"]),
        "org_name": row["org_name"],
        "project_name": row["project_name"],
        "stack_name": row["stack_name"],
        "active_update": str(row["active_update_id"] or ""),
        "tags": row["tags"],
        "version": row["version"],
        "resource_count": row["resource_count"] or 0,
    }
    if row["running_update_id"] is not None:
        body["current_operation"] = {
            "kind": row["op_kind"],
            "author": row["op_author"] or "",
            "started": unix(row["op_started"]) or 0,
        }
    return schemas.stack.dump(body)


@bp.post("/<org>/<project>")
@requires_role("member")
@documented(body=schemas.create_stack, response=schemas.created_stack,
            responses={409: "Conflict: the stack already exists"})
def create_stack(org, project):
    """Create a stack (and its project, and the organization's record of it)."""
    check_path_names(project=project)
    body = parse_body(schemas.create_stack)
    name = body["stack_name"]
    with transaction() as conn:
        queries.ensure_org(conn, org_name=org)
        project_id = queries.ensure_project(conn, org_name=org, project_name=project)
        created = queries.insert_stack(
            conn, project_id=project_id, stack_name=name, tags=json.dumps(body["tags"])
        )
        if created is None:
            raise ApiError(409, f"Conflict: stack '{stack_ref(org, project, name)}' already exists")
        if "state" in body:
            # The CLI recovers a non-default secrets provider from this initial state.
            stored = deployments.StoredDeployment.from_untyped(body["state"])
            queries.put_checkpoint(conn, stack_id=created["id"], version=0, update_id=None,
                                   **stored.row())
            metrics.observe_checkpoint(len(stored.text))
    return jsonify(schemas.created_stack.dump({
        "id": stack_ref(org, project, name),
        "org_name": org,
        "project_name": project,
        "stack_name": name,
        "tags": created["tags"],
        "version": created["version"],
    }))


@bp.route("/<org>/<project>", methods=["HEAD"])
@requires_role("viewer")
@documented(responses={404: "Not Found: the project has no stacks in this organization"})
def project_exists(org, project):
    """Whether a project exists (200) or not (404), without a body."""
    with transaction() as conn:
        exists = queries.project_exists(conn, org_name=org, project_name=project)
    return ("", 200) if exists else ("", 404)


@bp.get(STACK)
@requires_role("viewer")
@documented(response=schemas.stack)
def get_stack(org, project, stack):
    """A stack, its tags, version and any running operation."""
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
    return jsonify(stack_json(row))


@bp.delete(STACK)
@requires_role("admin")
@documented(query=schemas.delete_stack_query, status=204, responses={
    400: STILL_HAS_RESOURCES + " (delete with ?force=true)",
    409: "Conflict: an update is in progress on this stack",
})
def delete_stack(org, project, stack):
    """Delete a stack and its history."""
    force = parse_query(schemas.delete_stack_query)["force"]
    with transaction() as conn:
        row = lock_stack(conn, org, project, stack)
        if row["busy"]:
            raise ApiError(409, "Conflict: an update is in progress on this stack")
        if row["resource_count"] and not force:
            raise ApiError(400, STILL_HAS_RESOURCES)
        queries.delete_stack(conn, stack_id=row["id"])
    return "", 204


@bp.post(STACK + "/rename")
@requires_role("member")
@documented(body=schemas.RENAME_BODY, status=204, responses={
    400: "Bad Request: invalid names, or a target in another organization",
    409: "Conflict: the new name is taken, or an update is in progress",
})
def rename_stack(org, project, stack):
    """Rename a stack within its organization, optionally into another project."""
    body = parse_body(schemas.rename_stack)
    new_org, new_project, new_stack = schemas.rename_stack.target(body)
    if new_org not in (None, org):
        raise ApiError(400, "Bad Request: a stack can only be renamed within its organization")
    new_project, new_stack = new_project or project, new_stack or stack
    old, new = (org, project, stack), (org, new_project, new_stack)
    with transaction() as conn:
        row = lock_stack(conn, org, project, stack)
        if row["busy"]:
            raise ApiError(409, "Conflict: an update is in progress on this stack")
        if new == old:
            return "", 204
        project_id = queries.ensure_project(conn, org_name=org, project_name=new_project)
        try:
            queries.rename_stack(conn, stack_id=row["id"], project_id=project_id,
                                 stack_name=new_stack)
        except UniqueViolation:
            # The whole transaction rolls back with the error: the target project made above
            # goes too.
            raise ApiError(409, f"Conflict: stack '{stack_ref(*new)}' already exists") from None
        record_rename(conn, row, old, new)
    return "", 204


def record_rename(conn, row, old, new):
    """A `rename` entry in the stack's history, with the checkpoint's URNs rewritten so that the
    next operation sees the same resources under the new names."""
    version = queries.next_version(conn, stack_id=row["id"])
    update_id = uuid.uuid4()
    latest = queries.latest_checkpoint(conn, stack_id=row["id"])
    queries.insert_recorded_update(
        conn, update_id=str(update_id), stack_id=row["id"], kind="rename", version=version,
        message=f"Renamed stack {stack_ref(*old)} to {stack_ref(*new)}",
        environment=json.dumps({}), initiator_id=g.user["id"],
        resource_count=latest["resource_count"] if latest else 0,
    )
    queries.set_active_update(conn, stack_id=row["id"], update_id=str(update_id))
    if latest is not None:
        untyped = json.loads(deployments.load(latest["deployment_gz"]))
        renamed = deployments.rename_stack_in(untyped, old, new)
        stored = deployments.StoredDeployment.from_untyped(renamed)
        queries.put_checkpoint(conn, stack_id=row["id"], version=version,
                               update_id=str(update_id), **stored.row())
        metrics.observe_checkpoint(len(stored.text))


@bp.patch(STACK + "/tags")
@requires_role("member")
@documented(body=schemas.TAGS_BODY, status=204)
def set_tags(org, project, stack):
    """Replace the stack's tags."""
    body = parse_body(schemas.stack_tags)
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        queries.set_tags(conn, stack_id=row["id"], tags=json.dumps(body["tags"]))
    return "", 204
