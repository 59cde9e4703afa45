"""Teams of an organization: creating, describing and deleting them, their members, and their
grants on stacks (Pulumi's stack permissions) and on ESC environments (Pulumi's environment
permissions, app/auth.py's ENV_LEVELS). Functions take the request's connection and never
commit; each change is one function, the one place its audit record is written from. Changes
lock the organization row first (app/orgs.py), as member changes do."""
from . import environments, stacks
from .api import stack_ref
from .auth import ENV_LEVELS
from .errors import ApiError
from .orgs import lock_org
from .queries import queries

# Pulumi's stack permissions a team can hold on a stack ("none" is no grant).
READ, WRITE, ADMIN = 101, 102, 103
GRANTS = {READ: "read", WRITE: "write", ADMIN: "admin"}


def get(conn, org_row, name):
    """The team (404 when the organization has none of that name)."""
    team = queries.team_by_name(conn, org_id=org_row["id"], name=name)
    if team is None:
        raise ApiError(404, f"Not Found: organization '{org_row['name']}' has no team '{name}'")
    return team


def _not_personal(org_row):
    if org_row["personal_user_id"] is not None:
        raise ApiError(400, f"Bad Request: '{org_row['name']}' is a personal organization; it "
                            "has no teams")


def check_grant(permission, allowed=GRANTS):
    if permission not in allowed:
        raise ApiError(400, f"Bad Request: invalid stack permission {permission!r}: one of "
                            + ", ".join(f"{p} ({n})" for p, n in
                                        {**{0: "none"}, **GRANTS}.items() if p in allowed))


def list_teams(conn, org_row, user_id):
    return list(queries.teams_of_org(conn, org_id=org_row["id"], user_id=user_id))


def create(conn, org, name, display_name, description):
    """A new, empty team; 409 when the organization has one of that name."""
    org_row = lock_org(conn, org)
    _not_personal(org_row)
    team = queries.insert_team(conn, org_id=org_row["id"], name=name,
                               display_name=display_name or name, description=description or "")
    if team is None:
        raise ApiError(409, f"Conflict: organization '{org}' already has a team '{name}'")
    return team


def find(conn, org_row, name):
    """The team with its members and its grants on stacks."""
    team = dict(get(conn, org_row, name))
    team["members"] = list(queries.team_members(conn, team_id=team["id"]))
    team["stacks"] = list(queries.team_stacks(conn, team_id=team["id"]))
    team["environments"] = [{**row, "permission": ENV_LEVELS[row["permission"]]}
                            for row in queries.team_environments(conn, team_id=team["id"])]
    return team


def delete(conn, org, name):
    """Delete a team: its grants go, and its tokens are revoked (refused from the next request)."""
    team = get(conn, lock_org(conn, org), name)
    queries.revoke_team_tokens(conn, team_id=team["id"])
    queries.delete_team(conn, team_id=team["id"])


def describe(conn, org, name, display_name, description):
    team = get(conn, lock_org(conn, org), name)
    queries.update_team(conn, team_id=team["id"], display_name=display_name,
                        description=description)


def member_action(conn, org, name, action, login):
    """Add or remove a member of the organization to or from the team, or make them the team's
    admin (promote) or a plain member again (demote)."""
    org_row = lock_org(conn, org)
    team = get(conn, org_row, name)
    user = queries.user_by_login(conn, login=login)
    if user is None:
        raise ApiError(404, f"Not Found: user '{login}' not found")
    if action == "add":
        # The organization row is locked: the membership cannot end before this commits.
        if queries.org_member(conn, org_id=org_row["id"], login=login) is None:
            raise ApiError(400, f"Bad Request: '{login}' is not a member of organization "
                                f"'{org}'")
        added = queries.add_team_member(conn, team_id=team["id"], org_id=org_row["id"],
                                        user_id=user["id"])
        if added is None:
            raise ApiError(409, f"Conflict: '{login}' is already in team '{name}'")
        return
    if action == "remove":
        done = queries.remove_team_member(conn, team_id=team["id"], user_id=user["id"])
    else:
        done = queries.set_team_member_role(conn, team_id=team["id"], user_id=user["id"],
                                            role="admin" if action == "promote" else "member")
    if done is None:
        raise ApiError(404, f"Not Found: '{login}' is not in team '{name}'")


