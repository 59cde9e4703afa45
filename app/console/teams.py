"""Teams in the console: an organization's teams (everyone in it reads them, as over the API),
and for its admins creating and deleting teams, their members and their grants on stacks and
ESC environments; a
stack's teams and their permissions on its settings page (the stack's admins, as the API's
`PATCH /api/console/stacks/.../teams/{team}`). Every rule is app/teams.py's."""
from flask import abort, g, redirect, render_template, url_for

from .. import audit, environments, orgs, teams
from ..api import actor
from ..auth import ENV_LEVELS, ENV_READ, console_page
from ..db import transaction
from ..queries import queries
from ..schemas import teams as schemas
from . import bp, forms, load_or_400
from .pages import STACK

TEAMS = "/<org:org>/settings/teams"
TEAM = TEAMS + "/<team>"


def _checked(form):
    if not form.validate_on_submit():
        abort(400, "The form was incomplete or expired; reload the page and try again.")
    return form


def visible_stacks(conn, org):
    """The organization's stacks the signed-in person may see, as "project/stack"."""
    rows = queries.list_stacks(
        conn, login=g.person["login"], user_id=g.person["id"], token_org_id=None,
        token_permission=None, team_id=None, organization=org, project_name=None,
        tag_name=None, tag_value=None, after_id=0, page_size=10000)
    return sorted(f"{r['project_name']}/{r['stack_name']}" for r in rows)


@bp.get(TEAMS)
@console_page("viewer")
def org_teams(org):
    with transaction() as conn:
        found = teams.list_teams(conn, orgs.find_org(conn, org), g.person["id"])
    return render_template("org_teams.html", org=org, teams=found,
                           form=forms.NewTeam(formdata=None))


@bp.post(TEAMS)
@console_page("admin")
def create_team(org):
    form = _checked(forms.NewTeam())
    body = load_or_400(schemas.create_team, {"name": form.name.data.strip(),
                                             "displayName": form.display_name.data or None,
                                             "description": form.description.data or None})
    with transaction() as conn:
        row = teams.create(conn, org, body["name"], body.get("display_name"),
                           body.get("description"))
        audit.record(conn, actor(), org, "team.created", f"team {row['name']}",
                     f"created team {row['name']} in {org}")
    return redirect(url_for("console.team_page", org=org, team=row["name"]), 303)


@bp.get(TEAM)
@console_page("viewer")
def team_page(org, team):
    with transaction() as conn:
        org_row = orgs.find_org(conn, org)
        found = teams.find(conn, org_row, team)
        in_team = {m["login"] for m in found["members"]}
        candidates = [m["login"] for m in queries.org_members(
            conn, org_id=org_row["id"], after_login="", page_size=10000)
            if m["login"] not in in_team]
        granted = {f"{s['project_name']}/{s['stack_name']}" for s in found["stacks"]}
        stacks = [s for s in visible_stacks(conn, org) if s not in granted]
        env_granted = {f"{e['project_name']}/{e['env_name']}" for e in found["environments"]}
        envs = [e for e in visible_environments(conn, org) if e not in env_granted]
    member_form = forms.TeamMember(formdata=None)
    member_form.login.choices = candidates
    grant_form = forms.TeamGrant(formdata=None, permission="102")
    grant_form.stack.choices = stacks
    env_form = forms.TeamEnvironmentGrant(formdata=None, permission="read")
    env_form.environment.choices = envs
    return render_template("team.html", org=org, team=found, member_form=member_form,
                           grant_form=grant_form, grants=teams.GRANTS, env_form=env_form,
                           confirm_form=forms.Confirm())


def visible_environments(conn, org):
    """The organization's environments the signed-in person may read, as "project/name"."""
    caller = {"user_id": g.person["id"], "token_kind": "personal", "token_org_id": None,
              "token_team_id": None, "token_admin": False, "viewer_env_cap": ENV_READ}
    rows, _ = environments.list_environments(conn, caller, org, None)
    return [f"{r['project']}/{r['name']}" for r in rows]


@bp.post(TEAM + "/members")
@console_page("admin")
def change_team_members(org, team):
    form = _checked(forms.TeamMember())
    action, login = form.action.data, form.login.data
    with transaction() as conn:
        teams.member_action(conn, org, team, action, login)
        audit.record(conn, actor(), org, "team.members_changed", f"team {team}",
                     f"{action} {login} ({'to' if action == 'add' else 'in'} team {team})")
    return redirect(url_for("console.team_page", org=org, team=team), 303)


def _set_grant(org, team, project, stack, permission):
    with transaction() as conn:
        teams.change_stack_grant(conn, org, team, project, stack, permission, "set")
        audit.record(conn, actor(), org, "stack.permission_changed",
                     *teams.grant_record(org, team, project, stack, permission))


@bp.post(TEAM + "/stacks")
@console_page("admin")
def change_team_grant(org, team):
    form = _checked(forms.TeamGrant())
    project, _, stack = (form.stack.data or "").partition("/")
    if not project or not stack:
        abort(400, "Choose a stack.")
    _set_grant(org, team, project, stack, int(form.permission.data))
    return redirect(url_for("console.team_page", org=org, team=team), 303)


@bp.post(TEAM + "/environments")
@console_page("admin")
def change_team_environment_grant(org, team):
    form = _checked(forms.TeamEnvironmentGrant())
    project, _, env = (form.environment.data or "").partition("/")
    if not project or not env:
        abort(400, "Choose an environment.")
    permission = form.permission.data
    with transaction() as conn:
        teams.change_environment_grant(conn, org, team, project, env, permission, "set")
        audit.record(conn, actor(), org, "environment.permission_changed",
                     *teams.environment_grant_record(org, team, project, env, permission))
    return redirect(url_for("console.team_page", org=org, team=team), 303)


@bp.post(TEAM + "/delete")
@console_page("admin")
def delete_team(org, team):
    _checked(forms.Confirm())
    with transaction() as conn:
        teams.delete(conn, org, team)
        audit.record(conn, actor(), org, "team.deleted", f"team {team}",
                     f"deleted team {team} of {org}")
    return redirect(url_for("console.org_teams", org=org), 303)


@bp.post(STACK + "/settings/teams")
@console_page("admin")
def change_stack_team(org, project, stack):
    """Give a team a permission on this stack, change it or take it away."""
    form = _checked(forms.StackTeamGrant())
    _set_grant(org, form.team.data, project, stack, int(form.permission.data))
    return redirect(f"/{org}/{project}/{stack}/settings", 303)


def stack_teams_section(conn, org, project, stack):
    """What the stack's settings page shows of its teams: (the teams with a grant, the form
    to grant one more)."""
    org_row = orgs.find_org(conn, org)
    granted = teams.stack_teams(conn, org, project, stack, g.person["id"])
    names = {t["name"] for t in granted}
    form = forms.StackTeamGrant(formdata=None, permission="102")
    form.team.choices = [t["name"] for t in teams.list_teams(conn, org_row, g.person["id"])
                         if t["name"] not in names]
    return granted, form

