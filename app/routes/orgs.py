"""Organizations: the organization, its metadata and settings, its members and its roles
(Pulumi's organization API, as `pulumi org member|role` and Pulumi's cloud SDK call it)."""
from flask import Blueprint, g, jsonify

from .. import audit, members, orgs
from ..api import actor, parse_body, parse_query
from ..auth import ENV_LEVELS, requires_role
from ..db import transaction
from ..openapi import documented
from ..schemas import orgs as schemas

bp = Blueprint("orgs", __name__, url_prefix="/api/orgs")

MEMBER = "/<org>/members/<login>"


def member_of(row, org_row):
    role = row["role"]
    return {
        "role": orgs.PULUMI_ROLE[role],
        "user": {"name": row["name"] or row["login"], "github_login": row["login"],
                 "avatar_url": "", "email": row["email"]},
        "created": row["created_at"],
        "known_to_pulumi": True,
        "virtual_admin": False,
        "fga_role": {"id": role, "name": role, "modified_at": org_row["created_at"]},
    }


def metadata_of(row, caller_role):
    return {
        "id": str(row["id"]),
        "kind": "single-user" if row["personal_user_id"] is not None else "pulumi",
        "created": row["created_at"],
        "user_role": orgs.PULUMI_ROLE[caller_role],
        "default_stack_permission": row["default_stack_permission"],
        "default_environment_permission": ENV_LEVELS[row["default_environment_permission"]],
        "default_account_permission": 0,
        "members_can_create_stacks": row["members_can_create_stacks"],
        "members_can_delete_stacks": row["members_can_delete_stacks"],
        "members_can_transfer_stacks": False,
        "members_can_create_teams": False,
        "members_can_create_accounts": False,
        "neo_enabled": False,
        "neo_approval_mode": "manual",
        "neo_task_sharing_mode": "none",
        "neo_cli_explanations_disabled": False,
        "natural_language_search_disabled": False,
        "neo_agent_disabled": False,
        "insights_trial_using_policy": False,
        "ai_enablement": "disabled",
        "preferred_vcs": "none",
        "audit_logs_enabled": False,
        "webhooks_enabled": False,
        "features": dict.fromkeys(schemas.PULUMI_FEATURES, False),
        "account_count": 0,
        "environment_count": row["environment_count"],
        "stack_count": row["stack_count"],
        "member_count": row["member_count"],
    }


@bp.get("/<org>")
@requires_role("viewer")
@documented(response=schemas.organization)
def get_org(org):
    """The organization."""
    with transaction() as conn:
        row = orgs.find_org(conn, org)
    return jsonify(schemas.organization.dump(
        {"github_login": row["name"], "name": row["name"], "avatar_url": "", "repos": []}))


@bp.get("/<org>/metadata")
@requires_role("viewer")
@documented(response=schemas.metadata)
def get_metadata(org):
    """The organization's settings, the caller's role in it, and its member and stack counts."""
    with transaction() as conn:
        row = orgs.find_org(conn, org)
    return jsonify(schemas.metadata.dump(metadata_of(row, g.role)))


@bp.patch("/<org>")
@requires_role("admin")
@documented(body=schemas.update_organization, response=schemas.metadata, responses={
    400: "Bad Request: an invalid or unsupported setting, or a personal organization"})
def update_org(org):
    """Change the organization's settings (those given; the others stay)."""
    body = parse_body(schemas.update_organization)
    settings = {k: v for k, v in body.items() if v is not None}
    with transaction() as conn:
        row = orgs.update_settings(conn, org, g.user, settings)
        audit.record(conn, actor(), org, "org.updated", org,
                     f"changed the settings of {org}: " + ", ".join(sorted(settings)))
    return jsonify(schemas.metadata.dump(metadata_of(row, g.role)))


@bp.get("/<org>/members")
@requires_role("viewer")
@documented(query=schemas.members_query, response=schemas.members,
            responses={400: "Bad Request: invalid type or continuationToken"})
def list_members(org):
    """The organization's members in login order, a page at a time (`type=backend`: the members
    of an identity provider, which this service has none of)."""
    query = parse_query(schemas.members_query)
    after = query.get("continuation_token") or ""
    if query["type"] == "backend":
        return jsonify(schemas.members.dump({"members": []}))
    with transaction() as conn:
        org_row = orgs.find_org(conn, org)
        rows, next_token = members.page(conn, org_row, after)
    found = {"members": [member_of(r, org_row) for r in rows]}
    if next_token:
        found["continuation_token"] = next_token
    return jsonify(schemas.members.dump(found))


@bp.post(MEMBER)
@requires_role("admin")
@documented(body=schemas.add_member, response=schemas.member, responses={
    400: "Bad Request: invalid role, or a personal organization",
    404: "Not Found: no such user",
    409: "Conflict: already a member"})
def add_member(org, login):
    """Make an existing user a member with a role (viewer, member or admin)."""
    body = parse_body(schemas.add_member)
    with transaction() as conn:
        row = members.add(conn, org, login, body["role"], g.user)
        audit.record(conn, actor(), org, "member.added", login,
                     f"{login} is now {body['role']} of {org}")
        org_row = orgs.find_org(conn, org)
    return jsonify(schemas.member.dump(member_of(row, org_row)))


@bp.patch(MEMBER)
@requires_role("admin")
@documented(body=schemas.update_member, status=204, responses={
    400: "Bad Request: unknown role, or a personal organization",
    404: "Not Found: not a member",
    409: "Conflict: the organization's last admin keeps the role"})
def update_member(org, login):
    """Change a member's role: `role` (viewer, member, admin) or `fgaRoleId` (the id of a record
    of GET .../roles: the same names), which wins."""
    body = parse_body(schemas.update_member)
    role = body.get("fga_role_id") or body.get("role")
    with transaction() as conn:
        members.change_role(conn, org, login, role, g.user)
        audit.record(conn, actor(), org, "member.added", login, f"{login} is now {role} of {org}")
    return "", 204


@bp.delete(MEMBER)
@requires_role("admin")
@documented(status=204, responses={
    400: "Bad Request: removing yourself, or a personal organization",
    404: "Not Found: not a member",
    409: "Conflict: the organization's last admin"})
def remove_member(org, login):
    """Remove a member (not yourself, not the last admin)."""
    with transaction() as conn:
        members.remove(conn, org, login, g.user)
        audit.record(conn, actor(), org, "member.removed", login, f"removed {login} from {org}")
    return "", 204


@bp.get("/<org>/roles")
@requires_role("viewer")
@documented(query=schemas.roles_query, response=schemas.roles)
def list_roles(org):
    """The organization's roles: the built-in viewer, member and admin (`assignedToMe=true`:
    the caller's only)."""
    query = parse_query(schemas.roles_query)
    with transaction() as conn:
        org_row = orgs.find_org(conn, org)
    found = orgs.roles(org_row, query.get("ux_purpose"))
    if query.get("assigned_to_me"):
        # The caller's role in the URL's organization, as the auth hook found it.
        found = [r for r in found if r["id"] == g.role]
    return jsonify(schemas.roles.dump({"roles": found}))
