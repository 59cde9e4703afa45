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
    spans = {}

    def value_of(name, at):
        value, end = scan(text, at)
        spans[name] = (at, end)
        return value, end

    try:
        first = _WHITESPACE.match(text, 0).end()
        if text[first:first + 1] != "{":
            raise BadBody("the body must be a JSON object")
        members, at = _object_members(text, 0, value_of)
        if _WHITESPACE.match(text, at).end() != len(text):
            raise BadBody("the body is not valid JSON")
    except (StopIteration, ValueError) as err:
        if isinstance(err, BadBody):
            raise
        raise BadBody("the body is not valid JSON") from None
    return ParsedBody(raw, text, members, spans)


ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def stack_outputs(untyped):
    """(outputs, secrets providers) of a parsed UntypedDeployment: its stack resource's outputs as
    stored and the deployment's secrets provider, each None when absent."""
    deployment = untyped.get("deployment")
    deployment = deployment if isinstance(deployment, dict) else {}
    resources = deployment.get("resources")
    root = next((r for r in resources if _is_root_stack(r)), None) if isinstance(
        resources, list) else None
    if root is None:
        outputs = None
    else:
        outputs = root.get("outputs") if isinstance(root.get("outputs"), dict) else {}
    providers = deployment.get("secrets_providers")
    return outputs, providers if isinstance(providers, dict) else None


def stack_outputs_of_text(text):
    """stack_outputs() of an UntypedDeployment's text, parsing its resources one at a time and
    keeping only the stack resource, so that a large state never becomes a large tree of Python
    objects. The walk stops at the stack resource once the secrets provider has been seen (the
    CLI writes it first, and the stack resource first of all resources)."""
    scan = json.JSONDecoder().scan_once
    found = {}

    def deployment_member(name, at):
        if name == "resources":
            root, end = _root_stack_of_array(text, at, scan,
                                             stop=lambda: "secrets_providers" in found)
            found["root"] = root
            return root, end
        value, end = scan(text, at)
        if name == "secrets_providers":
            found[name] = value
        return value, end

    def envelope_member(name, at):
        if name == "deployment" and text[at:at + 1] == "{":
            return _object_members(text, at, deployment_member)
        return scan(text, at)

    try:
        text = text.decode("utf-8")
        _object_members(text, 0, envelope_member)
    except _StackFound as stopped:
        found["root"] = stopped.root
    except (StopIteration, ValueError):
        raise BadBody("the stored state is not valid JSON") from None
    return stack_outputs({"deployment": {
        "resources": [found["root"]] if found.get("root") is not None else [],
        "secrets_providers": found.get("secrets_providers"),
    }})


def stack_outputs_of_stored(deployment_gz, head_bytes=256 * 1024):
    """stack_outputs_of_text() of a stored checkpoint, decompressing only as much of it as the
    walk needs: the stack resource is usually near the start, so most of a large state is never
    decompressed. A prefix that ends too soon is retried four times longer."""
    data = bytes(deployment_gz)
    while True:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        head = decompressor.decompress(data, head_bytes)
        try:
            return stack_outputs_of_text(head)
        except BadBody:
            if decompressor.eof or len(head) < head_bytes:
                raise  # the whole text was there
            head_bytes *= 4


class _StackFound(Exception):
    def __init__(self, root):
        super().__init__()
        self.root = root


def _is_root_stack(resource):
    return (isinstance(resource, dict) and resource.get("type") == ROOT_STACK_TYPE
            and not resource.get("parent"))


def _object_members(text, at, value_of):
    """Walk the JSON object at `at`: value_of(name, at) parses each member's value and returns
    (value, end). Returns ({name: value}, end)."""
    at = _WHITESPACE.match(text, at).end()
    if text[at:at + 1] != "{":
        raise ValueError("not an object")
    at = _WHITESPACE.match(text, at + 1).end()
    members = {}
    if text[at:at + 1] == "}":
        return members, at + 1
    while True:
        if text[at:at + 1] != '"':
            raise ValueError("not a member name")
        name, at = json.decoder.scanstring(text, at + 1)
        at = _WHITESPACE.match(text, at).end()
        if text[at:at + 1] != ":":
            raise ValueError("no colon")
        members[name], at = value_of(name, _WHITESPACE.match(text, at + 1).end())
        at = _WHITESPACE.match(text, at).end()
        separator = text[at:at + 1]
        if separator == "}":
            return members, at + 1
        if separator != ",":
            raise ValueError("no comma")
        at = _WHITESPACE.match(text, at + 1).end()


