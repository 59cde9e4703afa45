"""What auditing update events costs a journaled `pulumi up`: the same `up` of N resources
(default 1000, journal mode, --skip-preview) against two gunicorns on one database, one as
shipped and one whose audit.record skips the update.* events (update.started and
update.completed: what an update writes to the audit log), runs interleaved. Prints the
medians and their ratio. Not a test: it asserts nothing.

    .venv/bin/python bench/bench_audit_up.py                # N = 1000, 3 runs each
    .venv/bin/python bench/bench_audit_up.py --size 1000 --runs 5

Uses bench/bench_up.py's harness (database, measure); the real CLI from PULUMI_CLI_BIN,
otherwise tests/e2e/build_pulumi_cli.sh builds it.
"""
import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_up import database, measure  # noqa: E402
from tests.support import unique  # noqa: E402
from tests.support.cli import Pulumi, pulumi_bin  # noqa: E402
from tests.support.servers import Service  # noqa: E402


def app_without_update_audit():
    """The service with update.* audit records skipped (what gunicorn serves for the baseline)."""
    from app import audit, create_app

    record = audit.record

    def skipping(conn, actor, org, event, *args, **kwargs):
        if event.startswith("update."):
            return None
        return record(conn, actor, org, event, *args, **kwargs)

    audit.record = skipping
    return create_app()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    bin_dir = pulumi_bin()
    url, stop_database = database()
    root = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    audited = Service(url, workers=2).start()
    plain = Service(url, workers=2, master_key=audited.master_key,
                    app_spec="bench.bench_audit_up:app_without_update_audit()").start()
    times = {"audited": [], "not audited": []}
    try:
        clis = {}
        for name, service in (("audited", audited), ("not audited", plain)):
            clis[name] = Pulumi(bin_dir, service.url, service.user(unique("bench")),
                                root / name.replace(" ", "-"))
            clis[name].login()
        for run in range(args.runs):
            for name in (("audited", "not audited") if run % 2 == 0
                         else ("not audited", "audited")):
                [result] = measure(clis[name], args.size, 1, None, args.timeout, destroy=False)
                times[name].append(result["up"])
                print(f"  run {run + 1} {name:<12} up {result['up']:.2f}s", file=sys.stderr,
                      flush=True)
    finally:
        audited.stop()
        plain.stop()
        stop_database()

    with_audit = statistics.median(times["audited"])
    without = statistics.median(times["not audited"])
    print(f"journaled up of {args.size} resources, median of {args.runs}:")
    print(f"  with update events audited    {with_audit:8.2f} s  {times['audited']}")
    print(f"  without                       {without:8.2f} s  {times['not audited']}")
    print(f"  ratio                         {with_audit / without:8.3f}")


if __name__ == "__main__":
    main()
