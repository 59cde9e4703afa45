"""`fn::conform`'s check of a value against a JSON Schema, pure: the keywords ESC environments
use (type, const, enum, the number, string and array bounds, pattern, properties, required,
additionalProperties, items, prefixItems, allOf, anyOf, oneOf, not), each problem said as
pulumi/esc says it ("expected string, got number") with the path to the part of the value it
is about. Keywords it does not know are ignored, as JSON Schema says of unknown keywords.
A `pattern` is matched with a time limit (the `regex` module's): an environment's author cannot
hold a worker with a pattern that backtracks without end."""
import json
import re

import regex

PATTERN_SECONDS = 0.25

_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list}


class SchemaError(Exception):
    """The schema itself is not one (not an object or a boolean, a bad keyword value)."""


def _type_of(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", dict: "object", list: "array"}[type(value)]


def _is(value, name):
    if name == "null":
        return value is None
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    expected = _TYPES.get(name)
    if expected is None:
        raise SchemaError(f"unknown type {name!r}")
    return isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))


def _text(value):
    return json.dumps(value, separators=(",", ":"))


def _path(base, step):
    if isinstance(step, int):
        return f"{base}[{step}]"
    return f"{base}.{step}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", step) else \
        f"{base}[{json.dumps(step)}]"


def problems(schema, value, path="value"):
    """[(path, message)] of what in `value` does not conform to `schema` (empty: it does)."""
    if schema is True:
        return []
    if schema is False:
        return [(path, "no value is allowed here")]
    if not isinstance(schema, dict):
        raise SchemaError("a schema must be an object or a boolean")
    found = []
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not all(isinstance(k, str) for k in kinds):
            raise SchemaError("type must be a string or a list of strings")
        if not any(_is(value, k) for k in kinds):
            return [(path, f"expected {' or '.join(kinds)}, got {_type_of(value)}")]
    if "const" in schema and value != schema["const"]:
        found.append((path, f"expected {_text(schema['const'])}"))
    if "enum" in schema:
        if not isinstance(schema["enum"], list):
            raise SchemaError("enum must be a list")
        if value not in schema["enum"]:
            found.append((path, "expected one of " + ", ".join(_text(e) for e in schema["enum"])))
    if _is(value, "number"):
        found += _bounds(schema, value, path)
    elif isinstance(value, str):
        found += _string(schema, value, path)
    elif isinstance(value, list):
        found += _array(schema, value, path)
    elif isinstance(value, dict):
        found += _object(schema, value, path)
    found += _combined(schema, value, path)
    return found


def _number(schema, key):
    bound = schema[key]
    if not isinstance(bound, (int, float)) or isinstance(bound, bool):
        raise SchemaError(f"{key} must be a number")
    return bound


def _bounds(schema, value, path):
    found = []
    tests = {"minimum": (lambda b: value >= b, "greater than or equal to"),
             "maximum": (lambda b: value <= b, "less than or equal to"),
             "exclusiveMinimum": (lambda b: value > b, "greater than"),
             "exclusiveMaximum": (lambda b: value < b, "less than")}
    for key, (holds, words) in tests.items():
        if key in schema and not holds(_number(schema, key)):
            found.append((path, f"expected a number {words} {_text(schema[key])}"))
    if "multipleOf" in schema:
        step = _number(schema, "multipleOf")
        if step <= 0:
            raise SchemaError("multipleOf must be greater than 0")
        if (value / step) != int(value / step):
            found.append((path, f"expected a multiple of {_text(step)}"))
    return found


def _lengths(schema, size, path, what):
    found = []
    for key, words in (("minLength", "at least"), ("maxLength", "at most")) if what == "string" \
            else (("minItems", "at least"), ("maxItems", "at most")):
        if key in schema:
            bound = _number(schema, key)
            if (size < bound) if words == "at least" else (size > bound):
                found.append((path, f"expected {'a' if what == 'string' else 'an'} {what} of "
                                    f"{words} length {_text(bound)}"))
    return found


def _string(schema, value, path):
    found = _lengths(schema, len(value), path, "string")
    if "pattern" in schema:
        if not isinstance(schema["pattern"], str):
            raise SchemaError("pattern must be a string")
        try:
            matched = regex.search(schema["pattern"], value, timeout=PATTERN_SECONDS)
        except regex.error as err:
            raise SchemaError(f"invalid pattern: {err}") from None
        except TimeoutError:
            raise SchemaError(f"the pattern {schema['pattern']!r} took too long to match") from None
        if matched is None:
            found.append((path, f"expected a string matching {schema['pattern']!r}"))
    return found


def _array(schema, value, path):
    found = _lengths(schema, len(value), path, "array")
    prefix = schema.get("prefixItems", [])
    if not isinstance(prefix, list):
        raise SchemaError("prefixItems must be a list")
    for i, (item_schema, item) in enumerate(zip(prefix, value)):
        found += problems(item_schema, item, _path(path, i))
    if "items" in schema:
        for i, item in enumerate(value[len(prefix):], start=len(prefix)):
            found += problems(schema["items"], item, _path(path, i))
    return found


def _object(schema, value, path):
    found = []
    required = schema.get("required", [])
    if not isinstance(required, list):
        raise SchemaError("required must be a list")
    missing = [name for name in required if name not in value]
    if missing:
        found.append((path, "missing required properties: " + ", ".join(missing)))
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise SchemaError("properties must be an object")
    for name, item in value.items():
        if name in properties:
            found += problems(properties[name], item, _path(path, name))
        elif "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            if extra is False:
                found.append((_path(path, name), f'unknown property "{name}"'))
            else:
                found += problems(extra, item, _path(path, name))
    return found


def _combined(schema, value, path):
    found = []
    for sub in schema.get("allOf", []):
        found += problems(sub, value, path)
    if "anyOf" in schema and not any(not problems(s, value, path) for s in schema["anyOf"]):
        found.append((path, "expected a value matching at least one of the anyOf schemas"))
    if "oneOf" in schema:
        matching = sum(1 for s in schema["oneOf"] if not problems(s, value, path))
        if matching != 1:
            found.append((path, f"expected a value matching exactly one of the oneOf schemas "
                                f"(it matches {matching})"))
    if "not" in schema and not problems(schema["not"], value, path):
        found.append((path, "expected a value not matching the schema of not"))
    return found
