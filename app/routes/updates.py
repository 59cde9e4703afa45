"""Updates: the routes behind `pulumi up/preview/refresh/destroy` (create, start, lease,
checkpoints, journal entries, engine events, complete, cancel) and reading an update's status
and events back. The lifecycle itself is app/updates.py."""
import json
import re

from flask import Blueprint, Response, current_app, g, jsonify, request

from .. import audit, checkpoints, history, stacks, updates, webhooks
from ..api import (KIND, STACK, UPDATE, actor, operation, parse_body, parse_json_body,
                   parse_state_body, stack_ref, unix)
from ..auth import requires_lease, requires_role
from ..db import transaction
from ..errors import ApiError
from ..openapi import documented
from ..queries import queries
from ..schemas import stacks as schemas_stacks
from ..schemas import updates as schemas
from ..state.stored import StoredDeployment

bp = Blueprint("updates", __name__, url_prefix="/api/stacks")


@bp.post(STACK + "/" + KIND)
@requires_role("member")
@documented(body=schemas.update_program, response=schemas.created_update)
def create_update(org, project, stack, kind):
    """Create an update of the given kind (update, preview, refresh or destroy)."""
    body = parse_body(schemas.update_program)
    dry_run, program, config, metadata = _update_program(body, kind)
    with transaction() as conn:
        update_id = updates.create_update(conn, org, project, stack, kind, dry_run, program,
                                          config, metadata, g.user["id"])
    return jsonify(schemas.created_update.dump({"update_id": str(update_id)}))


@bp.post(UPDATE)
@requires_role("member")
@documented(body=schemas.start_update, response=schemas.started_update, responses={
    409: updates.CONFLICT + " (or: the update was already started)",
})
def start_update(org, project, stack, kind, update_id):
    """Start an update: claim the next version (real operations) and a lease token."""
    body = parse_body(schemas.start_update, default={})
    with transaction() as conn:
        started, token = updates.start_update(
            conn, org, project, stack, update_id, journaled=_journaled(body),
            tags=body.get("tags"), user_id=g.user["id"], cli_version=cli_version())
        _record_start(conn, org, project, stack, started)
    return jsonify(schemas.started_update.dump(_started(started, token)))


def _record_start(conn, org, project, stack, started):
    ref = stack_ref(org, project, stack)
    what = operation(started["kind"], started["dry_run"])
    audit.record(conn, actor(), org, "update.started", ref,
                 f"{what} of stack {ref} started" + (
                     "" if started["dry_run"] else f" (version {started['version']})"))


@bp.post(STACK + "/begin-update")
@requires_role("member")
@documented(body=schemas.begin_update, response=schemas.begun_update, responses={
    409: updates.CONFLICT,
})
def begin_update(org, project, stack):
    """Create and start an update in one request (the `begin-update` capability), answered with
    the stack and, up to BEGIN_UPDATE_STATE_MAX_BYTES, the state the update starts from."""
    body = parse_body(schemas.begin_update)
    kind = schemas.BEGIN_UPDATE_KINDS[body["update_kind"]]
    dry_run, program, config, metadata = _update_program(body["program"], kind)
    with transaction() as conn:
        update_id, started, token = updates.begin_update(
            conn, org, project, stack, kind, dry_run, program, config, metadata,
            journaled=_journaled(body), tags=body.get("tags"), user_id=g.user["id"],
            cli_version=cli_version())
        row = stacks.load_stack(conn, org, project, stack)
        size, read_state = history.state_before(conn, row["id"], started["version"], dry_run)
        small = size is not None and size <= current_app.config["BEGIN_UPDATE_STATE_MAX_BYTES"]
        state = read_state() if small else None
        _record_start(conn, org, project, stack, started)
    answer = schemas.begun_update.dump({**_started(started, token), "update_id": str(update_id),
                                        "stack": schemas_stacks.stack_of_row(row)})
    text = json.dumps(answer, separators=(",", ":"))
    if state is not None:
        # The stored text itself, never parsed or re-encoded.
        text = text.encode()[:-1] + b',"deployment":' + state + b"}"
    return Response(text, mimetype="application/json")


def _update_program(body, kind):
    """(dry run, program, config, metadata) of an UpdateProgramRequest for an update of `kind`."""
    options = body.get("options") or {}
    # `pulumi preview` creates through /preview; `pulumi up` sends its preview phase through
    # /update with dryRun, so the flag, not the path, says whether this is a dry run.
    dry_run = kind == "preview" or bool(options.get("dry_run"))
    program = {key: body[key] for key in ("name", "runtime", "main", "description")}
    program["options"] = options
    return dry_run, program, body.get("config") or {}, body.get("metadata") or {}


