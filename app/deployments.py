"""Deployments (checkpoints) as the service keeps them: opaque JSON text, gzip-compressed, with the
few facts the service needs (resource count, size, hash) computed once when stored."""
import gzip
import hashlib
import json

# What a stack that was never deployed exports: a valid, empty version-3 deployment.
EMPTY_DEPLOYMENT = {
    "version": 3,
    "deployment": {"manifest": {"time": "0001-01-01T00:00:00Z", "magic": "", "version": ""}},
}


class StoredDeployment:
    """An UntypedDeployment's text ready for the checkpoints table."""

    def __init__(self, text_bytes, resource_count):
        self.text = text_bytes
        self.resource_count = resource_count

    @classmethod
    def from_untyped(cls, untyped):
        """From a parsed {"version", "features"?, "deployment"} object."""
        resources = (untyped.get("deployment") or {}).get("resources") or []
        text = json.dumps(untyped, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls(text, len(resources))

    def row(self):
        return {
            "deployment_gz": gzip.compress(self.text, compresslevel=1),
            "size_bytes": len(self.text),
            "sha256": hashlib.sha256(self.text).hexdigest(),
            "resource_count": self.resource_count,
        }


def load(deployment_gz):
    """The stored text (bytes) of a checkpoint row."""
    return gzip.decompress(bytes(deployment_gz))


def rename_stack_in(untyped, old, new):
    """Rewrite the stack and project parts of every URN (and the secrets provider's names) in a
    deployment for a renamed stack, as the CLI's own file backend does (edit.RenameStack).

    `old` and `new` are (org, project, stack). Every string that starts with the old URN prefix
    (resource URNs, parents, dependencies, provider references "<urn>::<id>", URN values in inputs
    and outputs) is rewritten, wherever it is in the deployment."""
    old_prefix = f"urn:pulumi:{old[2]}::{old[1]}::"
    new_prefix = f"urn:pulumi:{new[2]}::{new[1]}::"

    def walk(value):
        if isinstance(value, str):
            return new_prefix + value[len(old_prefix):] if value.startswith(old_prefix) else value
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {walk(k) if k.startswith(old_prefix) else k: walk(v) for k, v in value.items()}
        return value

    renamed = walk(untyped)
    provider = (renamed.get("deployment") or {}).get("secrets_providers") or {}
    state = provider.get("state")
    if provider.get("type") == "service" and isinstance(state, dict):
        state.update({"owner": new[0], "project": new[1], "stack": new[2]})
    return renamed
