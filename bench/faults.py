"""Long variants of the concurrency and fault tests (tests/e2e/test_concurrency_faults.py) with
the real CLI against real gunicorns, printing what happened instead of asserting on time:

  race   20 `pulumi up` at once on one stack through one gunicorn, then 10 through each of two
         gunicorns on one database: how many succeeded, how many got the CLI's conflict error
  kills  gunicorn workers SIGKILLed 50 times at random moments during `pulumi up` of 500
         resources, with full checkpoints (one per step) and with journaling (the CLI's default):
         each up's outcome (the CLI retries, and gives up after 4 failed tries of a request),
         whether any state read meanwhile failed to parse or went back, whether every version
         stays readable, and whether `pulumi cancel` (if needed) + `pulumi up` ends with the
         right state. An up that fails is followed by another under the remaining kills
  lease  the CLI killed mid-update, then its lease left to expire: `pulumi up` once the update
         counts as abandoned, and `pulumi cancel` + `pulumi up` once the lease expired

Every scenario checks the final state against one undisturbed `pulumi up` of the same program
(normalised exports); the exit status is 1 if any check failed.

    .venv/bin/python bench/faults.py                               # everything, issue 8 sizes
    .venv/bin/python bench/faults.py --only kills --kills 50 --resources 500 --seed 7

Uses DATABASE_URL if set (a database the service may migrate), otherwise a throwaway PostgreSQL;
the real CLI from PULUMI_CLI_BIN, otherwise tests/e2e/build_pulumi_cli.sh builds it.
"""
import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_up import database, pulumi_bin  # noqa: E402
from tests.support import unique  # noqa: E402
from tests.support.cli import (  # noqa: E402
    PERSISTENCE_MODES, Pulumi, logged_in as new_cli, normalised, stash_program,
)
from tests.support.faults import (  # noqa: E402
    CONFLICT_HINT, CONFLICT_TEXT, check_readable, clear_pending_creates, export, history,
    kill_cli_mid_update, race, reference_state, refreshed_reference_state, running, sibling,
    staged_program, ups_under_worker_kills, wait_for_lease, wide_service,
)
from tests.support.servers import Service  # noqa: E402

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
    return "yes" if ok else "NO"


def many(count):
    return stash_program({f"r{i}": i for i in range(count)})


def state_difference(ours, expected, entries):
    """A short account of how two normalised states differ."""
    lines = [f"    history: {entries[:5]}"]
    by_urn = {r["urn"]: r for r in ours["resources"]}
    wanted = {r["urn"]: r for r in expected["resources"]}
    lines.append(f"    missing: {sorted(set(wanted) - set(by_urn))[:10]}")
    lines.append(f"    extra: {sorted(set(by_urn) - set(wanted))[:10]}")
    for urn in sorted(set(by_urn) & set(wanted)):
        if by_urn[urn] != wanted[urn]:
            keys = sorted(k for k in set(by_urn[urn]) | set(wanted[urn])
                          if by_urn[urn].get(k) != wanted[urn].get(k))
            diff = [(k, by_urn[urn].get(k), wanted[urn].get(k)) for k in keys]
            lines.append(f"    differs: {urn}: {diff}"[:600])
            break
    lines.append(f"    pending operations: {ours['pending_operations'][:3]}")
    return "\n".join(lines)


