"""Walking JSON objects without building a tree: a large request body (a checkpoint, an import)
is parsed once, keeping only the members the service reads and the exact bytes of each, and a
stored state can be read member by member."""
import json
import re


class BadBody(ValueError):
    """The body is not the JSON object it should be (the message says why)."""


_WHITESPACE = re.compile(r"[ \t\n\r]*")
# Of a deployment, the service needs only the top-level envelope and the number of resources:
# every other object is dropped as soon as it is parsed, so a large body never becomes a large
# tree of Python objects.
_KEPT_MEMBERS = frozenset({"isInvalid", "version", "features", "deployment", "resources"})


def skip_whitespace(text, at):
    return _WHITESPACE.match(text, at).end()


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


def parse_object(raw):
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
        first = skip_whitespace(text, 0)
        if text[first:first + 1] != "{":
            raise BadBody("the body must be a JSON object")
        members, at = object_members(text, 0, value_of)
        if skip_whitespace(text, at) != len(text):
            raise BadBody("the body is not valid JSON")
    except (StopIteration, ValueError) as err:
        if isinstance(err, BadBody):
            raise
        raise BadBody("the body is not valid JSON") from None
    return ParsedBody(raw, text, members, spans)


def count_resources(text):
    """The number of resources of an UntypedDeployment's text (parsed once, keeping nothing
    but the envelope)."""
    deployment = parse_object(text).members.get("deployment")
    resources = deployment.get("resources") if isinstance(deployment, dict) else None
    return len(resources) if isinstance(resources, list) else 0


def object_members(text, at, value_of):
    """Walk the JSON object at `at`: value_of(name, at) parses each member's value and returns
    (value, end). Returns ({name: value}, end)."""
    at = skip_whitespace(text, at)
    if text[at:at + 1] != "{":
        raise ValueError("not an object")
    at = skip_whitespace(text, at + 1)
    members = {}
    if text[at:at + 1] == "}":
        return members, at + 1
    while True:
        if text[at:at + 1] != '"':
            raise ValueError("not a member name")
        name, at = json.decoder.scanstring(text, at + 1)
        at = skip_whitespace(text, at)
        if text[at:at + 1] != ":":
            raise ValueError("no colon")
        members[name], at = value_of(name, skip_whitespace(text, at + 1))
        at = skip_whitespace(text, at)
        separator = text[at:at + 1]
        if separator == "}":
            return members, at + 1
        if separator != ",":
            raise ValueError("no comma")
        at = skip_whitespace(text, at + 1)
