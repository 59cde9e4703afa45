"""An environment definition as written: YAML parsed into nodes that keep their source ranges,
and the text edits that seal `fn::secret` values into ciphertext (and back) without touching the
rest of the document (comments and layout stay as the author wrote them)."""
import json
import re

import yaml
from yaml.constructor import SafeConstructor

# Refused before anything is built: a deeper document is an attack or a mistake, not config.
MAX_DEPTH = 64
MAX_NODES = 100_000
_BRACKETS = re.compile(r"[\[\]{}]")
# libyaml's parser when PyYAML has it (its wheels do): parsing is nearly all of an open's time,
# and the pure-Python one is some ten times slower. Both give marks in characters.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SyntaxProblem(Exception):
    def __init__(self, summary, rng=None):
        super().__init__(summary)
        self.summary = summary
        self.rng = rng


class Node:
    """kind: 'map' (value: {key: Node}, keys: {key: key Node}), 'list' (value: [Node]) or
    'scalar' (value: str, int, float, bool or None); rng: the wire's Range."""

    __slots__ = ("kind", "value", "keys", "rng", "yaml")

    def __init__(self, kind, value, rng, source, keys=None):
        self.kind, self.value, self.rng, self.yaml, self.keys = kind, value, rng, source, keys


def _pos(mark):
    return {"line": mark.line + 1, "column": mark.column + 1, "byte": mark.index}


def node_range(environment, node):
    return {"environment": environment, "begin": _pos(node.start_mark),
            "end": _pos(node.end_mark)}


def _check_depth(text):
    """Refuse a document nesting past MAX_DEPTH from its event stream, which stops there: the
    composer is recursive and would take seconds to fail on thousands of levels. Before that,
    brackets counted as characters (quoted ones too, hence the margin): PyYAML's scanner costs
    the square of the flow depth on one line, so `[[[[...` must not even reach it."""
    depth = 0
    for match in _BRACKETS.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        if depth > 4 * MAX_DEPTH:
            raise SyntaxProblem(f"the document nests deeper than {MAX_DEPTH} levels")
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise SyntaxProblem(f"the document nests deeper than {MAX_DEPTH} levels",
                                    {"begin": _pos(mark), "end": _pos(mark)})
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def compose(text):
    """The YAML node tree of `text` (None for an empty document)."""
    try:
        _check_depth(text)
        return yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        rng = None
        if mark is not None:
            rng = {"begin": _pos(mark), "end": _pos(mark)}
        raise SyntaxProblem(f"invalid YAML: {err.problem or err.context}", rng) from None
    except yaml.YAMLError as err:
        raise SyntaxProblem(f"invalid YAML: {err}") from None
    except RecursionError:
        raise SyntaxProblem(f"the document nests deeper than {MAX_DEPTH} levels") from None


def parse(environment, text):
    """The definition's nodes (None for an empty document); raises SyntaxProblem."""
    root = compose(text)
    if root is None:
        return None
    constructor = SafeConstructor()
    count = [0]

    def build(node, depth):
        count[0] += 1
        if depth > MAX_DEPTH:
            raise SyntaxProblem(f"the document nests deeper than {MAX_DEPTH} levels",
                                node_range(environment, node))
        if count[0] > MAX_NODES:
            # Aliases can make a small text into a huge tree.
            raise SyntaxProblem(f"the document has more than {MAX_NODES} values")
        rng = node_range(environment, node)
        if isinstance(node, yaml.MappingNode):
            values, keys = {}, {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise SyntaxProblem("keys must be strings", node_range(environment, key_node))
                key = str(key_node.value)
                values[key] = build(value_node, depth + 1)
                keys[key] = key_node
            return Node("map", values, rng, node, keys)
        if isinstance(node, yaml.SequenceNode):
            return Node("list", [build(item, depth + 1) for item in node.value], rng, node)
        try:
            value = constructor.construct_object(node)
        except yaml.YAMLError as err:
            raise SyntaxProblem(f"invalid value: {err}", rng) from None
        if not isinstance(value, (str, int, float, bool, type(None))):
            value = str(node.value)  # dates, binary: kept as written
        return Node("scalar", value, rng, node)

    return build(root, 0)


# --- sealing secrets --------------------------------------------------------------------------

def _secret_nodes(node, depth=0):
    """Every (fn::secret mapping's value node) in the YAML tree."""
    if depth > MAX_DEPTH:
        return
    if isinstance(node, yaml.MappingNode):
        if len(node.value) == 1 and getattr(node.value[0][0], "value", None) == "fn::secret":
            yield node.value[0][1]
            return
        for _, value in node.value:
            yield from _secret_nodes(value, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _secret_nodes(item, depth + 1)


def _edit(text, edits):
    """`text` with the (start, end, replacement) character spans replaced, last first."""
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _span(node, replacement):
    end = node.end_mark.index
    if getattr(node, "style", None) in ("|", ">"):
        replacement += "\n"  # a block scalar's span ends after its line break
    return node.start_mark.index, end, replacement


def seal(text, encrypt):
    """`text` with each plaintext `fn::secret: value` replaced by `fn::secret: {ciphertext: X}`
    (encrypt: str -> base64 str). Ciphertexts already there are kept as they are."""
    root = compose(text)
    edits = [
        _span(node, "{ciphertext: %s}" % encrypt(node.value))
        for node in _secret_nodes(root)
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str"
    ]
    return _edit(text, edits)


def unseal(text, decrypt):
    """`text` with each `fn::secret: {ciphertext: X}` shown as its plaintext (decrypt: base64 str
    -> str)."""
    root = compose(text)
    edits = []
    for node in _secret_nodes(root):
        ciphertext = sealed_ciphertext(node)
        if ciphertext is not None:
            edits.append(_span(node, json.dumps(decrypt(ciphertext), ensure_ascii=False)))
    return _edit(text, edits)


def sealed_ciphertext(node):
    """The ciphertext of `{ciphertext: X}` (a YAML node, or a Node), else None."""
    if isinstance(node, Node):
        if node.kind == "map" and list(node.value) == ["ciphertext"]:
            inner = node.value["ciphertext"]
            return inner.value if inner.kind == "scalar" and isinstance(inner.value, str) else None
        return None
    if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        key, value = node.value[0]
        if getattr(key, "value", None) == "ciphertext" and isinstance(value, yaml.ScalarNode):
            return value.value
    return None
