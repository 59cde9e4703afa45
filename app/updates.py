"""Updates: the lifecycle behind `pulumi up/preview/refresh/destroy` (create, start, lease,
checkpoints, journal entries, engine events, complete, cancel, abandon) and `pulumi stack
import`, each new version ending with a stored state. Functions take the request's connection
and never commit; every step the CLI retries gives the same result when repeated."""
import json
import uuid

from flask import current_app
from psycopg2.errors import UniqueViolation

from . import audit, blobs, checkpoints, metrics, text, webhooks
from .checkpoints import LEASE_OVER
from .api import operation, stack_ref
from .auth import hash_token, new_token
from .errors import ApiError
from .queries import queries
from .stacks import load_stack, lock_stack, put_version_state
from .state import journal, pending, scan
from .state.stored import EMPTY_DEPLOYMENT, StoredDeployment, decompress

CONFLICT = "Conflict: Another update is currently in progress."
OVER = ("succeeded", "failed", "cancelled")

# An update's status as the CLI names its result.
RESULTS = {
    "not started": "not-started",
    "running": "in-progress",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "failed",
}


def load_update(conn, org, project, stack, update_id):
    row = queries.get_update(conn, update_id=str(update_id), org_name=org, project_name=project,
                             stack_name=stack)
    if row is None:
        raise ApiError(404, f"Not Found: update '{update_id}' not found on stack "
                            f"'{stack_ref(org, project, stack)}'")
    return row


# --- create and start ------------------------------------------------------------------------------

def create_update(conn, org, project, stack, kind, dry_run, program, config, metadata,
                  initiator_id):
    """A new, not yet started update of the stack; returns its id."""
    update_id = uuid.uuid4()
    row = load_stack(conn, org, project, stack)
    queries.insert_update(
        conn, update_id=str(update_id), stack_id=row["id"], kind=kind, dry_run=dry_run,
        program=json.dumps(program), config=json.dumps(config),
        message=metadata.get("message") or "",
        environment=json.dumps(metadata.get("environment") or {}),
        initiator_id=initiator_id,
    )
    return update_id


def start_update(conn, org, project, stack, update_id, *, journaled, tags, user_id, cli_version):
    """Start an update: a real operation claims the stack's next version (409 while another
    runs); every update gets a lease token. Returns (the started row, the token)."""
    token = new_token()
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
        version = _claim_next_version(conn, row["id"])
    try:
        started = queries.start_update(
            conn, update_id=str(update_id), version=version,
            lease_token_hash=hash_token(token),
            lease_seconds=current_app.config["LEASE_SECONDS"], user_id=user_id,
            journal_version=1 if journaled and not update["dry_run"] else 0,
            cli_version=cli_version,
        )
    except UniqueViolation:
        # Only reachable if the stack lock were bypassed: the database has the last word.
        raise ApiError(409, CONFLICT) from None
    if not update["dry_run"]:
        queries.set_active_update(conn, stack_id=row["id"], update_id=str(update_id))
    if tags is not None:
        queries.set_tags(conn, stack_id=row["id"], tags=json.dumps(tags))
    return started, token


def begin_update(conn, org, project, stack, kind, dry_run, program, config, metadata, *,
                 journaled, tags, user_id, cli_version):
    """create_update and start_update at once (begin-update). Returns (update id, the started
    row, the token). The stack row is locked first: the new update row takes a key-share lock on
    it, so concurrent begins that each inserted theirs would then wait on one another for the
    row lock that start_update takes."""
    lock_stack(conn, org, project, stack)
    update_id = create_update(conn, org, project, stack, kind, dry_run, program, config, metadata,
                              user_id)
    started, token = start_update(conn, org, project, stack, update_id, journaled=journaled,
                                  tags=tags, user_id=user_id, cli_version=cli_version)
    return update_id, started, token


def _claim_next_version(conn, stack_id):
    """The next version of a locked stack, once no other real operation runs on it (one whose
    lease ran out long ago is abandoned first)."""
    abandon_expired_update(conn, stack_id)
    if queries.stack_is_busy(conn, stack_id=stack_id):
        raise ApiError(409, CONFLICT)
    return queries.next_version(conn, stack_id=stack_id)


def renew_lease(conn, update_id, seconds):
    renewed = queries.renew_lease(conn, update_id=str(update_id), seconds=seconds)
    if renewed is None:
        raise ApiError(403, LEASE_OVER)
    return renewed


# --- what a running update sends --------------------------------------------------------------------

def store_checkpoint(conn, update_id, stored):
    """A whole state (full checkpoints) as the running update's."""
    row = stored.row()
    if queries.put_update_checkpoint(conn, update_id=str(update_id), **row) is None:
        raise ApiError(403, LEASE_OVER)
    metrics.observe_checkpoint(row["size_bytes"])


def store_journal_entries(conn, update_id, sequence_ids, entries):
    """A batch of journal entries, each stored as sent under its (validated) sequence id; a
    repeated batch is stored once. Refused once the update is over (a cancel or an abandon that
    ended it meanwhile has stored its version's state without this batch)."""
    stored = queries.insert_journal_entries(
        conn, update_id=str(update_id), sequence_ids=sequence_ids,
        entries=[json.dumps(e, separators=(",", ":")) for e in entries],
    )
    if stored is None:
        raise ApiError(403, LEASE_OVER)


