"""Journal replay: rebuild a deployment from the base deployment of an update and the journal
entries the CLI sent for it (`PATCH .../journalentries`).

A port of the CLI's own `JournalReplayer` (pkg/backend/journal.go), which is the reference: the
service must produce exactly the state the CLI holds. Entries and resources are the CLI's JSON
objects (dicts) and pass through untouched except where the algorithm sets a flag. Replay is one
pass over the entries plus one over the resources: O(entries + resources), done when the state is
read while the update runs and once when it ends, never per batch received.
"""
import copy
import hashlib
import json
from datetime import datetime, timezone

from . import ROOT_STACK_TYPE
from .stored import EMPTY_DEPLOYMENT, decompress
from .. import blobs
from ..queries import queries

BEGIN, SUCCESS, FAILURE, REFRESH_SUCCESS, OUTPUTS, WRITE, SECRETS_MANAGER, REBUILT_BASE_STATE, \
    EXTENSION_PARAMETERIZE, SNIPPETS, STATE_MIGRATION = range(11)

# Entry format versions this replayer reads. Version 2 only carries state migrations, which the
# CLI sends only when the service answers journalVersion 2; the service answers 1.
SUPPORTED_ENTRY_VERSIONS = (1,)

# The features a resource's fields call for (stack.ApplyFeatures); any makes the deployment v4.
_FEATURES = (
    ("refreshBeforeUpdate", "refreshBeforeUpdate"),
    ("viewOf", "views"),
    ("resourceHooks", "hooks"),
    ("taint", "taint"),
    ("replaceWith", "replaceWith"),
    ("extensionRef", "extensionParameterization"),
    ("snippetID", "snippets-prototype"),
)


class JournalError(ValueError):
    """The journal cannot be replayed (an entry the service does not understand)."""


