"""Stacks: create, read, delete, rename and tag (the Stack API contract and the CLI's forms)."""
from flask import Blueprint, g, jsonify

from .. import audit, stacks, teams, webhooks
from ..api import STACK, actor, parse_body, parse_query, stack_ref
from ..auth import requires_role, stack_summary
from ..db import reading, transaction
from ..errors import ApiError
from ..openapi import documented
from ..schemas import resources as resource_schemas, stacks as schemas
from ..schemas.common import check_path_names

bp = Blueprint("stacks", __name__, url_prefix="/api/stacks")


@bp.post("/<org>/<project>")
@requires_role("member", stack_action="create")
@documented(body=schemas.create_stack, response=schemas.created_stack,
            responses={400: "Bad Request: invalid names, or a team the organization does not have",
                       409: "Conflict: the stack already exists"})
def create_stack(org, project):
    """Create a stack (and its project, and the organization's record of it); the teams named
    in `teams` get write permission on it."""
    check_path_names(project=project)
    body = parse_body(schemas.create_stack)
    name = body["stack_name"]
    with transaction() as conn:
        created = stacks.create_stack(conn, org, project, name, body["tags"], body.get("state"))
        # `pulumi stack init --teams a --teams b`: those teams may read and update it; a stack a
        # team token makes is its team's.
        granted = set(body.get("teams") or []) | ({g.token["team"]} if g.token["team"] else set())
        teams.grant_new_stack(conn, created["id"], granted)
        webhooks.stack_changed(conn, org, project, name, "created", g.user["login"])
        audit.record(conn, actor(), org, "stack.created", stack_ref(org, project, name),
                     f"created stack {stack_ref(org, project, name)}")
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
        exists = stacks.project_exists(conn, org, project)
    return ("", 200) if exists else ("", 404)


@bp.get(STACK)
@requires_role("viewer", stack_summary=True)
@documented(response=schemas.stack)
def get_stack(org, project, stack):
    """A stack, its tags, version and any running operation."""
    row = stack_summary()
    if row is None:
        with reading() as conn:
            row = stacks.load_stack(conn, org, project, stack)
    return jsonify(schemas.stack.dump(schemas.stack_of_row(row)))


@bp.get(STACK + "/metadata")
@requires_role("viewer")
@documented(response=resource_schemas.stack_metadata)
def stack_metadata(org, project, stack):
    """A stack's identity as Pulumi's console client reads it. The service records no owner of
    a stack and sends no notifications: those fields are empty and false."""
    with transaction() as conn:
        stacks.load_stack(conn, org, project, stack)
    return jsonify(resource_schemas.stack_metadata.dump({
        "id": stack_ref(org, project, stack), "org_name": org, "project_name": project,
        "stack_name": stack, "owned_by": {"name": "", "github_login": "", "avatar_url": ""},
        "notification_settings": {"notify_update_failure": False,
                                  "notify_update_success": False}}))


@bp.delete(STACK)
@requires_role("admin", stack_action="delete")
@documented(query=schemas.delete_stack_query, status=204, responses={
    400: stacks.STILL_HAS_RESOURCES + " (delete with ?force=true)",
    409: "Conflict: an update is in progress on this stack",
})
def delete_stack(org, project, stack):
    """Delete a stack and its history."""
    force = parse_query(schemas.delete_stack_query)["force"]
    with transaction() as conn:
        stacks.delete_stack(conn, org, project, stack, force)
        webhooks.stack_changed(conn, org, project, stack, "deleted", g.user["login"])
        audit.record(conn, actor(), org, "stack.deleted", stack_ref(org, project, stack),
                     f"deleted stack {stack_ref(org, project, stack)}"
                     + (" (forced)" if force else ""))
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
    new = (org, new_project or project, new_stack or stack)
    with transaction() as conn:
        stacks.rename_stack(conn, org, project, stack, *new[1:], initiator_id=g.user["id"])
        if new != (org, project, stack):
            audit.record(conn, actor(), org, "stack.renamed", stack_ref(*new),
                         f"renamed stack {stack_ref(org, project, stack)} to {stack_ref(*new)}")
    return "", 204


@bp.patch(STACK + "/tags")
@requires_role("member")
@documented(body=schemas.TAGS_BODY, status=204)
def set_tags(org, project, stack):
    """Replace the stack's tags."""
    body = parse_body(schemas.stack_tags)
    with transaction() as conn:
        stacks.set_tags(conn, org, project, stack, body["tags"])
        audit.record(conn, actor(), org, "stack.tags_updated", stack_ref(org, project, stack),
                     f"set the tags of stack {stack_ref(org, project, stack)} to: "
                     + (", ".join(sorted(body["tags"])) or "(none)"))
    return "", 204


@bp.post(STACK + "/tags")
@requires_role("member")
@documented(body=schemas.stack_tag, status=204,
            responses={409: "Conflict: the stack already has the tag"})
def add_tag(org, project, stack):
    """Add one tag."""
    body = parse_body(schemas.stack_tag)
    with transaction() as conn:
        stacks.add_tag(conn, org, project, stack, body["name"], body["value"])
        audit.record(conn, actor(), org, "stack.tags_updated", stack_ref(org, project, stack),
                     f"added tag {body['name']} to stack {stack_ref(org, project, stack)}")
    return "", 204


@bp.patch(STACK + "/tags/<tag_name>")
@requires_role("member")
@documented(body=schemas.stack_tag, status=204, responses={
    404: "Not Found: the stack has no such tag",
    409: "Conflict: renaming onto a tag the stack has"})
def update_tag(org, project, stack, tag_name):
    """Set one tag's value (and rename it when the body's name differs from the URL's)."""
    body = parse_body(schemas.stack_tag)
    with transaction() as conn:
        stacks.update_tag(conn, org, project, stack, tag_name, body["name"], body["value"])
        audit.record(conn, actor(), org, "stack.tags_updated", stack_ref(org, project, stack),
                     f"set tag {body['name']} of stack {stack_ref(org, project, stack)}"
                     + (f" (was {tag_name})" if body["name"] != tag_name else ""))
    return "", 204


@bp.delete(STACK + "/tags/<tag_name>")
@requires_role("member")
@documented(status=204, responses={404: "Not Found: the stack has no such tag"})
def delete_tag(org, project, stack, tag_name):
    """Remove one tag."""
    with transaction() as conn:
        stacks.delete_tag(conn, org, project, stack, tag_name)
        audit.record(conn, actor(), org, "stack.tags_updated", stack_ref(org, project, stack),
                     f"removed tag {tag_name} from stack {stack_ref(org, project, stack)}")
    return "", 204
