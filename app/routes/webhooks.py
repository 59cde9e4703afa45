"""Webhooks: organization hooks (/api/orgs/{org}/hooks), stack hooks
(/api/stacks/{org}/{project}/{stack}/hooks) and ESC environment hooks
(/api/esc/environments/{org}/{project}/{env}/hooks), with their pings and deliveries. Managing
and reading hooks takes the organization's admin role, a stack's the stack's admin permission,
an environment's the environment's admin permission."""
from flask import Blueprint, jsonify

from .. import audit, environments, orgs, stacks, webhooks
from ..api import STACK, actor, parse_body
from ..auth import requires_role
from ..db import transaction
from ..openapi import documented
from ..schemas import webhooks as schemas

bp = Blueprint("webhooks", __name__, url_prefix="/api")

ORG_HOOKS = "/orgs/<org>/hooks"
STACK_HOOKS = "/stacks" + STACK + "/hooks"
ENV_HOOKS = "/esc/environments/<org>/<project>/<env>/hooks"
BAD_HOOK = ("Bad Request: an invalid or refused payload URL, an unknown event filter, group or "
            "format, a display name over 100 characters, or an organization, stack or "
            "environment that is not the URL's")


def _owner(conn, org, project, stack, env):
    """Whose hooks the URL names: the organization's, a stack's or an environment's."""
    if stack is not None:
        return webhooks.Owner(stack=stacks.load_stack(conn, org, project, stack))
    if env is not None:
        return webhooks.Owner(env=environments.find(conn, org, project, env))
    return webhooks.ORGANIZATION


# One view per operation serves the three scopes: project, stack and env are None on
# organization hooks; stack or env is None on the other two.

def _create(org, project=None, stack=None, env=None):
    body = parse_body(schemas.webhook)
    with transaction() as conn:
        owner = _owner(conn, org, project, stack, env)
        row = webhooks.create(conn, orgs.find_org(conn, org)["id"], org, body, owner)
        audit.record(conn, actor(), org, "webhook.created",
                     *webhooks.created_record(row, owner.where(org)))
    return jsonify(schemas.webhook.dump(webhooks.view(row))), 201


def _list(org, project=None, stack=None, env=None):
    with transaction() as conn:
        orgs.find_org(conn, org)
        owner = _owner(conn, org, project, stack, env)
        rows = webhooks.list_hooks(conn, org, owner)
    return jsonify(schemas.webhooks.dump([webhooks.view(r) for r in rows]))


def _get(org, name, project=None, stack=None, env=None):
    with transaction() as conn:
        row = webhooks.find(conn, org, name, _owner(conn, org, project, stack, env))
    return jsonify(schemas.webhook.dump(webhooks.view(row)))


def _update(org, name, project=None, stack=None, env=None):
    body = parse_body(schemas.webhook)
    with transaction() as conn:
        owner = _owner(conn, org, project, stack, env)
        row = webhooks.update(conn, org, name, body, owner)
        audit.record(conn, actor(), org, "webhook.updated", f"webhook {name}",
                     f"updated webhook {name} ({row['display_name']}) on "
                     f"{owner.where(org)}: posting to {row['payload_url']}, "
                     f"{'active' if row['active'] else 'inactive'}, "
                     f"{'with' if row['has_secret'] else 'without'} a secret")
    return jsonify(schemas.webhook.dump(webhooks.view(row)))


def _delete(org, name, project=None, stack=None, env=None):
    with transaction() as conn:
        owner = _owner(conn, org, project, stack, env)
        row = webhooks.delete(conn, org, name, owner)
        audit.record(conn, actor(), org, "webhook.deleted",
                     *webhooks.deleted_record(row, owner.where(org)))
    return "", 204


def _ping(org, name, project=None, stack=None, env=None):
    with transaction() as conn:
        hook = webhooks.find(conn, org, name, _owner(conn, org, project, stack, env))
        delivery = webhooks.ping(conn, hook)
    return jsonify(schemas.delivery.dump(webhooks.delivery_view(delivery)))


def _deliveries(org, name, project=None, stack=None, env=None):
    with transaction() as conn:
        hook = webhooks.find(conn, org, name, _owner(conn, org, project, stack, env))
        found = webhooks.deliveries(conn, hook)
    return jsonify(schemas.deliveries.dump(found))


