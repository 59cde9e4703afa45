"""Webhooks: organization, stack and ESC environment hooks (Pulumi's Webhook shapes, the secret
sealed with the master key and never returned), the events the service emits into the outbox in
the transaction of the change that makes them, their payloads and formats, and sending one event
(the worker, ping and redeliver). Functions take the connection and never commit."""
import hashlib
import hmac
import json
import random
import secrets as random_secrets
import time
import uuid

from flask import current_app

from . import outbound, secrets
from .api import stack_ref
from .environments import env_ref
from .errors import ApiError
from .queries import queries

REMOVE_SECRET = "__remove-secret"  # PATCH `secret` that clears it (the CLI's sentinel)
FORMATS = ("raw", "slack", "ms_teams")
MAX_DISPLAY_NAME = 100
MAX_SECRET = 1024

# Pulumi's event groups and their filters (as the CLI validates them).
STACK_EVENTS = [f"{op}_{result}" for op in ("update", "preview", "destroy", "refresh", "import")
                for result in ("succeeded", "failed")]
GROUPS = {
    "stacks": ["stack_created", "stack_deleted"] + STACK_EVENTS,
    "deployments": ["deployment_queued", "deployment_started", "deployment_succeeded",
                    "deployment_failed", "drift_detected", "drift_detection_succeeded",
                    "drift_detection_failed", "drift_remediation_succeeded",
                    "drift_remediation_failed", "deployment_file_ingestion_failed"],
    "policies": ["policy_violation_mandatory", "policy_violation_advisory"],
    "environments": ["environment_created", "environment_deleted",
                     "environment_revision_created", "environment_revision_retracted",
                     "environment_revision_tag_created", "environment_revision_tag_deleted",
                     "environment_revision_tag_updated", "environment_tag_created",
                     "environment_tag_deleted", "environment_tag_updated",
                     "imported_environment_changed"],
    "change_requests": [f"change_request_{what}" for what in (
        "created", "updated", "approved", "unapproved", "closed", "applied", "submitted")],
}
STACK_HOOK_GROUPS = ("stacks", "deployments", "policies")
ENVIRONMENT_HOOK_GROUPS = ("environments", "change_requests")
ORG_ONLY_EVENTS = {"stack_created", "stack_deleted", "environment_created", "environment_deleted"}
GROUP_OF = {event: group for group, events in GROUPS.items() for event in events}


# --- hooks --------------------------------------------------------------------------------------

def _allowed_networks():
    return outbound.parse_networks(current_app.config["WEBHOOK_ALLOWED_NETWORKS"])


class Owner:
    """Whose hooks: the organization's (no row), a stack's or an environment's (its row)."""

    def __init__(self, stack=None, env=None):
        self.stack, self.env = stack, env
        self.scope = "stack" if stack else "environment" if env else "organization"
        self.ids = {"stack_id": stack["id"] if stack else None,
                    "environment_id": env["id"] if env else None}

    def path(self):
        """(project, stack or environment name) as the URL names them; () for the organization."""
        if self.stack:
            return self.stack["project_name"], self.stack["stack_name"]
        if self.env:
            return self.env["project"], self.env["name"]
        return ()

    def groups(self):
        return {"stack": STACK_HOOK_GROUPS, "environment": ENVIRONMENT_HOOK_GROUPS}.get(
            self.scope, tuple(GROUPS))

    def where(self, org):
        """The owner as a reader names it (messages, audit records)."""
        if self.stack:
            return stack_ref(org, *self.path())
        if self.env:
            return f"environment {env_ref(org, *self.path())}"
        return org


