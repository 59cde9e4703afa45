"""Updates: the lifecycle behind `pulumi up/preview/refresh/destroy` (create, start, lease,
checkpoints, engine events, complete, cancel) and reading an update's status and events back.

Per-update paths use the literal segment `update` whatever the kind (the CLI has always sent that);
preview, refresh and destroy are accepted in that place too. Every call the CLI retries (lease
renewal, checkpoints, event batches, complete, cancel) gives the same result when repeated.
"""
import json
import uuid

from flask import Blueprint, current_app, g, jsonify, request
from psycopg2.errors import UniqueViolation

from .. import deployments
from ..auth import hash_token, new_token, requires_lease, requires_role
from ..db import transaction
from ..errors import ApiError
from ..openapi import documented
from ..queries import queries
from ..schemas import updates as schemas
from . import parse_body, stack_ref, unix
from .stacks import STACK, load_stack, lock_stack

bp = Blueprint("updates", __name__, url_prefix="/api/stacks")

KIND = "<any(update, preview, refresh, destroy):kind>"
UPDATE = STACK + "/" + KIND + "/<uuid:update_id>"

CONFLICT = "Conflict: Another update is currently in progress."
OVER = ("succeeded", "failed", "cancelled")


def load_update(conn, org, project, stack, update_id):
    row = queries.get_update(conn, update_id=str(update_id), org_name=org, project_name=project,
                             stack_name=stack)
    if row is None:
        raise ApiError(404, f"Not Found: update '{update_id}' not found on stack "
                            f"'{stack_ref(org, project, stack)}'")
    return row


def abandon_expired_update(conn, stack_id):
    """Mark the stack's running real operation failed if its lease ran out long ago."""
    abandoned = queries.abandon_expired_update(
        conn, stack_id=stack_id, abandoned_after=current_app.config["ABANDONED_AFTER_SECONDS"]
    )
    if abandoned is not None:
        current_app.logger.info("update %s abandoned (lease expired)", abandoned["id"])
        finish_version(conn, stack_id, abandoned["id"], abandoned["version"])


def finish_version(conn, stack_id, update_id, version):
    """A real operation's version always ends with a state: its own, or the one it started from."""
    if version is not None:
        queries.carry_checkpoint_forward(conn, stack_id=stack_id, version=version,
                                         update_id=str(update_id))


@bp.post(STACK + "/" + KIND)
@requires_role("member")
@documented(body=schemas.update_program, response=schemas.created_update)
def create_update(org, project, stack, kind):
    """Create an update of the given kind (update, preview, refresh or destroy)."""
    body = parse_body(schemas.update_program)
    options = body.get("options") or {}
    metadata = body.get("metadata") or {}
    # `pulumi preview` creates through /preview; `pulumi up` sends its preview phase through
    # /update with dryRun, so the flag, not the path, says whether this is a dry run.
    dry_run = kind == "preview" or bool(options.get("dry_run"))
    program = {key: body[key] for key in ("name", "runtime", "main", "description")}
    program["options"] = options
    update_id = uuid.uuid4()
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        queries.insert_update(
            conn, update_id=str(update_id), stack_id=row["id"], kind=kind, dry_run=dry_run,
            program=json.dumps(program), config=json.dumps(body.get("config") or {}),
            message=metadata.get("message") or "",
            environment=json.dumps(metadata.get("environment") or {}),
            initiator_id=g.user["id"],
        )
    return jsonify(schemas.created_update.dump({"update_id": str(update_id)}))


