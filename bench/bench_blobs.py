"""State blobs on and off in one run: `pulumi up` of N resources and `pulumi stack export` of the
final state against a service keeping every state in PostgreSQL and against one keeping finished
versions in a real S3 server (versitygw, tests/support/s3.py) above BLOB_STORE_MIN_BYTES; the
database bytes per version (the checkpoint rows) either way; and the time the collector takes to
delete 10 000 unreferenced objects. Not a test: it asserts nothing.

    .venv/bin/python bench/bench_blobs.py                      # N = 1000, 5000
    .venv/bin/python bench/bench_blobs.py --sizes 1000 --orphans 2000

Both services run on one database (one stack each per N), gunicorn with the default settings; the
CLI journals (its default) with its local copy off (PULUMI_SKIP_CHECKPOINTS). Uses DATABASE_URL if
set, otherwise a throwaway PostgreSQL; the CLI from PULUMI_CLI_BIN, otherwise it is built.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.blobs import open_store  # noqa: E402
from app.worker import collect_blobs  # noqa: E402
from bench.bench_up import database, pulumi_bin, run_timed  # noqa: E402
from tests.support import unique  # noqa: E402
from tests.support.cli import Pulumi, stash_program  # noqa: E402
from tests.support.s3 import S3Server  # noqa: E402
from tests.support.servers import Service  # noqa: E402


def version_bytes(service, login, stack):
    """(versions, mean bytes per version in the checkpoints table: the whole row as stored,
    TOAST included) of one stack."""
    found = service.query(
        "SELECT count(*), avg(pg_column_size(c.*)) FROM checkpoints c "
        "JOIN stacks s ON s.id = c.stack_id WHERE s.name = %s", (stack,))
    return found[0][0], float(found[0][1] or 0)


def orphan_collection(url, s3, count):
    """Seconds the collector takes to delete `count` unreferenced objects (written first, in
    parallel, to a bucket of their own)."""
    settings = {**s3.settings(s3.bucket(), prefix="orphans"), "BLOB_STORE_TIMEOUT_SECONDS": 30}
    store = open_store(settings)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: store.put(f"orphan {n}".encode()), range(count)))
    start = time.perf_counter()
    deleted = collect_blobs(url, store, 0)
    seconds = time.perf_counter() - start
    return deleted, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--export-runs", type=int, default=3)
    parser.add_argument("--orphans", type=int, default=10_000)
    parser.add_argument("--timeout", type=int, default=1800)
    args = parser.parse_args()

    bin_dir = pulumi_bin()
    url, stop_database = database()
    root = Path(tempfile.mkdtemp(prefix="bench-blobs-"))
    rows = []
    with S3Server.running(root / "s3") as s3:
        os.environ.update(s3.env)  # the services and the collector read the AWS variables
        bucket = s3.bucket()
        off = Service(url).start()
        on = Service(url, env={**s3.settings(bucket), **s3.env},
                     master_key=off.master_key).start()
        try:
            login = unique("bench")
            token = off.user(login)
            for count in args.sizes:
                for name, svc in (("off", off), ("on", on)):
                    cli = Pulumi(bin_dir, svc.url, token, root / f"{name}-{count}")
                    cli.extra_env = {"PULUMI_SKIP_CHECKPOINTS": "true"}
                    cli.login()
                    stack = unique("s")
                    cli.write_program(stash_program({f"r{i}": i for i in range(count)}))
                    cli.run("stack", "init", stack)
                    up = run_timed(cli, ["up", "--yes", "--skip-preview"], None, args.timeout)
                    exports = [run_timed(cli, ["stack", "export", "--file", str(root / "e.json")],
                                         None, args.timeout) for _ in range(args.export_runs)]
                    versions, per_version = version_bytes(svc, login, stack)
                    rows.append((count, name, up, statistics.median(exports), versions,
                                 per_version, (root / "e.json").stat().st_size))
                    print(f"  N={count} blobs {name}: up {up:.1f} s, export "
                          f"{statistics.median(exports):.2f} s, {per_version:,.0f} B/version",
                          flush=True)
            objects = len(s3.keys(bucket))
            deleted, gc_seconds = orphan_collection(url, s3, args.orphans)
        finally:
            on.stop()
            off.stop()
            stop_database()

    load = os.getloadavg()
    print(f"\nState blobs (load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
          f"{os.cpu_count()} CPUs; BLOB_STORE_MIN_BYTES default)")
    print(f"{'N':>6} {'blobs':>5} {'up s':>8} {'export s':>9} {'versions':>8} "
          f"{'DB B/version':>13} {'state B':>10}")
    for count, name, up, export, versions, per_version, size in rows:
        print(f"{count:>6} {name:>5} {up:>8.1f} {export:>9.2f} {versions:>8} "
              f"{per_version:>13,.0f} {size:>10,}")
    print(f"objects in the store after the runs: {objects}")
    print(f"collector: {deleted} unreferenced objects deleted in {gc_seconds:.2f} s")


if __name__ == "__main__":
    main()