def _checked(body, owner, keep_format="raw"):
    """The hook's settings from a Webhook body, or 400 naming what is wrong. A body without a
    format keeps `keep_format` (the ESC CLI's edit sends one only to change it)."""
    scope = owner.scope
    groups = list(dict.fromkeys(body.get("groups") or []))
    filters = list(dict.fromkeys(body.get("filters") or []))
    allowed_groups = owner.groups()
    for group in groups:
        if group not in allowed_groups:
            raise ApiError(400, f"Bad Request: unknown event group {group!r} for {scope} hooks; "
                                f"valid groups: {', '.join(allowed_groups)}")
    for event in filters:
        if GROUP_OF.get(event) not in allowed_groups or (
                scope != "organization" and event in ORG_ONLY_EVENTS):
            raise ApiError(400, f"Bad Request: unknown event filter {event!r} for {scope} hooks")
    fmt = body.get("format") or keep_format
    if fmt == "pulumi_deployments":
        raise ApiError(400, "Bad Request: the pulumi_deployments format needs Pulumi Deployments, "
                            "which this service does not run")
    if fmt not in FORMATS:
        raise ApiError(400, f"Bad Request: unknown format {fmt!r}; valid formats: "
                            f"{', '.join(FORMATS)}")
    # displayName's length and the URL's form are the schema's (schemas/webhooks.py).
    name = body["display_name"]
    url = body["payload_url"]
    try:
        outbound.check_url(url, _allowed_networks())
    except outbound.Refused as err:
        raise ApiError(400, f"Bad Request: {err}") from None
    return {"display_name": name, "payload_url": url, "active": body.get("active", True),
            "format": fmt, "filters": filters, "groups": groups}


def _sealed_secret(conn, name, secret):
    if len(secret) > MAX_SECRET:
        raise ApiError(400, f"Bad Request: the secret is longer than {MAX_SECRET} characters")
    key_id, sealed = secrets.seal_webhook_secret(conn, secrets.keyring_of(current_app), name,
                                                 secret.encode("utf-8"))
    return {"secret_sealed": sealed, "secret_master_key_id": key_id}


def _check_owner(body, org, owner):
    """The body's organization (and stack or environment) must be the URL's, as Pulumi
    answers."""
    if body.get("organization_name") not in (None, "", org):
        raise ApiError(400, f"Bad Request: organizationName {body['organization_name']!r} does not "
                            f"match the organization in the URL ({org!r})")
    named = zip(("project_name", "env_name" if owner.env else "stack_name"), owner.path())
    for field, value in named:
        given = body.get(field)
        if given not in (None, "", value):
            raise ApiError(400, f"Bad Request: {field.replace('_n', 'N')} {given!r} does not "
                                f"match the URL ({value!r})")


ORGANIZATION = Owner()


def create(conn, org_id, org, body, owner=ORGANIZATION):
    """A new hook of the organization, a stack or an environment (`owner`), with a generated
    name."""
    _check_owner(body, org, owner)
    settings = _checked(body, owner)
    for _ in range(8):
        name = random_secrets.token_hex(4)
        secret = body.get("secret") or ""
        sealed = _sealed_secret(conn, name, secret) if secret and secret != REMOVE_SECRET else \
            {"secret_sealed": None, "secret_master_key_id": None}
        created = queries.insert_webhook(conn, org_id=org_id, name=name, **owner.ids,
                                         **settings, **sealed)
        if created is not None:
            return find(conn, org, name, owner)
    raise ApiError(409, "Conflict: could not generate a unique webhook name")


def find(conn, org, name, owner=ORGANIZATION):
    """The hook (locked), or 404."""
    row = queries.lock_webhook(conn, org_name=org, name=name, **owner.ids)
    if row is None:
        raise ApiError(404, f"Not Found: webhook '{name}' not found on {owner.where(org)}")
    return row


def list_hooks(conn, org, owner=ORGANIZATION):
    if owner.env is not None:
        return list(queries.environment_webhooks(conn, environment_id=owner.env["id"]))
    if owner.stack is not None:
        return list(queries.stack_webhooks(conn, stack_id=owner.stack["id"]))
    return list(queries.org_webhooks(conn, org_name=org))


def update(conn, org, name, body, owner=ORGANIZATION):
    """PATCH of the whole hook: a missing `secret` keeps it, REMOVE_SECRET clears it; a missing
    `format` keeps it."""
    row = find(conn, org, name, owner)
    _check_owner(body, org, owner)
    settings = _checked(body, owner, keep_format=row["format"])
    secret = body.get("secret")
    if secret == REMOVE_SECRET:
        sealed = {"secret_sealed": None, "secret_master_key_id": None}
    elif secret:
        sealed = _sealed_secret(conn, name, secret)
    else:
        sealed = {"secret_sealed": row["secret_sealed"],
                  "secret_master_key_id": row["secret_master_key_id"]}
    queries.update_webhook(conn, id=row["id"], **settings, **sealed)
    return find(conn, org, name, owner)


def delete(conn, org, name, owner=ORGANIZATION):
    row = find(conn, org, name, owner)
    queries.delete_webhook(conn, id=row["id"])
    return row


