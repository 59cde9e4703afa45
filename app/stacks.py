"""Stacks: finding and locking them, and their lifecycle outside updates (create, delete, rename,
tags). Functions take the request's connection and never commit."""
import json
import uuid

from psycopg2.errors import UniqueViolation

from . import blobs, metrics
from .api import stack_ref
from .errors import ApiError
from .queries import queries
from .state import rename, stored as stored_state

# The CLI matches this message exactly to suggest `pulumi stack rm --force`.
STILL_HAS_RESOURCES = "Bad Request: Stack still contains resources."
BUSY = "Conflict: an update is in progress on this stack"


def load_stack(conn, org, project, stack):
    row = queries.get_stack(conn, org_name=org, project_name=project, stack_name=stack)
    if row is None:
        raise ApiError(404, f"Not Found: stack '{stack_ref(org, project, stack)}' not found")
    return row


def lock_stack(conn, org, project, stack):
    row = queries.lock_stack(conn, org_name=org, project_name=project, stack_name=stack)
    if row is None:
        raise ApiError(404, f"Not Found: stack '{stack_ref(org, project, stack)}' not found")
    return row


def put_version_state(conn, stack_id, version, update_id, stored):
    """Store `stored` (a StoredDeployment) as the state at the end of a stack's version."""
    row = blobs.placed(conn, stored.row())
    queries.put_checkpoint(conn, stack_id=stack_id, version=version,
                           update_id=str(update_id) if update_id else None, **row)
    metrics.observe_checkpoint(row["size_bytes"])


def create_stack(conn, org, project, name, tags, state=None):
    """A new stack (with its project and the organization's record, if new); `state` is an
    initial state the CLI sends to carry a non-default secrets provider."""
    queries.ensure_org(conn, org_name=org)
    project_id = queries.ensure_project(conn, org_name=org, project_name=project)
    created = queries.insert_stack(conn, project_id=project_id, stack_name=name,
                                   tags=json.dumps(tags))
    if created is None:
        raise ApiError(409, f"Conflict: stack '{stack_ref(org, project, name)}' already exists")
    # The name is this stack's now, not a renamed stack's former one.
    queries.drop_stack_alias(conn, project_id=project_id, stack_name=name)
    if state is not None:
        put_version_state(conn, created["id"], 0, None,
                          stored_state.StoredDeployment.from_untyped(state))
    return created


def project_exists(conn, org, project):
    return queries.project_exists(conn, org_name=org, project_name=project)


def delete_stack(conn, org, project, stack, force):
    """Delete a stack (one with resources only when forced): its name is free at once, and the
    stack, its history and everything else of it stay restorable (restore_deleted) until the
    worker purges it (purge_deleted). A stack with an update running cannot be deleted."""
    row = lock_stack(conn, org, project, stack)
    if row["busy"]:
        raise ApiError(409, BUSY)
    if row["resource_count"] and not force:
        raise ApiError(400, STILL_HAS_RESOURCES)
    queries.delete_stack(conn, stack_id=row["id"])


def rename_stack(conn, org, project, stack, new_project, new_stack, initiator_id):
    """Rename a stack within its organization (maybe into another project), recorded in its
    history as a `rename` version whose state names the stack anew."""
    old, new = (org, project, stack), (org, new_project, new_stack)
    row = lock_stack(conn, org, project, stack)
    if row["busy"]:
        raise ApiError(409, BUSY)
    if new == old:
        return
    project_id = queries.ensure_project(conn, org_name=org, project_name=new_project)
    try:
        queries.rename_stack(conn, stack_id=row["id"], project_id=project_id,
                             stack_name=new_stack)
    except UniqueViolation:
        # The request's transaction rolls back with the error: the target project made above
        # goes too.
        raise ApiError(409, f"Conflict: stack '{stack_ref(*new)}' already exists") from None
    # Calls that still name the stack as it was (an old version's secrets) keep reaching it.
    queries.drop_stack_alias(conn, project_id=project_id, stack_name=new_stack)
    queries.add_stack_alias(conn, project_id=row["project_id"], stack_name=stack,
                            stack_id=row["id"])
    _record_rename(conn, row["id"], old, new, initiator_id)


