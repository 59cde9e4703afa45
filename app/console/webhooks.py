"""Webhooks in the console: an organization's hooks (its admins) and a stack's hooks (the
stack's admins), as over the API: list, create, one hook's deliveries, ping, delete. The rules
(URL guard, groups, the sealed secret) are app/webhooks.py's and the API schema's."""
import datetime

from flask import abort, redirect, render_template

from .. import audit, orgs, stacks, webhooks
from ..api import actor, stack_ref
from ..auth import console_page
from ..db import transaction
from ..schemas import webhooks as schemas
from . import bp, forms, load_or_400
from .pages import STACK

ORG_HOOKS = "/<org:org>/settings/webhooks"
STACK_HOOKS = STACK + "/settings/webhooks"
# What each scope's hooks may listen to (empty: every event of the scope).
GROUP_LABELS = {"stacks": "Stacks", "deployments": "Deployments", "policies": "Policies",
                "environments": "Environments", "change_requests": "Change requests"}


def _base(org, project, stack):
    return f"/{org}/{project}/{stack}/settings/webhooks" if stack else \
        f"/{org}/settings/webhooks"


def _stack(conn, org, project, stack):
    """Whose hooks the page is about: the stack's, or the organization's."""
    if stack is None:
        return webhooks.ORGANIZATION
    return webhooks.Owner(stack=stacks.load_stack(conn, org, project, stack))


def _where(org, project, stack):
    return stack_ref(org, project, stack) if stack is not None else org


def _new_form(stack, posted=False):
    form = forms.NewWebhook() if posted else forms.NewWebhook(formdata=None)
    form.groups.choices = [(g, GROUP_LABELS[g]) for g in (
        webhooks.STACK_HOOK_GROUPS if stack is not None else webhooks.GROUPS)]
    return form


def _list(org, project=None, stack=None):
    with transaction() as conn:
        orgs.find_org(conn, org)
        rows = webhooks.list_hooks(conn, org, _stack(conn, org, project, stack))
    return render_template("webhooks.html", org=org, project=project, stack=stack,
                           hooks=rows, form=_new_form(stack), base=_base(org, project, stack))


def _create(org, project=None, stack=None):
    form = _new_form(stack, posted=True)
    if not form.validate_on_submit():
        abort(400, "The form was incomplete or expired; reload the page and try again.")
    body = load_or_400(schemas.webhook, {
        "displayName": form.display_name.data.strip(), "payloadUrl": form.payload_url.data.strip(),
        "format": form.format.data, "groups": form.groups.data or [],
        "active": bool(form.active.data), "secret": form.secret.data or None})
    with transaction() as conn:
        row = webhooks.create(conn, orgs.find_org(conn, org)["id"], org, body,
                              _stack(conn, org, project, stack))
        audit.record(conn, actor(), org, "webhook.created",
                     *webhooks.created_record(row, _where(org, project, stack)))
    return redirect(f"{_base(org, project, stack)}/{row['name']}", 303)


def _hook(org, name, project=None, stack=None, delivery=None):
    with transaction() as conn:
        hook = webhooks.find(conn, org, name, _stack(conn, org, project, stack))
        found = webhooks.deliveries(conn, hook)
    return render_template("webhook.html", org=org, project=project, stack=stack,
                           hook=webhooks.view(hook), deliveries=found, delivery=delivery,
                           base=_base(org, project, stack), confirm_form=forms.Confirm())


def _confirmed():
    if not forms.Confirm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")


def _ping(org, name, project=None, stack=None):
    """Send a ping now and show the hook's page with its answer."""
    _confirmed()
    with transaction() as conn:
        hook = webhooks.find(conn, org, name, _stack(conn, org, project, stack))
        delivery = webhooks.delivery_view(webhooks.ping(conn, hook))
    return _hook(org, name, project, stack, delivery=delivery)


def _delete(org, name, project=None, stack=None):
    _confirmed()
    with transaction() as conn:
        row = webhooks.delete(conn, org, name, _stack(conn, org, project, stack))
        audit.record(conn, actor(), org, "webhook.deleted",
                     *webhooks.deleted_record(row, _where(org, project, stack)))
    return redirect(_base(org, project, stack), 303)


# --- organization hooks ---------------------------------------------------------------------------

@bp.get(ORG_HOOKS)
@console_page("admin")
def org_webhooks(org):
    return _list(org)


@bp.post(ORG_HOOKS)
@console_page("admin")
def create_org_webhook(org):
    return _create(org)


@bp.get(ORG_HOOKS + "/<hook_name>")
@console_page("admin")
def org_webhook(org, hook_name):
    return _hook(org, hook_name)


@bp.post(ORG_HOOKS + "/<hook_name>/ping")
@console_page("admin")
def ping_org_webhook(org, hook_name):
    return _ping(org, hook_name)


@bp.post(ORG_HOOKS + "/<hook_name>/delete")
@console_page("admin")
def delete_org_webhook(org, hook_name):
    return _delete(org, hook_name)


# --- stack hooks ----------------------------------------------------------------------------------

@bp.get(STACK_HOOKS)
@console_page("admin")
def stack_webhooks(org, project, stack):
    return _list(org, project, stack)


@bp.post(STACK_HOOKS)
@console_page("admin")
def create_stack_webhook(org, project, stack):
    return _create(org, project, stack)


@bp.get(STACK_HOOKS + "/<hook_name>")
@console_page("admin")
def stack_webhook(org, project, stack, hook_name):
    return _hook(org, hook_name, project, stack)


@bp.post(STACK_HOOKS + "/<hook_name>/ping")
@console_page("admin")
def ping_stack_webhook(org, project, stack, hook_name):
    return _ping(org, hook_name, project, stack)


@bp.post(STACK_HOOKS + "/<hook_name>/delete")
@console_page("admin")
def delete_stack_webhook(org, project, stack, hook_name):
    return _delete(org, hook_name, project, stack)


@bp.app_template_filter("timestamp")
def timestamp(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC")
