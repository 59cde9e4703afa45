"""Pending operations (resources whose step began but never finished) that the CLI's verbatim and
delta serializer misplaces (more than nine) or drops (nine or fewer), put where its reader looks."""
import json

from .stored import to_text


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
    return to_text(untyped)


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
    return to_text(untyped)