class JournalReplayer:
    def __init__(self, base):
        # The base deployment (a DeploymentV3 object); never mutated, copied where flags are set.
        self.base = base if base is not None else {}
        self._reset()
        self.has_refresh = False
        self.requires_byte_string = False

    def _reset(self):
        self.to_remove = set()            # operation ids of new resources to drop
        self.to_delete_in_base = set()    # base indices to drop
        self.to_replace_in_base = {}      # base index -> new state
        self.mark_as_deletion = set()     # base indices to flag `delete`
        self.mark_as_pending_replacement = set()
        self.operation_index = {}         # operation id -> index in new_resources
        self.incomplete = {}              # operation id -> begin entry (insertion ordered)
        self.new_resources = []
        self.extensions = {}

    def _index_of(self, operation_id):
        # Go reads a missing map key as 0; so does the reference.
        return self.operation_index.get(operation_id, 0)

    def add(self, entry):
        version = entry.get("version", 0)
        if version not in SUPPORTED_ENTRY_VERSIONS:
            raise JournalError(f"unsupported journal entry version {version}")
        if entry.get("requiresByteString"):
            self.requires_byte_string = True
        kind = entry.get("kind")
        op = entry.get("operationID")
        state = entry.get("state")
        remove_old, remove_new = entry.get("removeOld"), entry.get("removeNew")

        if kind == BEGIN:
            self.incomplete[op] = entry
        elif kind == SUCCESS:
            self.incomplete.pop(op, None)
            if state is not None:
                self.new_resources.append(state)
                self.operation_index[op] = len(self.new_resources) - 1
            if remove_old is not None:
                self.to_delete_in_base.add(remove_old)
            if remove_new is not None:
                self.to_remove.add(remove_new)
            if entry.get("deleteOld") is not None:
                self.mark_as_deletion.add(entry["deleteOld"])
            if entry.get("deleteNew") is not None:
                self.new_resources[self._index_of(entry["deleteNew"])]["delete"] = True
            if entry.get("pendingReplacementOld") is not None:
                self.mark_as_pending_replacement.add(entry["pendingReplacementOld"])
            if entry.get("pendingReplacementNew") is not None:
                self.new_resources[self._index_of(entry["pendingReplacementNew"])][
                    "pendingReplacement"] = True
            if entry.get("isRefresh"):
                self.has_refresh = True
        elif kind == REFRESH_SUCCESS:
            self.incomplete.pop(op, None)
            self.has_refresh = True
            if remove_old is not None:
                if state is None:
                    self.to_delete_in_base.add(remove_old)
                else:
                    self.to_replace_in_base[remove_old] = state
            if remove_new is not None:
                if state is None:
                    self.to_remove.add(remove_new)
                else:
                    self.new_resources[self._index_of(remove_new)] = state
        elif kind == FAILURE:
            self.incomplete.pop(op, None)
        elif kind == OUTPUTS:
            if state is not None and remove_old is not None:
                self.to_replace_in_base[remove_old] = state
            if state is not None and remove_new is not None:
                self.new_resources[self._index_of(remove_new)] = state
        elif kind == WRITE:
            # Replaces the base; expected before any entry that refers to it.
            self.base = entry.get("newSnapshot") or {}
        elif kind == SECRETS_MANAGER:
            provider = entry.get("secretsProvider")
            if provider != self.base.get("secrets_providers"):
                self.base = dict(self.base, secrets_providers=provider)
        elif kind == SNIPPETS:
            self.base = dict(self.base, snippets=entry.get("snippets"))
        elif kind == REBUILT_BASE_STATE:
            # After a refresh the engine rebuilds its base: fold everything so far into it.
            self.base = self.generate(manifest=self.base.get("manifest"))["deployment"]
            self._reset()
        elif kind == EXTENSION_PARAMETERIZE:
            self.extensions[entry["extensionRef"]] = entry["extension"]
        else:
            raise JournalError(f"unsupported journal entry kind {kind}")

    def generate(self, manifest=None, cli_version=None):
        """The UntypedDeployment ({"version", "features"?, "deployment"}) the entries produce."""
        features = set()
        dropped = {self._index_of(op) for op in self.to_remove}
        resources = []
        for i, res in enumerate(self.new_resources):
            if i in dropped:
                continue
            if res is None:
                raise JournalError(f"journal new resource at index {i} is nil")
            resources.append(res)
            _apply_features(res, self.requires_byte_string, features)

        for i, res in enumerate(self.base.get("resources") or []):
            if i in self.to_delete_in_base:
                continue
            replacement = self.to_replace_in_base.get(i)
            if replacement is not None:
                # A refresh replaced it (the pending-replacement flag set on the old copy is lost
                # with it, as in the reference).
                resources.append(replacement)
                _apply_features(replacement, self.requires_byte_string, features)
                continue
            if i in self.mark_as_pending_replacement or i in self.mark_as_deletion:
                res = dict(res)
                if i in self.mark_as_pending_replacement:
                    res["pendingReplacement"] = True
                if i in self.mark_as_deletion:
                    res["delete"] = True
            resources.append(res)
            _apply_features(res, self.requires_byte_string, features)

        operations = []
        for begin in self.incomplete.values():
            if begin.get("operation") is not None:
                operations.append(begin["operation"])
                _apply_features(begin["operation"].get("resource") or {},
                                self.requires_byte_string, features)
        # Pending creates of the base need the user to resolve them: they are carried forward.
        for pending in self.base.get("pending_operations") or []:
            if pending.get("type") == "creating":
                operations.append(pending)
                _apply_features(pending.get("resource") or {}, self.requires_byte_string, features)

        if self.has_refresh:
            resources = [copy.deepcopy(r) for r in resources]
            _rebuild_dependencies(resources)

        deployment = {"manifest": manifest or _manifest(cli_version)}
        if self.base.get("secrets_providers") is not None:
            deployment["secrets_providers"] = self.base["secrets_providers"]
        if resources:
            deployment["resources"] = resources
        if operations:
            deployment["pending_operations"] = operations
        deployment["metadata"] = self.base.get("metadata") or {}
        snippets = self.base.get("snippets")
        if snippets:
            deployment["snippets"] = snippets
            features.add("snippets-prototype")
        extensions = dict(self.extensions)
        extensions.update(self.base.get("extensions") or {})
        if extensions:
            deployment["extensions"] = extensions

        deployment = _normalize_urn_references(deployment)
        untyped = {"version": 4 if features else 3}
        if features:
            untyped["features"] = sorted(features)
        untyped["deployment"] = deployment
        return untyped


def replay(base_untyped, entries, cli_version=None):
    """Replay `entries` (in sequence order) onto an UntypedDeployment; returns the new one."""
    replayer = JournalReplayer((base_untyped or {}).get("deployment") or {})
    for entry in entries:
        replayer.add(entry)
    return replayer.generate(cli_version=cli_version)


def _manifest(cli_version):
    version = cli_version or ""
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    return {
        "time": now,
        "magic": hashlib.sha256(version.encode()).hexdigest() if version else "",
        "version": version,
    }