@bp.post(UPDATE)
@requires_role("member")
@documented(body=schemas.start_update, response=schemas.started_update, responses={
    409: CONFLICT + " (or: the update was already started)",
})
def start_update(org, project, stack, kind, update_id):
    """Start an update: claim the next version (real operations) and a lease token."""
    body = parse_body(schemas.start_update, default={})
    token = new_token()
    with transaction() as conn:
        row = lock_stack(conn, org, project, stack)
        update = queries.lock_update(conn, update_id=str(update_id), stack_id=row["id"])
        if update is None:
            raise ApiError(404, f"Not Found: update '{update_id}' not found on stack "
                                f"'{stack_ref(org, project, stack)}'")
        if update["status"] != "not started":
            raise ApiError(409, f"Conflict: update '{update_id}' was already started")
        if update["dry_run"]:
            version = row["version"]
        else:
            abandon_expired_update(conn, row["id"])
            if queries.stack_is_busy(conn, stack_id=row["id"]):
                raise ApiError(409, CONFLICT)
            version = queries.next_version(conn, stack_id=row["id"])
        try:
            started = queries.start_update(
                conn, update_id=str(update_id), version=version,
                lease_token_hash=hash_token(token),
                lease_seconds=current_app.config["LEASE_SECONDS"], user_id=g.user["id"],
            )
        except UniqueViolation:
            # Only reachable if the stack lock were bypassed: the database has the last word.
            raise ApiError(409, CONFLICT) from None
        if not update["dry_run"]:
            queries.set_active_update(conn, stack_id=row["id"], update_id=str(update_id))
        if body.get("tags") is not None:
            queries.set_tags(conn, stack_id=row["id"], tags=json.dumps(body["tags"]))
    return jsonify(schemas.started_update.dump({
        "version": started["version"],
        "token": token,
        "token_expiration": unix(started["lease_expires_at"]),
    }))


@bp.post(UPDATE + "/renew_lease")
@requires_lease
@documented(body=schemas.renew_lease, response=schemas.renewed_lease)
def renew_lease(org, project, stack, kind, update_id):
    """Extend the update's lease; 403 once the update is over or its lease expired."""
    body = parse_body(schemas.renew_lease, default={})
    longest = current_app.config["LEASE_SECONDS"]
    seconds = min(body["duration"], longest) if body["duration"] > 0 else longest
    with transaction() as conn:
        renewed = queries.renew_lease(conn, update_id=str(update_id), seconds=seconds)
    if renewed is None:
        raise ApiError(403, "Forbidden: the update's lease has expired or the update is over")
    # The same token: a renewal whose answer is lost and retried must not lock the client out.
    token = request.headers["Authorization"].split(" ", 1)[1].strip()
    return jsonify(schemas.renewed_lease.dump({
        "token": token, "token_expiration": unix(renewed["lease_expires_at"]),
    }))


@bp.patch(UPDATE + "/checkpoint")
@requires_lease
@documented(body=schemas.checkpoint, status=204)
def patch_checkpoint(org, project, stack, kind, update_id):
    """Store the running update's whole state as its version's (and the stack's current) state."""
    if g.lease["dry_run"]:
        raise ApiError(400, "Bad Request: a preview has no checkpoint")
    try:
        parsed = deployments.parse_body(request.get_data(cache=False))
    except deployments.BadBody as err:
        raise ApiError(400, f"Bad Request: {err}") from None
    parsed.members = schemas.checkpoint.load(parsed.members)
    stored = deployments.StoredDeployment.from_body(parsed).row()
    with transaction() as conn:
        written = queries.put_update_checkpoint(conn, update_id=str(update_id), **stored)
    if written is None:
        raise ApiError(403, "Forbidden: the update's lease has expired or the update is over")
    return "", 204


