"""Tools of the concurrency and fault tests (tests/e2e/test_concurrency_faults.py) and of their
long variants (bench/faults.py): racing many real CLIs on one stack, killing gunicorn workers
while an update writes its state, watching the stored state meanwhile, and comparing states."""
import json
import os
import random
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import psycopg2
import requests

from . import ACCEPT
from .cli import kill_group, normalised, stash_program
from .servers import Service

CONFLICT_TEXT = "Another update is currently in progress"
# The tail the CLI adds to a 409 at the start of an update (its ConflictingUpdateError).
CONFLICT_HINT = "update-conflicts"


# --- states ---------------------------------------------------------------------------------

def export(cli, stack, *args):
    return json.loads(cli.run("stack", "export", "--stack", stack, *args).stdout)


def history(cli, stack):
    entries = json.loads(cli.run("stack", "history", "--json", "--stack", stack).stdout)
    return [(e["version"], e["kind"], e["result"]) for e in entries]


def reference_state(cli, program, stack="reference"):
    """The normalised state one undisturbed `pulumi up` of the program leaves on a stack."""
    cli.write_program(program)
    cli.run("stack", "init", stack)
    cli.run("up", "--yes", "--skip-preview", "--stack", stack)
    return normalised(export(cli, stack), stack)


def refreshed_reference_state(cli, stack="reference"):
    """The normalised state of reference_state's stack after a `pulumi refresh`: what a state
    that went through a refresh (clear_pending_creates runs one) compares with. A refresh
    rebuilds every resource's dependencies, and the engine then leaves out a property whose
    dependency list is empty (`propertyDependencies: {input: []}` goes), on any backend: the
    CLI does so on its own file:// backend (its rebuildBaseState), and the CLI's and the
    service's journal replay (rebuildDependencies) too."""
    cli.run("refresh", "--yes", "--skip-preview", "--stack", stack)
    return normalised(export(cli, stack), stack)


def staged_program(count, first=10):
    """`count` Stash resources r0..., those from r`first` on depending on r0..r`first - 1`: the
    engine begins none of them before those have ended, so an `up` has a point where every step
    it began has ended with `first` resources created (kill_cli_mid_update kills it there)."""
    after = [f"${{r{i}}}" for i in range(first)]
    return stash_program({f"r{i}": i if i < first else {"input": i, "dependsOn": after}
                          for i in range(count)})


# --- processes ------------------------------------------------------------------------------

def _established_inodes(port):
    """Socket inodes of established TCP connections whose local end is `port` (accepted ones)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":
                inodes.add(fields[9])
    return inodes


def serving_workers(service):
    """The workers holding a connection from a client (the CLI's keep-alive connection, over
    which it sends its checkpoints): the ones handling the update's writes."""
    inodes = _established_inodes(service.port)
    busy = []
    for pid in sorted(service.worker_pids()):
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except (FileNotFoundError, ProcessLookupError):
            continue
        if any(link[8:-1] in inodes for link in links if link.startswith("socket:[")):
            busy.append(pid)
    return busy