def _stack_id(conn, org, project, stack):
    return stacks.load_stack(conn, org, project, stack)["id"]


def change_stack_grant(conn, org, name, project, stack, permission, how):
    """`how`: "add" (409 when the team has a grant on the stack), "edit" (404 when it has none),
    "set" (either; permission 0 removes the grant) or "remove"."""
    org_row = lock_org(conn, org)
    team = get(conn, org_row, name)
    stack_id = _stack_id(conn, org, project, stack)
    ref = stack_ref(org, project, stack)
    if how == "remove" or (how == "set" and permission == 0):
        done = queries.remove_team_stack_permission(conn, team_id=team["id"], stack_id=stack_id)
        if done is None and how == "remove":
            raise ApiError(404, f"Not Found: team '{name}' has no permission on stack '{ref}'")
        return
    check_grant(permission)
    args = {"team_id": team["id"], "stack_id": stack_id, "permission": permission}
    if how == "set":
        queries.set_team_stack_permission(conn, **args)
    elif how == "add":
        if queries.add_team_stack_permission(conn, **args) is None:
            raise ApiError(409, f"Conflict: team '{name}' already has a permission on stack "
                                f"'{ref}'; edit it")
    elif queries.edit_team_stack_permission(conn, **args) is None:
        raise ApiError(404, f"Not Found: team '{name}' has no permission on stack '{ref}'")


def change_environment_grant(conn, org, name, project, env, permission, how):
    """`how`: "add" (409 when the team has a grant on the environment), "edit" (404 when it has
    none), "set" (either) or "remove"; `permission` a name of ENV_LEVELS ("none" removes the
    grant)."""
    org_row = lock_org(conn, org)
    team = get(conn, org_row, name)
    # Locked, so that a delete of the environment waits for this grant (and takes it along).
    found = queries.lock_environment(conn, org_name=org, project=project, name=env)
    if found is None:
        raise environments.not_found(org, project, env)
    env_id = found["id"]
    ref = environments.env_ref(org, project, env)
    args = {"team_id": team["id"], "environment_id": env_id}
    if how == "remove" or permission == "none":
        done = queries.remove_team_environment_permission(conn, **args)
        if done is None and how in ("edit", "remove"):
            raise ApiError(404, f"Not Found: team '{name}' has no permission on environment "
                                f"'{ref}'")
        return
    args["permission"] = ENV_LEVELS.index(permission)
    if how == "set":
        queries.set_team_environment_permission(conn, org_id=org_row["id"], **args)
    elif how == "add":
        if queries.add_team_environment_permission(conn, org_id=org_row["id"], **args) is None:
            raise ApiError(409, f"Conflict: team '{name}' already has a permission on "
                                f"environment '{ref}'; edit it")
    elif queries.edit_team_environment_permission(conn, **args) is None:
        raise ApiError(404, f"Not Found: team '{name}' has no permission on environment '{ref}'")


def environment_grant_record(org, name, project, env, permission):
    """(target, description) of the audit record of a change to a team's grant on an
    environment."""
    ref = environments.env_ref(org, project, env)
    return ref, f"team {name} now has permission {permission} on environment {ref}"


def grant_new_stack(conn, stack_id, names, permission=WRITE):
    """Give the teams named `permission` on a stack just created (`pulumi stack init --teams`);
    400 for a name the organization has no team of (the transaction then writes nothing)."""
    names = sorted(set(names))
    if not names:
        return
    found = {row["name"] for row in queries.grant_teams_on_stack(
        conn, stack_id=stack_id, names=names, permission=permission)}
    missing = [n for n in names if n not in found]
    if missing:
        raise ApiError(400, "Bad Request: no such team: " + ", ".join(missing))


def stack_teams(conn, org, project, stack, user_id):
    return list(queries.stack_teams(conn, stack_id=_stack_id(conn, org, project, stack),
                                    user_id=user_id))


def grant_record(org, name, project, stack, permission):
    """(target, description) of the audit record of a change to a team's grant on a stack (the
    API's and the console's alike)."""
    ref = stack_ref(org, project, stack)
    return ref, (f"team {name} now has permission {permission} "
                 f"({GRANTS.get(permission, 'none')}) on stack {ref}")
