"""/healthz, /readyz and /metrics in one process (several gunicorn workers: tests/test_nginx.py)."""
import json

import psycopg2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from tests.support.apps import make_config
from tests.support.deployments import untyped
from tests.support.updates import STACK, Operation, make_stack
from tests.support.postgres import throwaway_database

def scrape(client, headers=None):
    """{(sample name, ((label, value), ...)): value} of one /metrics response."""
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def requests_of(samples, route, method, status):
    labels = (("method", method), ("route", route), ("status", str(status)))
    return samples.get(("pulumi_service_http_requests_total", labels), 0)


def call(client, method, path, **kwargs):
    """A request whose response is closed, as a server closes it (the access log and the
    request metrics are written then)."""
    response = client.open(path, method=method, **kwargs)
    response.close()
    return response


@pytest.fixture
def app_with(database_url):
    def make(**settings):
        return create_app(make_config(database_url, **settings))
    return make


@pytest.fixture
def lost_database(postgres):
    """An app whose database went away after it started."""
    with throwaway_database(postgres.url()) as url:
        app = create_app(make_config(url, AUTO_MIGRATE=True))
    return app.test_client()


@pytest.fixture
def behind_database(postgres):
    """An app whose database lacks the newest migration (the code was upgraded, not the schema)."""
    with throwaway_database(postgres.url()) as url:
        app = create_app(make_config(url, AUTO_MIGRATE=True))
        conn = psycopg2.connect(url)
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM schema_migrations WHERE version = "
                        "(SELECT max(version) FROM schema_migrations) RETURNING name")
            newest = cur.fetchone()[0]
        conn.close()
        yield app.test_client(), newest


def test_healthz_answers_without_credentials(anonymous):
    response = anonymous.client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_answers_while_the_database_is_down(lost_database):
    assert lost_database.get("/healthz").status_code == 200


def test_readyz_is_ready_with_a_current_schema(anonymous):
    response = anonymous.client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}


def test_readyz_is_503_when_the_database_cannot_be_reached(lost_database):
    response = lost_database.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {
        "code": 503, "message": "Service Unavailable: the database cannot be reached"}


def test_readyz_is_503_while_migrations_are_pending(behind_database):
    client, newest = behind_database
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {
        "code": 503, "message": f"Service Unavailable: database migrations pending: {newest} "
                                "(run `pulumi-service db upgrade`)"}


def test_metrics_count_requests_by_route_template_method_and_status(app, acme):
    client = app.test_client()
    route = "/api/stacks/<org>/<project>/<stack>"
    before = requests_of(scrape(client), route, "GET", 404)
    for name in ("one", "two"):
        call(client, "GET", f"/api/stacks/acme/website/{name}", headers=acme["viewer"].headers())
    samples = scrape(client)
    assert requests_of(samples, route, "GET", 404) == before + 2
    assert not any("website" in dict(labels).get("route", "") for _, labels in samples)


def test_metrics_time_requests_in_a_histogram(app, acme):
    client = app.test_client()
    key = ("pulumi_service_http_request_duration_seconds_count",
           (("method", "GET"), ("route", "/api/user"), ("status", "200")))
    before = scrape(client).get(key, 0)
    call(client, "GET", "/api/user", headers=acme["viewer"].headers())
    samples = scrape(client)
    assert samples[key] == before + 1
    bucket = tuple(sorted(key[1] + (("le", "+Inf"),)))
    assert samples[("pulumi_service_http_request_duration_seconds_bucket", bucket)] == before + 1


def test_metrics_count_requests_that_matched_no_route(app):
    client = app.test_client()
    before = requests_of(scrape(client), "(unmatched)", "GET", 404)
    call(client, "GET", "/no/such/page/at/all/here")  # fewer segments: a console page
    assert requests_of(scrape(client), "(unmatched)", "GET", 404) == before + 1


def test_metrics_observe_the_size_of_a_stored_checkpoint(app, acme):
    client = app.test_client()
    state = {"version": 3, "deployment": {"manifest": {}, "resources": [{"urn": "u", "x": "y" * 5000}]}}
    size = len(json.dumps(state, separators=(",", ":")).encode())
    before = scrape(client)
    response = acme["member"].post("/api/stacks/acme/website", body={"stackName": "dev", "state": state})
    assert response.status_code == 200
    after = scrape(client)
    count, total = "pulumi_service_checkpoint_size_bytes_count", "pulumi_service_checkpoint_size_bytes_sum"
    assert after[(count, ())] == before.get((count, ()), 0) + 1
    assert after[(total, ())] == before.get((total, ()), 0) + size


