"""How long `pulumi up` and `pulumi destroy` of N resources take against this service (behind
gunicorn), against the CLI's own file:// backend, and against file:// with
PULUMI_SKIP_CHECKPOINTS=true (the engine's own cost: our floor). Prints medians and the ratios
ours/file and ours/floor. Not a test: it asserts nothing about time.

    .venv/bin/python bench/bench_up.py                  # N = 100 and 1000, 3 runs each
    .venv/bin/python bench/bench_up.py --sizes 100 --runs 5

Uses DATABASE_URL if set (a database the service may migrate), otherwise a throwaway PostgreSQL;
the real CLI from PULUMI_CLI_BIN, otherwise tests/e2e/build_pulumi_cli.sh builds it.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.harness import Pulumi, Service, stash_program, unique  # noqa: E402

PASSPHRASE = {"PULUMI_CONFIG_PASSPHRASE": "bench"}


def pulumi_bin():
    if os.environ.get("PULUMI_CLI_BIN"):
        return Path(os.environ["PULUMI_CLI_BIN"])
    built = subprocess.run(["bash", str(REPO / "tests/e2e/build_pulumi_cli.sh")],
                           capture_output=True, text=True, check=True)
    return Path(built.stdout.strip().splitlines()[-1])


def database():
    """(database URL, stop function)."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"], lambda: None
    from tests.pgserver import factory

    pg_factory = factory()
    server = pg_factory()

    def stop():
        server.stop()
        pg_factory.clear_cache()

    return server.url(), stop


def timed(cli, *args, env=None):
    start = time.perf_counter()
    cli.run(*args, env=env, timeout=3600)
    return time.perf_counter() - start


def measure(cli, count, runs, env=None):
    """[(up seconds, destroy seconds)] of `runs` fresh stacks of `count` resources."""
    cli.write_program(stash_program({f"r{i}": i for i in range(count)}))
    times = []
    for _ in range(runs):
        stack = unique("s")
        cli.run("stack", "init", stack, env=env)
        up = timed(cli, "up", "--yes", "--skip-preview", env=env)
        destroy = timed(cli, "destroy", "--yes", "--skip-preview", env=env)
        cli.run("stack", "rm", "--yes", stack, env=env)
        times.append((up, destroy))
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    bin_dir = pulumi_bin()
    url, stop_database = database()
    root = Path(tempfile.mkdtemp(prefix="bench-up-"))
    service = Service(url, workers=args.workers).start()
    try:
        login = unique("bench")
        ours = Pulumi(bin_dir, service.url, service.user(login), root / "service")
        ours.login()
        state_dir = root / "file-state"
        state_dir.mkdir()
        theirs = Pulumi(bin_dir, f"file://{state_dir}", None, root / "file")
        theirs.login()

        backends = [
            ("service", ours, None),
            ("file", theirs, PASSPHRASE),
            ("floor", theirs, {**PASSPHRASE, "PULUMI_SKIP_CHECKPOINTS": "true"}),
        ]
        results = {}
        for count in args.sizes:
            for name, cli, env in backends:
                times = measure(cli, count, args.runs, env)
                results[name, count] = (statistics.median(t[0] for t in times),
                                        statistics.median(t[1] for t in times))
                print(f"  N={count:<5} {name:<8} up {results[name, count][0]:7.2f}s   "
                      f"destroy {results[name, count][1]:7.2f}s", file=sys.stderr, flush=True)
    finally:
        service.stop()
        stop_database()

    print(f"\nMedians of {args.runs} runs (seconds); same CLI, same machine.")
    print(f"{'N':>6} {'op':<8} {'service':>9} {'file://':>9} {'floor':>9} "
          f"{'svc/file':>9} {'svc/floor':>10}")
    for count in args.sizes:
        for index, op in enumerate(("up", "destroy")):
            ours_s, file_s, floor_s = (results[name, count][index]
                                       for name in ("service", "file", "floor"))
            print(f"{count:>6} {op:<8} {ours_s:9.2f} {file_s:9.2f} {floor_s:9.2f} "
                  f"{ours_s / file_s:9.2f} {ours_s / floor_s:10.2f}")


if __name__ == "__main__":
    main()