def created_record(row, where):
    """(target, description) of the audit record of a new hook on `where` (org or stack ref)."""
    return (f"webhook {row['name']}", f"created webhook {row['name']} ({row['display_name']}) "
                                      f"on {where} posting to {row['payload_url']}")


def deleted_record(row, where):
    return (f"webhook {row['name']}",
            f"deleted webhook {row['name']} ({row['display_name']}) of {where}")


def view(row):
    """A hook as Pulumi's WebhookResponse (schemas/webhooks.py names the JSON fields)."""
    found = {key: row[key] for key in ("name", "display_name", "payload_url", "active", "format",
                                       "filters", "groups", "has_secret")}
    found["organization_name"] = row["org_name"]
    for field in ("stack_name", "env_name"):
        if row[field] is not None:
            found["project_name"] = row["project_name"]
            found[field] = row[field]
    # The CLI's `get` prints this field; the secret itself never leaves the service, so this is
    # a fingerprint of the sealed value (it changes when the secret does), not a ciphertext.
    found["secret_ciphertext"] = (hashlib.sha256(bytes(row["secret_sealed"])).hexdigest()[:16]
                                  if row["secret_sealed"] is not None else "")
    return found


# --- events -------------------------------------------------------------------------------------

def _who(context):
    login = context["login"] or ""
    return ({"name": context["user_name"] or login, "githubLogin": login, "avatarUrl": ""},
            {"name": context["org_name"], "githubLogin": context["org_name"], "avatarUrl": ""})


def _enqueue(conn, context, stack_id, kind, event, payload, environment_id=None):
    queued = queries.enqueue_webhook_events(
        conn, org_id=context["org_id"], stack_id=stack_id, environment_id=environment_id,
        org_hooks_only=event in ORG_ONLY_EVENTS, kind=kind, event=event,
        event_group=GROUP_OF[event],
        payload=json.dumps(payload, separators=(",", ":")))
    if queued["queued"]:
        queries.notify_webhook_workers(conn)
    return queued["queued"]


def stack_changed(conn, org, project, stack, action, login):
    """`stack` (kind stack) events: action `created` or `deleted`, for organization hooks."""
    context = queries.webhook_event_context(conn, org_name=org, login=login, stack_id=None)
    user, organization = _who(context)
    return _enqueue(conn, context, None, "stack", f"stack_{action}", {
        "user": user, "organization": organization, "action": action,
        "projectName": project, "stackName": stack})


def environment_changed(conn, org, project, name, event, login, revision=None, tag=None):
    """An ESC environment event (group `environments`: environment_created,
    environment_revision_created, environment_tag_deleted ...) of `org/project/name`, for the
    organization's hooks and the environment's own. Its kind is the event without the action
    (environment_revision ...); the payload names the revision and the tag when there are."""
    kind, action = event.rsplit("_", 1)
    fields = {"tagName": tag} if tag is not None else {}
    fields["action"] = action
    if revision is not None:
        fields["revision"] = revision
    return _environment_event(conn, org, project, name, login, kind, event, fields)


def imported_environment_changed(conn, org, importer, project, name, revision, login):
    """imported_environment_changed of environment `importer` (a row of
    environments.importers), which imports `project/name`, whose revision `revision` was just
    saved."""
    event = "imported_environment_changed"
    return _environment_event(conn, org, importer["project"], importer["name"], login, event,
                              event, {"affectedRevisions": [importer["number"]],
                                      "importedEnvironmentReference": {
                                          "projectName": project, "environmentName": name,
                                          "revision": revision}})


def _environment_event(conn, org, project, name, login, kind, event, fields):
    context = queries.environment_event_context(conn, org_name=org, project=project, name=name,
                                                login=login)
    user, organization = _who(context)
    payload = {"user": user, "organization": organization, "projectName": project,
               "environmentName": name, **fields}
    return _enqueue(conn, context, None, kind, event, payload,
                    environment_id=context["environment_id"])


def _update_url(org, project, stack, update):
    console = (current_app.config["CONSOLE_URL"] or "").rstrip("/")
    if not console:
        return None
    if update["dry_run"]:
        return f"{console}/{org}/{project}/{stack}/previews/{update['id']}"
    return f"{console}/{org}/{project}/{stack}/updates/{update['version']}"


