"""Settings pages: the signed-in person's personal access tokens (the page `pulumi login` points
at), a stack's tags for its writers, rename and delete, an organization's audit log and tokens
for its admins.
Each change is audited like the API's own."""
import datetime

from flask import abort, current_app, g, redirect, render_template, request
from marshmallow import ValidationError

from .. import audit, orgs, stacks, tokens
from ..api import actor, stack_ref
from ..auth import console_page
from ..db import transaction
from ..errors import ApiError
from ..schemas import stacks as stack_schemas, tokens as token_schemas
from ..schemas.common import check_path_names, validate_tags
from ..teams import GRANTS
from . import bp, forms, load_or_400, role_at_least
from .pages import STACK
from .teams import stack_teams_section


def _tokens_page(form, created=None, status=200):
    with transaction() as conn:
        rows = tokens.personal_tokens(conn, g.person)
    return render_template("tokens.html", tokens=rows, form=form, created=created,
                           delete_form=forms.Confirm()), status


@bp.get("/user/settings/tokens")
@console_page(None)
def user_tokens():
    return _tokens_page(forms.NewToken())


@bp.post("/user/settings/tokens")
@console_page(None)
def create_user_token():
    """Make a token and show it once, in this answer only (never in a URL)."""
    form = forms.NewToken()
    if not form.validate_on_submit():
        return _tokens_page(form, status=400)
    description = form.description.data or ""
    with transaction() as conn:
        token_id, value = tokens.create_personal(conn, g.person, description, None)
        audit.record(conn, actor(), g.person["login"], "token.created", f"token {token_id}",
                     f"created token {token_id} for {g.person['login']}"
                     + (f" ({description})" if description else ""))
    return _tokens_page(forms.NewToken(formdata=None), created=value)


@bp.post("/user/settings/tokens/<int:token_id>/delete")
@console_page(None)
def delete_user_token(token_id):
    if not forms.Confirm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    with transaction() as conn:
        tokens.delete_personal(conn, g.person, token_id)
        audit.record(conn, actor(), g.person["login"], "token.revoked", f"token {token_id}",
                     f"deleted token {token_id} of {g.person['login']}")
    return redirect("/user/settings/tokens", 303)


@bp.post(STACK + "/tags")
@console_page("member")
def set_stack_tag(org, project, stack):
    """Add a tag or give one a new value (writers: the API's `member`)."""
    form = forms.EditTag()
    if not form.validate_on_submit():
        abort(400, "A tag needs a name (the form may have expired).")
    name, value = form.name.data.strip(), (form.value.data or "").strip()
    _check_tag(name, value)
    with transaction() as conn:
        current = stacks.load_stack(conn, org, project, stack)["tags"]
        if name in current:
            stacks.update_tag(conn, org, project, stack, name, name, value)
        else:
            stacks.add_tag(conn, org, project, stack, name, value)
        audit.record(conn, actor(), org, "stack.tags_updated", stack_ref(org, project, stack),
                     f"set tag {name} of stack {stack_ref(org, project, stack)}")
    return redirect(f"/{org}/{project}/{stack}", 303)


@bp.post(STACK + "/tags/delete")
@console_page("member")
def delete_stack_tag(org, project, stack):
    form = forms.EditTag()
    if not form.validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    name = form.name.data
    with transaction() as conn:
        stacks.delete_tag(conn, org, project, stack, name)
        audit.record(conn, actor(), org, "stack.tags_updated", stack_ref(org, project, stack),
                     f"removed tag {name} of stack {stack_ref(org, project, stack)}")
    return redirect(f"/{org}/{project}/{stack}", 303)


def _check_tag(name, value):
    """The API's rules for tags (names, lengths), as a 400 page rather than a stored bad tag."""
    try:
        validate_tags({name: value})
    except ValidationError as err:
        raise ApiError(400, " ".join(err.messages)) from None


@bp.get("/<org:org>/settings/audit")
@console_page("admin")
def org_audit(org):
    """The organization's audit log, newest first, filtered by event type."""
    event = request.args.get("event") or None
    if event is not None and event not in audit.EVENT_TYPES:
        abort(400, f"Unknown event type {event!r}.")
    with transaction() as conn:
        records, _ = audit.list_records(conn, org, event=event, page_size=200)
    return render_template("org_audit.html", org=org, records=records, event=event,
                           event_types=sorted(audit.EVENT_TYPES))


@bp.get(STACK + "/settings")
@console_page("member")
def stack_settings(org, project, stack):
    """Rename (writers); teams and permissions, webhooks and delete (the stack's admins), as
    the API allows each."""
    granted, grant_form = None, None
    with transaction() as conn:
        row = stacks.load_stack(conn, org, project, stack)
        if role_at_least("admin"):
            granted, grant_form = stack_teams_section(conn, org, project, stack)
    return render_template("stack_settings.html", org=org, project=project, stack=stack,
                           row=row, rename_form=forms.RenameStack(project=project, stack=stack),
                           delete_form=forms.DeleteStack(), teams=granted,
                           grant_form=grant_form, grants=GRANTS,
                           retention_days=current_app.config["STACK_RETENTION_DAYS"])


