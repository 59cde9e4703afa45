"""bench/bench_up.py's `pulumi up` of N pulumi:index:Stash resources, written as a Python inline
program and run through the official SDK's Automation API (the way platform teams drive
Pulumi): against this service (journaling, the CLI's default; journaling with the CLI's local
copy of the state off, PULUMI_SKIP_CHECKPOINTS=true; delta checkpoints), against
the CLI's own file:// backend, and against file:// with PULUMI_SKIP_CHECKPOINTS=true (the engine
and the Python program alone: our floor). Then where a service `up`'s time goes, from the
service's access log: server time on the state requests, the time between journal batches (the
CLI's batching and the steps waiting for their batch), and the rest. One run each; not a test.

    .venv/bin/python bench/bench_python_up.py                    # N = 100 and 1000
    .venv/bin/python bench/bench_python_up.py --sizes 1000 --modes journal delta

Uses DATABASE_URL if set, otherwise a throwaway PostgreSQL; the real CLI from PULUMI_CLI_BIN,
otherwise tests/e2e/build_pulumi_cli.sh builds it.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_up import AccessLog, database, journal_entries, median, traffic  # noqa: E402
from tests.support import automation as pa, unique  # noqa: E402
from tests.support.cli import PERSISTENCE_MODES, pulumi_bin  # noqa: E402
from tests.support.servers import Service  # noqa: E402

PASSPHRASE = {"PULUMI_CONFIG_PASSPHRASE": "bench"}
# The CLI's persistence modes, and journaling with the CLI's local copy of the state off
# (README, Benchmarks: safe only when the update journals).
MODES = {**PERSISTENCE_MODES, "journal-nolocal": {"PULUMI_SKIP_CHECKPOINTS": "true"}}


def timed_up(opts, count, after=None):
    """Seconds of one `up` of a new stack; `after(stack name)` runs before the stack is
    removed."""
    name = unique("s")
    stack = pa.stack(name, pa.stash_program(count), opts)
    start = time.perf_counter()
    result = stack.up()
    seconds = time.perf_counter() - start
    assert result.summary.result == "succeeded", result.stderr
    if after is not None:
        after(name)
    stack.workspace.remove_stack(name, force=True)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--modes", nargs="+", choices=list(MODES),
                        default=["journal", "journal-nolocal", "delta"])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    bin_dir = pulumi_bin()
    url, stop_database = database()
    root = Path(tempfile.mkdtemp(prefix="bench-python-up-"))
    service = Service(url, workers=args.workers).start()
    log = AccessLog(service.log_path)
    token = service.user(unique("bench"))
    state_dir = root / "file-state"
    state_dir.mkdir()
    rows = []
    try:
        for count in args.sizes:
            row = {"N": count}
            for mode in args.modes:
                opts = pa.options(bin_dir, root / f"service-{mode}", service.url, token,
                                  MODES[mode])
                mark = log.mark()
                entries = {}
                seconds = timed_up(opts, count, after=lambda name: entries.update(
                    count=journal_entries(url, name)))
                seen = traffic(log.since(mark))
                seen["journal_entries"] = entries["count"]
                row[mode] = (seconds, seen)
                print(f"  N={count:<5} service {mode:<15} up {seconds:8.2f}s", file=sys.stderr,
                      flush=True)
            for name, env in (("file", PASSPHRASE),
                              ("floor", {**PASSPHRASE, "PULUMI_SKIP_CHECKPOINTS": "true"})):
                opts = pa.options(bin_dir, root / name, f"file://{state_dir}", env=env)
                row[name] = (timed_up(opts, count), None)
                print(f"  N={count:<5} {name:<16} up {row[name][0]:8.2f}s", file=sys.stderr,
                      flush=True)
            rows.append(row)
    finally:
        service.stop()
        stop_database()
    report(args, rows)


def report(args, rows):
    print("\n`pulumi up` of N Stash resources from a Python inline program (Automation API), "
          "seconds, one run each:")
    print(f"{'N':>6} {'mode':<15} {'service':>9} {'file://':>9} {'floor':>9} {'svc/file':>9} "
          f"{'svc/floor':>10}")
    for row in rows:
        file_s, floor_s = row["file"][0], row["floor"][0]
        for mode in args.modes:
            ours = row[mode][0]
            print(f"{row['N']:>6} {mode:<15} {ours:9.2f} {file_s:9.2f} {floor_s:9.2f} "
                  f"{ours / file_s:9.2f} {ours / floor_s:10.2f}")
    print("\nWhere a service `up`'s time goes (access log): state requests and the server's time "
          "on them; for journaling,\nthe time between batches (the CLI collecting the next "
          "batch, PULUMI_JOURNALING_BATCH_PERIOD, while steps wait for\ntheirs); rest = up - "
          "server - between (start-up, the program, the engine, the round trips).")
    print(f"{'N':>6} {'mode':<15} {'up s':>8} {'requests':>9} {'state req':>10} {'entries':>8} "
          f"{'server s':>9} {'between s':>10} {'gap p50 ms':>11} {'rest s':>7}")
    for row in rows:
        for mode in args.modes:
            seconds, seen = row[mode]
            server = seen["state_ms"] / 1000
            between = sum(seen["batch_gaps_ms"]) / 1000
            gap = median(seen["batch_gaps_ms"]) if seen["batch_gaps_ms"] else float("nan")
            print(f"{row['N']:>6} {mode:<15} {seconds:8.2f} {seen['requests']:9} "
                  f"{seen['state_requests']:10} {seen['journal_entries']:8} {server:9.2f} "
                  f"{between:10.2f} {gap:11.1f} {seconds - server - between:7.2f}")


if __name__ == "__main__":
    main()