def bench_race(observer, bin_dir, root, args):
    print(f"\n== race: {args.racers} `pulumi up` at once on one stack "
          f"({args.resources_race} resources), {args.rounds} rounds each", flush=True)
    print(f"{'gunicorns':>9} {'round':>5} {'succeeded':>9} {'conflict':>8} {'other':>5} "
          f"{'seconds':>8} {'state ok':>8}")
    wide = [wide_service(observer, threads=args.racers + 4).start() for _ in range(2)]
    try:
        for gunicorns in (1, 2):
            for round_ in range(1, args.rounds + 1):
                cli = new_cli(wide[0], bin_dir, root, unique("race"))
                clis = [cli]
                if gunicorns == 2:
                    other = Pulumi(bin_dir, wide[1].url, cli.token, root / unique("other"))
                    other.login()
                    other.write_program(many(args.resources_race))
                    clis.append(other)
                expected = reference_state(cli, many(args.resources_race))
                cli.run("stack", "init", "dev")
                racers = [clis[i % len(clis)] for i in range(args.racers)]
                started = time.monotonic()
                results = race(racers, f"{cli.login_name}/proj/dev", observer.database_url,
                               cli.login_name, "proj", "dev")
                seconds = time.monotonic() - started
                succeeded = sum(1 for code, _ in results if code == 0)
                conflicts = sum(1 for code, out in results
                                if code != 0 and CONFLICT_TEXT in out and CONFLICT_HINT in out)
                other_failures = len(results) - succeeded - conflicts
                state_ok = (normalised(export(cli, "dev"), "dev") == expected
                            and history(cli, "dev") == [(1, "update", "succeeded")])
                check(succeeded == 1 and other_failures == 0,
                      f"race on {gunicorns} gunicorn(s), round {round_}: {succeeded} succeeded, "
                      f"{other_failures} failed otherwise")
                print(f"{gunicorns:>9} {round_:>5} {succeeded:>9} {conflicts:>8} "
                      f"{other_failures:>5} {seconds:8.1f} "
                      f"{check(state_ok, f'race state, round {round_}'):>8}", flush=True)
    finally:
        for svc in wide:
            svc.stop()


def bench_kills(observer, bin_dir, root, args, rng):
    print(f"\n== kills: {args.kills} SIGKILLs of gunicorn workers during `pulumi up` of "
          f"{args.resources} resources (gaps {args.gap_min}-{args.gap_max} s); an up that fails "
          "is followed by `pulumi cancel` (if needed) and another up under the remaining kills, "
          "one that succeeds early by `pulumi destroy` and another up", flush=True)
    rows = []
    for mode in args.modes:
        faulted = sibling(observer, workers=2).start()
        try:
            rows.append(kills_in_mode(mode, faulted, observer, bin_dir, root, args, rng))
        finally:
            faulted.stop()
    print(f"{'mode':<8} {'calm s':>6} {'ups':>4} {'ok':>3} {'failed':>6} {'kills':>5} "
          f"{'serving':>7} {'reads':>5} {'lost/bad':>8} {'readable':>8} {'cancels':>7} "
          f"{'pending':>7} {'state ok':>8}")
    for row in rows:
        print(f"{row.mode:<8} {row.undisturbed:6.1f} {len(row.ups):>4} {row.succeeded:>3} "
              f"{len(row.ups) - row.succeeded:>6} {row.kills:>5} {row.serving:>7} "
              f"{row.reads:>5} {row.problems:>8} {check(row.readable, f'{row.mode}: readable'):>8} "
              f"{row.cancels:>7} {row.cleared:>7} {check(row.state_ok, f'{row.mode}: state'):>8}")
        check(row.kills >= args.kills, f"{row.mode}: only {row.kills} kills")


def kills_in_mode(mode, faulted, observer, bin_dir, root, args, rng):
    cli = new_cli(faulted, bin_dir, root, unique("kills"))
    cli.extra_env.update(PERSISTENCE_MODES[mode])
    started = time.monotonic()
    expected = reference_state(cli, many(args.resources))
    undisturbed = time.monotonic() - started
    cli.run("stack", "init", "dev")
    gaps = [rng.uniform(args.gap_min, args.gap_max) for _ in range(args.kills)]
    result = ups_under_worker_kills(cli, faulted, observer, "dev", gaps, expected, rng=rng)
    for line in result.log:
        print(f"  {mode}: {line}")
    for problem in result.problems[:10]:
        print(f"    problem: {problem}")
    for text in result.unreadable[:3]:
        print(f"    not readable: {text}")
    for state in result.wrong_states[:2]:
        print("    a wrong state:\n" + state_difference(state, expected, result.history))
    return SimpleNamespace(
        mode=mode, undisturbed=undisturbed, ups=result.ups, succeeded=result.succeeded,
        kills=result.kills, serving=result.serving, reads=result.reads,
        problems=len(result.problems), readable=not result.unreadable, cancels=result.cancels,
        cleared=result.cleared, state_ok=not result.wrong_states and not result.problems,
    )