def _record_rename(conn, stack_id, old, new, initiator_id):
    """A `rename` entry in the stack's history, with the checkpoint's URNs rewritten so that the
    next operation sees the same resources under the new names."""
    version = queries.next_version(conn, stack_id=stack_id)
    update_id = uuid.uuid4()
    latest = queries.latest_checkpoint(conn, stack_id=stack_id)
    queries.insert_recorded_update(
        conn, update_id=str(update_id), stack_id=stack_id, kind="rename", version=version,
        message=f"Renamed stack {stack_ref(*old)} to {stack_ref(*new)}",
        environment=json.dumps({}), initiator_id=initiator_id,
        resource_count=latest["resource_count"] if latest else 0,
    )
    queries.set_active_update(conn, stack_id=stack_id, update_id=str(update_id))
    if latest is not None:
        untyped = json.loads(stored_state.decompress(blobs.gz_of(latest)))
        renamed = rename.rename_stack_in(untyped, old, new)
        put_version_state(conn, stack_id, version, update_id,
                          stored_state.StoredDeployment.from_untyped(renamed))


def deleted_stacks(conn, org, retention_days):
    """The organization's restorable stacks, the most recently deleted first."""
    return list(queries.deleted_stacks(conn, org_name=org, retention_days=retention_days))


def restore_deleted(conn, org, stack_id, name, retention_days, initiator_id):
    """Bring back a deleted stack of `org` (still within its retention) with its history, state,
    secrets key, tags, grants and hooks, under its own name or `name`: (project, old name, new
    name). A name a live stack holds is refused (409); a new name is recorded in the stack's
    history as a rename, whose state names the stack anew (as `rename_stack` does)."""
    row = queries.lock_deleted_stack(conn, org_name=org, stack_id=stack_id,
                                     retention_days=retention_days)
    if row is None:
        raise ApiError(404, f"Not Found: organization '{org}' has no deleted stack {stack_id} "
                            "to restore (unknown, restored already, or purged)")
    project, old = row["project_name"], row["stack_name"]
    new = name or old
    taken = ApiError(409, f"Conflict: stack '{stack_ref(org, project, new)}' already exists; "
                          "restore the deleted stack under another name (stackName), or "
                          "rename or delete the existing one first")
    if queries.get_stack(conn, org_name=org, project_name=project, stack_name=new) is not None:
        raise taken
    try:
        queries.restore_stack(conn, stack_id=row["id"], stack_name=new)
    except UniqueViolation:  # a stack of that name was made meanwhile
        raise taken from None
    # The name is this stack's now, not a former name of another one.
    queries.drop_stack_alias(conn, project_id=row["project_id"], stack_name=new)
    if new != old:
        _record_rename(conn, row["id"], (org, project, old), (org, project, new), initiator_id)
    return project, old, new


def purge_deleted(conn, retention_days, batch=100):
    """Remove for good up to `batch` stacks deleted more than `retention_days` ago, with
    everything of theirs: [(org, project, stack, deleted_at)] of those purged."""
    return list(queries.purge_deleted_stacks(conn, retention_days=retention_days, batch=batch))


def set_tags(conn, org, project, stack, tags):
    row = load_stack(conn, org, project, stack)
    queries.set_tags(conn, stack_id=row["id"], tags=json.dumps(tags))


def _tags_locked(conn, org, project, stack):
    """(stack id, tags) with the stack row locked, so that tag edits do not lose each other."""
    row = lock_stack(conn, org, project, stack)
    return row["id"], dict(load_stack(conn, org, project, stack)["tags"])


def add_tag(conn, org, project, stack, name, value):
    """Add a tag the stack does not have yet."""
    stack_id, tags = _tags_locked(conn, org, project, stack)
    if name in tags:
        raise ApiError(409, f"Conflict: stack '{stack_ref(org, project, stack)}' already has "
                            f"tag '{name}'")
    tags[name] = value
    queries.set_tags(conn, stack_id=stack_id, tags=json.dumps(tags))


def update_tag(conn, org, project, stack, name, new_name, value):
    """Give an existing tag a new value, and a new name when `new_name` differs."""
    stack_id, tags = _tags_locked(conn, org, project, stack)
    if name not in tags:
        raise ApiError(404, f"Not Found: stack '{stack_ref(org, project, stack)}' has no tag "
                            f"'{name}'")
    if new_name != name and new_name in tags:
        raise ApiError(409, f"Conflict: stack '{stack_ref(org, project, stack)}' already has "
                            f"tag '{new_name}'")
    del tags[name]
    tags[new_name] = value
    queries.set_tags(conn, stack_id=stack_id, tags=json.dumps(tags))


def delete_tag(conn, org, project, stack, name):
    stack_id, tags = _tags_locked(conn, org, project, stack)
    if tags.pop(name, None) is None:
        raise ApiError(404, f"Not Found: stack '{stack_ref(org, project, stack)}' has no tag "
                            f"'{name}'")
    queries.set_tags(conn, stack_id=stack_id, tags=json.dumps(tags))
