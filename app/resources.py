"""A stack's resources as people and Pulumi's console client read them: the resources of its
current state or of a version's, with every secret value masked (neither the console nor these
reads ever decrypt). Functions take the request's connection and never commit."""
import json

from . import blobs, history
from .state import is_root_stack
from .state.stored import decompress

# How the engine marks a secret value in a state ("4dabf18193072939515e22adb298388d": the
# signature key, with this value for secrets).
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"
MASK = "[secret]"


def masked(value):
    """`value` with every secret (encrypted or not) replaced by MASK."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            return MASK
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def _deployment_of_text(text):
    untyped = json.loads(text)
    deployment = untyped.get("deployment") if isinstance(untyped, dict) else None
    return deployment if isinstance(deployment, dict) else {}


def _resources_of(deployment):
    found = deployment.get("resources")
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


# What a list of resources shows of each: nothing a state can mark secret.
LISTED = ("urn", "type", "parent", "provider", "id", "custom", "protect")


def current(conn, stack_id):
    """The resources of the stack's current state (as the running update has them so far)."""
    return [masked(r) for r in _current(conn, stack_id)]


def listing(conn, stack_id):
    """The current state's resources with only the LISTED fields (no values to mask)."""
    return [{key: r[key] for key in LISTED if key in r} for r in _current(conn, stack_id)]


def one(conn, stack_id, urn):
    """One resource of the current state by URN, secrets masked; None if there is none."""
    return next((masked(r) for r in _current(conn, stack_id) if r.get("urn") == urn), None)


def _current(conn, stack_id):
    state = history.current_state(conn, stack_id)
    if state.untyped is not None:
        deployment = state.untyped.get("deployment") or {}
    elif state.text is not None:
        deployment = _deployment_of_text(state.text)
    elif state.stored is not None:
        deployment = _deployment_of_text(decompress(blobs.gz_of(state.stored)))
    else:
        deployment = {}
    return _resources_of(deployment)


def at_version(conn, stack_id, version):
    """The resources of the state at the end of `version`; None if there is no such version."""
    stored = history.state_at_version(conn, stack_id, version)
    if stored is None:
        return None
    return [masked(r) for r in _resources_of(_deployment_of_text(decompress(blobs.gz_of(stored))))]


def stack_outputs(conn, stack_id):
    """The current state's stack outputs, secrets masked ({} when there are none)."""
    outputs, _ = history.stack_outputs(conn, stack_id)
    return masked(outputs or {})


def name_of(urn):
    return urn.rsplit("::", 1)[-1] if isinstance(urn, str) else ""


def tree(found):
    """[(depth, resource)] in the order of a tree by parent (the stack resource first), each
    resource once: one whose parent is missing counts as a root."""
    urns = {r.get("urn") for r in found}
    children = {}
    roots = []
    for resource in found:
        parent = resource.get("parent")
        if parent and parent in urns and parent != resource.get("urn"):
            children.setdefault(parent, []).append(resource)
        else:
            roots.append(resource)
    roots.sort(key=lambda r: (not is_root_stack(r), r.get("urn") or ""))
    ordered, seen = [], set()
    stack = [(0, r) for r in reversed(roots)]
    while stack:
        depth, resource = stack.pop()
        if id(resource) in seen:
            continue
        seen.add(id(resource))
        ordered.append((depth, resource))
        stack.extend((depth + 1, child) for child in reversed(children.get(resource.get("urn"), [])))
    # Resources whose parents form a loop are no one's descendants: listed at the top level.
    ordered.extend((0, r) for r in found if id(r) not in seen)
    return ordered