def _redeliver(org, name, event, project=None, stack=None, env=None):
    with transaction() as conn:
        hook = webhooks.find(conn, org, name, _owner(conn, org, project, stack, env))
        delivery = webhooks.redeliver(conn, hook, event)
    return jsonify(schemas.delivery.dump(webhooks.delivery_view(delivery)))


# --- organization hooks ---------------------------------------------------------------------------

@bp.post(ORG_HOOKS)
@requires_role("admin")
@documented(body=schemas.webhook, response=schemas.webhook, status=201,
            responses={400: BAD_HOOK})
def create_org_webhook(org):
    """Create an organization webhook (the service generates its `name`)."""
    return _create(org)


@bp.get(ORG_HOOKS)
@requires_role("admin")
@documented(response=schemas.webhooks)
def list_org_webhooks(org):
    """The organization's webhooks (a bare array)."""
    return _list(org)


@bp.get(ORG_HOOKS + "/<hook_name>")
@requires_role("admin")
@documented(response=schemas.webhook)
def get_org_webhook(org, hook_name):
    """One organization webhook (`hasSecret`, never the secret)."""
    return _get(org, hook_name)


@bp.patch(ORG_HOOKS + "/<hook_name>")
@requires_role("admin")
@documented(body=schemas.webhook, response=schemas.webhook, responses={400: BAD_HOOK})
def update_org_webhook(org, hook_name):
    """Replace an organization webhook's settings (a missing `secret` keeps it,
    `__remove-secret` clears it)."""
    return _update(org, hook_name)


@bp.delete(ORG_HOOKS + "/<hook_name>")
@requires_role("admin")
@documented(status=204)
def delete_org_webhook(org, hook_name):
    """Delete an organization webhook and its deliveries."""
    return _delete(org, hook_name)


@bp.post(ORG_HOOKS + "/<hook_name>/ping")
@requires_role("admin")
@documented(response=schemas.delivery)
def ping_org_webhook(org, hook_name):
    """Send a ping now (bypassing the queue) and answer with the delivery."""
    return _ping(org, hook_name)


@bp.get(ORG_HOOKS + "/<hook_name>/deliveries")
@requires_role("admin")
@documented(response=schemas.deliveries)
def org_webhook_deliveries(org, hook_name):
    """The webhook's delivery attempts, newest first (the last 100)."""
    return _deliveries(org, hook_name)


@bp.post(ORG_HOOKS + "/<hook_name>/deliveries/<event_id>/redeliver")
@requires_role("admin")
@documented(response=schemas.delivery, responses={404: "Not Found: no such webhook or event"})
def redeliver_org_webhook_event(org, hook_name, event_id):
    """Send one of the webhook's events again now and answer with the delivery."""
    return _redeliver(org, hook_name, event_id)


# --- stack hooks ----------------------------------------------------------------------------------

@bp.post(STACK_HOOKS)
@requires_role("admin")
@documented(body=schemas.webhook, response=schemas.webhook, status=201,
            responses={400: BAD_HOOK})
def create_stack_webhook(org, project, stack):
    """Create a stack webhook (the service generates its `name`)."""
    return _create(org, project, stack)


@bp.get(STACK_HOOKS)
@requires_role("admin")
@documented(response=schemas.webhooks)
def list_stack_webhooks(org, project, stack):
    """The stack's webhooks (a bare array)."""
    return _list(org, project, stack)


@bp.get(STACK_HOOKS + "/<hook_name>")
@requires_role("admin")
@documented(response=schemas.webhook)
def get_stack_webhook(org, project, stack, hook_name):
    """One stack webhook (`hasSecret`, never the secret)."""
    return _get(org, hook_name, project, stack)


@bp.patch(STACK_HOOKS + "/<hook_name>")
@requires_role("admin")
@documented(body=schemas.webhook, response=schemas.webhook, responses={400: BAD_HOOK})
def update_stack_webhook(org, project, stack, hook_name):
    """Replace a stack webhook's settings (a missing `secret` keeps it, `__remove-secret`
    clears it)."""
    return _update(org, hook_name, project, stack)


