"""A stack's past: its history of operations, the state of each version (export), and replacing
the current state (import, which every `pulumi state` edit goes through)."""
from flask import Blueprint, Response, g, jsonify, request

from .. import audit, blobs, history, resources, updates, webhooks
from ..api import STACK, actor, parse_query, parse_state_body, stack_ref, unix
from ..auth import requires_role
from ..db import transaction
from ..errors import ApiError
from ..openapi import documented
from ..schemas import resources as resource_schemas, updates as schemas
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


def deployment_response(stored):
    """A stored deployment as it was stored: the compressed bytes themselves when the client
    takes gzip (the CLI always does), otherwise decompressed; never parsed or re-encoded. A state
    in the object store is streamed through in chunks, never held whole."""
    inline = stored["deployment_gz"]
    body = bytes(inline) if inline is not None else blobs.stream_gz(stored)
    if "gzip" in request.headers.get("Accept-Encoding", "").lower():
        response = Response(body, mimetype="application/json")
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
        return response
    if inline is not None:
        return Response(decompress(inline), mimetype="application/json")
    return Response(blobs.decompressed(body), mimetype="application/json")


@bp.get(STACK + "/export")
@requires_role("viewer")
@documented(response=schemas.import_deployment)
def export_stack(org, project, stack):
    """The stack's current state (a valid empty deployment if it was never deployed)."""
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        current = history.current_state(conn, row["id"])
        audit.record(conn, actor(), org, "stack.exported", stack_ref(org, project, stack),
                     f"exported stack {stack_ref(org, project, stack)}")
    if current.untyped is not None:
        return Response(StoredDeployment.from_untyped(current.untyped).text,
                        mimetype="application/json")
    if current.text is not None:
        return Response(current.text, mimetype="application/json")
    latest = current.stored
    if latest is None:
        # Never deployed (and no state given at create): a valid, empty deployment.
        return Response(EMPTY_DEPLOYMENT_TEXT, mimetype="application/json")
    return deployment_response(latest)


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
        audit.record(conn, actor(), org, "stack.exported", stack_ref(org, project, stack),
                     f"exported version {version} of stack {stack_ref(org, project, stack)}")
    return deployment_response(found)


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


# --- what Pulumi's console client reads (pulumi-cloud-sdk StacksApi) -----------------------------
# The same domain functions as the console's pages: resources with every secret masked.

_RESOURCE_KEYS = {"retainOnDelete": "retain_on_delete",
                  "additionalSecretOutputs": "additional_secret_outputs",
                  "deletedWith": "deleted_with", "initErrors": "init_errors"}


def _resource_infos(found):
    return [{"resource": {_RESOURCE_KEYS.get(key, key): value for key, value in r.items()}}
            for r in found]


@bp.get(STACK + "/resources/latest")
@requires_role("viewer")
@documented(response=resource_schemas.stack_resources)
def latest_resources(org, project, stack):
    """The resources of the stack's current state, secrets masked."""
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        found = resources.current(conn, row["id"])
    return jsonify(resource_schemas.stack_resources.dump(
        {"resources": _resource_infos(found), "version": row["version"]}))


@bp.get(STACK + "/resources/count")
@requires_role("viewer")
@documented(response=resource_schemas.resource_count)
def resource_count(org, project, stack):
    """How many resources the stack's current state has."""
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
    return jsonify(resource_schemas.resource_count.dump(
        {"resource_count": row["resource_count"] or 0, "version": row["version"]}))


@bp.get(STACK + "/resources/<int:version>")
@requires_role("viewer")
@documented(response=resource_schemas.stack_resources,
            responses={404: "Not Found: no such version"})
def resources_at_version(org, project, stack, version):
    """The resources of the state at the end of a version, secrets masked."""
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        found = resources.at_version(conn, row["id"], version)
    if found is None:
        raise ApiError(404, f"Not Found: stack '{stack_ref(org, project, stack)}' has no "
                            f"version {version}")
    return jsonify(resource_schemas.stack_resources.dump(
        {"resources": _resource_infos(found), "version": version}))


def _recorded(conn, org, project, stack, version):
    row = load_stack(conn, org, project, stack)
    found = history.at_version(conn, row["id"], version)
    if found is None:
        raise ApiError(404, f"Not Found: stack '{stack_ref(org, project, stack)}' has no "
                            f"version {version}")
    return row, found


@bp.get(STACK + "/updates/<int:version>/summary")
@requires_role("viewer")
@documented(response=resource_schemas.update_summary,
            responses={404: "Not Found: no such version"})
def update_summary(org, project, stack, version):
    """The result, times and resource count of the operation that made a version."""
    with transaction() as conn:
        _, found = _recorded(conn, org, project, stack, version)
    info = update_info(found)
    return jsonify(resource_schemas.update_summary.dump({
        "result": info["result"], "start_time": info["start_time"],
        "end_time": info["end_time"], "resource_count": found["resource_count"] or 0}))


@bp.get(STACK + "/updates/<int:version>/previews")
@requires_role("viewer")
@documented(query=resource_schemas.page_query, response=resource_schemas.stack_updates,
            responses={404: "Not Found: no such version"})
def previews_at_version(org, project, stack, version):
    """The previews run against a version, newest first, a page at a time."""
    query = parse_query(resource_schemas.page_query)
    size = query["page_size"]
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        found = history.previews_at_version(conn, row["id"], version, size,
                                            size * (query["page"] - 1))
    return jsonify(resource_schemas.stack_updates.dump({
        "updates": [update_record(p, row) for p in found], "items_per_page": size,
        "total": len(found)}))


@bp.get(STACK + "/updates/<int:version>/timeline")
@requires_role("viewer")
@documented(response=resource_schemas.update_timeline,
            responses={404: "Not Found: no such version"})
def update_timeline(org, project, stack, version):
    """The operation that made a version with the previews run against the version before."""
    with transaction() as conn:
        row, found = _recorded(conn, org, project, stack, version)
        before = history.previews_at_version(conn, row["id"], version - 1, 100)
    return jsonify(resource_schemas.update_timeline.dump({
        "update": update_record(found, row), "collated_update_events": [],
        "previews": [update_record(p, row) for p in before]}))


@bp.get(STACK + "/activity")
@requires_role("viewer")
@documented(query=resource_schemas.page_query, response=resource_schemas.stack_activity)
def stack_activity(org, project, stack):
    """The stack's operations, newest first, a page at a time."""
    query = parse_query(resource_schemas.page_query)
    size = query["page_size"]
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        found = history.history(conn, row["id"], size, size * (query["page"] - 1))
        total = history.count(conn, row["id"])
    return jsonify(resource_schemas.stack_activity.dump({
        "activity": [{"update": update_record(u, row)} for u in found],
        "items_per_page": size, "total": total}))
