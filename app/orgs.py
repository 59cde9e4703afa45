"""Organizations: their settings and metadata, the built-in roles as Pulumi role records, and
each user's default organization. Functions take the request's connection and never commit;
each change is one function, the one place its audit record will be written."""
from .auth import ENV_LEVELS
from .errors import ApiError
from .queries import queries

# The service's roles, weakest first, as Pulumi role records (`GET /api/orgs/{org}/roles`): the
# record's id is the role's name, so `pulumi org member edit --fga-role-id viewer` and
# `--fga-role-name viewer` name the same role as `--role viewer`.
BUILT_IN_ROLES = {
    "viewer": "Reads the organization's stacks, their history and state.",
    "member": "Also creates, renames, tags and updates stacks.",
    "admin": "Also deletes stacks, and manages the organization's settings and members.",
}

# Pulumi's organization role on the wire (`role` of a membership, `userRole` of the metadata) has
# no viewer: a viewer is a Pulumi `member` whose fine-grained role (`fgaRole`) is `viewer`.
PULUMI_ROLE = {"viewer": "member", "member": "member", "admin": "admin"}

# Pulumi's stack permissions an organization may give its members by default.
STACK_PERMISSIONS = {0: "none", 101: "read", 102: "write", 103: "admin"}


def find_org(conn, org):
    """The organization with its settings and counts (the route has checked membership)."""
    row = queries.org_metadata(conn, org_name=org)
    if row is None:
        raise ApiError(404, f"Not Found: organization '{org}' not found")
    return row


def lock_org(conn, org):
    row = queries.lock_org(conn, org_name=org)
    if row is None:
        raise ApiError(404, f"Not Found: organization '{org}' not found")
    return row


def update_settings(conn, org, actor, settings):
    """Change the settings given (a dict of column -> value; others stay) of an organization
    other than a personal one, and return the organization as it now is."""
    row = lock_org(conn, org)
    if row["personal_user_id"] is not None and settings:
        raise ApiError(400, f"Bad Request: '{org}' is a personal organization; it has no "
                            "member settings")
    queries.update_org_settings(
        conn, org_id=row["id"],
        default_stack_permission=settings.get("default_stack_permission"),
        default_environment_permission=(
            ENV_LEVELS.index(settings["default_environment_permission"])
            if settings.get("default_environment_permission") is not None else None),
        members_can_create_stacks=settings.get("members_can_create_stacks"),
        members_can_delete_stacks=settings.get("members_can_delete_stacks"),
    )
    return find_org(conn, org)


def default_org(conn, user):
    """The organization the caller's CLI uses by default: the one they chose while they still
    belong to it, else their personal one."""
    return queries.default_org_of_user(conn, user_id=user["id"]) or user["login"]


def set_default_org(conn, user, org):
    """Make `org` (of which the caller is a member: the route checked) the caller's default."""
    row = queries.org_by_name(conn, name=org)
    if row is None:
        raise ApiError(404, f"Not Found: organization '{org}' not found")
    queries.set_default_org(conn, user_id=user["id"], org_id=row["id"])


def roles(org_row, ux_purpose=None):
    """The built-in roles as Pulumi role records; they exist since the organization does."""
    if ux_purpose not in (None, "", "role"):
        return []
    return [
        {
            "id": name,
            "org_id": str(org_row["id"]),
            "name": name,
            "description": description,
            "resource_type": "organization",
            "ux_purpose": "role",
            # Pulumi's default roles carry the identifier of the built-in role they stand for.
            **({"default_identifier": name} if name != "viewer" else {}),
            "version": 1,
            "is_org_default": name == "member",
            "created": org_row["created_at"],
            "modified": org_row["created_at"],
        }
        for name, description in BUILT_IN_ROLES.items()
    ]
