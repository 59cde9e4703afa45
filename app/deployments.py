"""Deployments (checkpoints) as the service keeps them: opaque JSON text, gzip-compressed, with the
few facts the service needs (resource count, size, hash) computed once when stored."""
import gzip
import hashlib
import json
import re
import zlib

# What a stack that was never deployed exports: a valid, empty version-3 deployment.
EMPTY_DEPLOYMENT = {
    "version": 3,
    "deployment": {"manifest": {"time": "0001-01-01T00:00:00Z", "magic": "", "version": ""}},
}


class StoredDeployment:
    """An UntypedDeployment's text ready for the checkpoints table. The text is kept as a list of
    byte chunks so that a large body's deployment can be stored from a view of the request's own
    bytes, without copying or re-encoding it."""

    def __init__(self, chunks, resource_count):
        self.chunks = [chunks] if isinstance(chunks, (bytes, bytearray, memoryview)) else chunks
        self.resource_count = resource_count

    @property
    def text(self):
        return b"".join(bytes(chunk) for chunk in self.chunks)

    @classmethod
    def from_untyped(cls, untyped):
        """From a parsed {"version", "features"?, "deployment"} object."""
        resources = (untyped.get("deployment") or {}).get("resources") or []
        text = json.dumps(untyped, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls(text, len(resources))

    @classmethod
    def from_body(cls, body):
        """From a parsed request body (`parse_body` below): the envelope written by the service,
        the deployment exactly as the client sent it."""
        head = {"version": body.members["version"]}
        if body.members.get("features"):
            head["features"] = body.members["features"]
        prefix = json.dumps(head, separators=(",", ":"))[:-1] + ',"deployment":'
        deployment = body.members.get("deployment") or {}
        resources = deployment.get("resources") if isinstance(deployment, dict) else None
        count = len(resources) if isinstance(resources, list) else 0
        return cls([prefix.encode("utf-8"), body.raw_value("deployment"), b"}"], count)

    def row(self):
        compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
        digest = hashlib.sha256()
        size, compressed = 0, []
        for chunk in self.chunks:
            digest.update(chunk)
            size += len(chunk)
            compressed.append(compressor.compress(chunk))
        compressed.append(compressor.flush())
        return {
            "deployment_gz": b"".join(compressed),
            "size_bytes": size,
            "sha256": digest.hexdigest(),
            "resource_count": self.resource_count,
        }


class BadBody(ValueError):
    """The body is not the JSON object it should be (the message says why)."""


_WHITESPACE = re.compile(r"[ \t\n\r]*")
# Of a deployment, the service needs only the top-level envelope and the number of resources:
# every other object is dropped as soon as it is parsed, so a large body never becomes a large
# tree of Python objects.
_KEPT_MEMBERS = frozenset({"isInvalid", "version", "features", "deployment", "resources"})


def _kept_members(pairs):
    return {name: value for name, value in pairs if name in _KEPT_MEMBERS}


class ParsedBody:
    """A JSON object body parsed once: `members` are its top-level members (nested objects
    reduced to the members the service reads), and each member's exact bytes stay available."""

    def __init__(self, raw, text, members, spans):
        self._raw = raw
        self._text = text
        self.members = members
        self._spans = spans

    def raw_value(self, name):
        start, end = self._spans[name]
        if self._text.isascii():
            # Character offsets are byte offsets: a view of the body, no copy.
            return memoryview(self._raw)[start:end]
        return self._text[start:end].encode("utf-8")


def parse_body(raw):
    """Parse a JSON object body such as an UntypedDeployment or a checkpoint request, once.

    Raises BadBody for anything that is not a well-formed JSON object."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("the body is not UTF-8 text") from None
    scan = json.JSONDecoder(object_pairs_hook=_kept_members).scan_once
    members, spans = {}, {}
    try:
        at = _WHITESPACE.match(text, 0).end()
        if text[at:at + 1] != "{":
            raise BadBody("the body must be a JSON object")
        at = _WHITESPACE.match(text, at + 1).end()
        if text[at:at + 1] == "}":
            at += 1
        else:
            while True:
                if text[at:at + 1] != '"':
                    raise BadBody("the body is not valid JSON")
                name, at = json.decoder.scanstring(text, at + 1)
                at = _WHITESPACE.match(text, at).end()
                if text[at:at + 1] != ":":
                    raise BadBody("the body is not valid JSON")
                at = _WHITESPACE.match(text, at + 1).end()
                value, end = scan(text, at)
                members[name], spans[name] = value, (at, end)
                at = _WHITESPACE.match(text, end).end()
                separator = text[at:at + 1]
                at = _WHITESPACE.match(text, at + 1).end()
                if separator == "}":
                    break
                if separator != ",":
                    raise BadBody("the body is not valid JSON")
        if _WHITESPACE.match(text, at).end() != len(text):
            raise BadBody("the body is not valid JSON")
    except (StopIteration, ValueError) as err:
        if isinstance(err, BadBody):
            raise
        raise BadBody("the body is not valid JSON") from None
    return ParsedBody(raw, text, members, spans)


def load(deployment_gz):
    """The stored text (bytes) of a checkpoint row."""
    return gzip.decompress(bytes(deployment_gz))


def rename_stack_in(untyped, old, new):
    """Rewrite the stack and project parts of every URN (and the secrets provider's names) in a
    deployment for a renamed stack, as the CLI's own file backend does (edit.RenameStack).

    `old` and `new` are (org, project, stack). Every string that starts with the old URN prefix
    (resource URNs, parents, dependencies, provider references "<urn>::<id>", URN values in inputs
    and outputs) is rewritten, wherever it is in the deployment."""
    old_prefix = f"urn:pulumi:{old[2]}::{old[1]}::"
    new_prefix = f"urn:pulumi:{new[2]}::{new[1]}::"

    def walk(value):
        if isinstance(value, str):
            return new_prefix + value[len(old_prefix):] if value.startswith(old_prefix) else value
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {walk(k) if k.startswith(old_prefix) else k: walk(v) for k, v in value.items()}
        return value

    renamed = walk(untyped)
    provider = (renamed.get("deployment") or {}).get("secrets_providers") or {}
    state = provider.get("state")
    if provider.get("type") == "service" and isinstance(state, dict):
        state.update({"owner": new[0], "project": new[1], "stack": new[2]})
    return renamed
