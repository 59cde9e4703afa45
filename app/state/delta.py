"""Delta checkpoints: the CLI's text edits of the state it sent last."""
import hashlib


class BadDelta(ValueError):
    """A checkpoint delta that cannot be applied to the stored text."""


def spans(edits, length):
    """The CLI's text edits (gotextdiff TextEdit JSON: ascending, non-overlapping spans of byte
    offsets into the previous text, each replaced by NewText) as checked (start, end, new bytes)
    for a text of `length` bytes; BadDelta before anything is applied."""
    checked, pos = [], 0
    for edit in edits:
        try:
            span = edit["Span"]
            start, end = span["start"]["offset"], span["end"]["offset"]
            new_text = edit.get("NewText", "")
        except (KeyError, TypeError):
            raise BadDelta("an edit lacks its Span offsets") from None
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(new_text, str)):
            raise BadDelta("an edit's offsets must be integers and its NewText a string")
        if not pos <= start <= end <= length:
            raise BadDelta(f"edit span {start}..{end} is out of order or outside the text")
        checked.append((start, end, new_text.encode("utf-8")))
        pos = end
    return checked


def apply_delta(old, edits):
    """`old` (bytes) with the CLI's text edits applied: a new bytes."""
    # Views of `old`, not copies: the result is the only copy of a large text made.
    view = memoryview(old)
    out, pos = [], 0
    for start, end, new in spans(edits, len(old)):
        out.append(view[pos:start])
        out.append(new)
        pos = end
    out.append(view[pos:])
    return b"".join(out)


class EditableText:
    """A running update's text that its delta saves edit in place, with its SHA-256 (the CLI's
    check on every save) kept as midstates every MARK bytes: a save rewrites and rehashes the
    text from its first edit on, not from the start, so its cost follows where the change is
    rather than the size of the state. Not thread-safe: its owner serializes the edits (the
    update's row lock) and readers take `bytes()` of a text no save is editing."""

    MARK = 1 << 18

    def __init__(self, text):
        self._buf = bytearray(text)
        self._marks = [hashlib.sha256()]  # _marks[k]: the hash of _buf[:k * MARK]
        self.sha256 = self._rehash(0)

    def __len__(self):
        return len(self._buf)

    def bytes(self):
        return bytes(self._buf)

    def apply(self, edits):
        """Apply the edits (all checked first: a BadDelta leaves the text as it was) and return
        the new text's SHA-256 (hex)."""
        checked = spans(edits, len(self._buf))
        if not checked:
            return self.sha256
        for start, end, new in reversed(checked):  # offsets before an edit stay valid
            self._buf[start:end] = new
        self.sha256 = self._rehash(checked[0][0])
        return self.sha256

    def _rehash(self, start):
        keep = start // self.MARK
        del self._marks[keep + 1:]
        digest = self._marks[keep].copy()
        pos, length = keep * self.MARK, len(self._buf)
        # A bytearray cannot change size while a view of it is alive: the view ends here.
        with memoryview(self._buf) as view:
            while pos + self.MARK <= length:
                digest.update(view[pos:pos + self.MARK])
                pos += self.MARK
                self._marks.append(digest.copy())
            digest.update(view[pos:])
        return digest.hexdigest()
