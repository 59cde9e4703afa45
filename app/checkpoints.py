"""Verbatim and delta checkpoints of a running update (the CLI's persistence when it does not
journal): the text it sent last, kept as its version's checkpoint row plus the deltas applied
since, so that a delta save costs what it changes rather than the size of the state.

A save appends its edits to `checkpoint_deltas`; every CHECKPOINT_COMPACT_EVERY deltas (and when
the update ends) the current text is written whole into the checkpoint row (compaction). The text
a worker saved last stays in its memory (`_TEXTS`, bounded): its next save starts from it, brought
up to date with the deltas other workers saved meanwhile; a worker without it (or after a restart)
rebuilds it from the row and the deltas. Every text is checked against the SHA-256 the CLI sent;
the worker's text keeps hash midstates (`delta.EditableText`), so a save rewrites and rehashes it
only from its first edit on. Functions take the request's connection and never commit."""
import json
import threading
from collections import OrderedDict

from flask import current_app

from . import blobs, metrics
from .errors import ApiError
from .queries import queries
from .state import delta
from .state.stored import StoredDeployment, decompress

LEASE_OVER = "Forbidden: the update's lease has expired or the update is over"


class _Texts:
    """update id -> (sequence, sha256, EditableText) of the texts this worker saved last, least
    recently used first, at most `limit` bytes in all. A save takes its text out while it edits
    it, so a reader never copies a half-edited text."""

    def __init__(self):
        self._entries = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, update_id):
        with self._lock:
            return self._touch(str(update_id))

    def copy(self, update_id):
        """(sequence, sha256, bytes of the text), or None."""
        with self._lock:
            found = self._touch(str(update_id))
            return None if found is None else (found[0], found[1], found[2].bytes())

    def take(self, update_id):
        with self._lock:
            found = self._entries.get(str(update_id))
            self._drop(str(update_id))
            return found

    def put(self, update_id, sequence, sha256, text, limit):
        update_id = str(update_id)
        with self._lock:
            self._drop(update_id)
            if len(text) > limit:
                return
            self._entries[update_id] = (sequence, sha256, text)
            self._bytes += len(text)
            while self._bytes > limit:
                self._drop(next(iter(self._entries)))

    def forget(self, update_id):
        with self._lock:
            self._drop(str(update_id))

    def _touch(self, update_id):
        found = self._entries.get(update_id)
        if found is not None:
            self._entries.move_to_end(update_id)
        return found

    def _drop(self, update_id):
        found = self._entries.pop(update_id, None)
        if found is not None:
            self._bytes -= len(found[2])


_TEXTS = _Texts()


def _lock(conn, update_id):
    state = queries.lock_update_delta_state(conn, update_id=str(update_id))
    if state is None:
        raise ApiError(403, LEASE_OVER)
    return state


def save_verbatim(conn, update_id, stored, sequence):
    """A whole state's exact text: the text later deltas edit."""
    _lock(conn, update_id)
    text = delta.EditableText(stored.text)
    _write_whole(conn, update_id, stored, sequence, text.sha256)
    _remember(update_id, sequence, text.sha256, text)


def apply_delta(conn, update_id, sequence, edits, checkpoint_hash):
    """Edit the last saved text; a retry of an applied delta changes nothing. 409 for a delta out
    of sequence (or before any verbatim save), 400 for one that does not apply or whose result
    has another hash (the CLI then sends the whole text verbatim)."""
    state = _lock(conn, update_id)
    if sequence <= state["checkpoint_sequence"]:
        return  # already applied: a retry
    if sequence != state["checkpoint_sequence"] + 1 or state["checkpoint_sha256"] is None:
        raise ApiError(409, f"Conflict: checkpoint {sequence} does not follow the last one "
                            f"stored ({state['checkpoint_sequence']})")
    text = _editable(conn, update_id, state)
    try:
        sha256 = text.apply(edits)
    except delta.BadDelta as err:
        _remember(update_id, state["checkpoint_sequence"], state["checkpoint_sha256"], text)
        raise ApiError(400, f"Bad Request: {err}") from None
    if sha256 != checkpoint_hash:
        # The text is dropped: it is neither the saved one nor one the CLI will build on.
        raise ApiError(400, "Bad Request: the edited checkpoint does not match its hash")
    compact_every = current_app.config["CHECKPOINT_COMPACT_EVERY"]
    if sequence - state["checkpoint_base_sequence"] >= compact_every:
        _write_whole(conn, update_id, StoredDeployment(text.bytes(), state["resource_count"] or 0),
                     sequence, checkpoint_hash)
    else:
        queries.insert_checkpoint_delta(conn, update_id=str(update_id), sequence=sequence,
                                        edits=json.dumps(edits, separators=(",", ":")),
                                        sha256=checkpoint_hash)
        queries.set_delta_state(conn, update_id=str(update_id), sequence=sequence,
                                base_sequence=state["checkpoint_base_sequence"],
                                sha256=checkpoint_hash)
        metrics.observe_checkpoint(len(text))
    _remember(update_id, sequence, checkpoint_hash, text)