def _journaled(body):
    """Whether the update journals: the CLI asks for it, and the service allows it."""
    return body["journal_version"] >= 1 and current_app.config["JOURNALING_ENABLED"]


def _started(started, token):
    answer = {
        "version": started["version"],
        "token": token,
        "token_expiration": unix(started["lease_expires_at"]),
    }
    if started["journal_version"]:
        answer["journal_version"] = started["journal_version"]
    return answer


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
        renewed = updates.renew_lease(conn, update_id, seconds)
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
    stored = StoredDeployment.from_body(parse_state_body(schemas.checkpoint))
    with transaction() as conn:
        updates.store_checkpoint(conn, update_id, stored)
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
    raw = parse_json_body()
    body = schemas.journal_entries.load(raw)
    if len(body["entries"]) > limit_entries:
        raise ApiError(413, f"Request Entity Too Large: journal batches are limited to "
                            f"{limit_entries} entries")
    with transaction() as conn:
        # Stored as sent (the replayer reads the CLI's JSON), under the validated sequence ids.
        updates.store_journal_entries(conn, update_id,
                                      [e["sequence_id"] for e in body["entries"]],
                                      raw.get("entries") or [])
    return "", 204


@bp.patch(UPDATE + "/checkpointverbatim")
@requires_lease
@documented(body=schemas.verbatim_checkpoint, status=204)
def patch_checkpoint_verbatim(org, project, stack, kind, update_id):
    """Store the update's whole state exactly as sent: the text later deltas edit."""
    parsed = parse_state_body(schemas.verbatim_checkpoint)
    body = parsed.members
    resources = body["untyped_deployment"]["deployment"].get("resources") or []
    stored = StoredDeployment(parsed.raw_value("untypedDeployment"), len(resources))
    with transaction() as conn:
        checkpoints.save_verbatim(conn, update_id, stored, body["sequence_number"])
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
    with transaction() as conn:
        checkpoints.apply_delta(conn, update_id, body["sequence_number"],
                                body["deployment_delta"], body["checkpoint_hash"])
    return "", 204


@bp.post(UPDATE + "/events/batch")
@requires_lease
@documented(body=schemas.engine_event_batch, status=204)
def record_events(org, project, stack, kind, update_id):
    """Store a batch of engine events (batches may repeat and arrive out of order)."""
    raw = parse_json_body()
    batch = schemas.engine_event_batch.load(raw)
    summary = next((e["summary_event"] for e in batch["events"] if "summary_event" in e), None)
    with transaction() as conn:
        # Stored as sent (the events route serves them back verbatim).
        updates.record_events(conn, update_id, raw["events"],
                              None if summary is None else summary.get("resource_changes") or {})
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
    with transaction() as conn:
        if updates.complete_update(conn, lease, update_id, body["status"]):
            webhooks.update_finished(conn, update_id)
            ref = stack_ref(org, project, stack)
            audit.record(conn, actor(), org, "update.completed", ref,
                         f"{operation(lease['kind'], lease['dry_run'])} of stack {ref} "
                         f"{body['status']}" + ("" if lease["dry_run"]
                                                else f" (version {lease['version']})"))
    return "", 204


@bp.post(UPDATE + "/cancel")
@requires_role("member")
@documented(status=204, responses={409: "Conflict: the update already ended"})
def cancel_update(org, project, stack, kind, update_id):
    """Cancel a running update (`pulumi cancel`): its lease stops working."""
    with transaction() as conn:
        cancelled = updates.cancel_update(conn, org, project, stack, update_id)
        if cancelled is not None:
            webhooks.update_finished(conn, update_id)
            ref = stack_ref(org, project, stack)
            audit.record(conn, actor(), org, "update.cancelled", ref,
                         f"cancelled the {operation(cancelled['kind'], cancelled['dry_run'])} "
                         f"of stack {ref}" + ("" if cancelled["dry_run"]
                                              else f" (version {cancelled['version']})"))
    return "", 204


@bp.get(UPDATE)
@requires_role("viewer")
@documented(response=schemas.update_results)
def update_status(org, project, stack, kind, update_id):
    """The update's status (`pulumi stack import` polls it until continuationToken is absent)."""
    with transaction() as conn:
        update = updates.load_update(conn, org, project, stack, update_id)
    # Only `pulumi stack import` polls this: it stops once the token is null.
    results = {"status": update["status"], "events": []}
    if update["status"] not in updates.OVER:
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
        update = updates.load_update(conn, org, project, stack, update_id)
        over = update["status"] in updates.OVER
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
