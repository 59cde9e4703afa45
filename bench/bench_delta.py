"""What one delta checkpoint save costs the service as the state grows: a running update of N
resources (N = 500 and 5000 by default) saves its whole text once (checkpointverbatim), then a
series of deltas each changing one resource, the way the CLI saves each step when it does not
journal (older CLIs, PULUMI_DISABLE_JOURNALING=true). Prints the service's time per save (from
its access log's duration_ms) at each size and the ratio between the largest and the smallest.
Not a test: it asserts nothing.

    .venv/bin/python bench/bench_delta.py
    .venv/bin/python bench/bench_delta.py --sizes 500 5000 --saves 300

Run it from a checkout of an earlier commit to compare (the script needs only the HTTP API).
Uses DATABASE_URL if set, otherwise a throwaway PostgreSQL.
"""
import argparse
import hashlib
import json
import statistics
import sys
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_up import AccessLog, database  # noqa: E402
from tests.support import ACCEPT, unique  # noqa: E402
from tests.support.deployments import text_edit  # noqa: E402
from tests.support.servers import Service  # noqa: E402


def state(count, rounds=None):
    """The text of an N-resource state; `rounds` maps a resource to the round it last changed in
    (one output of it says so)."""
    rounds = rounds or {}
    resources = [{
        "urn": f"urn:pulumi:dev::proj::pulumi:index:Stash::r{i}",
        "custom": True, "type": "pulumi:index:Stash", "id": f"id-{i:06}",
        "inputs": {"input": f"value {i}"},
        "outputs": {"input": f"value {i}", "output": f"value {i}", "round": rounds.get(i, 0)},
        "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
    } for i in range(count)]
    return json.dumps({"version": 3, "deployment": {
        "manifest": {"time": "2026-01-01T00:00:00Z", "magic": "", "version": "v3"},
        "resources": resources}}, indent=4).encode()


def measure(service, log, token, count, saves):
    headers = {"Accept": ACCEPT, "Authorization": f"token {token}",
               "Content-Type": "application/json"}
    login = service.login
    stack = f"{service.url}/api/stacks/{login}/proj/{unique('s')}"
    session = requests.Session()
    assert session.post(stack.rsplit("/", 1)[0], headers=headers,
                        json={"stackName": stack.rsplit("/", 1)[1]}).ok
    created = session.post(f"{stack}/update", headers=headers, json={}).json()["updateID"]
    started = session.post(f"{stack}/update/{created}", headers=headers, json={}).json()
    lease = {**headers, "Authorization": f"update-token {started['token']}"}
    path = f"{stack}/update/{created}"
    text = state(count)
    body = (b'{"version":3,"untypedDeployment":' + text + b',"sequenceNumber":1}')
    assert session.patch(path + "/checkpointverbatim", headers=lease, data=body).ok
    mark = log.mark()
    rounds = {}
    for sequence in range(2, saves + 2):
        # One resource changes per save (a step), the way the CLI's saves go.
        rounds[(sequence * 7919) % count] = sequence
        new = state(count, rounds)
        response = session.patch(path + "/checkpointdelta", headers=lease, json={
            "version": 3, "checkpointHash": hashlib.sha256(new).hexdigest(),
            "sequenceNumber": sequence, "deploymentDelta": [text_edit(text, new)]})
        assert response.status_code == 204, response.text
        text = new
        if sequence % 50 == 0:  # a slow service must not lose the lease mid-run
            assert session.post(path + "/renew_lease", headers=lease, json={"duration": 300}).ok
    lines = [r for r in log.since(mark) if r.get("route", "").endswith("/checkpointdelta")]
    assert session.post(path + "/complete", headers=lease, json={"status": "succeeded"}).ok
    return [r["duration_ms"] for r in lines], len(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--saves", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    url, stop_database = database()
    service = Service(url, workers=args.workers).start()
    try:
        service.login = unique("bench")
        token = service.user(service.login)
        log = AccessLog(service.log_path)
        figures = {}
        for count in args.sizes:
            durations, size = measure(service, log, token, count, args.saves)
            figures[count] = (durations, size)
    finally:
        service.stop()
        stop_database()
    print(f"\nServer time per delta save ({args.saves} saves, {args.workers} workers):")
    print(f"{'N':>6} {'state MB':>9} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8}")
    for count, (durations, size) in figures.items():
        p90 = statistics.quantiles(durations, n=10)[-1]
        print(f"{count:>6} {size / 1e6:9.2f} {statistics.median(durations):8.2f} {p90:8.2f} "
              f"{statistics.mean(durations):8.2f}")
    sizes = sorted(figures)
    ratio = statistics.median(figures[sizes[-1]][0]) / statistics.median(figures[sizes[0]][0])
    print(f"p50 at N={sizes[-1]} / p50 at N={sizes[0]}: {ratio:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