@bp.delete(STACK_HOOKS + "/<hook_name>")
@requires_role("admin")
@documented(status=204)
def delete_stack_webhook(org, project, stack, hook_name):
    """Delete a stack webhook and its deliveries."""
    return _delete(org, hook_name, project, stack)


@bp.post(STACK_HOOKS + "/<hook_name>/ping")
@requires_role("admin")
@documented(response=schemas.delivery)
def ping_stack_webhook(org, project, stack, hook_name):
    """Send a ping now (bypassing the queue) and answer with the delivery."""
    return _ping(org, hook_name, project, stack)


@bp.get(STACK_HOOKS + "/<hook_name>/deliveries")
@requires_role("admin")
@documented(response=schemas.deliveries)
def stack_webhook_deliveries(org, project, stack, hook_name):
    """The webhook's delivery attempts, newest first (the last 100)."""
    return _deliveries(org, hook_name, project, stack)


@bp.post(STACK_HOOKS + "/<hook_name>/deliveries/<event_id>/redeliver")
@requires_role("admin")
@documented(response=schemas.delivery, responses={404: "Not Found: no such webhook or event"})
def redeliver_stack_webhook_event(org, project, stack, hook_name, event_id):
    """Send one of the webhook's events again now and answer with the delivery."""
    return _redeliver(org, hook_name, event_id, project, stack)


# --- environment hooks ----------------------------------------------------------------------------
# `pulumi env webhook`; the environment's admin permission (app/auth.py), a team grant included.

@bp.post(ENV_HOOKS)
@requires_role("admin")
@documented(body=schemas.webhook, response=schemas.webhook, status=201,
            responses={400: BAD_HOOK})
def create_environment_webhook(org, project, env):
    """Create an environment webhook (the service generates its `name`)."""
    return _create(org, project, env=env)


@bp.get(ENV_HOOKS)
@requires_role("admin")
@documented(response=schemas.webhooks)
def list_environment_webhooks(org, project, env):
    """The environment's webhooks (a bare array)."""
    return _list(org, project, env=env)


@bp.get(ENV_HOOKS + "/<hook_name>")
@requires_role("admin")
@documented(response=schemas.webhook)
def get_environment_webhook(org, project, env, hook_name):
    """One environment webhook (`hasSecret`, never the secret)."""
    return _get(org, hook_name, project, env=env)


@bp.patch(ENV_HOOKS + "/<hook_name>")
@requires_role("admin")
@documented(body=schemas.webhook, response=schemas.webhook, responses={400: BAD_HOOK})
def update_environment_webhook(org, project, env, hook_name):
    """Replace an environment webhook's settings (a missing `secret` or `format` keeps it,
    `__remove-secret` clears the secret)."""
    return _update(org, hook_name, project, env=env)


@bp.delete(ENV_HOOKS + "/<hook_name>")
@requires_role("admin")
@documented(status=204)
def delete_environment_webhook(org, project, env, hook_name):
    """Delete an environment webhook and its deliveries."""
    return _delete(org, hook_name, project, env=env)


@bp.post(ENV_HOOKS + "/<hook_name>/ping")
@requires_role("admin")
@documented(response=schemas.delivery)
def ping_environment_webhook(org, project, env, hook_name):
    """Send a ping now (bypassing the queue) and answer with the delivery."""
    return _ping(org, hook_name, project, env=env)


@bp.get(ENV_HOOKS + "/<hook_name>/deliveries")
@requires_role("admin")
@documented(response=schemas.deliveries)
def environment_webhook_deliveries(org, project, env, hook_name):
    """The webhook's delivery attempts, newest first (the last 100)."""
    return _deliveries(org, hook_name, project, env=env)


@bp.post(ENV_HOOKS + "/<hook_name>/deliveries/<event_id>/redeliver")
@requires_role("admin")
@documented(response=schemas.delivery, responses={404: "Not Found: no such webhook or event"})
def redeliver_environment_webhook_event(org, project, env, hook_name, event_id):
    """Send one of the webhook's events again now and answer with the delivery."""
    return _redeliver(org, hook_name, event_id, project, env=env)
