"""A stack's past and present state as the CLI reads it: its history of operations, the state of
each version, its current state (replayed from the journal while a journaled update runs) and its
outputs. Functions take the request's connection and never commit."""
from . import blobs, checkpoints
from .queries import queries
from .state import journal, outputs
from .state.stored import EMPTY_DEPLOYMENT_TEXT, decompress


def history(conn, stack_id, limit=None, offset=0):
    """The stack's recorded operations, newest first (previews are not history)."""
    return list(queries.stack_history(conn, stack_id=stack_id, limit=limit, offset=offset))


def count(conn, stack_id):
    return queries.count_history(conn, stack_id=stack_id)


def previews_at_version(conn, stack_id, version, limit=None, offset=0):
    """The previews run against `version`, newest first (rows shaped like history's)."""
    return list(queries.stack_previews_at_version(conn, stack_id=stack_id, version=version,
                                                  limit=limit, offset=offset))


def latest(conn, stack_id):
    return next(iter(history(conn, stack_id, limit=1)), None)


def at_version(conn, stack_id, version):
    return queries.history_at_version(conn, stack_id=stack_id, version=version)


def previews(conn, stack_id, ascending, limit=None, offset=0):
    return list(queries.stack_previews(conn, stack_id=stack_id, ascending=ascending, limit=limit,
                                       offset=offset))


class CurrentState:
    """A stack's current state, in whichever form it exists: `untyped` (parsed) for a journaled
    update running now, whose state exists only as its journal; `text` for a running update
    whose delta checkpoints are not yet compacted; else `stored`, the latest checkpoint row (all
    None for a stack never deployed)."""

    def __init__(self, untyped=None, text=None, stored=None):
        self.untyped, self.text, self.stored = untyped, text, stored


def current_state(conn, stack_id):
    running = queries.running_journaled_update(conn, stack_id=stack_id)
    if running is not None:
        return CurrentState(untyped=journal.replayed_state(
            conn, stack_id, running["id"], running["version"], running["cli_version"]))
    running = queries.running_delta_update(conn, stack_id=stack_id)
    if running is not None:
        return CurrentState(text=checkpoints.current_text(conn, running["id"]))
    return CurrentState(stored=queries.latest_checkpoint(conn, stack_id=stack_id))


def state_before(conn, stack_id, version, dry_run):
    """(size, text) of the state an update starting now reads first, where it can be had without
    replaying a journal: a real operation's base (the latest version before its own, which no
    other operation can change while it runs), or a preview's current state; the empty state for
    a stack never deployed. `text()` gives the bytes, decompressing a stored state only then.
    (None, None) when that state exists only as the journal of another running update."""
    if dry_run:
        current = current_state(conn, stack_id)
        if current.untyped is not None:
            return None, None
        if current.text is not None:
            return len(current.text), lambda: current.text
        stored = current.stored
    else:
        stored = queries.base_checkpoint(conn, stack_id=stack_id, version=version)
    if stored is None:
        return len(EMPTY_DEPLOYMENT_TEXT), lambda: EMPTY_DEPLOYMENT_TEXT
    return stored["size_bytes"], lambda: decompress(blobs.gz_of(stored))


def events_after(conn, update_id, over, after, limit, types=None, urn=None):
    """A page of an update's engine events after sequence number `after` (rows of sequence and
    event). While the update runs (`over` false), only up to the first gap: a late batch may
    still fill it, and a reader must not skip past it."""
    until = (2 ** 31 - 1) if over else queries.contiguous_events_end(conn, update_id=str(update_id))
    return list(queries.engine_events(conn, update_id=str(update_id), after=after, until=until,
                                      types=types, urn=urn, limit=limit))


def state_at_version(conn, stack_id, version):
    return queries.checkpoint_at_version(conn, stack_id=stack_id, version=version)


def stack_outputs(conn, stack_id):
    """(outputs, secrets providers) of the current state, decompressing and parsing a stored
    state only as far as its stack resource."""
    current = current_state(conn, stack_id)
    if current.untyped is not None:
        return outputs.stack_outputs(current.untyped)
    if current.text is not None:
        return outputs.stack_outputs_of_text(current.text)
    if current.stored is not None:
        return outputs.stack_outputs_of_stored(blobs.gz_of(current.stored))
    return None, None