class WorkerKiller(threading.Thread):
    """SIGKILLs gunicorn workers at random moments while `proc` (a `pulumi up`) runs: each time
    the worker(s) serving the CLI (a random worker if none is), then waits for gunicorn's master
    to replace it before the next kill. `gaps` are the pauses before each kill (seconds)."""

    def __init__(self, service, proc, gaps, rng=random):
        super().__init__(daemon=True)
        self.rng = rng
        self.service = service
        self.proc = proc
        self.gaps = list(gaps)
        self.kills = []  # (seconds since start, pid, whether it was serving the CLI)
        self.rounds = 0
        self.error = None
        self.stop = threading.Event()

    def run(self):
        start = time.monotonic()
        try:
            for gap in self.gaps:
                if self.stop.wait(gap) or self.proc.poll() is not None:
                    return
                serving = self._serving()
                victims = serving or [self.rng.choice(sorted(self.service.worker_pids()))]
                for pid in victims:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        continue
                    self.kills.append((time.monotonic() - start, pid, bool(serving)))
                self.rounds += 1
                self._wait_replaced(victims)
        except Exception as err:  # reported by the test
            self.error = err

    def _serving(self, patience=0.5):
        """The workers serving the CLI, waiting a little for one (between two requests the CLI
        may have no connection open)."""
        deadline = time.monotonic() + patience
        while True:
            serving = serving_workers(self.service)
            if serving or time.monotonic() > deadline:
                return serving
            time.sleep(0.01)

    def _wait_replaced(self, victims):
        """Until gunicorn's master has forked the replacements (they may still be booting:
        meanwhile connections wait in the listening socket's backlog, which the master holds)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pids = sorted(self.service.worker_pids())
            if len(pids) >= self.service.workers and not set(victims) & set(pids):
                return
            time.sleep(0.02)
        raise AssertionError("gunicorn did not replace a killed worker")


class StateWatcher(threading.Thread):
    """Reads the stack's current state through another service (so that the faulted one serves
    only the CLI) while an update runs, keeping the resource count of every export it got. Every
    export must parse, and none may hold fewer resources than one before: a state the service
    served once (so had acknowledged) is never lost."""

    def __init__(self, service, token, org, project, stack, interval=0.2):
        super().__init__(daemon=True)
        self.url = f"{service.url}/api/stacks/{org}/{project}/{stack}/export"
        self.headers = {"Accept": ACCEPT, "Authorization": f"token {token}"}
        self.interval = interval
        self.counts = []
        self.problems = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(self.interval):
            self.read()
        self.read()

    def read(self):
        try:
            response = requests.get(self.url, headers=self.headers, timeout=60)
        except requests.RequestException as err:
            self.problems.append(f"export: {err!r}")
            return
        if response.status_code != 200:
            self.problems.append(f"export: {response.status_code} {response.text[:300]}")
            return
        try:
            resources = response.json()["deployment"].get("resources") or []
        except (ValueError, KeyError) as err:
            self.problems.append(f"export does not parse: {err!r}")
            return
        if self.counts and len(resources) < self.counts[-1]:
            self.problems.append(f"export went back from {self.counts[-1]} to {len(resources)} "
                                 "resources")
        self.counts.append(len(resources))


def wait_for_running(service, token, org, project, stack, timeout=120):
    """The stack as soon as a real operation runs on it."""
    url = f"{service.url}/api/stacks/{org}/{project}/{stack}"
    headers = {"Accept": ACCEPT, "Authorization": f"token {token}"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = requests.get(url, headers=headers, timeout=60).json()
        if "currentOperation" in body:
            return body
        time.sleep(0.05)
    raise AssertionError("the update never showed up as running")


def running(service, token, org, project, stack):
    url = f"{service.url}/api/stacks/{org}/{project}/{stack}"
    headers = {"Accept": ACCEPT, "Authorization": f"token {token}"}
    return "currentOperation" in requests.get(url, headers=headers, timeout=60).json()


# --- scenarios (shared by the tests and bench/faults.py) -----------------------------------

def up_under_worker_kills(cli, faulted, observer, stack, gaps, project="proj", rng=random):
    """`pulumi up` through `faulted` while its workers are SIGKILLed after each of `gaps`
    (seconds), the state read meanwhile through `observer`. Returns what happened."""
    org = cli.login_name
    watcher = StateWatcher(observer, cli.token, org, project, stack)
    started = time.monotonic()
    proc = cli.popen("up", "--yes", "--skip-preview", "--stack", stack)
    killer = WorkerKiller(faulted, proc, gaps, rng)
    out = err = ""
    try:
        wait_for_running(observer, cli.token, org, project, stack)
        watcher.start()
        killer.start()
        out, err = proc.communicate(timeout=3600)
    finally:
        if proc.returncode is None:
            kill_group(proc)
        killer.stop.set()
        killer.join()
        watcher.stop.set()
        watcher.join()
    return SimpleNamespace(
        returncode=proc.returncode, output=out + err, seconds=time.monotonic() - started,
        rounds=killer.rounds, kills=killer.kills, killer_error=killer.error,
        counts=watcher.counts, problems=watcher.problems,
    )


def check_readable(cli, stack):
    """Every version the service kept exports and parses, and the current state passes the CLI's
    own integrity check (the CLI verifies a snapshot before it previews)."""
    for version, _, _ in history(cli, stack):
        export(cli, stack, "--version", str(version))
    export(cli, stack)
    cli.run("preview", "--stack", stack)


def clear_pending_creates(cli, stack):
    """A create the CLI began but never saw end (the update failed or was killed meanwhile)
    stays in the state as a pending operation until the user resolves it: the CLI carries pending
    creates from one update to the next, as the service does when it replays a journal. Clears
    them as a user would (`pulumi refresh --clear-pending-creates`); returns the resource names.
    That is a refresh: until the next `up`, the state compares with refreshed_reference_state."""
    pending = [op["resource"]["urn"].rsplit("::", 1)[1]
               for op in export(cli, stack)["deployment"].get("pending_operations") or []
               if op.get("type") == "creating"]
    if pending:
        cli.run("refresh", "--yes", "--skip-preview", "--clear-pending-creates", "--stack", stack)
    return pending


def ups_under_worker_kills(cli, faulted, observer, stack, gaps, expected, rng=random):
    """`pulumi up` under worker kills (`gaps`) until every kill is delivered: an up that fails is
    followed, as a user would, by `pulumi cancel` (if its update still runs), the pending
    creates it left cleared, and another up under the remaining kills; one that succeeds before
    the last kill by `pulumi destroy` and another up. After each up every version must be
    readable, and a successful up's state the `expected` one (normalised); in the end, after a
    last undisturbed up if needed, too. Returns the figures and a log of what happened."""
    result = SimpleNamespace(ups=[], succeeded=0, kills=0, serving=0, reads=0, problems=[],
                             unreadable=[], wrong_states=[], cancels=0, cleared=0, log=[])
    gaps = list(gaps)
    while gaps:
        up = up_under_worker_kills(cli, faulted, observer, stack, gaps, rng=rng)
        gaps = gaps[up.rounds:]
        result.ups.append(up)
        result.kills += up.rounds
        result.serving += sum(1 for kill in up.kills if kill[2])
        result.reads += len(up.counts)
        result.problems += up.problems + ([f"killer: {up.killer_error!r}"]
                                          if up.killer_error else [])
        result.log.append(f"up {len(result.ups)} exited {up.returncode} after {up.seconds:.1f} s,"
                          f" {up.rounds} kills, {len(up.counts)} reads of the state (last "
                          f"{up.counts[-1:]} resources)")
        try:
            check_readable(cli, stack)
        except AssertionError as err:
            result.unreadable.append(str(err)[-3000:])
        if up.rounds == 0:
            raise AssertionError(f"the up ended (status {up.returncode}) before the first kill:"
                                 f"\n{up.output}")
        if up.returncode == 0:
            result.succeeded += 1
            state = normalised(export(cli, stack), stack)
            if state != expected:
                result.wrong_states.append(state)
            if gaps:
                cli.run("destroy", "--yes", "--skip-preview", "--stack", stack)
            continue
        errors = [line.strip() for line in up.output.splitlines() if "error:" in line]
        result.log.append("  " + (errors[-1] if errors else up.output.strip()[-300:]))
        if running(observer, cli.token, cli.login_name, "proj", stack):
            result.cancels += 1
            cli.run("cancel", "--yes", "--stack", stack)
        result.cleared += len(clear_pending_creates(cli, stack))
    if result.ups and result.ups[-1].returncode != 0:
        cli.run("up", "--yes", "--skip-preview", "--stack", stack)
    result.final = normalised(export(cli, stack), stack)
    result.history = history(cli, stack)
    if result.final != expected or result.history[0][2] != "succeeded":
        result.wrong_states.append(result.final)
    return result


def up_disrupted(cli, observer, stack, journaled, disrupt, project="proj", timeout=600):
    """`pulumi up` of `stack`, with `disrupt()` called once `journaled` journal entries of the
    update are stored (read in `observer`'s database) and while it still runs; returns
    (returncode, output). Fails if the update had ended before `disrupt()` returned: the test
    would prove nothing."""
    org = cli.login_name
    proc = cli.popen("up", "--yes", "--skip-preview", "--stack", stack)
    try:
        wait_for_running(observer, cli.token, org, project, stack.rsplit("/", 1)[-1])
        deadline = time.monotonic() + timeout
        while observer.query("SELECT count(*) FROM journal_entries")[0][0] < journaled:
            assert time.monotonic() < deadline and proc.poll() is None, "the update never got going"
            time.sleep(0.05)
        disrupt()
        assert running(observer, cli.token, org, project, stack.rsplit("/", 1)[-1]), \
            "the update ended before the disruption did: the test no longer tests anything"
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            kill_group(proc)
    return proc.returncode, out + err


# Journal entry kinds (apitype.JournalEntryKind): a step began; it succeeded, failed, or (a
# refresh) succeeded.
BEGIN, ENDED = 0, (1, 2, 3)


def journal_progress(cur, update_id):
    """(resources, creates begun and not ended) of an update's journal as stored: how many steps
    stored a state, and which stored begins have no end stored yet."""
    cur.execute("SELECT entry FROM journal_entries WHERE update_id = %s", (update_id,))
    entries = [json.loads(entry) for entry, in cur.fetchall()]
    ended = {e["operationID"] for e in entries if e["kind"] in ENDED}
    in_flight = {e["operationID"] for e in entries if e["kind"] == BEGIN} - ended
    stored = sum(1 for e in entries if e["kind"] == ENDED[0] and e.get("state"))
    return stored, in_flight


def held_journal_inserts(cur):
    """How many inserts into journal_entries wait on a lock (the one kill_cli_mid_update takes)."""
    cur.execute("SELECT count(*) FROM pg_locks"
                " WHERE relation = 'journal_entries'::regclass AND NOT granted")
    return cur.fetchone()[0]


def kill_cli_mid_update(cli, observer, stack, at_least=10, project="proj", timeout=300):
    """`pulumi up` (journaling) killed, with its language host, at a chosen point: at least
    `at_least` resources of its state stored, and creates begun that never end (the killed
    update's state holds them as pending creates). Returns the id of the update it left running.

    The point does not depend on timing. The CLI runs a step only once the service has stored
    its begin entry, and sends its batches of entries one at a time. The service's inserts into
    journal_entries are let through one batch at a time (a SHARE lock on the table, which reads
    pass): when a batch is held while every step begun in the stored entries has ended, that
    batch holds begins only. The CLI is killed then, and the batch let through. (With
    staged_program(count, first) such a point comes once `first` resources are created.) The
    state is read through the service at every batch: each read must parse, and none may hold
    fewer resources than one before."""
    proc = cli.popen("up", "--yes", "--skip-preview", "--stack", stack)
    watcher = StateWatcher(observer, cli.token, cli.login_name, project, stack)
    conn = psycopg2.connect(observer.database_url)
    try:
        update_id = wait_for_running(observer, cli.token, cli.login_name, project,
                                     stack)["activeUpdate"]
        deadline = time.monotonic() + timeout
        with conn.cursor() as cur:
            cur.execute("LOCK TABLE journal_entries IN SHARE MODE")
            while True:
                while not held_journal_inserts(cur):
                    assert proc.poll() is None, "the up ended before it could be killed"
                    assert time.monotonic() < deadline, "the up never got far enough"
                    time.sleep(0.01)
                watcher.read()
                stored, in_flight = journal_progress(cur, update_id)
                if stored >= at_least and not in_flight:
                    break
                conn.commit()  # this batch goes in; the lock is had again once it has
                cur.execute("LOCK TABLE journal_entries IN SHARE MODE")
            kill_group(proc)
            conn.commit()
            cur.execute("LOCK TABLE journal_entries IN SHARE MODE")  # once the batch is in
            assert journal_progress(cur, update_id)[1], "the held batch began no step"
            conn.commit()
    finally:
        conn.close()
        if proc.poll() is None:
            kill_group(proc)
    assert watcher.problems == [], watcher.problems
    assert running(observer, cli.token, cli.login_name, project, stack), \
        "the up was not killed mid-way"
    return update_id


def update_lease(database_url, update_id, abandoned_after):
    """An update's status and whether its lease has expired, and long enough ago to count as
    abandoned (by the database's clock)."""
    conn = psycopg2.connect(database_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT status, lease_expires_at < now(),"
                        " lease_expires_at + make_interval(secs => %s) < now()"
                        " FROM updates WHERE id = %s", (abandoned_after, update_id))
            status, expired, abandoned = cur.fetchone()
            return {"status": status, "expired": expired, "abandoned": abandoned}
    finally:
        conn.close()


def wait_for_lease(database_url, update_id, abandoned_after, what, timeout=120):
    """Until the update's lease is `what` ("expired" or "abandoned")."""
    deadline = time.monotonic() + timeout
    while not update_lease(database_url, update_id, abandoned_after)[what]:
        assert time.monotonic() < deadline, f"the update's lease was never {what}"
        time.sleep(0.2)


# --- racing ---------------------------------------------------------------------------------

class StartBarrier:
    """Holds the stack's row (FOR NO KEY UPDATE: creating an update still works, starting one,
    which locks the row FOR UPDATE, waits) so that racing CLIs all reach the start of their
    update before any gets it; `release()` lets them go at once."""

    # The stack lock's query as sent, or as a prepared statement's EXECUTE (app/db.py).
    WAITERS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
               " AND wait_event_type = 'Lock'"
               " AND (query LIKE '%FOR UPDATE OF s%' OR query LIKE 'EXECUTE lock_stack%')")

    def __init__(self, database_url, org, project, stack):
        self.database_url = database_url
        self.conn = psycopg2.connect(database_url)
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT s.id FROM stacks s JOIN projects p ON p.id = s.project_id"
                " JOIN organizations o ON o.id = p.org_id"
                " WHERE o.name = %s AND p.name = %s AND s.name = %s FOR NO KEY UPDATE OF s",
                (org, project, stack))
            assert cur.fetchone() is not None, "no such stack"

    def waiting(self):
        conn = psycopg2.connect(self.database_url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(self.WAITERS)
                return cur.fetchone()[0]
        finally:
            conn.close()

    def wait_for(self, count, procs, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.waiting() >= count:
                return
            ended = [p for p in procs if p.poll() is not None]
            if ended:
                out, err = ended[0].communicate()
                raise AssertionError(f"a racer ended before the start:\n{out}\n{err}")
            time.sleep(0.1)
        raise AssertionError(f"only {self.waiting()} of {count} starts reached the stack lock")

    def release(self):
        self.conn.commit()
        self.conn.close()


def race(clis, stack_ref, database_url, org, project, stack, timeout=600):
    """Start `pulumi up` in every CLI at once on one stack; returns [(returncode, output)]."""
    barrier = StartBarrier(database_url, org, project, stack)
    procs = []
    try:
        procs = [cli.popen("up", "--yes", "--skip-preview", "--stack", stack_ref) for cli in clis]
        barrier.wait_for(len(procs), procs)
    except BaseException:
        for proc in procs:
            kill_group(proc)
        raise
    finally:
        barrier.release()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append((proc.returncode, out + err))
    return results


def sibling(service, env=None, **kwargs):
    """Another gunicorn on `service`'s database (so with its secrets master key)."""
    return Service(service.database_url, env={**service.extra_env, **(env or {})},
                   master_key=service.master_key, **kwargs)


def wide_service(service, threads):
    """A gunicorn on `service`'s database whose workers each have a thread (and a pooled
    connection) for every racer, however the racers' connections fall between the workers: a
    start waiting at the barrier holds its thread."""
    return sibling(service, threads=threads,
                   env={"DB_POOL_MAX": str(threads + 4), "DB_POOL_TIMEOUT": "300"})
