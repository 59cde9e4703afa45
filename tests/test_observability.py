"""Request ids, the JSON access-log line and the trusted proxies, in one process (through gunicorn
and nginx: tests/test_nginx.py and tests/test_logs.py)."""
import gzip
import json
import logging
import re

import pytest

from app import create_app
from app.auth import public
from tests.support.apps import make_config


@pytest.fixture
def app_with(database_url):
    def make(**settings):
        return create_app(make_config(database_url, **settings))
    return make


def access_lines(caplog):
    return [r for r in caplog.records if r.name == "app.access"]


def call(client, method, path, **kwargs):
    """A request whose response is closed, as a server closes it (the access line is written then)."""
    response = client.open(path, method=method, **kwargs)
    response.close()
    return response


def test_a_request_id_is_made_when_the_caller_sends_none(anonymous):
    response = call(anonymous.client, "GET", "/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_the_callers_request_id_is_echoed(anonymous):
    response = call(anonymous.client, "GET", "/healthz", headers={"X-Request-ID": "ci-run-42.7"})
    assert response.headers["X-Request-ID"] == "ci-run-42.7"


def test_an_unusable_request_id_is_replaced(anonymous):
    response = call(anonymous.client, "GET", "/healthz", headers={"X-Request-ID": "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_the_access_line_names_route_caller_org_status_and_duration(acme, caplog):
    caplog.set_level(logging.INFO, "app.access")
    response = acme["viewer"].get("/api/stacks/acme/website/dev", headers={"X-Request-ID": "req-1"})
    response.close()
    assert response.status_code == 404
    [line] = access_lines(caplog)
    assert line.request_id == "req-1"
    assert line.method == "GET"
    assert line.route == "/api/stacks/<org>/<project>/<stack>"
    assert line.path == "/api/stacks/acme/website/dev"
    assert line.status == 404
    assert line.user == "vera"
    assert line.org == "acme"
    assert line.duration_ms > 0


def test_the_access_line_counts_a_gzip_body_as_received_and_decompressed(acme, caplog):
    caplog.set_level(logging.INFO, "app.access")
    body = json.dumps({"stackName": "dev", "padding": "x" * 5000}).encode()
    sent = gzip.compress(body)
    response = acme["member"].post("/api/stacks/acme/website", data=sent,
                                   headers={"Content-Encoding": "gzip",
                                            "Content-Type": "application/json"})
    response.close()
    assert response.status_code == 200
    [line] = access_lines(caplog)
    assert (line.request_bytes, line.body_bytes) == (len(sent), len(body))


def test_a_body_refused_before_routing_is_logged_too(app_with, acme, caplog):
    caplog.set_level(logging.INFO, "app.access")
    client = app_with(MAX_BODY_BYTES=10).test_client()
    response = call(client, "POST", "/api/stacks/acme/website", data=b"x" * 11,
                    headers=acme["member"].headers())
    assert response.status_code == 413
    [line] = access_lines(caplog)
    assert (line.status, line.route, line.user) == (413, None, None)
    assert line.request_id == response.headers["X-Request-ID"]


def test_a_500_carries_the_request_id_in_body_headers_and_log(app_with, caplog):
    app = app_with()

    @public
    def explode():
        raise RuntimeError("boom")

    app.add_url_rule("/explode", view_func=explode)
    caplog.set_level(logging.INFO)
    response = call(app.test_client(), "GET", "/explode", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.get_json()["requestId"] == "req-500"
    assert response.headers["X-Request-ID"] == "req-500"
    assert response.headers["X-Pulumi-Request-ID"] == "req-500"
    [line] = access_lines(caplog)
    assert (line.request_id, line.status) == ("req-500", 500)
    assert any("req-500" in r.getMessage() and r.exc_info for r in caplog.records)


def test_forwarded_for_is_ignored_without_trusted_proxies(app_with, caplog):
    caplog.set_level(logging.INFO, "app.access")
    client = app_with().test_client()
    call(client, "GET", "/healthz", headers={"X-Forwarded-For": "203.0.113.9"},
         environ_base={"REMOTE_ADDR": "192.0.2.1"})
    [line] = access_lines(caplog)
    assert line.remote_addr == "192.0.2.1"


def test_forwarded_for_names_the_client_behind_a_trusted_proxy(app_with, caplog):
    caplog.set_level(logging.INFO, "app.access")
    client = app_with(TRUSTED_PROXY_COUNT=1).test_client()
    call(client, "GET", "/healthz", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"},
         environ_base={"REMOTE_ADDR": "192.0.2.1"})
    [line] = access_lines(caplog)
    assert line.remote_addr == "203.0.113.9"
