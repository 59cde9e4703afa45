"""A stack's past: its history of operations, the state of each version (export), and replacing
the current state (import, which every `pulumi state` edit goes through)."""
from flask import Blueprint, Response, g, jsonify, request

from .. import audit, history, updates, webhooks
from ..api import STACK, actor, parse_query, parse_state_body, stack_ref, unix
from ..auth import requires_role
from ..db import transaction
from ..errors import ApiError
from ..openapi import documented
from ..schemas import updates as schemas
from ..stacks import load_stack
from ..state.stored import EMPTY_DEPLOYMENT_TEXT, StoredDeployment, decompress

bp = Blueprint("history", __name__, url_prefix="/api/stacks")


def update_info(row):
    info = {
        "kind": row["kind"],
        "start_time": unix(row["start_time"]) or 0,
        "message": row["message"],
        "environment": row["environment"],
        "config": row["config"],
        "result": updates.RESULTS[row["status"]],
        "end_time": unix(row["end_time"]) or 0,
        "version": row["version"],
    }
    # Both are left out, as the CLI's omitempty would, until known.
    if row["resource_changes"] is not None:
        info["resource_changes"] = row["resource_changes"]
    if row["resource_count"] is not None:
        info["resource_count"] = row["resource_count"]
    return info


def page_of(query):
    """(limit, offset) of a pageSize/page query; no pageSize means everything."""
    size = query.get("page_size")
    if not size:
        return None, 0
    return size, size * (query["page"] - 1)


@bp.get(STACK + "/updates")
@requires_role("viewer")
@documented(query=schemas.history_query, response=schemas.history)
def stack_history(org, project, stack):
    """The stack's recorded operations, newest first (previews are not history)."""
    limit, offset = page_of(parse_query(schemas.history_query))
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        found = [update_info(u) for u in history.history(conn, row["id"], limit, offset)]
    return jsonify(schemas.history.dump({"updates": found}))


def update_record(row, stack_row):
    """Pulumi's UpdateInfo envelope of one recorded operation."""
    login = row["initiator_login"] or ""
    return {
        "info": update_info(row),
        "update_id": str(row["id"]),
        "version": row["version"],
        "latest_version": stack_row["version"],
        "requested_by": {"name": row["initiator_name"] or login, "github_login": login,
                         "avatar_url": ""},
    }


@bp.get(STACK + "/updates/latest")
@requires_role("viewer")
@documented(response=schemas.update_record,
            responses={404: "Not Found: the stack has no updates"})
def latest_update(org, project, stack):
    """The stack's latest recorded operation (the CLI reads its `info`)."""
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        latest = history.latest(conn, row["id"])
    if latest is None:
        raise ApiError(404, f"Not Found: stack '{stack_ref(org, project, stack)}' has no updates")
    return jsonify(schemas.update_record.dump(update_record(latest, row)))


@bp.get(STACK + "/updates/<int:version>")
@requires_role("viewer")
@documented(response=schemas.update_record, responses={404: "Not Found: no such version"})
def update_at_version(org, project, stack, version):
    """The recorded operation that made a version."""
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        found = history.at_version(conn, row["id"], version)
    if found is None:
        raise ApiError(404, f"Not Found: stack '{stack_ref(org, project, stack)}' has no "
                            f"version {version}")
    return jsonify(schemas.update_record.dump(update_record(found, row)))


@bp.get(STACK + "/updates/latest/previews")
@requires_role("viewer")
@documented(query=schemas.previews_query, response=schemas.previews)
def latest_previews(org, project, stack):
    """The stack's previews, newest first unless asc=true."""
    query = parse_query(schemas.previews_query)
    limit, offset = page_of(query)
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        found = [{"update_id": str(p["id"])}
                 for p in history.previews(conn, row["id"], query["asc"], limit, offset)]
    return jsonify(schemas.previews.dump({"updates": found}))


def deployment_response(deployment_gz):
    """A stored deployment as it was stored: the compressed bytes themselves when the client
    takes gzip (the CLI always does), otherwise decompressed; never parsed or re-encoded."""
    if "gzip" in request.headers.get("Accept-Encoding", "").lower():
        response = Response(bytes(deployment_gz), mimetype="application/json")
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
        return response
    return Response(decompress(deployment_gz), mimetype="application/json")


@bp.get(STACK + "/export")
@requires_role("viewer")
@documented(response=schemas.import_deployment)
def export_stack(org, project, stack):
    """The stack's current state (a valid empty deployment if it was never deployed)."""
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        current = history.current_state(conn, row["id"])
    if current.untyped is not None:
        return Response(StoredDeployment.from_untyped(current.untyped).text,
                        mimetype="application/json")
    if current.text is not None:
        return Response(current.text, mimetype="application/json")
    latest = current.stored
    if latest is None:
        # Never deployed (and no state given at create): a valid, empty deployment.
        return Response(EMPTY_DEPLOYMENT_TEXT, mimetype="application/json")
    return deployment_response(latest["deployment_gz"])


@bp.get(STACK + "/outputs")
@requires_role("viewer")
@documented(query=schemas.stack_outputs_query, response=schemas.stack_outputs)
def stack_outputs(org, project, stack):
    """The outputs of the stack's current state, without the rest of it (what StackReference and
    `pulumi stack output` read when `stack-outputs` is advertised); secrets stay encrypted."""
    parse_query(schemas.stack_outputs_query)
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        outputs, providers = history.stack_outputs(conn, row["id"])
    found = {"outputs": outputs, "secrets_providers": providers}
    return jsonify(schemas.stack_outputs.dump({k: v for k, v in found.items() if v is not None}))


@bp.get(STACK + "/export/<int:version>")
@requires_role("viewer")
@documented(response=schemas.import_deployment, responses={404: "Not Found: no such version"})
def export_stack_version(org, project, stack, version):
    """The stack's state as it was at the end of a version."""
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        found = history.state_at_version(conn, row["id"], version)
    if found is None:
        raise ApiError(404, f"Not Found: stack '{stack_ref(org, project, stack)}' has no "
                            f"version {version}")
    return deployment_response(found["deployment_gz"])


@bp.post(STACK + "/import")
@requires_role("member")
@documented(body=schemas.import_deployment, response=schemas.imported, responses={
    409: updates.CONFLICT,
})
def import_stack(org, project, stack):
    """Replace the stack's state, as a new version of kind import."""
    stored = StoredDeployment.from_body(parse_state_body(schemas.import_deployment))
    with transaction() as conn:
        update_id = updates.import_state(conn, org, project, stack, stored, g.user["id"])
        webhooks.update_finished(conn, update_id)
        audit.record(conn, actor(), org, "stack.imported", stack_ref(org, project, stack),
                     f"imported a state of {stored.resource_count} resources into stack "
                     f"{stack_ref(org, project, stack)}")
    return jsonify(schemas.imported.dump({"update_id": update_id}))
