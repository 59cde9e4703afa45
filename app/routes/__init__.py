"""Blueprints, one per resource, and the small helpers every route uses to parse its input."""
import json

from flask import request
from marshmallow import ValidationError

from ..errors import ApiError


def parse_body(schema, default=None):
    """The JSON body loaded through its schema (400 for malformed JSON or invalid fields)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if default is not None:
            return schema.load(default)
        raise ApiError(400, "Bad Request: a JSON body is required")
    try:
        # NaN and Infinity are Python's extensions, not JSON: stored, they would make the state
        # unreadable for the CLI.
        data = json.loads(raw, parse_constant=_not_json)
    except ValueError:
        raise ApiError(400, "Bad Request: the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Bad Request: the body must be a JSON object")
    return schema.load(data)


def _not_json(constant):
    raise ValueError(f"{constant} is not JSON")


def parse_query(schema):
    try:
        return schema.load(request.args.to_dict())
    except ValidationError:
        raise


def stack_ref(org, project, stack):
    return f"{org}/{project}/{stack}"


def unix(ts):
    return int(ts.timestamp()) if ts is not None else None