def storable(value):
    """A JSON value jsonb can hold: it refuses NUL characters and unpaired surrogates, which a
    program's output may well contain; they become U+FFFD rather than costing the whole batch."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
        return value
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value


@bp.post(UPDATE + "/events/batch")
@requires_lease
@documented(body=schemas.engine_event_batch, status=204)
def record_events(org, project, stack, kind, update_id):
    """Store a batch of engine events (batches may repeat and arrive out of order)."""
    batch = parse_body(schemas.engine_event_batch)
    summary = next((e["summary_event"] for e in batch["events"] if "summary_event" in e), None)
    events = storable(request.get_json()["events"])
    with transaction() as conn:
        queries.insert_engine_events(conn, update_id=str(update_id),
                                     batch=json.dumps({"events": events}))
        if summary is not None:
            queries.record_resource_changes(
                conn, update_id=str(update_id),
                resource_changes=json.dumps(summary.get("resource_changes") or {}),
            )
    return "", 204


@bp.post(UPDATE + "/complete")
@requires_lease(finished_ok=True)
@documented(body=schemas.complete_update, status=204, responses={
    409: "Conflict: the update already ended with another status",
})
def complete_update(org, project, stack, kind, update_id):
    """End the update with its status; repeating the same status is harmless."""
    body = parse_body(schemas.complete_update)
    lease = g.lease
    if lease["status"] in OVER:
        if lease["status"] == body["status"]:
            return "", 204  # a retry of a complete that already happened
        raise ApiError(409, f"Conflict: the update is already {lease['status']}")
    with transaction() as conn:
        if not lease["dry_run"]:
            finish_version(conn, lease["stack_id"], update_id, lease["version"])
        if queries.finish_update(conn, update_id=str(update_id), status=body["status"]) is None:
            raise ApiError(409, "Conflict: the update is over")
    return "", 204


@bp.post(UPDATE + "/cancel")
@requires_role("member")
@documented(status=204, responses={409: "Conflict: the update already ended"})
def cancel_update(org, project, stack, kind, update_id):
    """Cancel a running update (`pulumi cancel`): its lease stops working."""
    with transaction() as conn:
        # The update row alone is locked (not the stack's): a checkpoint being written holds the
        # update row shared and then needs the stack row, so taking both here could deadlock.
        found = load_update(conn, org, project, stack, update_id)
        update = queries.lock_update(conn, update_id=str(update_id), stack_id=found["stack_id"])
        if update["status"] == "cancelled":
            return "", 204  # a retry of a cancel that already happened
        if update["status"] in OVER:
            raise ApiError(409, f"Conflict: the update is not running (it {update['status']})")
        if not update["dry_run"]:
            finish_version(conn, update["stack_id"], update_id, update["version"])
        queries.finish_update(conn, update_id=str(update_id), status="cancelled")
    return "", 204


@bp.get(UPDATE)
@requires_role("viewer")
@documented(response=schemas.update_results)
def update_status(org, project, stack, kind, update_id):
    """The update's status (`pulumi stack import` polls it until continuationToken is absent)."""
    with transaction() as conn:
        update = load_update(conn, org, project, stack, update_id)
    # Only `pulumi stack import` polls this: it stops once the token is null.
    results = {"status": update["status"], "events": []}
    if update["status"] not in OVER:
        results["continuation_token"] = str(update["version"] or 0)
    return jsonify(schemas.update_results.dump(results))


@bp.get(UPDATE + "/events")
@requires_role("viewer")
@documented(query=schemas.events_query, response=schemas.update_events)
def update_events(org, project, stack, kind, update_id):
    """The update's engine events in order, a page at a time."""
    query = schemas.events_query.load(
        {**request.args.to_dict(), "type": request.args.getlist("type")}
    )
    after = query.get("continuation_token", -1)
    limit = current_app.config["EVENTS_PAGE_SIZE"]
    with transaction() as conn:
        update = load_update(conn, org, project, stack, update_id)
        over = update["status"] in OVER
        # While the update runs, a batch may still fill a gap: deliver only what precedes it.
        until = (2 ** 31 - 1) if over else queries.contiguous_events_end(
            conn, update_id=str(update_id))
        rows = list(queries.engine_events(
            conn, update_id=str(update_id), after=after, until=until,
            types=query["type"] or None, urn=query.get("urn"), limit=limit,
        ))
    last = rows[-1]["sequence"] if rows else after
    done = over and len(rows) < limit
    return jsonify(schemas.update_events.dump({
        "events": [row["event"] for row in rows],
        "continuation_token": None if done else str(last),
    }))
