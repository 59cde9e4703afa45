"""Server time of the web console's heaviest pages: the stack page and the resources page of a
stack of N resources (5000 by default), and the update page (and one timeline poll) of an update
with E engine events (10 000 by default). Served by gunicorn (gunicorn.conf.py); times from the
access log's duration_ms. Not a test: it asserts nothing (target: p50 under 300 ms each).

    .venv/bin/python bench/bench_console.py
    .venv/bin/python bench/bench_console.py --resources 5000 --events 10000 --runs 20

Uses DATABASE_URL if set, otherwise a throwaway PostgreSQL.
"""
import argparse
import re
import statistics
import sys
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_up import AccessLog, database  # noqa: E402
from tests.support import ACCEPT, unique  # noqa: E402
from tests.support.servers import Service  # noqa: E402
from tests.support.updates import program  # noqa: E402


def state(count, project, stack):
    root = f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}"
    resources = [{"urn": root, "custom": False, "type": "pulumi:pulumi:Stack",
                  "outputs": {"endpoint": "https://example.com", "count": count}}]
    for i in range(1, count):
        resources.append({
            "urn": f"urn:pulumi:{stack}::{project}::pulumi:index:Stash::r{i}",
            "custom": True, "type": "pulumi:index:Stash", "id": f"id-{i:06}", "parent": root,
            "inputs": {"input": f"value {i}"},
            "outputs": {"input": f"value {i}", "output": f"value {i}"},
        })
    return {"version": 3, "deployment": {
        "manifest": {"time": "2026-01-01T00:00:00Z", "magic": "", "version": "v3"},
        "resources": resources}}


def events(count):
    found = []
    for sequence in range(count):
        urn = f"urn:pulumi:dev::proj::pulumi:index:Stash::r{sequence // 2}"
        if sequence % 2:
            payload = {"resOutputsEvent": {"metadata": {
                "op": "create", "urn": urn, "type": "pulumi:index:Stash",
                "new": {"outputs": {"output": f"value {sequence}"}}}}}
        else:
            payload = {"resourcePreEvent": {"metadata": {
                "op": "create", "urn": urn, "type": "pulumi:index:Stash"}}}
        found.append({"sequence": sequence, "timestamp": 1700000000 + sequence, **payload})
    return found


def prepare(service, token, resources, event_count):
    """A stack of `resources` resources (imported: version 1) and an update (version 2) with
    `event_count` engine events; returns the stack's console path."""
    headers = {"Accept": ACCEPT, "Authorization": f"token {token}"}
    api = f"{service.url}/api/stacks/{service.login}/proj"
    session = requests.Session()
    assert session.post(api, headers=headers, json={"stackName": "dev"}).ok
    assert session.post(f"{api}/dev/import", headers=headers,
                        json=state(resources, "proj", "dev")).ok
    update = session.post(f"{api}/dev/update", headers=headers, json=program()).json()["updateID"]
    lease = session.post(f"{api}/dev/update/{update}", headers=headers, json={}).json()["token"]
    leased = {**headers, "Authorization": f"update-token {lease}"}
    made = events(event_count)
    for start in range(0, len(made), 500):
        assert session.post(f"{api}/dev/update/{update}/events/batch", headers=leased,
                            json={"events": made[start:start + 500]}).ok
    assert session.post(f"{api}/dev/update/{update}/complete", headers=leased,
                        json={"status": "succeeded"}).ok
    return f"/{service.login}/proj/dev"


def signed_in(service, token):
    browser = requests.Session()
    page = browser.get(service.url + "/login")
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    assert browser.post(service.url + "/login/token", allow_redirects=False,
                        data={"csrf_token": csrf, "token": token}).status_code == 302
    return browser


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=5000)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    url, stop_database = database()
    service = Service(url, workers=1, threads=4).start()
    try:
        service.login = unique("bench")
        token = service.user(service.login)
        stack = prepare(service, token, args.resources, args.events)
        browser = signed_in(service, token)
        log = AccessLog(service.log_path)
        pages = {"stack page": stack, "resources page": f"{stack}/resources",
                 "update page": f"{stack}/updates/2",
                 "timeline poll (500 events)": f"{stack}/updates/2/events?after=4999"}
        figures = {}
        for name, path in pages.items():
            for _ in range(2):  # warm the worker's prepared statements and templates
                assert browser.get(service.url + path).ok
            mark = log.mark()
            sizes = [len(browser.get(service.url + path).content) for _ in range(args.runs)]
            durations = [r["duration_ms"] for r in log.since(mark)
                         if r.get("path", "").split("?")[0] == path.split("?")[0]]
            figures[name] = (durations, statistics.mean(sizes))
    finally:
        service.stop()
        stop_database()
    print(f"\nConsole pages, {args.resources} resources, an update of {args.events} events "
          f"({args.runs} requests each, 1 worker):")
    print(f"{'page':<28} {'KB':>8} {'p50 ms':>8} {'p90 ms':>8}")
    for name, (durations, size) in figures.items():
        p90 = statistics.quantiles(durations, n=10)[-1] if len(durations) > 1 else durations[0]
        print(f"{name:<28} {size / 1e3:8.0f} {statistics.median(durations):8.1f} {p90:8.1f}")


if __name__ == "__main__":
    main()
