"""How long `pulumi up` and `pulumi destroy` of N resources take against this service (behind
gunicorn), in each of the CLI's persistence modes, against the CLI's own file:// backend, and
against file:// with PULUMI_SKIP_CHECKPOINTS=true (the engine's own cost: our floor). Prints
medians and the ratios ours/file and ours/floor, the bytes the service received per mode, and
the service's time per journal batch at two stack sizes. Not a test: it asserts nothing.

    .venv/bin/python bench/bench_up.py            # N = 100, 1000, 5000; journal, delta, full
    .venv/bin/python bench/bench_up.py --sizes 100 1000 --runs 3
    .venv/bin/python bench/bench_up.py --sizes 1000 --modes journal --batch-sizes
    .venv/bin/python bench/bench_up.py --skip none --timeout 7200    # full@5000 too

Modes (tests/support/cli.py PERSISTENCE_MODES): journal (the CLI's default), delta (journaling
off: verbatim + delta checkpoints) and full (both off: the whole state after every step, O(N^2)
bytes; full@5000 is skipped unless asked for). Only the service backend journals or sends deltas,
so file:// and the floor are measured once per N and shown against every mode.

Bytes and per-batch times come from the service's JSON access log (`request_bytes` as received,
gzip-compressed by the CLI; `body_bytes` once decompressed; `duration_ms` from the request
reaching the service to its last byte sent). The journal batch figures are the median server
time of the PATCH .../journalentries requests of the `up` runs in journal mode at each of
--batch-sizes (sizes not in --sizes get journal-mode service runs of their own).

Uses DATABASE_URL if set (a database the service may migrate), otherwise a throwaway PostgreSQL;
the real CLI from PULUMI_CLI_BIN, otherwise tests/e2e/build_pulumi_cli.sh builds it.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import postgres as pg, unique  # noqa: E402
from tests.support.cli import PERSISTENCE_MODES, Pulumi, pulumi_bin, stash_program  # noqa: E402
from tests.support.servers import Service  # noqa: E402

PASSPHRASE = {"PULUMI_CONFIG_PASSPHRASE": "bench"}
MODES = tuple(PERSISTENCE_MODES)
# Routes by which the CLI sends an update's state (the rest: events, lease, start, complete...).
STATE_ROUTES = ("/checkpoint", "/checkpointverbatim", "/checkpointdelta", "/journalentries")


nan = float("nan")
LARGE = 1000  # above this many resources, --large-runs runs of each combination


class TimedOut(Exception):
    pass


def database():
    """(database URL, stop function)."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"], lambda: None
    server, stop = pg.start()
    return server.url(), stop


