"""How fast `pulumi-service import-diy` moves a DIY backend in: stacks/s and MB/s (of the DIY
backend's files) for synthetic file:// backends written in the CLI's project-scoped layout. Not a
test: it asserts nothing.

    .venv/bin/python bench/bench_diy_import.py                 # 200 stacks x 20 versions x 10
                                                               # resources, and 1 x 50 x 5000
    .venv/bin/python bench/bench_diy_import.py --only many --verify
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_up import database  # noqa: E402


def state(project, stack, resources, version):
    urn = f"urn:pulumi:{stack}::{project}::"
    items = [{"urn": urn + f"pulumi:pulumi:Stack::{project}-{stack}", "custom": False,
              "type": "pulumi:pulumi:Stack", "outputs": {"version": version}}]
    items += [{"urn": urn + f"pulumi:index:Stash::r{i}", "custom": True, "id": f"id-{i}",
               "type": "pulumi:index:Stash", "parent": items[0]["urn"],
               "inputs": {"input": f"value {i} v{version}"},
               "outputs": {"input": f"value {i} v{version}", "output": f"value {i} v{version}"},
               "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z"}
              for i in range(resources)]
    return {"version": 3, "checkpoint": {"stack": f"organization/{project}/{stack}", "latest": {
        "manifest": {"time": "2026-01-01T00:00:00Z", "magic": "", "version": "v3.274.1"},
        "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:x"}},
        "resources": items}}}


def write_backend(root, stacks, versions, resources):
    """A DIY backend of `stacks` stacks (10 projects) with `versions` history entries each."""
    (root / ".pulumi").mkdir(parents=True)
    (root / ".pulumi/meta.yaml").write_text("version: 1\n")
    clock = 1_700_000_000_000_000_000
    for n in range(stacks):
        project, stack = f"p{n % 10}", f"s{n}"
        history = root / f".pulumi/history/{project}/{stack}"
        history.mkdir(parents=True)
        text = b""
        for version in range(1, versions + 1):
            clock += 1_000_000_000
            text = json.dumps(state(project, stack, resources, version)).encode()
            (history / f"{stack}-{clock}.checkpoint.json").write_bytes(text)
            (history / f"{stack}-{clock}.history.json").write_text(json.dumps({
                "kind": "update", "startTime": clock // 10**9, "message": f"v{version}",
                "environment": {}, "config": {}, "result": "succeeded",
                "endTime": clock // 10**9 + 1, "resourceChanges": {"update": resources}}))
        stacks_dir = root / f".pulumi/stacks/{project}"
        stacks_dir.mkdir(parents=True, exist_ok=True)
        (stacks_dir / f"{stack}.json").write_bytes(text)


def size_of(root):
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def run(url, root, org, verify):
    env = dict(os.environ, DATABASE_URL=url)
    subprocess.run([sys.executable, "-m", "app.cli", "db", "upgrade"], cwd=REPO, env=env,
                   check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "app.cli", "org", "create", org], cwd=REPO, env=env,
                   capture_output=True)
    args = [sys.executable, "-m", "app.cli", "import-diy", f"file://{root}", "--org", org]
    start = time.perf_counter()
    done = subprocess.run(args + (["--verify"] if verify else []), cwd=REPO, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"import-diy failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["many", "large"])
    parser.add_argument("--verify", action="store_true", help="time the import with --verify")
    args = parser.parse_args()
    url, stop = database()
    cases = {"many": (200, 20, 10), "large": (1, 50, 5000)}
    try:
        for name, (stacks, versions, resources) in cases.items():
            if args.only and name != args.only:
                continue
            with tempfile.TemporaryDirectory(prefix="diy-bench-") as folder:
                root = Path(folder) / "state"
                write_backend(root, stacks, versions, resources)
                size = size_of(root)
                elapsed = run(url, root, f"bench-{name}", args.verify)
                print(f"{stacks} stack(s) x {versions} versions x {resources} resources "
                      f"({size / 1e6:.1f} MB){' with --verify' if args.verify else ''}: "
                      f"{elapsed:.1f} s, {stacks / elapsed:.2f} stacks/s, "
                      f"{size / 1e6 / elapsed:.1f} MB/s", flush=True)
    finally:
        stop()


if __name__ == "__main__":
    main()