def compact(conn, update_id):
    """Write a running update's current text whole into its checkpoint row (when it ends, before
    its version's state is read), if deltas are pending."""
    state = queries.lock_update_delta_state(conn, update_id=str(update_id))
    if state is None or state["checkpoint_sequence"] <= state["checkpoint_base_sequence"]:
        return
    stored = StoredDeployment(_current_text(conn, update_id, state), state["resource_count"] or 0)
    _write_whole(conn, update_id, stored, state["checkpoint_sequence"], state["checkpoint_sha256"])
    _TEXTS.forget(update_id)


def current_text(conn, update_id):
    """The current text of a running update whose deltas are pending, read without locking
    (what a reader of the stack's state gets while the update runs)."""
    state = queries.delta_state(conn, update_id=str(update_id))
    return _current_text(conn, update_id, state)


def _current_text(conn, update_id, state):
    """The text (bytes) as of state's checkpoint_sequence, for a reader or a compaction: a copy of
    this worker's text of that save or of an earlier one brought up to date, else rebuilt."""
    cached = _TEXTS.copy(update_id)
    if cached is not None and _usable(conn, update_id, state, cached):
        return _apply_saved_deltas(conn, update_id, cached[0], cached[2], state)
    return _rebuilt(conn, update_id, state).bytes()


def _editable(conn, update_id, state):
    """The text as of state's checkpoint_sequence for a save to edit: this worker's text, taken
    out of the cache until the save is over, brought up to date with the deltas other workers
    saved since; else rebuilt from the checkpoint row and every delta after it."""
    cached = _TEXTS.take(update_id)
    if cached is not None and _usable(conn, update_id, state, cached):
        sequence, _, text = cached
        for found in _saved_deltas(conn, update_id, sequence, state):
            text.apply(json.loads(found["edits"]))
        return text
    return _rebuilt(conn, update_id, state)


def _usable(conn, update_id, state, cached):
    """Whether this worker's text is the last save's, or an earlier save's (not one a rolled-back
    save left it) that the deltas saved since apply to: each was checked against its hash when
    it was saved."""
    sequence, sha256 = cached[:2]
    if (sequence, sha256) == (state["checkpoint_sequence"], state["checkpoint_sha256"]):
        return True
    return state["checkpoint_base_sequence"] <= sequence < state["checkpoint_sequence"] and (
        queries.saved_text_sha256(conn, update_id=str(update_id), sequence=sequence) == sha256)


def _rebuilt(conn, update_id, state):
    sequence = state["checkpoint_sequence"]
    row = queries.update_checkpoint_gz(conn, update_id=str(update_id))
    if row is None:
        raise ApiError(409, "Conflict: no checkpoint stored yet for this update")
    text = delta.EditableText(_apply_saved_deltas(
        conn, update_id, state["checkpoint_base_sequence"], decompress(blobs.gz_of(row)), state))
    if text.sha256 != state["checkpoint_sha256"]:
        # Never expected (every delta was checked when saved): have the CLI resend it whole.
        current_app.logger.error("update %s: rebuilt checkpoint %s does not match its hash",
                                 update_id, sequence)
        raise ApiError(409, f"Conflict: checkpoint {sequence} cannot be rebuilt; send it whole")
    return text


def _saved_deltas(conn, update_id, after, state):
    if after >= state["checkpoint_sequence"]:
        return []
    return queries.checkpoint_deltas_after(conn, update_id=str(update_id), after=after)


def _apply_saved_deltas(conn, update_id, after, text, state):
    for found in _saved_deltas(conn, update_id, after, state):
        text = delta.apply_delta(text, json.loads(found["edits"]))
    return text


def _write_whole(conn, update_id, stored, sequence, sha256):
    row = stored.row()
    queries.put_update_checkpoint(conn, update_id=str(update_id), **row)
    queries.drop_checkpoint_deltas(conn, update_id=str(update_id), upto=2 ** 31 - 1)
    queries.set_delta_state(conn, update_id=str(update_id), sequence=sequence,
                            base_sequence=sequence, sha256=sha256)
    metrics.observe_checkpoint(row["size_bytes"])


def _remember(update_id, sequence, sha256, text):
    _TEXTS.put(update_id, sequence, sha256, text,
               current_app.config["CHECKPOINT_TEXT_CACHE_BYTES"])
