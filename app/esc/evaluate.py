"""Evaluating a definition: imports merged in order under the environment's own `values`,
`${...}` interpolation with property access, the built-in functions, secrets that stay secret
through everything computed from them, and diagnostics (with source ranges) for every error.

The result is what `open` returns: {"properties": {name: Value}}, a Value being
{"value": ..., "secret": true?, "trace": {"def": Range}} with objects and lists of Values inside.
"""
import base64
import binascii
import json
import re

from . import schema, syntax

MAX_IMPORT_DEPTH = 10
PROVIDERS_UNAVAILABLE = "provider not available on this service"
SECRET_SHOWN = "[secret]"

# ${path} (not $${, which is a literal "${").
_INTERPOLATION = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_PATH_NAME = re.compile(r"[A-Za-z_][\w-]*")
_PATH_STEP = re.compile(r'\.([A-Za-z_][\w-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


class Value:
    __slots__ = ("value", "secret", "rng", "unknown")

    def __init__(self, value, rng, secret=False, unknown=False):
        self.value, self.rng, self.secret, self.unknown = value, rng, secret, unknown


class Diagnostics(Exception):
    def __init__(self, diagnostics):
        super().__init__("; ".join(d["summary"] for d in diagnostics))
        self.diagnostics = diagnostics


class Loader:
    """What the evaluator needs from its caller: an import's text and its decrypter."""

    def load(self, name):
        """(environment name, YAML text, decrypt) of the import `name`, or None if unknown."""
        return None

    def decrypt(self, ciphertext):
        raise ValueError("this document cannot hold ciphertexts")

    def open(self, provider, inputs):
        """What `fn::open::<provider>` gives for `inputs` (plain JSON): plain JSON in which
        Secret(...) marks secret values; None when the provider is not available. Raises
        ProviderError for inputs it refuses."""
        return None

    def context(self):
        """The built-in `context` property (plain JSON: who evaluates, in which organization),
        or None when the evaluation has none."""
        return None


class Secret:
    """A secret value inside what a provider returns (None `value`: secret and unknown, such as
    a ciphertext this service cannot open)."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class ProviderError(Exception):
    pass


def evaluate(name, text, loader, chain=()):
    """The opened environment {"properties": ...}; raises Diagnostics."""
    evaluator = _Evaluator(name, loader, chain)
    properties = evaluator.run(text)
    if evaluator.diags:
        raise Diagnostics(evaluator.diags)
    return properties


def to_wire(value, show_secrets=True):
    """A Value as the wire's JSON (secrets as "[secret]" unless show_secrets)."""
    inner = value.value
    if isinstance(inner, dict):
        inner = {k: to_wire(v, show_secrets) for k, v in inner.items()}
    elif isinstance(inner, list):
        inner = [to_wire(v, show_secrets) for v in inner]
    elif value.secret and not show_secrets:
        inner = SECRET_SHOWN
    out = {"value": inner, "trace": {"def": value.rng}}
    if value.secret:
        out["secret"] = True
    if value.unknown:
        out["unknown"] = True
    return out


def environment_to_wire(properties, show_secrets=True):
    return {"properties": {k: to_wire(v, show_secrets) for k, v in properties.items()}}


def plain(value):
    """A Value's plain JSON (no flags)."""
    if isinstance(value.value, dict):
        return {k: plain(v) for k, v in value.value.items()}
    if isinstance(value.value, list):
        return [plain(v) for v in value.value]
    return value.value


def from_plain(data, rng, secret=False):
    if isinstance(data, dict):
        return Value({k: from_plain(v, rng, secret) for k, v in data.items()}, rng)
    if isinstance(data, list):
        return Value([from_plain(v, rng, secret) for v in data], rng)
    return Value(data, rng, secret)


def has_secret(value):
    if value.secret:
        return True
    if isinstance(value.value, dict):
        return any(has_secret(v) for v in value.value.values())
    if isinstance(value.value, list):
        return any(has_secret(v) for v in value.value)
    return False


def parse_path(text):
    """`a.b[0]["c d"]` -> ["a", "b", 0, "c d"]; raises ValueError."""
    text = text.strip()
    match = _PATH_NAME.match(text) or re.match(r'\["((?:[^"\\]|\\.)*)"\]', text)
    if not match:
        raise ValueError(f"invalid property path {text!r}")
    path = [match.group(0) if match.re is _PATH_NAME else json.loads(f'"{match.group(1)}"')]
    pos = match.end()
    while pos < len(text):
        step = _PATH_STEP.match(text, pos)
        if not step:
            raise ValueError(f"invalid property path {text!r}")
        if step.group(1) is not None:
            path.append(step.group(1))
        elif step.group(2) is not None:
            path.append(int(step.group(2)))
        else:
            path.append(json.loads(f'"{step.group(3)}"'))
        pos = step.end()
    return path


def merge(base, top):
    """`top` over `base`: objects merge key by key, anything else replaces."""
    if base is None:
        return top
    if isinstance(base.value, dict) and isinstance(top.value, dict):
        merged = dict(base.value)
        for key, value in top.value.items():
            merged[key] = merge(base.value.get(key), value)
        return Value(merged, top.rng, top.secret)
    return top


_IN_PROGRESS = object()


class _Evaluator:
    def __init__(self, name, loader, chain):
        self.name, self.loader, self.chain = name, loader, chain + (name,)
        self.diags = []
        self.memo = {}
        self.values_node = None
        self.base = None

    def error(self, summary, rng=None):
        diag = {"summary": summary}
        if rng is not None:
            diag["range"] = rng
        self.diags.append(diag)

    # --- the document ---------------------------------------------------------------------------

    def run(self, text):
        try:
            root = syntax.parse(self.name, text)
        except syntax.SyntaxProblem as problem:
            self.error(problem.summary, problem.rng)
            return {}
        if root is None or (root.kind == "scalar" and root.value is None):
            return {}
        if root.kind != "map":
            self.error("an environment definition must be an object", root.rng)
            return {}
        self.base = self.imports(root.value.get("imports"))
        values = root.value.get("values")
        if values is not None and values.kind != "map":
            if not (values.kind == "scalar" and values.value is None):
                self.error("values must be an object", values.rng)
            values = None
        self.values_node = values
        if values is None:
            result = self.base
        else:
            result = self.eval(values, self.base)
        properties = result.value if result is not None and isinstance(result.value, dict) else {}
        self.check_reserved(properties)
        return properties

    def imports(self, node):
        base = None
        if node is None or (node.kind == "scalar" and node.value is None):
            return None
        if node.kind != "list":
            self.error("imports must be a list", node.rng)
            return None
        for item in node.value:
            name = item.value if item.kind == "scalar" else None
            if item.kind == "map" and len(item.value) == 1:
                name = next(iter(item.value))
            if not isinstance(name, str) or not name:
                self.error("an import must be an environment name", item.rng)
                continue
            imported = self.import_one(name, item.rng)
            if imported is not None:
                base = merge(base, imported)
        return base

    def import_one(self, name, rng):
        if len(self.chain) > MAX_IMPORT_DEPTH:
            self.error(f"imports nest deeper than {MAX_IMPORT_DEPTH} environments", rng)
            return None
        found = self.loader.load(name)
        if found is None:
            self.error(f'unknown environment "{name}"', rng)
            return None
        full_name, text, loader = found
        if full_name in self.chain:
            self.error(f'cyclic import of "{full_name}" ({" -> ".join(self.chain + (full_name,))})',
                       rng)
            return None
        inner = _Evaluator(full_name, loader, self.chain)
        properties = inner.run(text)
        if inner.diags:
            self.error(f'the imported environment "{name}" has errors: '
                       + "; ".join(d["summary"] for d in inner.diags[:3]), rng)
            return None
        return Value(properties, rng)

    def check_reserved(self, properties):
        for key in ("environmentVariables", "files"):
            found = properties.get(key)
            if found is None:
                continue
            if not isinstance(found.value, dict):
                self.error(f"{key} must be an object of strings", found.rng)
                continue
            for name, value in found.value.items():
                if not isinstance(value.value, str) and not value.unknown:
                    self.error(f"{key}.{name} must be a string", value.rng)
        config = properties.get("pulumiConfig")
        if config is not None and not isinstance(config.value, dict):
            self.error("pulumiConfig must be an object", config.rng)

    # --- expressions ----------------------------------------------------------------------------

    def eval(self, node, base=None):
        key = id(node)
        found = self.memo.get(key)
        if found is _IN_PROGRESS:
            self.error("cyclic reference", node.rng)
            return Value(None, node.rng, unknown=True)
        if found is not None:
            return found
        self.memo[key] = _IN_PROGRESS
        result = self._eval(node, base)
        self.memo[key] = result
        return result

    def _eval(self, node, base):
        if node.kind == "map":
            if len(node.value) == 1:
                (fn, arg), = node.value.items()
                if fn.startswith("fn::"):
                    return self.call(fn, arg, node)
            merged = dict(base.value) if base is not None and isinstance(base.value, dict) else {}
            for key, child in node.value.items():
                child_base = merged.get(key)
                merged[key] = self.eval(child, child_base if child.kind == "map" else None)
            return Value(merged, node.rng)
        if node.kind == "list":
            return Value([self.eval(item) for item in node.value], node.rng)
        if isinstance(node.value, str):
            return self.interpolate(node)
        return Value(node.value, node.rng)

    def interpolate(self, node):
        text = node.value
        matches = list(_INTERPOLATION.finditer(text))
        if not matches:
            return Value(text, node.rng)
        whole = len(matches) == 1 and matches[0].group(0) != "$${" and matches[0].span() == (0, len(text))
        if whole:
            return self.reference(matches[0].group(1), node.rng)
        parts, secret, unknown, pos = [], False, False, 0
        for match in matches:
            parts.append(text[pos:match.start()])
            pos = match.end()
            if match.group(0) == "$${":
                parts.append("${")
                continue
            value = self.reference(match.group(1), node.rng)
            secret = secret or has_secret(value)
            unknown = unknown or value.unknown
            parts.append(_as_text(value))
        parts.append(text[pos:])
        return Value("".join(parts), node.rng, secret, unknown)

    def reference(self, path_text, rng):
        try:
            path = parse_path(path_text)
        except ValueError as err:
            self.error(str(err), rng)
            return Value(None, rng, unknown=True)
        # `context` is the built-in property (who evaluates); everything else is the
        # environment as merged: own expressions (evaluated on demand) over imports.
        node, value = self.values_node, self.base
        context = self.loader.context() if path and path[0] == "context" else None
        if context is not None:
            node, value, path = None, from_plain(context, rng), path[1:]
        for step in path:
            if node is not None and node.kind == "map" and not _is_call(node) \
                    and isinstance(step, str):
                child = node.value.get(step)
                below = value.value.get(step) if value is not None and isinstance(value.value, dict) else None
                if child is not None:
                    node, value = child, below
                    continue
                node, value = None, below
            elif node is not None and node.kind == "list" and isinstance(step, int):
                node = node.value[step] if step < len(node.value) else None
                value = None
                if node is not None:
                    continue
            else:
                if node is not None:
                    value = self.eval(node, value if node.kind == "map" else None)
                    node = None
                value = _child(value, step)
            if value is None:
                self.error(f'unknown property "{path_text.strip()}"', rng)
                return Value(None, rng, unknown=True)
        if node is not None:
            return self.eval(node, value if node.kind == "map" else None)
        return value

    # --- functions ------------------------------------------------------------------------------

    def call(self, fn, arg, node):
        rng = node.rng
        if fn == "fn::secret":
            ciphertext = syntax.sealed_ciphertext(arg)
            if ciphertext is not None:
                try:
                    return Value(self.loader.decrypt(ciphertext), rng, secret=True)
                except Exception:  # noqa: BLE001 -- any failure is the document's
                    self.error("a secret's ciphertext cannot be decrypted by this environment", rng)
                    return Value(None, rng, secret=True, unknown=True)
            value = self.eval(arg)
            if not isinstance(value.value, str) and not value.unknown:
                self.error("the argument to fn::secret must be a string", arg.rng)
            return Value(value.value, rng, secret=True, unknown=value.unknown)
        if fn == "fn::open" or fn.startswith("fn::open::") or fn.startswith("fn::rotate"):
            return self.open(fn, arg, rng)
        handler = _FUNCTIONS.get(fn)
        if handler is None:
            self.error(f"unknown function {fn}", rng)
            return Value(None, rng, unknown=True)
        value = self.eval(arg)
        if value.unknown:
            return Value(None, rng, unknown=True)
        try:
            result = handler(value)
        except _ArgumentError as err:
            self.error(f"{fn}: {err}", arg.rng)
            return Value(None, rng, unknown=True)
        secret = has_secret(value)
        return from_plain(result, rng, secret) if secret else from_plain(result, rng)

    def open(self, fn, arg, rng):
        """`fn::open::<provider>: inputs`, or `fn::open: {provider, inputs}`."""
        provider = fn[len("fn::open::"):] if fn.startswith("fn::open::") else None
        if fn == "fn::open" and arg.kind == "map" and "provider" in arg.value:
            name = self.eval(arg.value["provider"])
            provider = name.value if isinstance(name.value, str) else None
            arg = arg.value.get("inputs")
        inputs = self.eval(arg) if arg is not None else Value(None, rng)
        if inputs.unknown:
            return Value(None, rng, unknown=True)
        try:
            result = self.loader.open(provider, plain(inputs)) if provider else None
        except ProviderError as err:
            self.error(f"{fn}: {err}", rng)
            return Value(None, rng, unknown=True)
        if result is None:
            self.error(f'{fn}: {PROVIDERS_UNAVAILABLE} ("{provider or fn}")', rng)
            return Value(None, rng, unknown=True)
        return _provided(result, rng, has_secret(inputs))


def _provided(data, rng, secret):
    """A provider's result as Values (Secret marks secret values)."""
    if isinstance(data, Secret):
        if data.value is None:
            return Value(None, rng, secret=True, unknown=True)
        return _provided(data.value, rng, True)
    if isinstance(data, dict):
        return Value({k: _provided(v, rng, secret) for k, v in data.items()}, rng)
    if isinstance(data, list):
        return Value([_provided(v, rng, secret) for v in data], rng)
    return Value(data, rng, secret)


def _is_call(node):
    return node.kind == "map" and len(node.value) == 1 and next(iter(node.value)).startswith("fn::")


def _child(value, step):
    if value is None:
        return None
    if isinstance(value.value, dict) and isinstance(step, str):
        return value.value.get(step)
    if isinstance(value.value, list) and isinstance(step, int) and step < len(value.value):
        return value.value[step]
    return None


def _as_text(value):
    data = plain(value)
    if isinstance(data, str):
        return data
    if isinstance(data, bool):
        return "true" if data else "false"
    if data is None:
        return ""
    if isinstance(data, (int, float)):
        return json.dumps(data)
    return json.dumps(data, separators=(",", ":"))


class _ArgumentError(Exception):
    pass


def _string(value, what="the argument"):
    if not isinstance(value, str):
        raise _ArgumentError(f"{what} must be a string")
    return value


def _pair(value, first, second):
    data = plain(value)
    if not isinstance(data, list) or len(data) != 2:
        raise _ArgumentError(f"the argument must be a list of two elements: [{first}, {second}]")
    return data


def _join(value):
    delimiter, items = _pair(value, "delimiter", "values")
    _string(delimiter, "the delimiter")
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise _ArgumentError("the values to join must be a list of strings")
    return delimiter.join(items)


def _split(value):
    delimiter, text = _pair(value, "delimiter", "string")
    _string(delimiter, "the delimiter")
    _string(text, "the string to split")
    return text.split(delimiter) if delimiter else list(text)


def _concat(value):
    data = plain(value)
    if not isinstance(data, list) or not all(isinstance(i, list) for i in data):
        raise _ArgumentError("the argument must be a list of lists")
    return [item for items in data for item in items]


def _from_json(value):
    try:
        return json.loads(_string(plain(value)))
    except ValueError as err:
        raise _ArgumentError(f"invalid JSON: {err}") from None


def _from_base64(value):
    try:
        return base64.b64decode(_string(plain(value)), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _ArgumentError("the argument is not base64 of UTF-8 text") from None


def _conform(value):
    """`fn::conform: {schema, value}`: the value, once it conforms to the JSON Schema (each
    problem a diagnostic naming the part of the value it is about)."""
    data = plain(value)
    if not isinstance(data, dict) or set(data) != {"schema", "value"}:
        raise _ArgumentError("the argument must be an object with exactly schema and value")
    try:
        found = schema.problems(data["schema"], data["value"])
    except schema.SchemaError as err:
        raise _ArgumentError(f"invalid schema: {err}") from None
    if found:
        raise _ArgumentError("; ".join(f"{path}: {message}" for path, message in found))
    return data["value"]


def _to_string(value):
    data = plain(value)
    return data if isinstance(data, str) else _as_text(value) if data is not None else "null"


_FUNCTIONS = {
    "fn::join": _join,
    "fn::split": _split,
    "fn::concat": _concat,
    "fn::toJSON": lambda v: json.dumps(plain(v), separators=(",", ":")),
    "fn::fromJSON": _from_json,
    "fn::toBase64": lambda v: base64.b64encode(_string(plain(v)).encode("utf-8")).decode("ascii"),
    "fn::fromBase64": _from_base64,
    "fn::toString": _to_string,
    "fn::final": plain,
    "fn::conform": _conform,
}