class AccessLog:
    """The service's access lines written since a mark (the bench is the service's only client)."""

    def __init__(self, path):
        self.path = path

    def mark(self):
        return self.path.stat().st_size

    def since(self, offset):
        # A line is written when the server closes its response, just after the CLI has it:
        # wait for the log to stop growing.
        size = -1
        while size != self.path.stat().st_size:
            size = self.path.stat().st_size
            time.sleep(0.3)
        with open(self.path, "rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
        lines = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("logger") == "app.access":
                lines.append(record)
        return lines


def run_timed(cli, args, env, timeout):
    """Seconds `pulumi <args>` took; TimedOut (its process group killed) after `timeout`."""
    start = time.perf_counter()
    proc = cli.popen(*args, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise TimedOut(f"pulumi {' '.join(args)} took over {timeout}s") from None
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise AssertionError(f"pulumi {' '.join(args)} -> {proc.returncode}\n{out}\n{err}")
    return seconds


def traffic(lines):
    """What the service received in these access lines."""
    state = [r for r in lines if (r.get("route") or "").endswith(STATE_ROUTES)]
    journal = [r for r in lines
               if (r.get("route") or "").endswith("/journalentries") and r.get("method") == "PATCH"
               and 200 <= r.get("status", 0) < 300]
    batches = [(r["duration_ms"], r.get("body_bytes") or 0) for r in journal]
    return {
        "requests": len(lines),
        "wire": sum(r.get("request_bytes") or 0 for r in lines),
        "body": sum(r.get("body_bytes") or 0 for r in lines),
        "state_requests": len(state),
        "state_wire": sum(r.get("request_bytes") or 0 for r in state),
        "state_ms": sum(r.get("duration_ms") or 0 for r in state),
        "batch_ms": batches,
        "batch_gaps_ms": batch_gaps(journal),
        "errors": sum(1 for r in lines if r.get("status", 0) >= 400),
    }


def batch_gaps(journal):
    """Milliseconds from the end of each journal batch's response to the next batch reaching the
    service: the time the CLI spends before it sends again (its batching period, the engine's own
    work, the round trip). A line is written as its response ends (`timestamp`), `duration_ms`
    after the request reached the service."""
    spans = []
    for r in journal:
        end = datetime.fromisoformat(r["timestamp"]).timestamp() * 1000
        spans.append((end - r["duration_ms"], end))
    spans.sort()
    return [max(0.0, start - prev_end) for (_, prev_end), (start, _) in zip(spans, spans[1:])]


def journal_entries(database_url, stack):
    """How many journal entries the stack's updates stored (the bench's stacks have one `up`)."""
    import psycopg2

    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM journal_entries j JOIN updates u ON u.id = j.update_id "
                    "JOIN stacks s ON s.id = u.stack_id WHERE s.name = %s", (stack,))
        count = cur.fetchone()[0]
    conn.close()
    return count


def measure(cli, count, runs, env, timeout, log=None, database_url=None, destroy=True,
            up_args=()):
    """[{"up", "destroy", "traffic"}] of `runs` fresh stacks of `count` resources (`destroy`
    False: the stack is removed with `stack rm --force` instead, and "destroy" is None)."""
    cli.write_program(stash_program({f"r{i}": i for i in range(count)}))
    results = []
    for _ in range(runs):
        stack = unique("s")
        cli.run("stack", "init", stack, env=env)
        try:
            mark = log.mark() if log else None
            up = run_timed(cli, ("up", "--yes", "--skip-preview", *up_args), env, timeout)
            seen = traffic(log.since(mark)) if log else None
            if seen is not None and database_url:
                seen["journal_entries"] = journal_entries(database_url, stack)
            destroy = (run_timed(cli, ("destroy", "--yes", "--skip-preview"), env, timeout)
                       if destroy else None)
        except TimedOut:
            if log:  # the killed update still holds the stack
                cli.run("cancel", "--yes", stack, env=env, check=False)
            raise
        finally:
            cli.run("stack", "rm", "--yes", "--force", stack, env=env, check=False)
        results.append({"up": up, "destroy": destroy, "traffic": seen})
    return results


def runs_at(args, count):
    return args.runs if count <= LARGE else args.large_runs


def median(values):
    values = list(values)
    return statistics.median(values) if values else float("nan")


def megabytes(n):
    return f"{n / 1e6:10.2f}"


def parse_skip(values):
    if values == ["none"]:
        return set()
    skip = set()
    for value in values:
        mode, _, count = value.partition("@")
        if mode not in MODES + ("file", "floor") or not count.isdigit():
            raise SystemExit(f"--skip takes WHAT@N (what: {', '.join(MODES)}, file, floor) or "
                             f"none: {value!r}")
        skip.add((mode, int(count)))
    return skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--large-runs", type=int, default=1,
                        help=f"runs of each combination above N = {LARGE}")
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[500, 5000],
                        help="stack sizes whose journal batch times are compared (none: skip)")
    parser.add_argument("--skip", nargs="+", default=["full@5000"],
                        help="WHAT@N not to run, WHAT a mode, file or floor (default "
                             "full@5000: O(N^2)), or none")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds one `pulumi up` or `destroy` may take before the "
                             "combination is given up")
    parser.add_argument("--destroy-max", type=int, default=1000,
                        help="time `pulumi destroy` only up to this many resources (bigger "
                             "stacks are removed with `stack rm --force`)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cli-env", nargs="+", default=[], metavar="NAME=VALUE",
                        help="more environment for every CLI run (all backends), e.g. "
                             "PULUMI_JOURNALING_BATCH_PERIOD=1 to see what the CLI's batching "
                             "period costs")
    parser.add_argument("--up-args", nargs="+", default=[], metavar="ARG",
                        help="more arguments for every `pulumi up`, e.g. --up-args=--profiling="
                             "/tmp/prof/up for the CLI's CPU profile and execution trace")
    args = parser.parse_args()
    cli_env = dict(value.split("=", 1) for value in args.cli_env)
    skip = parse_skip(args.skip)

    bin_dir = pulumi_bin()
    url, stop_database = database()
    root = Path(tempfile.mkdtemp(prefix="bench-up-"))
    service = Service(url, workers=args.workers).start()
    log = AccessLog(service.log_path)
    results, notes, timed_out = {}, [], set()

    def note(text):
        notes.append(text)
        print(f"  note: {text}", file=sys.stderr, flush=True)

    def record(key, cli, count, env, access_log=None):
        try:
            runs = measure(cli, count, runs_at(args, count), env, args.timeout, access_log,
                           url if access_log else None, destroy=count <= args.destroy_max,
                           up_args=args.up_args)
        except TimedOut as err:
            note(f"{key[0]}@{count}: {err}; not measured")
            timed_out.add(key)
            return
        results[key] = runs
        print(f"  N={count:<5} {key[0]:<14} up {median(r['up'] for r in runs):8.2f}s   "
              f"destroy {median(r['destroy'] or nan for r in runs):8.2f}s",
              file=sys.stderr, flush=True)

    try:
        ours = {}
        for mode in MODES:
            ours[mode] = Pulumi(bin_dir, service.url, service.user(unique("bench")),
                                root / f"service-{mode}")
            ours[mode].extra_env = {**cli_env, **PERSISTENCE_MODES[mode]}
            ours[mode].login()
        state_dir = root / "file-state"
        state_dir.mkdir()
        theirs = Pulumi(bin_dir, f"file://{state_dir}", None, root / "file")
        theirs.extra_env = dict(cli_env)
        theirs.login()

        for count in args.sizes:
            for mode in args.modes:
                if (mode, count) in skip:
                    note(f"{mode}@{count} skipped (--skip; `--skip none` runs it)")
                    continue
                record((f"service {mode}", count), ours[mode], count, None, log)
            for name, env in (("file", PASSPHRASE),
                              ("floor", {**PASSPHRASE, "PULUMI_SKIP_CHECKPOINTS": "true"})):
                if (name, count) in skip:
                    note(f"{name}@{count} skipped (--skip)")
                    continue
                record((name, count), theirs, count, env)
        for count in args.batch_sizes:
            if ("service journal", count) not in results and ("journal", count) not in skip:
                record(("service journal", count), ours["journal"], count, None, log)
    finally:
        service.stop()
        stop_database()

    report(args, results, notes, timed_out)


