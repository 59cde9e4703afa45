"""The text a running update's delta saves edit in place (app/state/delta.py EditableText): after
any series of edits its bytes are those `apply_delta` makes and its SHA-256 is the whole text's,
however the edits fall against its hash midstates."""
import hashlib
import random

import pytest

from app.state.delta import BadDelta, EditableText, apply_delta


def edit(start, end, new):
    return {"Span": {"start": {"offset": start}, "end": {"offset": end}}, "NewText": new}


def random_edits(rng, length):
    cuts = sorted(rng.sample(range(length + 1), k=min(length + 1, 2 * rng.randint(1, 3))))
    return [edit(a, b, "x" * rng.choice([0, 1, 7, 70_000]))
            for a, b in zip(cuts[::2], cuts[1::2])]


@pytest.fixture
def small_marks(monkeypatch):
    """Midstates every 64 bytes, so that short texts cross many of them."""
    monkeypatch.setattr(EditableText, "MARK", 64)


@pytest.mark.parametrize("seed", range(20))
def test_random_edits_keep_the_bytes_and_the_hash_of_the_whole_text(small_marks, seed):
    rng = random.Random(seed)
    expected = bytes(rng.randrange(256) for _ in range(rng.choice([0, 63, 64, 65, 1000])))
    text = EditableText(expected)
    assert text.sha256 == hashlib.sha256(expected).hexdigest()
    for _ in range(30):
        edits = random_edits(rng, len(expected))
        expected = apply_delta(expected, edits)
        assert text.apply(edits) == hashlib.sha256(expected).hexdigest()
        assert text.bytes() == expected and len(text) == len(expected)


@pytest.mark.parametrize("offset", [0, 63, 64, 65, 127, 128, 199])
def test_an_edit_at_or_around_a_midstate(small_marks, offset):
    old = bytes(range(200))
    text = EditableText(old)
    for new in ["", "a", "b" * 64, "c" * 130]:
        old = apply_delta(old, [edit(offset, min(offset + 1, len(old)), new)])
        assert text.apply([edit(offset, min(offset + 1, len(text)), new)]) == \
            hashlib.sha256(old).hexdigest()
        assert text.bytes() == old


@pytest.mark.parametrize("edits", [
    [edit(5, 3, "x")],                       # reversed span
    [edit(2, 4, "x"), edit(3, 5, "y")],      # overlapping
    [edit(0, 11, "x")],                      # past the end
    [edit(0, 1, "x"), {"Span": {}}],         # a later edit malformed
    [edit(0, 1, 5)],                         # NewText not a string
])
def test_a_bad_delta_changes_nothing(edits):
    text = EditableText(b"0123456789")
    with pytest.raises(BadDelta):
        text.apply(edits)
    assert text.bytes() == b"0123456789"
    assert text.sha256 == hashlib.sha256(b"0123456789").hexdigest()
