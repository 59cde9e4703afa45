"""ESC costs, against a real gunicorn. Not a test: it asserts nothing but that the answers are
right.

1. `open` (POST .../open, then GET .../open/{id}) of an environment importing 10 others that
   hold 500 values between them (one in ten a secret, each importer adding an interpolation).
2. `pulumi up` of a stack whose `environment:` imports 5 environments holding its config,
   against the same config written in the stack's own Pulumi.<stack>.yaml: the time the
   environment adds to an `up` (each `up` opens it: yaml/open, then the read).

    .venv/bin/python bench/bench_esc.py                     # 20 opens, 5 ups each
    .venv/bin/python bench/bench_esc.py --opens 50 --ups 9
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
from tests.support.cli import Pulumi  # noqa: E402
from tests.support.servers import Service  # noqa: E402

BASE = "/api/esc/environments"


def definition(i, count, imports=(), config=False):
    """`count` values named v{i}_{n}, every tenth a secret; under pulumiConfig when `config`."""
    lines = [f"imports: [{', '.join(imports)}]"] if imports else []
    lines.append("values:")
    indent = "  "
    if config:
        lines.append("  pulumiConfig:")
        indent = "    "
    for n in range(count):
        value = f"value-{i}-{n}"
        lines.append(f"{indent}v{i}_{n}: " + (f"{{fn::secret: {value}}}" if n % 10 == 0 else value))
    return "\n".join(lines) + "\n"


def save(service, token, org, project, name, text):
    created = service.api("POST", f"{BASE}/{org}", token, json={"project": project, "name": name})
    assert created.status_code == 200, created.text
    saved = service.api("PATCH", f"{BASE}/{org}/{project}/{name}", token, data=text.encode(),
                        headers={"Content-Type": "application/json"})
    assert saved.status_code == 200, saved.text


def bench_open(service, token, org, opens):
    for i in range(10):
        save(service, token, org, "bench", f"part{i}", definition(i, 50))
    top = definition(99, 0, [f"bench/part{i}" for i in range(10)]).replace(
        "values:\n", "values:\n  joined: ${v0_1}-${v9_49}\n")
    save(service, token, org, "bench", "top", top)
    times = []
    for _ in range(opens):
        start = time.perf_counter()
        opened = service.api("POST", f"{BASE}/{org}/bench/top/open?duration=1h", token)
        assert opened.status_code == 200, opened.text
        read = service.api("GET", f"{BASE}/{org}/bench/top/open/{opened.json()['id']}", token)
        times.append(time.perf_counter() - start)
        properties = read.json()["properties"]
        assert len(properties) == 501 and properties["joined"]["value"] == "value-0-1-value-9-49"
    return times


def bench_up(service, token, org, bin_dir, root, ups):
    per_env = 20
    for i in range(5):
        save(service, token, org, "cfg", f"e{i}", definition(i, per_env, config=True))
    results = {}
    for mode in ("environment", "stack file"):
        cli = Pulumi(bin_dir, service.url, token, root / mode.replace(" ", "-"))
        cli.login()
        cli.write_program("outputs:\n  first: ${v0_1}\n  last: ${v4_19}\n")
        stack = unique("s")
        cli.run("stack", "init", f"{org}/{stack}")
        if mode == "environment":
            config = "environment:\n" + "".join(f"  - cfg/e{i}\n" for i in range(5))
        else:
            config = "config:\n" + "".join(
                f"  proj:v{i}_{n}: value-{i}-{n}\n" for i in range(5) for n in range(per_env))
        (cli.cwd / f"Pulumi.{stack}.yaml").write_text(config)
        times = []
        for _ in range(ups):
            start = time.perf_counter()
            cli.run("up", "--yes", "--skip-preview")
            times.append(time.perf_counter() - start)
        results[mode] = times
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opens", type=int, default=20)
    parser.add_argument("--ups", type=int, default=5)
    args = parser.parse_args()

    bin_dir = pulumi_bin()
    url, stop_database = database()
    root = Path(tempfile.mkdtemp(prefix="bench-esc-"))
    service = Service(url).start()
    try:
        org = unique("org")
        token = service.user(unique("bench"), {org: "admin"})
        opens = bench_open(service, token, org, args.opens)
        ups = bench_up(service, token, org, bin_dir, root, args.ups)
    finally:
        service.stop()
        stop_database()

    print(f"\nopen + read of an environment importing 10 others (500 values), {args.opens} runs:")
    print(f"  median {statistics.median(opens) * 1000:.1f} ms, "
          f"min {min(opens) * 1000:.1f} ms, max {max(opens) * 1000:.1f} ms")
    print(f"\n`pulumi up` (no changes after the first), 100 config values, median of {args.ups}:")
    for mode, times in ups.items():
        print(f"  {mode:<12} {statistics.median(times):.2f} s  (runs: "
              + ", ".join(f"{t:.2f}" for t in times) + ")")
    added = statistics.median(ups["environment"]) - statistics.median(ups["stack file"])
    print(f"  the environment adds {added * 1000:.0f} ms to an up")


if __name__ == "__main__":
    main()
