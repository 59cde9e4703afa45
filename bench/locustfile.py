"""The mixed workload of bench/load.py, as locust users (one per simulated Pulumi client).

Reads: list stacks, get stack, export (when the route exists). Writes: tag updates, and small
updates with a checkpoint (create, start, checkpoint, complete) on a stack of the user's own when
the update routes exist. Settings come from bench/load.py through the environment."""
import json
import os
import random
import uuid

from locust import HttpUser, between, task

ACCEPT = "application/vnd.pulumi+8"
TOKEN = os.environ["LOAD_TOKEN"]
ORG = os.environ["LOAD_ORG"]
PROJECT = os.environ["LOAD_PROJECT"]
STACKS = os.environ["LOAD_STACKS"].split(",")
# The service's operations ("METHOD /path/{}/..."), from its OpenAPI document.
OPERATIONS = set(json.loads(os.environ.get("LOAD_OPERATIONS", "[]")))

STACK = "/api/stacks/{org}/{project}/{stack}"


def served(method, template):
    import re

    return f"{method} {re.sub(r'{[^}]+}', '{}', template)}" in OPERATIONS


HAS_EXPORT = served("GET", STACK + "/export")
HAS_UPDATES = all(served(method, STACK + suffix) for method, suffix in [
    ("POST", "/update"), ("POST", "/update/{update_id}"),
    ("PATCH", "/update/{update_id}/checkpoint"), ("POST", "/update/{update_id}/complete"),
])


def small_deployment(stack, resources=3):
    urn = f"urn:pulumi:{stack}::{PROJECT}::"
    return {
        "manifest": {"time": "2024-01-01T00:00:00Z", "magic": "", "version": "v3.0.0"},
        "resources": [
            {"urn": f"{urn}pulumi:pulumi:Stack::{PROJECT}-{stack}", "custom": False,
             "type": "pulumi:pulumi:Stack"},
        ] + [
            {"urn": f"{urn}pulumi:index:Stash::r{i}", "custom": True,
             "type": "pulumi:index:Stash", "inputs": {"input": i}, "outputs": {"input": i}}
            for i in range(resources)
        ],
    }


class PulumiClient(HttpUser):
    wait_time = between(0.0, 0.05)

    def on_start(self):
        self.client.headers.update({"Accept": ACCEPT, "Authorization": f"token {TOKEN}"})
        self.own_stack = None
        if HAS_UPDATES:
            name = f"load-{uuid.uuid4().hex[:10]}"
            created = self.client.post(f"/api/stacks/{ORG}/{PROJECT}", json={"stackName": name},
                                       name="POST /api/stacks/{org}/{project}")
            if created.status_code == 200:
                self.own_stack = name

    def stack_path(self, stack=None):
        return f"/api/stacks/{ORG}/{PROJECT}/{stack or random.choice(STACKS)}"

    @task(4)
    def list_stacks(self):
        self.client.get(f"/api/user/stacks?organization={ORG}", name="GET /api/user/stacks")

    @task(4)
    def get_stack(self):
        self.client.get(self.stack_path(), name="GET " + STACK)

    @task(2)
    def tag_write(self):
        self.client.patch(self.stack_path() + "/tags",
                          json={"team": f"t{random.randint(0, 9)}", "env": "load"},
                          name="PATCH " + STACK + "/tags")

    @task(2)
    def export(self):
        if HAS_EXPORT:
            self.client.get(self.stack_path() + "/export", name="GET " + STACK + "/export")

    @task(1)
    def small_update(self):
        if not (HAS_UPDATES and self.own_stack):
            return
        base = self.stack_path(self.own_stack)
        created = self.client.post(base + "/update", name="POST " + STACK + "/update", json={
            "name": PROJECT, "runtime": "yaml", "main": "", "description": "",
            "options": {"dryRun": False, "color": "raw", "parallel": 16},
            "config": {}, "metadata": {"message": "load", "environment": {}},
        })
        if created.status_code != 200:
            return
        update_id = created.json()["updateID"]
        update = f"{base}/update/{update_id}"
        started = self.client.post(update, json={}, name="POST " + STACK + "/update/{update_id}")
        if started.status_code != 200:
            return
        body = started.json()
        lease = {"Authorization": f"update-token {body['token']}"}
        self.client.patch(update + "/checkpoint", headers=lease,
                          name="PATCH " + STACK + "/update/{update_id}/checkpoint",
                          json={"isInvalid": False, "version": 3,
                                "deployment": small_deployment(self.own_stack)})
        self.client.post(update + "/complete", headers=lease, json={"status": "succeeded"},
                         name="POST " + STACK + "/update/{update_id}/complete")