def update_finished(conn, update_id):
    """The stack_update (or stack_preview) event of an update that just ended (completed,
    cancelled, abandoned, or an import)."""
    update = queries.finished_update_of_webhooks(conn, update_id=str(update_id))
    org, project, stack = update["org_name"], update["project_name"], update["stack_name"]
    operation = "preview" if update["dry_run"] else update["kind"]
    if operation not in ("update", "preview", "refresh", "destroy", "import"):
        return 0
    result = "succeeded" if update["status"] == "succeeded" else "failed"
    context = queries.webhook_event_context(conn, org_name=org, login=update["initiator_login"],
                                            stack_id=update["stack_id"])
    user, organization = _who(context)
    payload = {"user": user, "organization": organization, "projectName": project,
               "stackName": stack}
    url = _update_url(org, project, stack, update)
    if url:
        payload["updateUrl"] = url
    payload.update({"kind": update["kind"], "result": result,
                    "resourceChanges": update["resource_changes"] or {},
                    "isPreview": update["dry_run"]})
    kind = "stack_preview" if update["dry_run"] else "stack_update"
    return _enqueue(conn, context, update["stack_id"], kind, f"{operation}_{result}", payload)


# --- formats ------------------------------------------------------------------------------------

def summary(kind, payload):
    """One line saying what happened, for chat formats."""
    who = payload.get("user", {}).get("githubLogin") or "someone"
    where = "/".join(payload[k] for k in ("projectName", "stackName", "environmentName")
                     if payload.get(k))
    org = payload.get("organization", {}).get("name", "")
    ref = f"{org}/{where}" if where else org
    if kind == "stack":
        return f"{who} {payload.get('action')} stack {ref}"
    if kind in ("stack_update", "stack_preview"):
        changes = ", ".join(f"{op} {n}" for op, n in sorted(
            (payload.get("resourceChanges") or {}).items()))
        what = "preview" if payload.get("isPreview") else payload.get("kind")
        return (f"{what} of {ref} {payload.get('result')} (by {who})"
                + (f": {changes}" if changes else ""))
    action, revision, tag = payload.get("action"), payload.get("revision"), payload.get("tagName")
    if kind == "environment":
        return f"{who} {action} environment {ref}"
    if kind == "environment_revision":
        return f"{who} {action} revision {revision} of environment {ref}"
    if kind == "environment_revision_tag":
        return f"{who} {action} revision tag '{tag}' (revision {revision}) of environment {ref}"
    if kind == "environment_tag":
        return f"{who} {action} tag '{tag}' of environment {ref}"
    if kind == "imported_environment_changed":
        imported = payload.get("importedEnvironmentReference") or {}
        return (f"environment {ref} imports {org}/{imported.get('projectName')}/"
                f"{imported.get('environmentName')}, which {who} changed (revision "
                f"{imported.get('revision')})")
    return payload.get("message") or f"{kind} event from the Pulumi service"


