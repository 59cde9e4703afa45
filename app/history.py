"""A stack's past and present state as the CLI reads it: its history of operations, the state of
each version, its current state (replayed from the journal while a journaled update runs) and its
outputs. Functions take the request's connection and never commit."""
from .queries import queries
from .state import journal, outputs


def history(conn, stack_id, limit=None, offset=0):
    """The stack's recorded operations, newest first (previews are not history)."""
    return list(queries.stack_history(conn, stack_id=stack_id, limit=limit, offset=offset))


def latest(conn, stack_id):
    return next(iter(history(conn, stack_id, limit=1)), None)


def at_version(conn, stack_id, version):
    return queries.history_at_version(conn, stack_id=stack_id, version=version)


def previews(conn, stack_id, ascending, limit=None, offset=0):
    return list(queries.stack_previews(conn, stack_id=stack_id, ascending=ascending, limit=limit,
                                       offset=offset))


def current_state(conn, stack_id):
    """(untyped, stored): the state of a journaled update running now, which exists only as its
    journal and is replayed (untyped), or else the stack's latest stored checkpoint row (None if
    it was never deployed)."""
    running = queries.running_journaled_update(conn, stack_id=stack_id)
    if running is not None:
        return journal.replayed_state(conn, stack_id, running["id"], running["version"],
                                      running["cli_version"]), None
    return None, queries.latest_checkpoint(conn, stack_id=stack_id)


def state_before(conn, stack_id, version, dry_run):
    """(stored, size) of the state an update starting now reads first, without replaying a
    journal: a real operation's base (the latest version before its own, which no other operation
    can change while it runs), or a preview's current stored state. (None, None) when that state
    exists only as the journal of another running update; (None, 0) for a stack never deployed."""
    if dry_run:
        if queries.running_journaled_update(conn, stack_id=stack_id) is not None:
            return None, None
        stored = queries.latest_checkpoint(conn, stack_id=stack_id)
    else:
        stored = queries.base_checkpoint(conn, stack_id=stack_id, version=version)
    return (stored, stored["size_bytes"]) if stored is not None else (None, 0)


def state_at_version(conn, stack_id, version):
    return queries.checkpoint_at_version(conn, stack_id=stack_id, version=version)


def stack_outputs(conn, stack_id):
    """(outputs, secrets providers) of the current state, decompressing and parsing a stored
    state only as far as its stack resource."""
    untyped, stored = current_state(conn, stack_id)
    if untyped is not None:
        return outputs.stack_outputs(untyped)
    if stored is not None:
        return outputs.stack_outputs_of_stored(stored["deployment_gz"])
    return None, None
