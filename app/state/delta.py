"""Delta checkpoints: the CLI's text edits of the state it sent last."""


class BadDelta(ValueError):
    """A checkpoint delta that cannot be applied to the stored text."""


def apply_delta(old, edits):
    """Apply the CLI's text edits (gotextdiff TextEdit JSON: ascending, non-overlapping spans of
    byte offsets into the previous text, each replaced by NewText) to `old` (bytes)."""
    # Views of `old`, not copies: the result is the only copy of a large text made.
    view = memoryview(old)
    out, pos = [], 0
    for edit in edits:
        try:
            span = edit["Span"]
            start, end = span["start"]["offset"], span["end"]["offset"]
            new_text = edit.get("NewText", "")
        except (KeyError, TypeError):
            raise BadDelta("an edit lacks its Span offsets") from None
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(new_text, str)):
            raise BadDelta("an edit's offsets must be integers and its NewText a string")
        if not pos <= start <= end <= len(old):
            raise BadDelta(f"edit span {start}..{end} is out of order or outside the text")
        out.append(view[pos:start])
        out.append(new_text.encode("utf-8"))
        pos = end
    out.append(view[pos:])
    return b"".join(out)
