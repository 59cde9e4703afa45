"""An organization's members for its admins (change a role, remove someone, with the API's own
rules in app/members.py) and its one-time invite links: made here, opened at `/invite/<secret>`
by someone without an account, who picks a login and a password and is signed in as a member."""
from flask import abort, g, redirect, render_template, url_for

from .. import audit, invites, members, orgs
from ..api import actor
from ..auth import CONSOLE_ANYONE, console_page, record_failure
from ..db import transaction
from ..errors import ApiError
from . import bp, forms
from .sign_in import hold_session, refuse_if_blocked, start_session

MEMBERS = "/<org:org>/settings/members"


def _members_page(org, invite_form=None, link=None, status=200):
    with transaction() as conn:
        org_row = orgs.find_org(conn, org)
        found, _ = members.page(conn, org_row, None, page_size=1000)
        open_invites = invites.open_invites(conn, org_row)
    return render_template(
        "org_members.html", org=org, members=found, invites=open_invites, link=link,
        personal=org_row["personal_user_id"] is not None,
        role_form=forms.MemberRole, invite_form=invite_form or forms.NewInvite(formdata=None),
        confirm_form=forms.Confirm()), status


def _checked(form):
    if not form.validate_on_submit():
        abort(400, "The form was incomplete or expired; reload the page and try again.")
    return form


@bp.get(MEMBERS)
@console_page("admin")
def org_members(org):
    """The organization's members and roles, and its open invite links (admins, as over the
    API)."""
    return _members_page(org)


@bp.post(MEMBERS + "/<login>/role")
@console_page("admin")
def change_member_role(org, login):
    role = _checked(forms.MemberRole()).role.data
    with transaction() as conn:
        members.change_role(conn, org, login, role, g.user)
        audit.record(conn, actor(), org, "member.added", login, f"{login} is now {role} of {org}")
    return redirect(url_for("console.org_members", org=org), 303)


@bp.post(MEMBERS + "/<login>/remove")
@console_page("admin")
def remove_member(org, login):
    _checked(forms.Confirm())
    with transaction() as conn:
        members.remove(conn, org, login, g.user)
        audit.record(conn, actor(), org, "member.removed", login, f"removed {login} from {org}")
    return redirect(url_for("console.org_members", org=org), 303)


@bp.post("/<org:org>/settings/invites")
@console_page("admin")
def create_invite(org):
    """Make an invite link and show it once, in this answer only."""
    form = _checked(forms.NewInvite())
    with transaction() as conn:
        row, secret = invites.create(conn, org, form.role.data, int(form.days.data),
                                     g.person["id"])
        audit.record(conn, actor(), org, "member.invited", f"invite {row['id']}",
                     f"made invite link {row['id']} to join {org} as {row['role']}, "
                     f"valid until {row['expires_at']:%Y-%m-%d %H:%M} UTC")
    link = url_for("console.invite", secret=secret, _external=True)
    return _members_page(org, link=link)


@bp.post("/<org:org>/settings/invites/<int:invite_id>/revoke")
@console_page("admin")
def revoke_invite(org, invite_id):
    _checked(forms.Confirm())
    with transaction() as conn:
        invites.revoke(conn, org, invite_id)
        audit.record(conn, actor(), org, "member.invite_revoked", f"invite {invite_id}",
                     f"revoked invite link {invite_id} to {org}")
    return redirect(url_for("console.org_members", org=org), 303)


def _usable(secret):
    """The invite of a link; a refused link counts as a failed sign-in (the API's throttle)."""
    refuse_if_blocked()
    try:
        with transaction() as conn:
            return invites.usable(conn, secret)
    except ApiError:
        record_failure()
        raise


@bp.get("/invite/<secret>")
@console_page(CONSOLE_ANYONE)
def invite(secret):
    """The page an invite link opens: choose a login and a password to join."""
    found = _usable(secret)
    return render_template("invite.html", invite=found, form=forms.AcceptInvite(formdata=None))


@bp.post("/invite/<secret>")
@console_page(CONSOLE_ANYONE)
def accept_invite(secret):
    found = _usable(secret)
    form = forms.AcceptInvite()
    if not form.validate_on_submit():
        return render_template("invite.html", invite=found, form=form,
                               error="Check the form: every field marked required, the same "
                                     "password twice."), 400
    login = form.login.data.strip()
    try:
        with transaction() as conn:
            used, user = invites.accept(conn, secret, login, form.password.data,
                                        (form.email.data or "").strip(),
                                        (form.name.data or "").strip())
            # The audit log knows the newcomer by their new login.
            g.user = {**user, "token_id": None}
            session_id = start_session(conn, user["id"])
            audit.record(conn, actor(), used["org_name"], "member.added", login,
                         f"{login} joined {used['org_name']} as {used['role']} with invite "
                         f"link {used['id']}")
    except ApiError as err:
        if err.status == 410:
            raise
        return render_template("invite.html", invite=found, form=form, error=err.message), \
            err.status
    hold_session(session_id)
    return redirect(f"/{used['org_name']}", 303)