def record_events(conn, update_id, events, resource_changes=None):
    """A batch of engine events, stored as sent (batches may repeat and arrive out of order);
    `resource_changes`, from the batch's summary event, become the update's."""
    queries.insert_engine_events(conn, update_id=str(update_id),
                                 batch=json.dumps({"events": text.storable(events)}))
    if resource_changes is not None:
        queries.record_resource_changes(conn, update_id=str(update_id),
                                        resource_changes=json.dumps(resource_changes))


# --- the end of an update ---------------------------------------------------------------------------

def complete_update(conn, lease, update_id, status):
    """End the update with its status; repeating the same status is harmless. True when this
    call ended it, False for a retry."""
    if lease["status"] in OVER:
        if lease["status"] == status:
            return False  # a retry of a complete that already happened
        raise ApiError(409, f"Conflict: the update is already {lease['status']}")
    if not lease["dry_run"]:
        finish_version(conn, lease["stack_id"], update_id, lease["version"])
    if queries.finish_update(conn, update_id=str(update_id), status=status) is None:
        raise ApiError(409, "Conflict: the update is over")
    return True


def cancel_update(conn, org, project, stack, update_id):
    """Cancel a running update (`pulumi cancel`): its lease stops working. Returns the update
    (kind, dry_run, version) when this call cancelled it, None for a retry."""
    # The update row alone is locked (not the stack's): a checkpoint being written holds the
    # update row shared and then needs the stack row, so taking both here could deadlock.
    found = load_update(conn, org, project, stack, update_id)
    update = queries.lock_update(conn, update_id=str(update_id), stack_id=found["stack_id"])
    if update["status"] == "cancelled":
        return None  # a retry of a cancel that already happened
    if update["status"] in OVER:
        raise ApiError(409, f"Conflict: the update is not running (it {update['status']})")
    if not update["dry_run"]:
        finish_version(conn, update["stack_id"], update_id, update["version"])
    queries.finish_update(conn, update_id=str(update_id), status="cancelled")
    return update


# Who ends an abandoned update in the audit log: the service, on behalf of nobody.
ABANDONING = audit.Actor(name="pulumi-service (an expired update lease)")


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
        webhooks.update_finished(conn, abandoned["id"])
        ended = queries.finished_update_of_webhooks(conn, update_id=str(abandoned["id"]))
        ref = stack_ref(ended["org_name"], ended["project_name"], ended["stack_name"])
        audit.record(conn, ABANDONING, ended["org_name"], "update.abandoned", ref,
                     f"the {operation(ended['kind'], False)} of stack {ref} (version "
                     f"{abandoned['version']}) ended as failed: its lease had expired")


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
            put_version_state(conn, stack_id, version, update_id,
                              StoredDeployment.from_untyped(untyped))
            return
    elif persistence["checkpoint_sequence"]:
        checkpoints.compact(conn, update_id)
        _repair_checkpoint_text(conn, stack_id, update_id, version)
    queries.carry_checkpoint_forward(conn, stack_id=stack_id, version=version,
                                     update_id=str(update_id))
    if not queries.has_checkpoint(conn, stack_id=stack_id, version=version):
        # Nothing to carry forward: the stack's first operation ended before it stored any
        # state, so its version's state is the empty one (what the stack exported before).
        stored = StoredDeployment.from_untyped(EMPTY_DEPLOYMENT)
        queries.put_checkpoint(conn, stack_id=stack_id, version=version,
                               update_id=str(update_id), **blobs.placed(conn, stored.row()))
    # Written inline while the update ran: the finished version's state may move now.
    blobs.offload(conn, stack_id, version)


def _repair_checkpoint_text(conn, stack_id, update_id, version):
    """Verbatim/delta checkpoints: counted once here rather than on every delta, with the
    serializer's misplaced pending operations put where the CLI reads them."""
    found = queries.checkpoint_at_version(conn, stack_id=stack_id, version=version)
    if found is None:
        return
    repaired = pending.fix_pending_operations_key(decompress(blobs.gz_of(found)))
    # With nine or fewer steps in flight the serializer writes no pending operations at all:
    # those of an update that stopped half-way are recovered from its events.
    in_flight = pending.pending_operations_from_events(
        row["event"] for row in queries.unfinished_steps(conn, update_id=str(update_id)))
    repaired = pending.with_pending_operations(repaired, in_flight)
    stored = StoredDeployment(repaired, scan.count_resources(repaired))
    queries.put_checkpoint(conn, stack_id=stack_id, version=version,
                           update_id=str(update_id), **blobs.placed(conn, stored.row()))


# --- import ------------------------------------------------------------------------------------------

def import_state(conn, org, project, stack, stored, initiator_id):
    """Replace the stack's state with `stored`, as a new version of kind import (409 while an
    update runs). Returns the import's update id."""
    update_id = str(uuid.uuid4())
    row = lock_stack(conn, org, project, stack)
    version = _claim_next_version(conn, row["id"])
    queries.insert_recorded_update(
        conn, update_id=update_id, stack_id=row["id"], kind="import", version=version,
        message="", environment=json.dumps({}), initiator_id=initiator_id,
        resource_count=stored.resource_count,
    )
    put_version_state(conn, row["id"], version, update_id, stored)
    queries.set_active_update(conn, stack_id=row["id"], update_id=update_id)
    return update_id