def _root_stack_of_array(text, at, scan, stop):
    """(the stack resource or None, end) of the resources array at `at`; raises _StackFound as
    soon as it has found it if stop() says nothing more is needed."""
    if text[at:at + 1] != "[":
        value, end = scan(text, at)  # null, or not a list: no stack resource
        return None, end
    at = _WHITESPACE.match(text, at + 1).end()
    root = None
    if text[at:at + 1] == "]":
        return None, at + 1
    while True:
        value, at = scan(text, at)
        if root is None and _is_root_stack(value):
            root = value
            if stop():
                raise _StackFound(root)
        at = _WHITESPACE.match(text, at).end()
        separator = text[at:at + 1]
        if separator == "]":
            return root, at + 1
        if separator != ",":
            raise ValueError("no comma")
        at = _WHITESPACE.match(text, at + 1).end()


def load(deployment_gz):
    """The stored text (bytes) of a checkpoint row."""
    return gzip.decompress(bytes(deployment_gz))


_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_REFERENCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def rename_stack_in(untyped, old, new):
    """Rewrite a deployment for a renamed stack as the CLI's own file backend does
    (edit.RenameStack), so that the next operation sees the same resources under the new names.

    `old` and `new` are (org, project, stack). The stack and project parts of every URN of the
    old stack change wherever the state holds a URN: each resource's urn, parent, dependencies,
    property dependencies, deletedWith, replaceWith, aliases, viewOf, provider reference
    ("<urn>::<id>"), and resource references inside inputs, outputs and the replacement trigger.
    The root pulumi:pulumi:Stack resource is named "<project>-<stack>", so its name changes too.
    Other strings are left alone, even when they look like URNs, as the CLI leaves them."""
    _, old_project, old_stack = old
    _, new_project, new_stack = new

    def urn(value):
        if not isinstance(value, str) or not value.startswith("urn:pulumi:"):
            return value
        parts = value[len("urn:pulumi:"):].split("::", 3)
        if len(parts) != 4 or parts[0] != old_stack or parts[1] != old_project:
            return value
        qualified_type, name = parts[2], parts[3]
        if qualified_type == _ROOT_STACK_TYPE:
            name = f"{new_project}-{new_stack}"
        return f"urn:pulumi:{new_stack}::{new_project}::{qualified_type}::{name}"

    def urns(values):
        return [urn(v) for v in values] if isinstance(values, list) else values

    def provider_reference(value):
        if not isinstance(value, str) or "::" not in value:
            return value
        target, _, provider_id = value.rpartition("::")
        return f"{urn(target)}::{provider_id}"

    def secret_text(text):
        # A secret's plaintext is JSON text of a property value; ciphertext does not parse.
        try:
            value = json.loads(text)
        except (TypeError, ValueError):
            return text
        renamed = property_value(value)
        if renamed == value:
            return text
        return json.dumps(renamed, separators=(",", ":"), ensure_ascii=False)

    def property_value(value):
        if isinstance(value, list):
            return [property_value(v) for v in value]
        if not isinstance(value, dict):
            return value
        signature = value.get(_SIG)
        if signature == _RESOURCE_REFERENCE_SIG:
            return {**value, "urn": urn(value.get("urn"))}
        if signature == _SECRET_SIG:
            return {k: secret_text(v) if k in ("plaintext", "ciphertext") and isinstance(v, str)
                    else v for k, v in value.items()}
        if signature == _OUTPUT_VALUE_SIG:
            renamed = dict(value)
            if "value" in renamed:
                renamed["value"] = property_value(renamed["value"])
            if isinstance(renamed.get("dependencies"), list):
                renamed["dependencies"] = urns(renamed["dependencies"])
            return renamed
        return {k: property_value(v) for k, v in value.items()}

    def resource(state):
        if not isinstance(state, dict):
            return state
        state = dict(state)
        for key in ("urn", "parent", "deletedWith", "viewOf"):
            if state.get(key):
                state[key] = urn(state[key])
        for key in ("dependencies", "replaceWith", "aliases"):
            if state.get(key):
                state[key] = urns(state[key])
        if isinstance(state.get("propertyDependencies"), dict):
            state["propertyDependencies"] = {
                k: urns(v) for k, v in state["propertyDependencies"].items()}
        if state.get("provider"):
            state["provider"] = provider_reference(state["provider"])
        for key in ("inputs", "outputs", "replacementTrigger"):
            if key in state:
                state[key] = property_value(state[key])
        return state

    renamed = dict(untyped)
    deployment = dict(renamed.get("deployment") or {})
    if isinstance(deployment.get("resources"), list):
        deployment["resources"] = [resource(r) for r in deployment["resources"]]
    if isinstance(deployment.get("pending_operations"), list):
        deployment["pending_operations"] = [
            {**op, "resource": resource(op.get("resource"))} if isinstance(op, dict) else op
            for op in deployment["pending_operations"]]
    provider = deployment.get("secrets_providers") or {}
    state = provider.get("state")
    if provider.get("type") == "service" and isinstance(state, dict):
        deployment["secrets_providers"] = {
            **provider, "state": {**state, "owner": new[0], "project": new_project,
                                  "stack": new_stack}}
    renamed["deployment"] = deployment
    return renamed


