"""Load: a mixed read/write workload (bench/locustfile.py) from locust in headless mode against a
real gunicorn on a throwaway PostgreSQL, at several numbers of concurrent clients. Prints, per
endpoint and in total: requests/s, p50 and p99 latency (ms), errors, and 5xx responses. Zero 5xx
is the requirement; the figures are printed, not asserted.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/load.py                          # smoke: 50 and 200 users, 10 s each
    .venv/bin/python bench/load.py --duration 60            # the full run
    .venv/bin/python bench/load.py --users 50 --workers 4 --threads 8

DATABASE_URL, if set, is used instead of a throwaway PostgreSQL (a fresh database is created
in it)."""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.servers import Service  # noqa: E402

ORG, PROJECT, STACKS = "loadorg", "proj", ["s0", "s1", "s2", "s3", "s4"]


def database(args):
    from tests.support.postgres import create_database, factory

    if os.environ.get("DATABASE_URL"):
        return create_database(os.environ["DATABASE_URL"], prefix="load_"), None

    pg_factory = factory()
    server = pg_factory()
    return server.url(), (server, pg_factory)


def operations(service):
    document = requests.get(service.url + "/api/openapi", timeout=30).json()
    return sorted(f"{method.upper()} {re.sub(r'{[^}]+}', '{}', path)}"
                  for path, ops in document["paths"].items() for method in ops)


def run_locust(service, token, users, duration, ops, out_dir):
    prefix = Path(out_dir) / f"u{users}"
    env = dict(os.environ, LOAD_TOKEN=token, LOAD_ORG=ORG, LOAD_PROJECT=PROJECT,
               LOAD_STACKS=",".join(STACKS), LOAD_OPERATIONS=json.dumps(ops))
    command = [sys.executable, "-m", "locust", "-f", str(REPO / "bench/locustfile.py"),
               "--headless", "--users", str(users), "--spawn-rate", str(users),
               "--run-time", f"{duration}s", "--host", service.url, "--csv", str(prefix),
               "--only-summary", "--loglevel", "ERROR", "--stop-timeout", "10"]
    subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, check=False)
    with open(f"{prefix}_stats.csv") as f:
        stats = list(csv.DictReader(f))
    with open(f"{prefix}_failures.csv") as f:
        failures = list(csv.DictReader(f))
    return stats, failures


def status_counts(failures):
    """{name: {status: count}} of the failed requests, from locust's error texts."""
    counts = {}
    for row in failures:
        match = re.search(r"\b([1-5]\d\d)\b", row["Error"])
        status = match.group(1) if match else row["Error"][:40]
        per = counts.setdefault(row["Name"], {})
        per[status] = per.get(status, 0) + int(row["Occurrences"])
    return counts


def report(users, duration, stats, failures):
    by_status = status_counts(failures)
    print(f"\n=== {users} concurrent clients, {duration} s ===")
    header = f"{'endpoint':62} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7} {'5xx':>5}"
    print(header)
    print("-" * len(header))
    total_5xx = 0
    for row in stats:
        name = row["Name"] if row["Name"] != "Aggregated" else "ALL"
        if row["Name"] == "Aggregated":
            fivexx = total_5xx
            print("-" * len(header))
        else:
            fivexx = sum(n for s, n in by_status.get(row["Name"], {}).items()
                         if str(s).startswith("5"))
            total_5xx += fivexx
        print(f"{name[:62]:62} {float(row['Requests/s']):8.1f} {row['50%']:>7} {row['99%']:>7} "
              f"{row['Failure Count']:>7} {fivexx:>5}")
    errors = {name: counts for name, counts in by_status.items()}
    if errors:
        print(f"errors by status: {errors}")
    return total_5xx


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="50,200", help="comma-separated client counts")
    parser.add_argument("--duration", type=int, default=10, help="seconds per client count")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    args = parser.parse_args()

    url, owned = database(args)
    # The load is one client address making only valid calls; DB_POOL_MAX covers the threads.
    service = Service(url, workers=args.workers, threads=args.threads,
                      env={"DB_POOL_MAX": str(max(args.threads, 4))}).start()
    try:
        token = service.user("loaduser", {ORG: "admin"})
        for stack in STACKS:
            created = service.api("POST", f"/api/stacks/{ORG}/{PROJECT}", token,
                                  json={"stackName": stack})
            assert created.status_code == 200, created.text
        ops = operations(service)
        print(f"gunicorn: {args.workers} workers x {args.threads} threads at {service.url}; "
              f"{len(ops)} operations served")
        total_5xx = 0
        with tempfile.TemporaryDirectory(prefix="load-") as out_dir:
            for users in [int(u) for u in args.users.split(",")]:
                stats, failures = run_locust(service, token, users, args.duration, ops, out_dir)
                total_5xx += report(users, args.duration, stats, failures)
        crashes = service.log().count("Traceback")
        print(f"\n5xx responses in all runs: {total_5xx}; tracebacks in the service log: {crashes}"
              f" ({'requirement met' if total_5xx == 0 else 'REQUIREMENT NOT MET'})")
    finally:
        service.stop()
        if owned:
            server, pg_factory = owned
            server.stop()
            pg_factory.clear_cache()


if __name__ == "__main__":
    main()
