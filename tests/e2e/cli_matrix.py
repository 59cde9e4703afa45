"""The README's CLI compatibility table, made from the last matrix run
(tests/e2e/test_cli_matrix.py writes one JSON report per CLI version) and the build cache (the
seconds each cold build took). Not a test.

    .venv/bin/python tests/e2e/cli_matrix.py                  # print the table
    .venv/bin/python tests/e2e/cli_matrix.py --readme README.md   # replace it in the README
"""
import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.support.cli import (  # noqa: E402
    MATRIX_OPERATIONS as OPERATIONS, matrix_report_folder as report_folder, matrix_versions,
)

START, END = "<!-- cli-matrix:start -->", "<!-- cli-matrix:end -->"


def build_seconds(version, newest):
    cache = Path(os.environ.get("PULUMI_CLI_CACHE") or Path.home() / ".cache/pulumi-service-e2e")
    folders = sorted(cache.glob(f"cli-{version}-yaml-*" if version == newest else f"cli-{version}"))
    for folder in folders:
        marker = folder / ".complete"
        if marker.exists():
            facts = dict(line.split("=", 1) for line in marker.read_text().split() if "=" in line)
            if "build_seconds" in facts:
                return f"{int(facts['build_seconds']) / 60:.0f} min"
    return "not recorded"


def table():
    versions = matrix_versions()
    lines = ["| CLI version | persistence mode used | cold build | tested operations | result |",
             "|---|---|---|---|---|"]
    lines.append(f"| {versions[0]} | journal (delta and full when asked) | "
                 f"{build_seconds(versions[0], versions[0])} | the whole e2e suite (tests/e2e) | "
                 f"the suite's result |")
    for version in versions[1:]:
        path = report_folder() / f"{version}.json"
        if not path.exists():
            lines.append(f"| {version} | | {build_seconds(version, versions[0])} | | not run |")
            continue
        report = json.loads(path.read_text())
        done = report["operations"]
        passed = [op for op in OPERATIONS if done.get(op) == "passed"]
        failed = [op for op in OPERATIONS if done.get(op) == "failed"]
        if len(passed) == len(OPERATIONS):
            result = f"all passed ({report['when']})"
        elif failed:
            result = f"failed: {', '.join(failed)} ({report['when']})"
        else:
            result = f"incomplete ({report['when']})"
        lines.append(f"| {version} | {report['mode'] or '?'} | "
                     f"{build_seconds(version, versions[0])} | {', '.join(OPERATIONS)} | "
                     f"{result} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, help="replace the table between the markers")
    args = parser.parse_args()
    text = table()
    if args.readme is None:
        print(text)
        return
    readme = args.readme.read_text()
    if START not in readme or END not in readme:
        raise SystemExit(f"{args.readme} has no {START} ... {END} markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    args.readme.write_text(f"{head}{START}\n{text}\n{END}{tail}")


if __name__ == "__main__":
    main()