def checkpoint_sizes(client):
    """(count, sum) of the checkpoint size histogram."""
    samples = scrape(client)
    return (samples.get(("pulumi_service_checkpoint_size_bytes_count", ()), 0),
            samples.get(("pulumi_service_checkpoint_size_bytes_sum", ()), 0))


def test_metrics_observe_a_full_checkpoint_of_an_update(app, acme):
    client = app.test_client()
    make_stack(acme["member"])
    op = Operation(acme["member"])
    op.start()
    deployment = json.dumps(untyped(3)["deployment"], separators=(",", ":"))
    stored = '{"version":3,"deployment":' + deployment + "}"
    count, total = checkpoint_sizes(client)
    response = op.lease_call("PATCH", "/checkpoint",
                             data='{"isInvalid":false,"version":3,"deployment":' + deployment + "}")
    assert response.status_code == 204
    assert checkpoint_sizes(client) == (count + 1, total + len(stored.encode()))


def test_metrics_observe_an_imported_state(app, acme):
    client = app.test_client()
    make_stack(acme["member"])
    sent = json.dumps(untyped(2), separators=(",", ":"))
    count, total = checkpoint_sizes(client)
    response = acme["member"].post(f"{STACK}/import", data=sent)
    assert response.status_code == 200, response.get_json()
    assert checkpoint_sizes(client) == (count + 1, total + len(sent.encode()))


def test_metrics_report_operations_in_progress_by_kind(app, acme, db):
    client = app.test_client()
    assert acme["member"].post("/api/stacks/acme/website", body={"stackName": "dev"}).status_code == 200
    with db, db.cursor() as cur:
        cur.execute("SELECT id FROM stacks WHERE name = 'dev'")
        stack_id = cur.fetchone()["id"]
        cur.execute("INSERT INTO updates (id, stack_id, kind, dry_run, status) VALUES "
                    "(gen_random_uuid(), %(s)s, 'update', false, 'running'), "
                    "(gen_random_uuid(), %(s)s, 'preview', true, 'running'), "
                    "(gen_random_uuid(), %(s)s, 'preview', true, 'running'), "
                    "(gen_random_uuid(), %(s)s, 'update', false, 'succeeded')", {"s": stack_id})
    samples = scrape(client)
    assert samples[("pulumi_service_active_updates", (("kind", "update"),))] == 1
    assert samples[("pulumi_service_active_updates", (("kind", "preview"),))] == 2
    assert samples[("pulumi_service_active_updates", (("kind", "destroy"),))] == 0
    assert samples[("pulumi_service_database_up", ())] == 1


def test_metrics_report_the_database_pool(app, acme):
    client = app.test_client()
    call(client, "GET", "/api/user", headers=acme["viewer"].headers())
    samples = scrape(client)
    assert samples[("pulumi_service_db_pool_max_connections", ())] == app.config["DB_POOL_MAX"]
    assert samples[("pulumi_service_db_pool_connections", (("state", "idle"),))] >= 1
    assert ("pulumi_service_db_pool_connections", (("state", "in_use"),)) in samples


def test_metrics_are_served_while_the_database_is_down(lost_database):
    samples = scrape(lost_database)
    assert samples[("pulumi_service_database_up", ())] == 0
    assert not any(name == "pulumi_service_active_updates" for name, _ in samples)


def test_metrics_need_the_bearer_token_when_one_is_set(app_with):
    client = app_with(METRICS_TOKEN="s3cret-scrape").test_client()
    response = client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.get_json()["code"] == 401
    assert client.get("/metrics").status_code == 401
    assert scrape(client, {"Authorization": "Bearer s3cret-scrape"})


def test_metrics_can_be_turned_off(app_with):
    response = app_with(METRICS_ENABLED=False).test_client().get("/metrics")
    assert response.status_code == 404
    assert response.get_json() == {"code": 404, "message": "Not Found: metrics are disabled (METRICS_ENABLED)"}
