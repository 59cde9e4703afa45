"""Updates: the lifecycle behind `pulumi up/preview/refresh/destroy` (create, start, lease,
checkpoints, engine events, complete, cancel) and reading an update's status and events back.

Per-update paths use the literal segment `update` whatever the kind (the CLI has always sent that);
preview, refresh and destroy are accepted in that place too. Every call the CLI retries (lease
renewal, checkpoints, event batches, complete, cancel) gives the same result when repeated.
"""
import hashlib
import json
import re
import uuid

from flask import Blueprint, current_app, g, jsonify, request
from psycopg2.errors import UniqueViolation

from .. import deployments, journal, metrics
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
    """End the stack's running real operation as failed if its lease ran out long ago: as a
    complete would, its version's state first, then the update (whose resource count is that
    state's)."""
    abandoned = queries.lock_abandoned_update(
        conn, stack_id=stack_id, abandoned_after=current_app.config["ABANDONED_AFTER_SECONDS"]
    )
    if abandoned is not None:
        current_app.logger.info("update %s abandoned (lease expired)", abandoned["id"])
        finish_version(conn, stack_id, abandoned["id"], abandoned["version"])
        queries.finish_update(conn, update_id=str(abandoned["id"]), status="failed")


def finish_version(conn, stack_id, update_id, version):
    """A real operation's version always ends with a state: the journal replayed onto the state
    it started from (journaled updates), its last checkpoint (checkpoint modes), or else the
    state it started from (empty for a stack's first operation)."""
    if version is None:
        return
    persistence = queries.persistence_of_update(conn, update_id=str(update_id))
    if persistence["journal_version"]:
        try:
            untyped = journal.replayed_state(conn, stack_id, update_id, version,
                                             persistence["cli_version"])
        except journal.JournalError:
            # Entries are checked as they arrive, so this is a defect: keep the base state
            # rather than leave the stack without one, and say so loudly.
            current_app.logger.exception("update %s: the journal cannot be replayed", update_id)
        else:
            stored = deployments.StoredDeployment.from_untyped(untyped)
            queries.put_checkpoint(conn, stack_id=stack_id, version=version,
                                   update_id=str(update_id), **stored.row())
            metrics.observe_checkpoint(len(stored.text))
            return
    elif persistence["checkpoint_sequence"]:
        # Verbatim/delta checkpoints: counted once here rather than on every delta, with the
        # serializer's misplaced pending operations put where the CLI reads them.
        found = queries.checkpoint_at_version(conn, stack_id=stack_id, version=version)
        if found is not None:
            text = deployments.fix_pending_operations_key(deployments.load(found["deployment_gz"]))
            # With nine or fewer steps in flight the serializer writes no pending operations at
            # all: those of an update that stopped half-way are recovered from its events.
            in_flight = deployments.pending_operations_from_events(
                row["event"] for row in queries.unfinished_steps(conn, update_id=str(update_id)))
            text = deployments.with_pending_operations(text, in_flight)
            stored = deployments.StoredDeployment(text, deployments.count_resources(text))
            queries.put_checkpoint(conn, stack_id=stack_id, version=version,
                                   update_id=str(update_id), **stored.row())
    queries.carry_checkpoint_forward(conn, stack_id=stack_id, version=version,
                                     update_id=str(update_id))
    if not queries.has_checkpoint(conn, stack_id=stack_id, version=version):
        # Nothing to carry forward: the stack's first operation ended before it stored any
        # state, so its version's state is the empty one (what the stack exported before).
        stored = deployments.StoredDeployment.from_untyped(deployments.EMPTY_DEPLOYMENT)
        queries.put_checkpoint(conn, stack_id=stack_id, version=version,
                               update_id=str(update_id), **stored.row())


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
    journaled = (body["journal_version"] >= 1 and current_app.config["JOURNALING_ENABLED"])
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
                journal_version=1 if journaled and not update["dry_run"] else 0,
                cli_version=cli_version(),
            )
        except UniqueViolation:
            # Only reachable if the stack lock were bypassed: the database has the last word.
            raise ApiError(409, CONFLICT) from None
        if not update["dry_run"]:
            queries.set_active_update(conn, stack_id=row["id"], update_id=str(update_id))
        if body.get("tags") is not None:
            queries.set_tags(conn, stack_id=row["id"], tags=json.dumps(body["tags"]))
    answer = {
        "version": started["version"],
        "token": token,
        "token_expiration": unix(started["lease_expires_at"]),
    }
    if started["journal_version"]:
        answer["journal_version"] = started["journal_version"]
    return jsonify(schemas.started_update.dump(answer))


_CLI_VERSION = re.compile(r"pulumi-cli/\d+ \((v?[0-9][^;)\s]*)")


