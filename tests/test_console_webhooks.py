"""Webhooks in the console: an organization's and a stack's hooks for their admins (the API's
rules: the URL guard, the sealed secret never shown), their deliveries, a ping to a real local
receiver, and delete."""
import re

import pytest

from app import create_app
from tests.support.apps import make_config
from tests.support.console import EVIL, csrf_of, signed_in
from tests.support.receiver import Receiver
from tests.support.updates import make_stack


@pytest.fixture(scope="module")
def app(database_url):
    """The console's app, allowed to call the loopback receiver."""
    return create_app(make_config(database_url, WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32",
                                  WEBHOOK_TIMEOUT_SECONDS=5))


def _add(client, base, url, **extra):
    page = client.get(base)
    assert page.status_code == 200
    return client.post(base, data={"csrf_token": csrf_of(page), "display_name": f"ci {EVIL}",
                                   "payload_url": url, "format": "raw", "active": "y", **extra})


def test_org_admins_add_ping_and_delete_a_webhook(app, acme):
    admin = signed_in(app, acme["admin"].token)
    base = "/acme/settings/webhooks"
    assert "No webhooks yet" in admin.get(base).get_data(as_text=True)
    refused = _add(admin, base, "http://10.1.2.3/hook")
    assert refused.status_code == 400 and "private" in refused.get_data(as_text=True)
    with Receiver(secret="s3cret-value") as receiver:
        made = _add(admin, base, receiver.url, secret="s3cret-value", groups=["stacks"])
        assert made.status_code == 303
        hook_path = made.headers["Location"]
        name = hook_path.rsplit("/", 1)[1]
        api = acme["admin"].get(f"/api/orgs/acme/hooks/{name}").get_json()
        assert api["hasSecret"] and api["groups"] == ["stacks"]
        page = admin.get(hook_path)
        text = page.get_data(as_text=True)
        assert "s3cret-value" not in text and EVIL not in text and "No deliveries yet" in text
        pinged = admin.post(f"{hook_path}/ping", data={"csrf_token": csrf_of(page)})
        assert pinged.status_code == 200 and "Ping sent" in pinged.get_data(as_text=True)
        got = receiver.wait_for(1)
        assert got[0]["signed"]
    listing = admin.get(base).get_data(as_text=True)
    assert receiver.url in listing and "signed" in listing
    assert "ping" in admin.get(hook_path).get_data(as_text=True)
    assert admin.post(f"{hook_path}/delete", data={}).status_code == 400  # no CSRF token
    deleted = admin.post(f"{hook_path}/delete", data={"csrf_token": csrf_of(page)})
    assert deleted.status_code == 303 and deleted.headers["Location"] == base
    assert acme["admin"].get(f"/api/orgs/acme/hooks/{name}").status_code == 404
    log = acme["admin"].get("/api/orgs/acme/auditlogs/v2").get_json()["auditLogEvents"]
    assert {"webhook.created", "webhook.deleted"} <= {e["event"] for e in log}
    member = signed_in(app, acme["member"].token)
    assert member.get(base).status_code == 403
    assert 'settings/webhooks"' not in member.get("/acme").get_data(as_text=True)


def test_stack_admins_manage_the_stacks_webhooks(app, acme):
    make_stack(acme["admin"], name="dev")
    base = "/acme/proj/dev/settings/webhooks"
    member = signed_in(app, acme["member"].token)
    assert member.get(base).status_code == 403
    admin = signed_in(app, acme["admin"].token)
    assert 'href="/acme/proj/dev/settings/webhooks"' in admin.get(
        "/acme/proj/dev/settings").get_data(as_text=True)
    form = admin.get(base).get_data(as_text=True)
    assert 'value="stacks"' in form and 'value="environments"' not in form
    made = _add(admin, base, "http://127.0.0.1:9/hook")
    assert made.status_code == 303 and made.headers["Location"].startswith(base + "/")
    hooks = acme["admin"].get("/api/stacks/acme/proj/dev/hooks").get_json()
    assert [h["payloadUrl"] for h in hooks] == ["http://127.0.0.1:9/hook"]
    assert acme["admin"].get("/api/orgs/acme/hooks").get_json() == []
    assert re.search(r'href="/acme/proj/dev/settings/webhooks/[0-9a-f]+"',
                     admin.get(base).get_data(as_text=True))