def bench_lease(observer, bin_dir, root, args):
    print(f"\n== lease: the CLI killed mid-update of {args.resources_lease} resources "
          f"(LEASE_SECONDS={args.lease_seconds}, ABANDONED_AFTER_SECONDS={args.abandoned_after})",
          flush=True)
    short = sibling(observer, env={"LEASE_SECONDS": str(args.lease_seconds),
                                   "ABANDONED_AFTER_SECONDS": str(args.abandoned_after)}).start()
    print(f"{'path':<10} {'blocked':>7} {'s to a good up':>14} {'pending':>7} {'state ok':>8}")
    try:
        for path in ("abandoned", "cancel"):
            cli = new_cli(short, bin_dir, root, unique("lease"))
            expected = reference_state(cli, staged_program(args.resources_lease, first=10))
            # The abandoned path ends with the pending creates cleared: a refresh, no up after.
            refreshed = refreshed_reference_state(cli) if path == "abandoned" else None
            cli.run("stack", "init", "dev")
            # Killed with the stack, its provider and 10 resources created, and creates begun.
            update_id = kill_cli_mid_update(cli, short, "dev", at_least=12)
            killed_at = time.monotonic()
            blocked, ok = 0, True
            if path == "abandoned":
                # `pulumi up` until the update counts as abandoned, as a user would retry.
                while True:
                    result = cli.run("up", "--yes", "--skip-preview", "--stack", "dev",
                                     check=False)
                    if result.returncode == 0:
                        break
                    if CONFLICT_TEXT not in result.output:
                        ok = check(False, f"lease: up failed otherwise:\n{result.output}")
                        break
                    blocked += 1
                    time.sleep(0.5)
                cleared = clear_pending_creates(cli, "dev")
                expected = refreshed if cleared else expected
            else:
                wait_for_lease(short.database_url, update_id, args.abandoned_after, "expired")
                cli.run("cancel", "--yes", "--stack", "dev")
                cleared = clear_pending_creates(cli, "dev")
                cli.run("up", "--yes", "--skip-preview", "--stack", "dev")
            seconds = time.monotonic() - killed_at
            check_readable(cli, "dev")
            entries = history(cli, "dev")
            state_ok = (ok and normalised(export(cli, "dev"), "dev") == expected
                        and entries[-1] == (1, "update", "failed")
                        and not running(short, cli.token, cli.login_name, "proj", "dev"))
            print(f"{path:<10} {blocked:>7} {seconds:14.1f} {len(cleared):>7} "
                  f"{check(state_ok, f'lease, {path} path'):>8}", flush=True)
    finally:
        short.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["race", "kills", "lease"], nargs="+",
                        default=["race", "kills", "lease"])
    parser.add_argument("--racers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resources-race", type=int, default=20)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--resources", type=int, default=500)
    parser.add_argument("--gap-min", type=float, default=0.2)
    parser.add_argument("--gap-max", type=float, default=1.2)
    parser.add_argument("--modes", nargs="+", choices=list(PERSISTENCE_MODES),
                        default=["full", "journal"])
    parser.add_argument("--resources-lease", type=int, default=200)
    parser.add_argument("--lease-seconds", type=int, default=15)
    parser.add_argument("--abandoned-after", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)

    bin_dir = pulumi_bin()
    url, stop_database = database()
    root = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    observer = Service(url).start()
    try:
        if "race" in args.only:
            bench_race(observer, bin_dir, root, args)
        if "kills" in args.only:
            bench_kills(observer, bin_dir, root, args, rng)
        if "lease" in args.only:
            bench_lease(observer, bin_dir, root, args)
    finally:
        observer.stop()
        stop_database()
    print("\nall checks passed" if not failures else "\nFAILED:\n  " + "\n  ".join(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
