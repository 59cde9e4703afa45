"""Rewriting a state for a renamed stack as the CLI's own file backend does (edit.RenameStack),
so that the next operation sees the same resources under the new names.

The stack and project parts of every URN of the old stack change wherever the state holds a URN:
each resource's urn, parent, dependencies, property dependencies, deletedWith, replaceWith,
aliases, viewOf, provider reference ("<urn>::<id>"), and resource references inside inputs,
outputs and the replacement trigger (secrets' plaintexts included). The root pulumi:pulumi:Stack
resource is named "<project>-<stack>", so its name changes too. Other strings are left alone, even
when they look like URNs, as the CLI leaves them."""
import json

from . import ROOT_STACK_TYPE

# Property values the engine marks with a signature key (resource/properties.go).
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_REFERENCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"

# Fields of a resource state holding one URN, a list of URNs, or property values.
_URN_FIELDS = ("urn", "parent", "deletedWith", "viewOf")
_URN_LIST_FIELDS = ("dependencies", "replaceWith", "aliases")
_PROPERTY_FIELDS = ("inputs", "outputs", "replacementTrigger")


def rename_stack_in(untyped, old, new):
    """The state `untyped` rewritten for the stack renamed from `old` to `new`, each an
    (org, project, stack) triple."""
    names = _Renaming(old, new)
    deployment = dict(untyped.get("deployment") or {})
    if isinstance(deployment.get("resources"), list):
        deployment["resources"] = [names.resource(r) for r in deployment["resources"]]
    if isinstance(deployment.get("pending_operations"), list):
        deployment["pending_operations"] = [
            {**op, "resource": names.resource(op.get("resource"))} if isinstance(op, dict) else op
            for op in deployment["pending_operations"]]
    _rename_secrets_provider(deployment, new)
    return {**untyped, "deployment": deployment}


def _rename_secrets_provider(deployment, new):
    """The service secrets provider names the stack it encrypts for."""
    provider = deployment.get("secrets_providers") or {}
    state = provider.get("state")
    if provider.get("type") == "service" and isinstance(state, dict):
        org, project, stack = new
        deployment["secrets_providers"] = {
            **provider, "state": {**state, "owner": org, "project": project, "stack": stack}}


class _Renaming:
    """The rewriting of one rename, a method per kind of value that may hold a URN."""

    def __init__(self, old, new):
        _, self.old_project, self.old_stack = old
        _, self.new_project, self.new_stack = new

    def urn(self, value):
        if not isinstance(value, str) or not value.startswith("urn:pulumi:"):
            return value
        parts = value[len("urn:pulumi:"):].split("::", 3)
        if len(parts) != 4 or parts[0] != self.old_stack or parts[1] != self.old_project:
            return value
        qualified_type, name = parts[2], parts[3]
        if qualified_type == ROOT_STACK_TYPE:
            name = f"{self.new_project}-{self.new_stack}"
        return f"urn:pulumi:{self.new_stack}::{self.new_project}::{qualified_type}::{name}"

    def urns(self, values):
        return [self.urn(v) for v in values] if isinstance(values, list) else values

    def provider_reference(self, value):
        if not isinstance(value, str) or "::" not in value:
            return value
        target, _, provider_id = value.rpartition("::")
        return f"{self.urn(target)}::{provider_id}"

    def resource(self, state):
        if not isinstance(state, dict):
            return state
        state = dict(state)
        for key in _URN_FIELDS:
            if state.get(key):
                state[key] = self.urn(state[key])
        for key in _URN_LIST_FIELDS:
            if state.get(key):
                state[key] = self.urns(state[key])
        if isinstance(state.get("propertyDependencies"), dict):
            state["propertyDependencies"] = {
                k: self.urns(v) for k, v in state["propertyDependencies"].items()}
        if state.get("provider"):
            state["provider"] = self.provider_reference(state["provider"])
        for key in _PROPERTY_FIELDS:
            if key in state:
                state[key] = self.property_value(state[key])
        return state

    def property_value(self, value):
        if isinstance(value, list):
            return [self.property_value(v) for v in value]
        if not isinstance(value, dict):
            return value
        signature = value.get(_SIG)
        if signature == _RESOURCE_REFERENCE_SIG:
            return {**value, "urn": self.urn(value.get("urn"))}
        if signature == _SECRET_SIG:
            return {k: self.secret_text(v) if k in ("plaintext", "ciphertext")
                    and isinstance(v, str) else v for k, v in value.items()}
        if signature == _OUTPUT_VALUE_SIG:
            return self.output_value(value)
        return {k: self.property_value(v) for k, v in value.items()}

    def output_value(self, value):
        renamed = dict(value)
        if "value" in renamed:
            renamed["value"] = self.property_value(renamed["value"])
        if isinstance(renamed.get("dependencies"), list):
            renamed["dependencies"] = self.urns(renamed["dependencies"])
        return renamed

    def secret_text(self, text):
        # A secret's plaintext is JSON text of a property value; ciphertext does not parse.
        try:
            value = json.loads(text)
        except (TypeError, ValueError):
            return text
        renamed = self.property_value(value)
        if renamed == value:
            return text
        return json.dumps(renamed, separators=(",", ":"), ensure_ascii=False)
