"""Webhook delivery throughput and latency: N organization hooks (default 50) on one event
stream (stacks created back to back, each a `stack_created` event for every hook), delivered by
real `pulumi-service worker` processes to a local receiver. Prints deliveries per second and the
p50/p99 time from the event's transaction to its arrival at the receiver. Not a test.

    .venv/bin/python bench/bench_webhooks.py                    # 50 hooks, 40 events, 1 worker
    .venv/bin/python bench/bench_webhooks.py --hooks 50 --events 100 --workers 2 --threads 8

Uses DATABASE_URL if set (a database it may migrate and fill), otherwise a throwaway PostgreSQL.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg2  # noqa: E402

from app import create_app  # noqa: E402
from tests.support import MASTER_KEY, postgres as pg  # noqa: E402
from tests.support.api import People  # noqa: E402
from tests.support.apps import make_config, migrated  # noqa: E402
from tests.support.receiver import Receiver  # noqa: E402


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hooks", type=int, default=50)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--threads", type=int, default=4, help="WEBHOOK_WORKER_THREADS")
    args = parser.parse_args()

    if os.environ.get("DATABASE_URL"):
        url, stop_database = os.environ["DATABASE_URL"], (lambda: None)
    else:
        server, stop_database = pg.start()
        url = server.url()
    migrated(url)
    app = create_app(make_config(url, WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32"))
    people = People(app, url)
    admin = people.user(f"bench{os.getpid()}", {"benchorg": "admin"})
    env = dict(os.environ, DATABASE_URL=url, SECRETS_MASTER_KEY=MASTER_KEY,
               SECRETS_MASTER_KEY_FILE="", WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32",
               WEBHOOK_WORKER_THREADS=str(args.threads), LOG_LEVEL="WARNING",
               DB_POOL_MAX=str(args.threads + 2))
    workers = []
    try:
        with Receiver(secret="bench") as receiver:
            for n in range(args.hooks):
                made = admin.post("/api/orgs/benchorg/hooks", body={
                    "displayName": f"hook {n}", "payloadUrl": receiver.url, "active": True,
                    "secret": "bench", "filters": ["stack_created"]})
                assert made.status_code == 201, made.get_json()
            workers = [subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], cwd=REPO,
                                        env=env) for _ in range(args.workers)]
            time.sleep(5)  # the workers start (and LISTEN) before the stream begins
            started = time.time()
            for n in range(args.events):
                made = admin.post(f"/api/stacks/benchorg/proj{n % 5}", body={"stackName": f"s{n}"})
                assert made.status_code == 200, made.get_json()
            queued = time.time()
            expected = args.hooks * args.events
            got = receiver.wait_for(expected, seconds=600)
            finished = max(r["at"] for r in got)
            conn = psycopg2.connect(url)
            with conn.cursor() as cur:
                cur.execute("SELECT id::text, extract(epoch FROM created_at) FROM webhook_events")
                created = dict(cur.fetchall())
            conn.close()
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait()
        people.close()
        stop_database()

    latencies = [(r["at"] - float(created[r["id"]])) * 1000 for r in got]
    duplicates = len(got) - len({r["id"] for r in got})
    print(f"hooks {args.hooks}, events {args.events}, deliveries {len(got)} "
          f"(duplicates {duplicates}), workers {args.workers} x {args.threads} threads")
    print(f"events queued in {queued - started:.2f} s ({args.events / (queued - started):.1f} "
          "events/s, each fanned out to every hook)")
    print(f"delivered in {finished - started:.2f} s: {len(got) / (finished - started):.1f} "
          "deliveries/s")
    print(f"latency event -> receiver: p50 {statistics.median(latencies):.0f} ms, "
          f"p99 {percentile(latencies, 99):.0f} ms, max {max(latencies):.0f} ms")
    print(f"all signed: {all(r['signed'] for r in got)}")


if __name__ == "__main__":
    main()
