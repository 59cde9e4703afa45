"""Deleted stacks (Pulumi's restore-stack API): an organization admin lists the stacks deleted
within STACK_RETENTION_DAYS and restores one, with its history, under its name or a new one."""
from flask import Blueprint, current_app, g, jsonify

from .. import audit, stacks
from ..api import actor, parse_body, stack_ref
from ..auth import requires_role
from ..db import reading, transaction
from ..errors import ApiError
from ..openapi import documented
from ..schemas import stacks as schemas

bp = Blueprint("deleted_stacks", __name__, url_prefix="/api/orgs")


def _retention_days():
    return current_app.config["STACK_RETENTION_DAYS"]


@bp.get("/<org>/restore-stack")
@requires_role("admin")
@documented(response=schemas.deleted_stacks)
def list_deleted_stacks(org):
    """The organization's deleted stacks that can still be restored, the most recently deleted
    first."""
    with reading() as conn:
        rows = stacks.deleted_stacks(conn, org, _retention_days())
    return jsonify(schemas.deleted_stacks.dump(
        {"deleted_stacks": [schemas.deleted_stack_of_row(row) for row in rows]}))


@bp.post("/<org>/restore-stack/<program_id>")
@requires_role("admin")
@documented(body=schemas.restore_stack, response=schemas.created_stack, responses={
    404: "Not Found: no such deleted stack (unknown, restored already, or past its retention)",
    409: "Conflict: a stack of that name exists; restore under another stackName"})
def restore_deleted_stack(org, program_id):
    """Restore a deleted stack (its `programId`) with its history, state, secrets key, tags and
    team grants, under `stackName` (its own name when absent); a new name is recorded in its
    history as a rename."""
    body = parse_body(schemas.restore_stack, default={})
    if not (program_id.isascii() and program_id.isdigit() and len(program_id) <= 18):
        raise ApiError(404, f"Not Found: organization '{org}' has no deleted stack "
                            f"{program_id!r}")
    with transaction() as conn:
        project, old, new = stacks.restore_deleted(conn, org, int(program_id),
                                                   body.get("stack_name"), _retention_days(),
                                                   g.user["id"])
        row = stacks.load_stack(conn, org, project, new)
        audit.record(conn, actor(), org, "stack.restored", stack_ref(org, project, new),
                     f"restored deleted stack {stack_ref(org, project, old)}"
                     + (f" as {stack_ref(org, project, new)}" if new != old else ""))
    return jsonify(schemas.created_stack.dump({
        "id": stack_ref(org, project, new), "org_name": org, "project_name": project,
        "stack_name": new, "tags": row["tags"], "version": row["version"]}))
