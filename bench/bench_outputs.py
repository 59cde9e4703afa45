"""How long `pulumi stack output` takes on a stack of N resources, with the `stack-outputs`
capability (GET .../outputs) and without it (the CLI then exports the whole state), and how many
bytes that request's answer is on the wire (gzip, as the CLI asks). Two gunicorns on one database, one advertising the capability and
one not (STACK_OUTPUTS_ENABLED=false). Not a test: it asserts nothing.

    .venv/bin/python bench/bench_outputs.py                  # N = 1000, 5000; 5 runs each
    .venv/bin/python bench/bench_outputs.py --sizes 20000 --runs 3
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_up import database, pulumi_bin  # noqa: E402
from tests.support import unique  # noqa: E402
from tests.support.cli import Pulumi, stash_program  # noqa: E402
from tests.support.servers import Service  # noqa: E402


def fetch(service, path, token, runs):
    """(size of the answer to GET `path` as sent, gzip-encoded when the service does so; median
    seconds of `runs` such requests)."""
    sizes, times = [], []
    for _ in range(runs):
        start = time.perf_counter()
        response = service.api("GET", path, token, stream=True,
                               headers={"Accept-Encoding": "gzip"})
        response.raise_for_status()
        sizes.append(len(response.raw.read(decode_content=False)))
        times.append(time.perf_counter() - start)
    return sizes[-1], statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    bin_dir = pulumi_bin()
    url, stop_database = database()
    root = Path(tempfile.mkdtemp(prefix="bench-outputs-"))
    with_cap = Service(url).start()
    without = Service(url, env={"STACK_OUTPUTS_ENABLED": "false"},
                      master_key=with_cap.master_key).start()
    rows = []
    try:
        login = unique("bench")
        token = with_cap.user(login)
        clis = {name: Pulumi(bin_dir, svc.url, token, root / name)
                for name, svc in (("outputs", with_cap), ("export", without))}
        for cli in clis.values():
            cli.login()
        elsewhere = root / "elsewhere"
        elsewhere.mkdir()
        writer = clis["outputs"]
        # Journaling with the CLI's local copy off: the fastest way to make a large stack.
        writer.extra_env = {"PULUMI_SKIP_CHECKPOINTS": "true"}
        for count in args.sizes:
            stack = unique("s")
            writer.write_program(stash_program({f"r{i}": i for i in range(count)},
                                               outputs={"greeting": "hello"}))
            writer.run("stack", "init", stack)
            writer.run("up", "--yes", "--skip-preview")
            full = f"{login}/proj/{stack}"
            for name, cli in clis.items():
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    # Outside any project: the writer's folder holds the N-resource program,
                    # which the CLI would parse first.
                    out = cli.run("stack", "output", "greeting", "--stack", full,
                                  cwd=elsewhere).stdout
                    times.append(time.perf_counter() - start)
                    assert out.strip() == "hello", out
                sent, request = fetch(with_cap, f"/api/stacks/{full}/{name}", token, args.runs)
                rows.append((count, name, statistics.median(times), sent, request))
                print(f"  N={count:<6} {name:<8} {rows[-1][2]:.2f}s", file=sys.stderr, flush=True)
            writer.run("stack", "rm", "--yes", "--force", full)
    finally:
        with_cap.stop()
        without.stop()
        stop_database()

    print(f"\n`pulumi stack output greeting`, median of {args.runs} runs:")
    print("(KB sent: the answer on the wire; request ms: that GET alone, from this process)")
    print(f"{'N':>6} {'read by':<8} {'seconds':>8} {'KB sent':>9} {'request ms':>11}")
    for count, name, seconds, sent, request in rows:
        print(f"{count:>6} {name:<8} {seconds:8.2f} {sent / 1000:9.1f} {request * 1000:11.1f}")


if __name__ == "__main__":
    main()
