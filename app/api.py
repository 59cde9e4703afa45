"""What every API route uses to read its request: bodies and queries through their schemas, the
URL patterns of stacks and updates, and the small formats the wire shares (stack references, Unix
times). Route modules import this, never each other."""
import json

from flask import g, request

from . import audit
from .errors import ApiError
from .state import scan

STACK = "/<org>/<project>/<stack>"
# Per-update paths use the literal segment `update` whatever the kind (the CLI has always sent
# that); preview, refresh and destroy are accepted in that place too.
KIND = "<any(update, preview, refresh, destroy):kind>"
UPDATE = STACK + "/" + KIND + "/<uuid:update_id>"


def parse_json_body(default=None):
    """The JSON object of the body, parsed once (400 for malformed JSON or a non-object);
    `default` stands for an empty body where the route allows one."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if default is not None:
            return default
        raise ApiError(400, "Bad Request: a JSON body is required")
    try:
        # NaN and Infinity are Python's extensions, not JSON: stored, they would make the state
        # unreadable for the CLI.
        data = json.loads(raw, parse_constant=_not_json)
    except ValueError:
        raise ApiError(400, "Bad Request: the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Bad Request: the body must be a JSON object")
    return data


def parse_body(schema, default=None):
    """The JSON body loaded through its schema (400 for malformed JSON or invalid fields)."""
    return schema.load(parse_json_body(default))


def _not_json(constant):
    raise ValueError(f"{constant} is not JSON")


def parse_state_body(schema):
    """A body carrying a whole state (checkpoint, import), scanned once without building its
    tree (`state.scan`): its top-level members loaded through `schema`, each member's exact bytes
    kept for storing."""
    try:
        parsed = scan.parse_object(request.get_data(cache=False))
    except scan.BadBody as err:
        raise ApiError(400, f"Bad Request: {err}") from None
    parsed.members = schema.load(parsed.members)
    return parsed


def parse_query(schema):
    return schema.load(request.args.to_dict())


def stack_ref(org, project, stack):
    return f"{org}/{project}/{stack}"


def unix(ts):
    return int(ts.timestamp()) if ts is not None else None


def actor():
    """The caller, for the audit log: login, token id (never the token), address (after
    TRUSTED_PROXY_COUNT) and user agent."""
    user = getattr(g, "user", None) or {}
    return audit.Actor(login=user.get("login") or "", token_id=user.get("token_id"),
                       source_ip=request.remote_addr or "",
                       user_agent=request.headers.get("User-Agent", ""))


def operation(kind, dry_run):
    """An update's kind as people name it: the preview phase of `pulumi up` is a preview."""
    return "preview" if dry_run else kind