def render(fmt, kind, payload_text):
    """The body to send for an event, in the hook's format."""
    if fmt == "raw":
        return payload_text.encode("utf-8")
    payload = json.loads(payload_text)
    text = summary(kind, payload)
    link = payload.get("updateUrl")
    failed = payload.get("result") == "failed"
    if fmt == "slack":
        body = {"text": text + (f" <{link}|View details>" if link else "")}
    else:  # ms_teams: an Office 365 connector card, which Teams incoming webhooks accept
        body = {"@type": "MessageCard", "@context": "https://schema.org/extensions",
                "summary": text, "themeColor": "D50200" if failed else "2EB886",
                "title": f"Pulumi: {kind.replace('_', ' ')}", "text": text}
        if link:
            body["potentialAction"] = [{"@type": "OpenUri", "name": "View details",
                                        "targets": [{"os": "default", "uri": link}]}]
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def signature(secret, body):
    """Pulumi-Webhook-Signature: lowercase hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


# --- sending ------------------------------------------------------------------------------------

def send(conn, event, hook):
    """Send one event to its hook now and record the attempt (a webhook_deliveries row); returns
    (the delivery as WebhookDelivery fields, whether the receiver took it: a 2xx)."""
    config = current_app.config
    body = render(hook["format"], event["kind"], event["payload"])
    headers = {"Content-Type": "application/json", "User-Agent": "pulumi-service-webhooks/1",
               "Pulumi-Webhook-ID": str(event["id"]), "Pulumi-Webhook-Kind": event["kind"]}
    try:
        if hook["secret_sealed"] is not None:
            secret = secrets.open_webhook_secret(secrets.keyring_of(current_app),
                                                 hook["secret_master_key_id"],
                                                 hook["secret_sealed"], hook["name"])
            headers["Pulumi-Webhook-Signature"] = signature(secret, body)
    except secrets.MasterKeyError as err:
        # Never sent unsigned: recorded as a failed attempt (retried: the key may be configured).
        response = outbound.Response(0, "", "", 0, f"not sent: {err}")
    else:
        response = outbound.post(hook["payload_url"], body, headers,
                                 timeout=config["WEBHOOK_TIMEOUT_SECONDS"],
                                 allowed=_allowed_networks(),
                                 max_body=config["WEBHOOK_RESPONSE_BODY_BYTES"])
    shown = "\n".join(f"{k}: {v}" for k, v in headers.items() if k != "Pulumi-Webhook-Signature")
    delivery = {
        "event_id": str(event["id"]), "webhook_id": event["webhook_id"],
        "attempt": event["attempts"] + 1, "duration_ms": response.duration_ms,
        "request_url": hook["payload_url"], "request_headers": shown,
        "payload": body.decode("utf-8"), "response_code": response.status,
        "response_headers": response.headers, "response_body": response.body,
        "error": response.error,
    }
    recorded = queries.insert_delivery(conn, **delivery)
    delivery.update(kind=event["kind"], at=recorded["at"])
    return delivery, 200 <= response.status < 300


def retry_in(attempts):
    """Seconds before the next attempt after `attempts` failed ones (exponential, with up to
    50 % jitter so that hooks failing together do not retry together), or None to give up."""
    config = current_app.config
    if attempts >= config["WEBHOOK_MAX_ATTEMPTS"]:
        return None
    base = config["WEBHOOK_RETRY_BASE_SECONDS"] * 2 ** (attempts - 1)
    return base * (1 + random.random() / 2)


def deliver_due(conn):
    """Claim the next due event (SKIP LOCKED: other workers take others), send it and record the
    outcome, all in the caller's transaction, which holds the event until it ends: a worker that
    dies mid-delivery leaves the event due. False when nothing was due."""
    event = queries.claim_due_event(conn)
    if event is None:
        return False
    if not event["active"]:
        queries.finish_event_attempt(conn, id=event["id"], state="failed", retry_in=0)
        return True
    _, ok = send(conn, event, event)
    attempts = event["attempts"] + 1
    wait = None if ok else retry_in(attempts)
    state = "delivered" if ok else ("failed" if wait is None else "pending")
    queries.finish_event_attempt(conn, id=event["id"], state=state, retry_in=wait or 0)
    if not ok:
        queries.defer_webhook_events(conn, webhook_id=event["webhook_id"], event_id=event["id"],
                                     retry_in=wait or retry_in(1))
    return True


def ping(conn, hook):
    """Send a ping now (bypassing the queue); returns the delivery."""
    payload = json.dumps({"timestamp": int(time.time()), "message": "ping"},
                         separators=(",", ":"))
    created = queries.insert_sent_event(conn, webhook_id=hook["id"], kind="ping", event="ping",
                                        payload=payload)
    event = {"id": created["id"], "webhook_id": hook["id"], "kind": "ping", "payload": payload,
             "attempts": 0}
    return send(conn, event, hook)[0]


def redeliver(conn, hook, event_id):
    """Send an event of the hook again now; returns the delivery."""
    try:
        parsed = str(uuid.UUID(event_id))
    except ValueError:
        parsed = None
    event = parsed and queries.event_of_webhook(conn, event_id=parsed, webhook_id=hook["id"])
    if not event:
        raise ApiError(404, f"Not Found: webhook '{hook['name']}' has no event '{event_id}'")
    delivery, ok = send(conn, event, hook)
    queries.finish_event_attempt(conn, id=event["id"],
                                 state="delivered" if ok else event["state"], retry_in=0)
    return delivery


def delivery_view(row):
    return {"id": str(row["event_id"]), "kind": row["kind"], "payload": row["payload"],
            "timestamp": int(row["at"].timestamp()), "duration": row["duration_ms"],
            "request_url": row["request_url"], "request_headers": row["request_headers"],
            "response_code": row["response_code"], "response_headers": row["response_headers"],
            "response_body": row["response_body"] or row["error"]}


def deliveries(conn, hook, limit=100):
    return [delivery_view(r) for r in queries.webhook_deliveries(conn, webhook_id=hook["id"],
                                                                 limit=limit)]
