"""The long fuzzing run: tests/test_fuzz.py against a real gunicorn (2 workers, 4 threads) on a
throwaway PostgreSQL, with many more cases per operation and a seed of your choice.

    .venv/bin/python bench/fuzz.py                      # 2000 cases per operation, seed 1
    .venv/bin/python bench/fuzz.py --examples 500 --seed 7

Prints pytest's summary and the wall time; exits non-zero on any failure (each one is a defect:
fix it and add a regression test to tests/test_fuzz_regressions.py). Re-running with the same
seed and examples repeats the same cases."""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="cases per operation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--in-process", action="store_true",
                        help="call the app in-process instead of through gunicorn")
    args = parser.parse_args()
    env = dict(os.environ, FUZZ_EXAMPLES_PER_OPERATION=str(args.examples), FUZZ_RANDOM="1",
               FUZZ_GUNICORN="0" if args.in_process else "1")
    command = [sys.executable, "-m", "pytest", "tests/test_fuzz.py", "-q", "--tb=short",
               "-p", "no:cacheprovider", f"--hypothesis-seed={args.seed}"]
    print(f"fuzzing: {args.examples} cases per operation, seed {args.seed}, "
          f"{'in-process' if args.in_process else 'real gunicorn'}", flush=True)
    started = time.monotonic()
    code = subprocess.call(command, cwd=REPO, env=env)
    print(f"fuzzing took {time.monotonic() - started:.0f} s; "
          f"{'no failures' if code == 0 else 'FAILURES (see above)'}")
    sys.exit(code)


if __name__ == "__main__":
    main()