def report(args, results, notes, timed_out):
    def up(key):
        return median(r["up"] for r in results[key]) if key in results else float("nan")

    def destroy(key):
        return median(r["destroy"] or nan for r in results[key]) if key in results else nan

    print(f"\nMedians of {args.runs} runs ({args.large_runs} above N = {LARGE}), in seconds; same "
          f"CLI, same machine. file:// and the floor do not depend on the mode.")
    print(f"{'N':>6} {'mode':<8} {'op':<8} {'service':>9} {'file://':>9} {'floor':>9} "
          f"{'svc/file':>9} {'svc/floor':>10}")
    for count in args.sizes:
        for mode in args.modes:
            key = (f"service {mode}", count)
            if key not in results:
                continue
            for op, take in (("up", up), ("destroy", destroy)):
                ours_s, file_s, floor_s = (take(k) for k in
                                           (key, ("file", count), ("floor", count)))
                # A combination that timed out took longer than --timeout: a bound, not a figure.
                file_out = ("file", count) in timed_out
                file_text = f"{'>' + format(args.timeout, '.0f'):>9}" if file_out else f"{file_s:9.2f}"
                ratio = ours_s / (args.timeout if file_out else file_s)
                ratio_text = f"{'<' + format(ratio, '.2f'):>9}" if file_out else f"{ratio:9.2f}"
                print(f"{count:>6} {mode:<8} {op:<8} {ours_s:9.2f} {file_text} {floor_s:9.2f} "
                      f"{ratio_text} {ours_s / floor_s:10.2f}")

    print("\nWhat the service received during one `pulumi up` (medians): every request, and the "
          "requests that carry the state\n(checkpoint, checkpointverbatim, checkpointdelta, "
          "journalentries); MB as sent (gzip) and once decompressed.")
    print(f"{'N':>6} {'mode':<8} {'requests':>9} {'MB sent':>10} {'MB json':>10} "
          f"{'state req':>10} {'state MB':>10} {'state srv s':>12} {'errors':>7}")
    for count in sorted({c for _, c in results}):
        for mode in MODES:
            runs = results.get((f"service {mode}", count))
            if not runs:
                continue
            seen = [r["traffic"] for r in runs]
            print(f"{count:>6} {mode:<8} {median(t['requests'] for t in seen):9.0f} "
                  f"{megabytes(median(t['wire'] for t in seen))} "
                  f"{megabytes(median(t['body'] for t in seen))} "
                  f"{median(t['state_requests'] for t in seen):10.0f} "
                  f"{megabytes(median(t['state_wire'] for t in seen))} "
                  f"{median(t['state_ms'] for t in seen) / 1000:12.2f} "
                  f"{median(t['errors'] for t in seen):7.0f}")

    batch = {}
    for count in args.batch_sizes:
        runs = results.get(("service journal", count))
        if runs:
            batch[count] = [b for r in runs for b in r["traffic"]["batch_ms"]]
    if batch:
        print("\nServer time per journal batch (PATCH .../journalentries, all `up` runs):")
        print(f"{'N':>6} {'batches/up':>11} {'median KB':>10} {'median ms':>10} {'p90 ms':>8}")
        for count, batches in batch.items():
            durations = [ms for ms, _ in batches]
            p90 = (statistics.quantiles(durations, n=10)[-1] if len(durations) > 1
                   else median(durations))
            print(f"{count:>6} {len(batches) / runs_at(args, count):11.0f} "
                  f"{median(b for _, b in batches) / 1000:10.1f} {median(durations):10.2f} "
                  f"{p90:8.2f}")
        sizes = sorted(batch)
        if len(sizes) >= 2 and batch[sizes[0]] and batch[sizes[-1]]:
            ratio = (median(ms for ms, _ in batch[sizes[-1]])
                     / median(ms for ms, _ in batch[sizes[0]]))
            print(f"median at N={sizes[-1]} / median at N={sizes[0]}: {ratio:.2f} (target <= 1.3)")
    journaled = sorted(c for m, c in results if m == "service journal")
    if journaled:
        print("\nWhere a journaled `pulumi up`'s time goes (median run by wall time): the CLI sends "
              "a batch, waits for\nthe answer, then collects entries until its next tick "
              "(PULUMI_JOURNALING_BATCH_PERIOD, 50 ms by default);\na resource step waits for the "
              "batch holding its entry, and at most --parallel steps (4 x CPUs) run at once.")
        print(f"{'N':>6} {'up s':>8} {'batches':>8} {'entries':>8} {'per batch':>10} "
              f"{'server s':>9} {'between s':>10} {'gap p50 ms':>11} {'rest s':>7}")
        for count in journaled:
            runs = sorted(results[("service journal", count)], key=lambda r: r["up"])
            run = runs[len(runs) // 2]
            seen = run["traffic"]
            batches = len(seen["batch_ms"])
            server = sum(ms for ms, _ in seen["batch_ms"]) / 1000
            between = sum(seen["batch_gaps_ms"]) / 1000
            entries = seen.get("journal_entries", 0)
            print(f"{count:>6} {run['up']:8.2f} {batches:8} {entries:8} "
                  f"{entries / max(batches, 1):10.1f} {server:9.2f} {between:10.2f} "
                  f"{median(seen['batch_gaps_ms']):11.1f} {run['up'] - server - between:7.2f}")
        print("rest: the CLI before its first batch and after its last (start-up, plugins, "
              "program, complete).")
    for text in notes:
        print(f"note: {text}")


if __name__ == "__main__":
    main()
