"""The read-only stack routes Pulumi's console client calls (pulumi-cloud-sdk StacksApi), against
a real gunicorn: each answer decodes into the SDK's model (it refuses missing required fields),
secrets come masked, and a viewer may read them all."""
import json
import uuid
from urllib.error import HTTPError

import pytest
import requests

from tests.support import pulumi_headers
from tests.support.api import user_with_token
from tests.support.console import SECRET
from tests.support.deployments import untyped
from tests.support.postgres import throwaway_database
from tests.support.sdk import Client
from tests.support.servers import Service
from tests.support.updates import program


@pytest.fixture(scope="module")
def served(tmp_path_factory, postgres):
    with throwaway_database(postgres.url()) as database_url:
        gunicorn = Service(database_url, workers=1, threads=4,
                           workdir=tmp_path_factory.mktemp("console-api")).start()
        yield gunicorn, database_url
        gunicorn.stop()


@pytest.fixture(scope="module")
def stack(served):
    """org/proj/dev at version 1 (an import of 3 resources, a secret output among them) and a
    preview run against it, made over HTTP as the CLI makes them; a viewer's SDK client."""
    gunicorn, database_url = served
    org = "org-" + uuid.uuid4().hex[:8]
    admin = user_with_token(database_url, "adm-" + uuid.uuid4().hex[:8], {org: "admin"})
    viewer_login = "vw-" + uuid.uuid4().hex[:8]
    viewer = user_with_token(database_url, viewer_login, {org: "viewer"})

    def call(method, path, body, token=admin, scheme="token"):
        response = requests.request(method, f"{gunicorn.url}/api/stacks/{org}/proj{path}",
                                    data=json.dumps(body), timeout=30, headers=pulumi_headers(
                                        Authorization=f"{scheme} {token}"))
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    call("POST", "", {"stackName": "dev"})
    state = untyped(3, stack="dev", project="proj")
    state["deployment"]["resources"][0]["outputs"] = {"password": SECRET, "answer": 42}
    call("POST", "/dev/import", state)
    preview = call("POST", "/dev/preview", program(dry_run=True))["updateID"]
    lease = call("POST", f"/dev/preview/{preview}", {})["token"]
    call("POST", f"/dev/preview/{preview}/complete", {"status": "succeeded"}, lease,
         "update-token")
    return {"org": org, "preview": preview,
            "viewer": Client(gunicorn.url, viewer, viewer_login).stacks}


def test_resources_latest_and_at_a_version_decode_with_secrets_masked(stack):
    for got in (stack["viewer"].get_latest_stack_resources(stack["org"], "proj", "dev"),
                stack["viewer"].get_stack_resources(stack["org"], "proj", "dev", 1)):
        assert got.version == 1 and got.region == ""
        types = [r.resource.type for r in got.resources]
        assert types == ["pulumi:pulumi:Stack", "test:index:Thing", "test:index:Thing"]
        root = got.resources[0].resource
        assert root.outputs == {"password": "[secret]", "answer": 42}
        assert got.resources[1].resource.parent == root.urn
        assert "SECRETCIPHERTEXT" not in json.dumps([r.resource.outputs for r in got.resources])


def test_resource_count_metadata_summary(stack):
    api, org = stack["viewer"], stack["org"]
    count = api.get_stack_resource_count(org, "proj", "dev")
    assert (count.resource_count, count.version) == (3, 1)
    meta = api.get_stack_metadata(org, "proj", "dev")
    assert (meta.id, meta.org_name, meta.project_name, meta.stack_name) == (
        f"{org}/proj/dev", org, "proj", "dev")
    summary = api.get_stack_update_summary(org, "proj", "dev", 1)
    assert summary.result.value == "succeeded" and summary.resource_count == 3
    assert summary.end_time >= summary.start_time > 0


def test_previews_activity_and_timeline(stack):
    api, org = stack["viewer"], stack["org"]
    previews = api.get_stack_previews(org, "proj", "dev", 1)
    assert [p.update_id for p in previews.updates] == [stack["preview"]]
    assert previews.updates[0].info.kind.value == "preview"
    activity = api.get_stack_activity(org, "proj", "dev")
    assert activity.total == 1 and activity.activity[0].update.info.kind.value == "import"
    timeline = api.get_update_timeline(org, "proj", "dev", 1)
    assert timeline.update.version == 1 and timeline.previews == []


def test_a_version_that_does_not_exist_is_404(stack):
    api, org = stack["viewer"], stack["org"]
    for call in (lambda: api.get_stack_resources(org, "proj", "dev", 7),
                 lambda: api.get_stack_update_summary(org, "proj", "dev", 7),
                 lambda: api.get_update_timeline(org, "proj", "dev", 7)):
        with pytest.raises(HTTPError) as raised:
            call()
        raised.value.close()  # the error holds the response's socket
        assert raised.value.code == 404
