"""Fuzzing: schemathesis generates requests from the OpenAPI document the app serves and calls
every operation with an admin's credentials. Checked: no 5xx, every response conforms to the
document (status, content type, headers, body schema), schema-valid requests are accepted and
invalid ones refused, and every error body is {"code": <status>, "message": ...}.

In CI: in-process, derandomized (the same cases every run), about 2000 cases. bench/fuzz.py runs
the same test longer, seeded, against a real gunicorn (FUZZ_* settings below). Each defect found
has a regression test in test_fuzz_regressions.py."""
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app import create_app
from app.auth import hash_token
from app.cli import create_user
from tests.support.apps import make_config
from app.db import connect
from app.queries import queries
from tests import fuzzing
from tests.support.routes import collect_app

# About FUZZ_TOTAL_EXAMPLES cases in all (a couple of minutes on 2 cores), shared evenly by the
# operations of the document (each gets at least MIN_EXAMPLES); bench/fuzz.py sets the
# number per operation instead (FUZZ_EXAMPLES_PER_OPERATION).
TOTAL_EXAMPLES = int(os.environ.get("FUZZ_TOTAL_EXAMPLES", "2000"))
MIN_EXAMPLES = 10
# bench/fuzz.py: a real gunicorn instead of the app in-process, and a seed of its own
# (pytest --hypothesis-seed) instead of the fixed derandomized cases.
ON_GUNICORN = os.environ.get("FUZZ_GUNICORN") == "1"
DERANDOMIZE = os.environ.get("FUZZ_RANDOM") != "1"

# The document as the app serves it, fetched at collection (no database is needed for it); the
# requests go to `target`, which has one.
served = collect_app().test_client().get("/api/openapi")
assert served.status_code == 200, served.get_data(as_text=True)
schema = fuzzing.install(schemathesis.openapi.from_dict(served.get_json(), config=fuzzing.config()))
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES_PER_OPERATION") or fuzzing.per_operation(
    TOTAL_EXAMPLES, fuzzing.operation_count(served.get_json()), MIN_EXAMPLES))


@pytest.fixture(scope="module")
def target(database_url):
    # The fuzzer is one client: counting its (deliberately) bad credentials would only make
    # it meet 429s.
    if not ON_GUNICORN:
        yield {"app": create_app(make_config(database_url, AUTH_FAIL_LIMIT=0)),
               "base_url": "http://localhost"}
        return
    from tests.support.servers import Service

    service = Service(database_url, env={"AUTH_FAIL_LIMIT": "0"}).start()
    yield {"app": None, "base_url": service.url}
    service.stop()


def post(target, path, body):
    """(status, JSON body) of a POST to the service under test, as the fuzzer's caller."""
    headers = {"Accept": fuzzing.ACCEPT, "Authorization": f"token {fuzzing.TOKEN}"}
    if target["app"] is not None:
        response = target["app"].test_client().post(path, json=body, headers=headers)
        return response.status_code, response.get_json()
    import requests

    response = requests.post(target["base_url"] + path, json=body, headers=headers, timeout=60)
    return response.status_code, response.json()


@pytest.fixture
def world(database_url, target):
    conn = connect(database_url)
    try:
        with conn:
            fuzzing.make_world(conn, create_user, hash_token, queries)
    finally:
        conn.close()
    fuzzing.encrypt_samples(lambda path, body: post(target, path, body))


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=DERANDOMIZE, database=None,
          deadline=None, suppress_health_check=list(HealthCheck))
def test_operation(case, target, world):
    # The app (if any) goes on the schema, so that the fuzzer's own probes (e.g. the same
    # request without credentials) take the same way as the case.
    case.operation.schema.app = target["app"]
    via = {"app": target["app"]} if target["app"] is not None else {}
    case.call_and_validate(base_url=target["base_url"], **via,
                           additional_checks=[fuzzing.error_body_is_the_error_shape])