@bp.post(STACK + "/settings/rename")
@console_page("member")
def rename_stack(org, project, stack):
    form = forms.RenameStack()
    if not form.validate_on_submit():
        abort(400, "The form was incomplete or expired; try again.")
    new_project, new_stack = form.project.data.strip(), form.stack.data.strip()
    try:
        check_path_names(project=new_project, stack=new_stack)
    except ValidationError as err:
        raise ApiError(400, "; ".join(m for ms in err.messages.values() for m in ms)) from None
    new = (org, new_project, new_stack)
    with transaction() as conn:
        stacks.rename_stack(conn, org, project, stack, new_project, new_stack,
                            initiator_id=g.person["id"])
        if new != (org, project, stack):
            audit.record(conn, actor(), org, "stack.renamed", stack_ref(*new),
                         f"renamed stack {stack_ref(org, project, stack)} to {stack_ref(*new)}")
    return redirect(f"/{org}/{new_project}/{new_stack}", 303)


@bp.post(STACK + "/settings/delete")
@console_page("admin")
def delete_stack(org, project, stack):
    form = forms.DeleteStack()
    if not form.validate_on_submit():
        abort(400, "The form was incomplete or expired; try again.")
    if form.confirm.data.strip() != stack:
        abort(400, f"Type the stack's name ({stack}) to delete it.")
    force = bool(form.force.data)
    with transaction() as conn:
        stacks.delete_stack(conn, org, project, stack, force)
        audit.record(conn, actor(), org, "stack.deleted", stack_ref(org, project, stack),
                     f"deleted stack {stack_ref(org, project, stack)}"
                     + (" (forced)" if force else ""))
    return redirect(f"/{org}", 303)


def _org_tokens_page(org, form, created=None, status=200):
    with transaction() as conn:
        rows = tokens.owned_tokens(conn, orgs.find_org(conn, org)["id"])
    return render_template("org_tokens.html", org=org, tokens=rows, form=form, created=created,
                           delete_form=forms.Confirm()), status


@bp.get("/<org:org>/settings/tokens")
@console_page("admin")
def org_tokens(org):
    """The organization's access tokens (they act as the organization, not as a person)."""
    return _org_tokens_page(org, forms.NewOrgToken(formdata=None))


@bp.post("/<org:org>/settings/tokens")
@console_page("admin")
def create_org_token(org):
    """Make an organization token and show it once, in this answer only."""
    form = forms.NewOrgToken()
    if not form.validate_on_submit():
        return _org_tokens_page(org, form, status=400)
    days = int(form.days.data)
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days) \
        if days else None
    body = load_or_400(token_schemas.create_org_token, {
        "name": form.name.data.strip(), "description": form.description.data or "",
        "admin": bool(form.admin.data)})
    with transaction() as conn:
        token_id, value = tokens.create_token(
            conn, kind="organization", org_id=orgs.find_org(conn, org)["id"], name=body["name"],
            description=body["description"], admin=body["admin"], expires_at=expires,
            created_by=g.person["id"])
        audit.record(conn, actor(), org, "token.created", *tokens.owned_created_record(
            token_id, body["name"], org, None, body["admin"]))
    return _org_tokens_page(org, forms.NewOrgToken(formdata=None), created=value)


@bp.post("/<org:org>/settings/tokens/<int:token_id>/delete")
@console_page("admin")
def delete_org_token(org, token_id):
    if not forms.Confirm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    with transaction() as conn:
        tokens.delete_owned(conn, orgs.find_org(conn, org)["id"], token_id)
        audit.record(conn, actor(), org, "token.revoked",
                     *tokens.owned_revoked_record(token_id, org))
    return redirect(f"/{org}/settings/tokens", 303)


def _deleted_stacks_page(org, status=200):
    with transaction() as conn:
        rows = stacks.deleted_stacks(conn, org, current_app.config["STACK_RETENTION_DAYS"])
    return render_template("org_deleted_stacks.html", org=org, stacks=rows,
                           form=forms.RestoreStack(formdata=None),
                           retention_days=current_app.config["STACK_RETENTION_DAYS"]), status


@bp.get("/<org:org>/settings/deleted-stacks")
@console_page("admin")
def deleted_stacks(org):
    """The organization's deleted stacks that can still be restored (the API's restore-stack)."""
    return _deleted_stacks_page(org)


@bp.post("/<org:org>/settings/deleted-stacks/<int:stack_id>/restore")
@console_page("admin")
def restore_deleted_stack(org, stack_id):
    """Restore a deleted stack under its name or the one typed, then show it."""
    form = forms.RestoreStack()
    if not form.validate_on_submit():
        abort(400, "The form was incomplete or expired; try again.")
    name = (form.name.data or "").strip()
    body = load_or_400(stack_schemas.restore_stack, {"stackName": name} if name else {})
    with transaction() as conn:
        project, old, new = stacks.restore_deleted(
            conn, org, stack_id, body.get("stack_name"),
            current_app.config["STACK_RETENTION_DAYS"], g.person["id"])
        audit.record(conn, actor(), org, "stack.restored",
                     *stacks.restored_record(org, project, old, new))
    return redirect(f"/{org}/{project}/{new}", 303)