def _apply_features(res, requires_byte_string, features):
    if requires_byte_string:
        features.add("byteString")
    for field, feature in _FEATURES:
        if res.get(field):
            features.add(feature)


def _rebuild_dependencies(resources):
    """Drop references to resources a refresh deleted (resources are in dependency order)."""
    referenceable = set()
    for res in resources:
        if res.get("replaceWith"):
            res["replaceWith"] = [u for u in res["replaceWith"] if u in referenceable]
        if res.get("deletedWith") and res["deletedWith"] not in referenceable:
            res.pop("deletedWith")
        if res.get("dependencies"):
            res["dependencies"] = [u for u in res["dependencies"] if u in referenceable]
        if res.get("propertyDependencies"):
            rebuilt = {}
            for key, deps in res["propertyDependencies"].items():
                kept = [u for u in deps if u in referenceable]
                if kept:
                    rebuilt[key] = kept
            if rebuilt:
                res["propertyDependencies"] = rebuilt
            else:
                res.pop("propertyDependencies")  # an empty map is omitted (omitempty)
        referenceable.add(res.get("urn"))
    # Re-parent children of deleted parents onto the nearest surviving ancestor.
    available_parents = {}
    for res in resources:
        parent = res.get("parent", "")
        if parent not in referenceable:
            grandparent = available_parents.get(parent, "")
            if grandparent:
                res["parent"] = grandparent
            else:
                res.pop("parent", None)
        available_parents[res.get("urn")] = res.get("parent", "")


def _normalize_urn_references(deployment):
    """Rewrite references through aliases to the resources' current URNs and drop the aliases
    (apitype.DeploymentV3.NormalizeURNReferences)."""
    resources = deployment.get("resources") or []
    aliased = {}
    for res in resources:
        for alias in res.get("aliases") or []:
            other = aliased.get(alias)
            if other is not None and other != res["urn"]:
                raise JournalError(
                    f"two resources ('{other}' and '{res['urn']}') have the same alias: '{alias}'")
            aliased[alias] = res["urn"]
        parent = aliased.get(res.get("parent", ""))
        if parent and _qualified_type(parent) != ROOT_STACK_TYPE:
            urn = res["urn"]
            aliased[urn] = _new_urn(urn, _qualified_type(parent))
    if not aliased and not any("aliases" in r for r in resources):
        return deployment

    def fix(urn):
        return aliased.get(urn, urn)

    fixed = []
    for res in resources:
        res = dict(res)
        res["urn"] = fix(res["urn"])
        for field in ("parent", "deletedWith", "viewOf"):
            if res.get(field):
                res[field] = fix(res[field])
        if res.get("provider"):
            urn, sep, ident = res["provider"].rpartition("::")
            res["provider"] = fix(urn) + sep + ident
        if res.get("dependencies"):
            res["dependencies"] = [fix(u) for u in res["dependencies"]]
        if res.get("propertyDependencies"):
            res["propertyDependencies"] = {
                k: [fix(u) for u in v] for k, v in res["propertyDependencies"].items()}
        res.pop("aliases", None)
        fixed.append(res)
    deployment = dict(deployment, resources=fixed)
    for snippet in deployment.get("snippets") or []:
        refs = snippet.get("references")
        if refs:
            snippet["references"] = {k: fix(v) for k, v in refs.items()}
    return deployment


def _qualified_type(urn):
    # urn:pulumi:<stack>::<project>::<qualified type>::<name>
    parts = urn.split("::")
    return parts[2] if len(parts) >= 4 else ""


def _new_urn(urn, parent_type):
    parts = urn.split("::")
    stack_project = "::".join(parts[:2])
    own_type = parts[2].split("$")[-1]
    name = "::".join(parts[3:])
    return f"{stack_project}::{parent_type}${own_type}::{name}"


# --- the journal as stored -----------------------------------------------------------------------

def replayed_state(conn, stack_id, update_id, version, cli_version):
    """The state of a journaled update: its base (the stack's latest version before its own)
    with every entry stored so far replayed onto it, in sequence order."""
    base = queries.base_checkpoint(conn, stack_id=stack_id, version=version)
    base_untyped = (json.loads(decompress(blobs.gz_of(base))) if base is not None
                    else EMPTY_DEPLOYMENT)
    entries = (json.loads(row["entry"])
               for row in queries.journal_entries(conn, update_id=str(update_id)))
    return replay(base_untyped, entries, cli_version=cli_version or None)
