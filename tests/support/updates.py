"""Driving updates the way the CLI does (create, start, lease calls, complete) through the Flask
test client."""
import json

from .deployments import ORG, PROJECT, STACK_NAME, event, gzipped, summary, untyped

STACK = f"/api/stacks/{ORG}/{PROJECT}/{STACK_NAME}"


def make_stack(api, org=ORG, project=PROJECT, name=STACK_NAME, **extra):
    response = api.post(f"/api/stacks/{org}/{project}", body={"stackName": name, **extra})
    assert response.status_code == 200, response.get_json()
    return f"/api/stacks/{org}/{project}/{name}"


def program(dry_run=False, message="", environment=None, config=None):
    """An UpdateProgramRequest as the CLI sends it."""
    return {
        "name": PROJECT, "runtime": "yaml", "main": "", "description": "",
        "options": {
            "localPolicyPackPaths": None, "color": "raw", "dryRun": dry_run, "parallel": 16,
            "showConfig": False, "showReplacementSteps": False, "showNames": False,
            "summary": False, "debug": False,
        },
        "config": config or {},
        "metadata": {"message": message, "environment": environment or {}},
    }


class Operation:
    """One update: created on construction, then started, leased and completed step by step."""

    def __init__(self, api, stack=STACK, kind="update", dry_run=False, **meta):
        self.api, self.stack = api, stack
        created = api.post(f"{stack}/{kind}", body=program(dry_run, **meta))
        assert created.status_code == 200, created.get_json()
        self.id = created.get_json()["updateID"]
        self.path = f"{stack}/update/{self.id}"
        self.token = None
        self.version = None

    def start(self, tags=None, expect=200, segment="update"):
        path = f"{self.stack}/{segment}/{self.id}"
        response = self.api.post(path, body={} if tags is None else {"tags": tags})
        assert response.status_code == expect, response.get_json()
        if response.status_code == 200:
            self.token = response.get_json()["token"]
            self.version = response.get_json()["version"]
        return response

    def lease_call(self, method, suffix, body=None, data=None, headers=None, token=None):
        sent = {"Authorization": f"update-token {token or self.token}"}
        sent.update(headers or {})
        return self.api.call(method, self.path + suffix, body, headers=sent, data=data)

    def checkpoint(self, untyped_deployment, compress=False):
        body = {"isInvalid": False, **untyped_deployment}
        if compress:
            return self.lease_call("PATCH", "/checkpoint", data=gzipped(body),
                                   headers={"Content-Encoding": "gzip"})
        return self.lease_call("PATCH", "/checkpoint", body)

    def events(self, *events):
        return self.lease_call("POST", "/events/batch", {"events": list(events)})

    def renew(self, duration=300, token=None):
        return self.lease_call("POST", "/renew_lease", {"token": "", "duration": duration},
                               token=token)

    def complete(self, status="succeeded"):
        return self.lease_call("POST", "/complete", {"status": status})

    def cancel(self, api=None):
        return (api or self.api).post(self.path + "/cancel")


def run(api, count, stack=STACK, kind="update", status="succeeded", changes=None, **meta):
    """A whole real operation that leaves `count` resources; returns the Operation."""
    op = Operation(api, stack, kind, **meta)
    op.start()
    name = stack.rsplit("/", 1)[1]
    project = stack.rsplit("/", 2)[1]
    assert op.checkpoint(untyped(count, stack=name, project=project)).status_code == 204
    assert op.events(event(0), summary(1, **(changes or {"create": count}))).status_code == 204
    assert op.complete(status).status_code == 204
    return op


def export_json(api, path):
    response = api.get(path)
    assert response.status_code == 200, response.get_json()
    return json.loads(response.get_data())