def cli_version():
    """The CLI's version from its User-Agent (`pulumi-cli/1 (v3.274.1; linux; ...)`)."""
    match = _CLI_VERSION.search(request.headers.get("User-Agent", ""))
    return match.group(1) if match else ""


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
    metrics.observe_checkpoint(stored["size_bytes"])
    return "", 204


@bp.patch(UPDATE + "/journalentries")
@requires_lease
@documented(body=schemas.journal_entries, status=204, responses={
    400: "Bad Request: the update does not journal, or an entry is not one the service replays",
    413: "Request Entity Too Large: the batch is over the limit (the CLI splits it and retries)",
})
def patch_journal_entries(org, project, stack, kind, update_id):
    """Store a batch of the update's journal entries (batches may repeat)."""
    limit_entries = current_app.config["JOURNAL_MAX_BATCH_ENTRIES"]
    limit_bytes = current_app.config["JOURNAL_MAX_BATCH_BYTES"]
    if (request.content_length or 0) > limit_bytes:
        raise ApiError(413, f"Request Entity Too Large: journal batches are limited to "
                            f"{limit_bytes} bytes")
    if not g.lease["journal_version"]:
        raise ApiError(400, "Bad Request: this update does not journal (it was not started with "
                            "journalVersion 1): send checkpoints")
    body = parse_body(schemas.journal_entries)
    if len(body["entries"]) > limit_entries:
        raise ApiError(413, f"Request Entity Too Large: journal batches are limited to "
                            f"{limit_entries} entries")
    entries = request.get_json()["entries"]
    with transaction() as conn:
        queries.insert_journal_entries(
            conn, update_id=str(update_id),
            sequence_ids=[e["sequence_id"] for e in body["entries"]],
            entries=[json.dumps(e, separators=(",", ":")) for e in entries],
        )
    return "", 204


@bp.patch(UPDATE + "/checkpointverbatim")
@requires_lease
@documented(body=schemas.verbatim_checkpoint, status=204)
def patch_checkpoint_verbatim(org, project, stack, kind, update_id):
    """Store the update's whole state exactly as sent: the text later deltas edit."""
    try:
        parsed = deployments.parse_body(request.get_data(cache=False))
    except deployments.BadBody as err:
        raise ApiError(400, f"Bad Request: {err}") from None
    body = schemas.verbatim_checkpoint.load(parsed.members)
    resources = body["untyped_deployment"]["deployment"].get("resources") or []
    stored = deployments.StoredDeployment(parsed.raw_value("untypedDeployment"), len(resources))
    save_checkpoint_text(update_id, stored, body["sequence_number"])
    return "", 204


@bp.patch(UPDATE + "/checkpointdelta")
@requires_lease
@documented(body=schemas.delta_checkpoint, status=204, responses={
    400: "Bad Request: the delta does not apply, or the result's hash differs (the CLI then "
         "sends the whole state verbatim)",
    409: "Conflict: the delta does not follow the last checkpoint (likewise)",
})
def patch_checkpoint_delta(org, project, stack, kind, update_id):
    """Apply an edit of the last stored text; a retry of an applied delta changes nothing."""
    body = parse_body(schemas.delta_checkpoint)
    sequence = body["sequence_number"]
    with transaction() as conn:
        current = queries.lock_update_checkpoint(conn, update_id=str(update_id))
        if current is None:
            raise ApiError(403, "Forbidden: the update's lease has expired or the update is over")
        if sequence <= current["checkpoint_sequence"]:
            return "", 204  # already applied: a retry
        if sequence != current["checkpoint_sequence"] + 1 or current["deployment_gz"] is None:
            raise ApiError(409, f"Conflict: checkpoint {sequence} does not follow the last one "
                                f"stored ({current['checkpoint_sequence']})")
        try:
            text = deployments.apply_delta(deployments.load(current["deployment_gz"]),
                                           body["deployment_delta"])
        except deployments.BadDelta as err:
            raise ApiError(400, f"Bad Request: {err}") from None
        if hashlib.sha256(text).hexdigest() != body["checkpoint_hash"]:
            raise ApiError(400, "Bad Request: the edited checkpoint does not match its hash")
        # The resource count is taken when the update ends (counting means parsing it all).
        stored = deployments.StoredDeployment(text, current["resource_count"] or 0)
        write_checkpoint(conn, update_id, stored, sequence)
    return "", 204


def save_checkpoint_text(update_id, stored, sequence):
    with transaction() as conn:
        if queries.lock_update_checkpoint(conn, update_id=str(update_id)) is None:
            raise ApiError(403, "Forbidden: the update's lease has expired or the update is over")
        write_checkpoint(conn, update_id, stored, sequence)


def write_checkpoint(conn, update_id, stored, sequence):
    row = stored.row()
    queries.put_update_checkpoint(conn, update_id=str(update_id), **row)
    queries.set_checkpoint_sequence(conn, update_id=str(update_id), sequence=sequence)
    metrics.observe_checkpoint(row["size_bytes"])


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