# --- delta checkpoints -----------------------------------------------------------------------------

class BadDelta(ValueError):
    """A checkpoint delta that cannot be applied to the stored text."""


def apply_delta(old, edits):
    """Apply the CLI's text edits (gotextdiff TextEdit JSON: ascending, non-overlapping spans of
    byte offsets into the previous text, each replaced by NewText) to `old` (bytes)."""
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
        out.append(old[pos:start])
        out.append(new_text.encode("utf-8"))
        pos = end
    out.append(old[pos:])
    return b"".join(out)


def count_resources(text):
    """The number of resources of an UntypedDeployment's text (parsed once, keeping nothing
    but the envelope)."""
    members = parse_body(text).members
    deployment = members.get("deployment")
    resources = deployment.get("resources") if isinstance(deployment, dict) else None
    return len(resources) if isinstance(resources, list) else 0


def fix_pending_operations_key(text):
    """The CLI's verbatim/delta serializer writes more than nine pending operations under
    `pendingOperations`, a key its own reader ignores (it reads `pending_operations`); the
    service renames it so that they are not lost. Returns the text unchanged when it has none."""
    if b'"pendingOperations"' not in text:
        return text
    untyped = json.loads(text)
    deployment = untyped.get("deployment") or {}
    if "pendingOperations" not in deployment:
        return text
    deployment["pending_operations"] = (deployment.pop("pendingOperations") or []) + (
        deployment.get("pending_operations") or [])
    return json.dumps(untyped, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# What an unfinished step leaves pending, by the step's op (the engine's resource.OperationType),
# and which of the step's states it concerns.
_PENDING_BY_OP = {
    "create": ("creating", "new"), "create-replacement": ("creating", "new"),
    "update": ("updating", "new"),
    "delete": ("deleting", "old"), "delete-replaced": ("deleting", "old"),
    "read": ("reading", "new"), "read-replacement": ("reading", "new"),
    "import": ("importing", "new"), "import-replacement": ("importing", "new"),
}
_STATE_FIELDS = ("urn", "custom", "delete", "id", "type", "parent", "protect", "taint",
                 "external", "provider", "retainOnDelete")


def pending_operations_from_events(pre_events):
    """Pending operations for steps that began (their resourcePreEvent) but never finished.

    Used where the CLI's delta serializer dropped them (nine or fewer in flight). Events mask
    secret values, so only the resource's identity is kept, not its inputs or outputs: enough
    for the CLI to know that the resource may exist and must be resolved."""
    operations = []
    for event in pre_events:
        metadata = (event.get("resourcePreEvent") or {}).get("metadata") or {}
        kind = _PENDING_BY_OP.get(metadata.get("op"))
        state = metadata.get(kind[1]) if kind else None
        if not state:
            continue
        resource = {k: state[k] for k in _STATE_FIELDS if state.get(k) not in (None, "", False)}
        resource.setdefault("urn", metadata.get("urn"))
        resource.setdefault("type", metadata.get("type"))
        resource.setdefault("custom", bool(state.get("custom")))
        operations.append({"resource": resource, "type": kind[0]})
    return operations


def with_pending_operations(text, operations):
    """The text with `operations` as its pending operations, unless it already has some."""
    if not operations or b'"pending_operations"' in text:
        return text
    untyped = json.loads(text)
    untyped.setdefault("deployment", {})["pending_operations"] = operations
    return json.dumps(untyped, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
