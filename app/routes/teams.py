"""Teams (Pulumi's team API): an organization's teams, their members and their permissions on
stacks, and the teams of a stack."""
from flask import Blueprint, g, jsonify

from .. import audit, orgs, teams
from ..api import STACK, actor, parse_body
from ..auth import requires_role
from ..db import transaction
from ..openapi import documented
from ..schemas import teams as schemas

bp = Blueprint("teams", __name__, url_prefix="/api")

TEAM = "/orgs/<org>/teams/<team>"


def team_of(row, user_role=None):
    found = {"kind": "pulumi", "name": row["name"], "display_name": row["display_name"],
             "description": row["description"]}
    if "members" in row:
        found["members"] = [{"name": m["name"] or m["login"], "github_login": m["login"],
                             "avatar_url": "", "email": m["email"], "role": m["role"]}
                            for m in row["members"]]
        found["stacks"] = [dict(s) for s in row["stacks"]]
        found["environments"] = [dict(e) for e in row["environments"]]
    if user_role is not None:
        found["user_role"] = user_role
    return found


@bp.get("/orgs/<org>/teams")
@requires_role("viewer")
@documented(response=schemas.teams)
def list_teams(org):
    """The organization's teams, with the caller's role in each (none, member, admin)."""
    with transaction() as conn:
        rows = teams.list_teams(conn, orgs.find_org(conn, org), g.user["id"])
    return jsonify(schemas.teams.dump({"teams": [team_of(r, r["user_role"]) for r in rows]}))


@bp.post("/orgs/<org>/teams/pulumi")
@requires_role("admin")
@documented(body=schemas.create_team, response=schemas.team, status=201, responses={
    400: "Bad Request: an invalid name, display name or description, or a personal "
         "organization",
    409: "Conflict: the organization has a team of that name"})
def create_team(org):
    """Create a team (with no members and no permissions)."""
    body = parse_body(schemas.create_team)
    with transaction() as conn:
        row = teams.create(conn, org, body["name"], body.get("display_name"),
                           body.get("description"))
        audit.record(conn, actor(), org, "team.created", f"team {row['name']}",
                     f"created team {row['name']} in {org}")
    return jsonify(schemas.team.dump(team_of({**row, "members": [], "stacks": [],
                                              "environments": []}))), 201


@bp.get(TEAM)
@requires_role("viewer")
@documented(response=schemas.team, responses={404: "Not Found: no such team"})
def get_team(org, team):
    """A team with its members and its permissions on stacks and environments."""
    with transaction() as conn:
        row = teams.find(conn, orgs.find_org(conn, org), team)
    return jsonify(schemas.team.dump(team_of(row)))


@bp.patch(TEAM)
@requires_role("admin")
@documented(body=schemas.update_team, status=204, responses={
    400: "Bad Request: not exactly one action, an invalid permission, or a user who is not a "
         "member of the organization",
    404: "Not Found: no such team, user, stack, environment, team member or team permission",
    409: "Conflict: the user is in the team already, or the team has a permission on the "
         "stack or environment already"})
def update_team(org, team):
    """One change per call: newDisplayName/newDescription; memberAction (add, remove, promote,
    demote) with member; addStackPermission, editStackPermission or removeStack;
    addEnvironmentPermission, editEnvironmentPermission or removeEnvironment (permissions
    none, read, open, write, admin)."""
    body = parse_body(schemas.update_team)
    with transaction() as conn:
        if body.get("member_action"):
            action, login = body["member_action"], body["member"]
            teams.member_action(conn, org, team, action, login)
            audit.record(conn, actor(), org, "team.members_changed", f"team {team}",
                         f"{action} {login} ({'to' if action == 'add' else 'in'} team {team})")
        elif body.get("new_display_name") is not None or body.get("new_description") is not None:
            teams.describe(conn, org, team, body.get("new_display_name"),
                           body.get("new_description"))
            audit.record(conn, actor(), org, "team.updated", f"team {team}",
                         f"changed the display name or description of team {team}")
        elif any(body.get(k) for k in ("add_environment_permission",
                                       "edit_environment_permission", "remove_environment")):
            how = next(h for h in ("add", "edit", "remove") if body.get(
                {"add": "add_environment_permission", "edit": "edit_environment_permission",
                 "remove": "remove_environment"}[h]))
            grant = body.get(f"{how}_environment_permission") or body["remove_environment"]
            permission = grant.get("permission", "none")
            teams.change_environment_grant(conn, org, team, grant["project_name"],
                                           grant["env_name"], permission, how)
            audit.record(conn, actor(), org, "environment.permission_changed",
                         *teams.environment_grant_record(
                             org, team, grant["project_name"], grant["env_name"],
                             permission if how != "remove" else "none"))
        else:
            how = next(h for h in ("add", "edit", "remove") if body.get(
                {"add": "add_stack_permission", "edit": "edit_stack_permission",
                 "remove": "remove_stack"}[h]))
            grant = body.get(f"{how}_stack_permission") or body["remove_stack"]
            permission = grant.get("permission", 0)
            teams.change_stack_grant(conn, org, team, grant["project_name"], grant["stack_name"],
                                     permission, how)
            _audit_grant(conn, org, team, grant["project_name"], grant["stack_name"],
                         permission if how != "remove" else 0)
    return "", 204


def _audit_grant(conn, org, team, project, stack, permission):
    audit.record(conn, actor(), org, "stack.permission_changed",
                 *teams.grant_record(org, team, project, stack, permission))


@bp.delete(TEAM)
@requires_role("admin")
@documented(status=204, responses={404: "Not Found: no such team"})
def delete_team(org, team):
    """Delete a team: its permissions go and its tokens are revoked."""
    with transaction() as conn:
        teams.delete(conn, org, team)
        audit.record(conn, actor(), org, "team.deleted", f"team {team}",
                     f"deleted team {team} of {org}")
    return "", 204


@bp.get("/stacks" + STACK + "/teams")
@requires_role("viewer")
@documented(response=schemas.stack_teams)
def stack_teams(org, project, stack):
    """The teams with a permission on the stack, and whether the caller is in each."""
    with transaction() as conn:
        rows = teams.stack_teams(conn, org, project, stack, g.user["id"])
    return jsonify(schemas.stack_teams.dump({"project_name": project, "teams": [
        {"name": r["name"], "display_name": r["display_name"], "description": r["description"],
         "permission": r["permission"], "is_member": r["is_member"]} for r in rows]}))


@bp.patch("/console/stacks" + STACK + "/teams/<team>")
@requires_role("admin")
@documented(body=schemas.team_stack_permissions, status=204, responses={
    400: "Bad Request: a permission other than 0, 101, 102 or 103",
    404: "Not Found: no such team or stack"})
def set_team_stack_permission(org, project, stack, team):
    """Give a team a permission on the stack (101 read, 102 write, 103 admin), or take it
    away (0)."""
    body = parse_body(schemas.team_stack_permissions)
    with transaction() as conn:
        teams.change_stack_grant(conn, org, team, project, stack, body["permissions"], "set")
        _audit_grant(conn, org, team, project, stack, body["permissions"])
    return "", 204
