"""Fixture states (untyped deployments as the CLI sends and exports them) and engine events."""
import gzip
import json
import struct
import zlib

ORG, PROJECT, STACK_NAME = "acme", "proj", "dev"


def deployment(count, stack=STACK_NAME, project=PROJECT, root_name=None, **extra):
    """A version-3 deployment of `count` resources (a stack root and its children). The root
    keeps the name it was created with (`root_name`) when the stack is renamed."""
    root_name = root_name or f"{project}-{stack}"
    root = f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{root_name}"
    resources = []
    if count:
        resources.append({"urn": root, "custom": False, "type": "pulumi:pulumi:Stack",
                          "outputs": {"answer": 42}})
    for i in range(1, count):
        resources.append({
            "urn": f"urn:pulumi:{stack}::{project}::test:index:Thing::thing{i}",
            "custom": False, "type": "test:index:Thing", "parent": root,
            "inputs": {"n": i}, "outputs": {"n": i}, **extra,
        })
    return {
        "manifest": {"time": "2026-01-01T00:00:00Z", "magic": "m", "version": "v3.274.1"},
        "secrets_providers": {"type": "service", "state": {
            "url": "http://localhost", "owner": ORG, "project": project, "stack": stack}},
        "resources": resources,
    }


def untyped(count, **kw):
    return {"version": 3, "deployment": deployment(count, **kw)}


def event(sequence, **payload):
    return {"sequence": sequence, "timestamp": 1700000000 + sequence,
            **(payload or {"stdoutEvent": {"message": f"line {sequence}", "color": "raw"}})}


def summary(sequence, **changes):
    return event(sequence, summaryEvent={
        "maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": changes,
        "PolicyPacks": {}, "isPreview": False, "result": "succeeded",
    })


def gzipped(obj):
    return gzip.compress(json.dumps(obj).encode(), compresslevel=1)


def gzipped_pieces(pieces, level=1):
    """One gzip member of b"".join(pieces) whose repeated pieces are deflated once each, not at
    every repeat: each piece is a run of deflate blocks from a compressor of its own, ended by a
    full flush (byte-aligned, not final, referring to nothing before it), so runs can be laid
    side by side; a final empty block and the CRC-32 and size of the whole close the member.
    A 100 MB body of one random megabyte repeated took 12 s to gzip.compress on a busy machine;
    this deflates the megabyte once."""
    runs, crc, size = {}, 0, 0
    out = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"]  # no name or time, unknown OS
    for piece in pieces:
        if piece not in runs:
            deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
            runs[piece] = deflate.compress(piece) + deflate.flush(zlib.Z_FULL_FLUSH)
        out.append(runs[piece])
        crc, size = zlib.crc32(piece, crc), size + len(piece)
    out.append(zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS).flush())
    out.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(out)


def pets(project, stack, resources=0):
    """An untyped deployment with `resources` resources whose URNs name the stack."""
    return {
        "version": 3,
        "deployment": {
            "manifest": {"time": "2024-03-07T16:00:00Z", "magic": "", "version": "v3"},
            "resources": [
                {
                    "urn": f"urn:pulumi:{stack}::{project}::random:index/randomPet:RandomPet::pet{i}",
                    "type": "random:index/randomPet:RandomPet",
                    "custom": True,
                    "id": f"pet{i}",
                }
                for i in range(resources)
            ],
        },
    }


def text_edit(old, new):
    """The edit the CLI's delta checkpoints send for a change from text `old` to `new` (bytes):
    one gotextdiff TextEdit replacing the middle where they differ."""
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end_old, end_new = len(old), len(new)
    while end_old > start and end_new > start and old[end_old - 1] == new[end_new - 1]:
        end_old, end_new = end_old - 1, end_new - 1
    return {"Span": {"uri": "", "start": {"line": 1, "column": 1, "offset": start},
                     "end": {"line": 1, "column": 1, "offset": end_old}},
            "NewText": new[start:end_new].decode()}
