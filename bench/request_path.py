"""The request path: what one API call costs next to a bare Flask + psycopg2 app, how
/api/user/stacks scales with the database, and how much open-loop traffic one host carries.

Starts a throwaway PostgreSQL, the service under gunicorn with the repository's gunicorn.conf.py
(GUNICORN_WORKERS=2, GUNICORN_THREADS=4 unless given) and, the same way, a bare Flask app that
runs `SELECT 1` per request on a psycopg2 pool; then prints, in one run:

1. closed loop (wrk, -t2 -c16): req/s, p50 and p99 of GET stack, GET /api/user/stacks, a
   journal-entries PATCH of 8 entries, a batch-decrypt of 10 values, and the bare app; the
   service/bare ratio of GET stack (target >= 0.8), and PostgreSQL transactions per request;
2. open loop (vegeta attack -rate, a fixed arrival rate whatever the latency) of a mix of journal
   batches, engine events, GET stack, stack lists and decrypts at each --rates: p50, p99 and
   errors, and the highest rate with p99 <= 100 ms and no error;
3. GET /api/user/stacks p50 (one connection) with the caller's 10 stacks alone in the database,
   then with 100 000 more stacks in 1 000 other organizations (target: <= 3x).

    .venv/bin/python bench/request_path.py                     # everything, ~4 minutes
    .venv/bin/python bench/request_path.py --duration 5 --rates 100,200
    .venv/bin/python bench/request_path.py --profile /tmp/prof # + py-spy of a worker under GET stack

wrk comes from the system's packages (installed with apt-get when missing, as root), vegeta from
the Go module proxy (go install, kept in ~/.cache/pulumi-service-bench), py-spy from PyPI. Figures
are printed, never asserted: on a shared machine only the ratios measured in one run mean much.
"""
import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ACCEPT = "application/vnd.pulumi+8"
ORG, PROJECT = "benchorg", "proj"
STACKS = [f"s{i}" for i in range(10)]
VEGETA = "github.com/tsenart/vegeta/v12@v12.13.0"
TOOLS = Path.home() / ".cache" / "pulumi-service-bench" / "bin"


# --- the bare app (gunicorn imports this module in its workers: no heavy imports at the top) ----

def bare_app():
    """Flask and one `SELECT 1` on a psycopg2 pool per request: the floor the service is held to."""
    import threading

    import psycopg2.pool
    from flask import Flask, jsonify

    app = Flask("bare")
    pools = {}
    lock = threading.Lock()

    def pool():
        if os.getpid() not in pools:
            with lock:
                pools.setdefault(os.getpid(), psycopg2.pool.ThreadedConnectionPool(
                    4, 10, os.environ["DATABASE_URL"]))
        return pools[os.getpid()]

    @app.get("/bare")
    def bare():
        conn = pool().getconn()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                value = cur.fetchone()[0]
            conn.commit()
        finally:
            pool().putconn(conn)
        return jsonify({"value": value})

    return app


# --- tools ----------------------------------------------------------------------------------------

def ensure_wrk():
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit("wrk is missing: install the 'wrk' package")
    subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                   "--no-install-recommends wrk", shell=True, check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk")


def ensure_vegeta():
    binary = TOOLS / "vegeta"
    if not binary.exists():
        if not shutil.which("go"):
            sys.exit("vegeta needs Go to install (go install " + VEGETA + ")")
        subprocess.run(["go", "install", VEGETA], check=True,
                       env=dict(os.environ, GOBIN=str(TOOLS)))
    return str(binary)


def ensure_py_spy():
    binary = Path(sys.executable).parent / "py-spy"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return str(binary)


# --- servers --------------------------------------------------------------------------------------

# --- the world: a caller with 10 stacks, running journaled updates, ciphertexts ----------------

class World:
    def __init__(self, service, database_url):
        import requests

        from app import migrate
        from app.cli import create_token, create_user
        from app.db import connect
        from app.queries import queries

        migrate.upgrade(database_url, log=lambda message: None)
        conn = connect(database_url)
        with conn:
            user = create_user(conn, "bencher")
            org = queries.create_org(conn, name=ORG)
            queries.set_membership(conn, org_id=org["id"], user_id=user["id"], role="admin")
            self.token = create_token(conn, user, "bench")
        conn.close()
        self.url = service.url
        self.http = requests.Session()
        self.http.headers.update({"Accept": ACCEPT, "Authorization": f"token {self.token}"})
        for name in STACKS:
            self.call("POST", f"/api/stacks/{ORG}/{PROJECT}", {"stackName": name})
        self.stack = f"/api/stacks/{ORG}/{PROJECT}/{STACKS[0]}"
        plaintexts = [base64.b64encode(f"secret value {i}".encode()).decode() for i in range(10)]
        self.ciphertexts = self.call("POST", self.stack + "/batch-encrypt",
                                     {"plaintexts": plaintexts})["ciphertexts"]
        # Journaled updates in flight, one per stack, as several `pulumi up` at once.
        self.updates = [self.journaled(name) for name in STACKS[:4]]

    def call(self, method, path, body=None, headers=None):
        response = self.http.request(method, self.url + path, json=body, headers=headers,
                                     timeout=60)
        if response.status_code >= 300:
            sys.exit(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def journaled(self, stack_name):
        stack = f"/api/stacks/{ORG}/{PROJECT}/{stack_name}"
        program = {"name": PROJECT, "runtime": "yaml", "main": "", "description": "",
                   "options": {"dryRun": False}, "config": {},
                   "metadata": {"message": "bench", "environment": {}}}
        update_id = self.call("POST", stack + "/update", program)["updateID"]
        path = f"{stack}/update/{update_id}"
        started = self.call("POST", path, {"journalVersion": 1})
        assert started.get("journalVersion") == 1, started
        return {"path": path, "lease": started["token"]}

    def get_headers(self):
        return {"Accept": ACCEPT, "Authorization": f"token {self.token}"}

    def lease_headers(self, update):
        return {"Accept": ACCEPT, "Authorization": f"update-token {update['lease']}",
                "Content-Type": "application/json"}


def journal_entry(sequence, stack_name):
    """A journal entry as the CLI sends it: a resource created (sequence stands in for the ids)."""
    root = f"urn:pulumi:dev::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{stack_name}"
    return {"version": 1, "kind": 1, "sequenceID": sequence, "operationID": sequence,
            "removeOld": None, "removeNew": None,
            "state": {"urn": f"urn:pulumi:dev::{PROJECT}::random:index:RandomPet::pet{sequence}",
                      "custom": True, "type": "random:index:RandomPet", "parent": root,
                      "id": f"pet-{sequence}", "inputs": {"length": 2},
                      "outputs": {"id": f"pet-{sequence}", "length": 2}}}


def engine_event(sequence):
    return {"sequence": sequence, "timestamp": 1700000000 + sequence,
            "stdoutEvent": {"message": f"line {sequence}", "color": "raw"}}


# --- closed loop (wrk) ----------------------------------------------------------------------------

WRK_SCRIPT = r"""
wrk.method = %(method)s
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/json"
local template = %(template)s
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
if template ~= nil then
  request = function()
    counter = counter + 1
    local base = ((tid or 0) * 100000000 + counter) * 8 + %(offset)d
    local entries = {}
    for i = 1, 8 do entries[i] = template:gsub("__SEQ__", tostring(base + i)) end
    return wrk.format(nil, nil, nil, '{"entries":[' .. table.concat(entries, ",") .. ']}')
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"errors":%%d,"status_errors":%%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def lua_string(value):
    if value is None:
        return "nil"
    return "[==[" + value + "]==]"


def wrk(url, headers, seconds, connections=16, threads=2, method="GET", body=None,
        journal_template=None, offset=0):
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(WRK_SCRIPT % {"method": lua_string(method), "body": lua_string(body),
                                    "template": lua_string(journal_template), "offset": offset})
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
               "-s", str(script)]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    script.unlink()
    result = json.loads(re.search(r"^RESULT (.*)$", out, re.M).group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def cpu_seconds(pids):
    """User + system CPU time of processes (and their reaped children), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def postgres_pids(pg):
    """The PostgreSQL server and its backends (the server's children)."""
    root = pg.server_pid
    path = Path(f"/proc/{root}/task/{root}/children")
    return [root] + [int(p) for p in path.read_text().split()] if path.exists() else [root]


def transactions(database_url):
    from app.db import connect

    conn = connect(database_url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT xact_commit + xact_rollback AS n FROM pg_stat_database "
                    "WHERE datname = current_database()")
        n = cur.fetchone()["n"]
    conn.close()
    return n


def closed_loop(world, service, bare, pg, seconds):
    database_url = pg.url()
    journal = world.updates[0]
    template = json.dumps(journal_entry(0, STACKS[0])).replace('"sequenceID": 0', '"sequenceID": __SEQ__') \
        .replace('"operationID": 0', '"operationID": __SEQ__')
    decrypt_body = json.dumps({"ciphertexts": world.ciphertexts})
    cases = [
        ("bare Flask + psycopg2 SELECT 1", bare.url + "/bare", {}, {}),
        ("GET /api/stacks/{org}/{project}/{stack}", service.url + world.stack,
         world.get_headers(), {}),
        ("GET /api/user/stacks", service.url + "/api/user/stacks", world.get_headers(), {}),
        ("PATCH .../journalentries (8 entries)", service.url + journal["path"] + "/journalentries",
         world.lease_headers(journal), {"method": "PATCH", "journal_template": template}),
        ("POST .../batch-decrypt (10 values)", service.url + world.stack + "/batch-decrypt",
         world.get_headers(), {"method": "POST", "body": decrypt_body}),
    ]
    results = []
    for number, (name, url, headers, extra) in enumerate(cases):
        app = service if number else bare
        before = transactions(database_url)
        app_cpu, db_cpu = cpu_seconds(app.worker_pids()), cpu_seconds(postgres_pids(pg))
        result = wrk(url, headers, seconds, offset=number * 10**9, **extra)
        requests = max(result["requests"], 1)
        # CPU per request, whatever else runs on the machine: the workers', and PostgreSQL's.
        result["app_cpu_ms"] = (cpu_seconds(app.worker_pids()) - app_cpu) * 1000 / requests
        result["db_cpu_ms"] = (cpu_seconds(postgres_pids(pg)) - db_cpu) * 1000 / requests
        # The counter is read by another connection: one transaction of its own per reading.
        result["xacts"] = (transactions(database_url) - before - 1) / requests
        results.append((name, result))
    print(f"\nClosed loop: wrk -t2 -c16 -d{seconds}s, gunicorn -w {service.workers} "
          f"--threads {service.threads}")
    print(f"{'request':44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'xact/req':>8} "
          f"{'app CPU ms/req':>14} {'db CPU ms/req':>13}")
    for name, r in results:
        print(f"{name:44} {r['rps']:8.0f} {r['p50_us'] / 1000:8.2f} {r['p99_us'] / 1000:8.2f} "
              f"{r['errors'] + r['status_errors']:7d} {r['xacts']:8.2f} {r['app_cpu_ms']:14.2f} "
              f"{r['db_cpu_ms']:13.2f}")
    ratio = results[1][1]["rps"] / results[0][1]["rps"]
    print(f"GET stack / bare app req/s: {ratio:.2f}  (target >= 0.8)")
    return results


# --- open loop (vegeta) ---------------------------------------------------------------------------

def targets_file(world, service, workdir, count=6000):
    """A vegeta target list of a CLI-like mix, in round-robin order: per 10 requests 4 journal
    batches, 2 engine-event batches, 2 GET stack, 1 stack list, 1 batch-decrypt. Journal and
    event batches carry new sequence numbers, spread over the running updates."""
    bodies = Path(workdir) / "bodies"
    bodies.mkdir(exist_ok=True)
    decrypt = bodies / "decrypt.json"
    decrypt.write_text(json.dumps({"ciphertexts": world.ciphertexts}))
    get = "\n".join(f"{k}: {v}" for k, v in world.get_headers().items())
    lines = []
    sequence = 10**7
    for i in range(count):
        slot = i % 10
        update = world.updates[i % len(world.updates)]
        lease = "\n".join(f"{k}: {v}" for k, v in world.lease_headers(update).items())
        stack_name = update["path"].split("/")[5]
        if slot < 4:
            body = bodies / f"journal-{i}.json"
            body.write_text(json.dumps({"entries": [journal_entry(sequence + n, stack_name)
                                                    for n in range(8)]}))
            sequence += 8
            lines.append(f"PATCH {service.url}{update['path']}/journalentries\n{lease}\n@{body}")
        elif slot < 6:
            body = bodies / f"events-{i}.json"
            body.write_text(json.dumps({"events": [engine_event(sequence + n) for n in range(10)]}))
            sequence += 10
            lines.append(f"POST {service.url}{update['path']}/events/batch\n{lease}\n@{body}")
        elif slot < 8:
            stack = f"/api/stacks/{ORG}/{PROJECT}/{STACKS[i % len(STACKS)]}"
            lines.append(f"GET {service.url}{stack}\n{get}")
        elif slot == 8:
            lines.append(f"GET {service.url}/api/user/stacks\n{get}")
        else:
            lines.append(f"POST {service.url}{world.stack}/batch-decrypt\n{get}\n"
                         f"Content-Type: application/json\n@{decrypt}")
    path = Path(workdir) / "targets.txt"
    path.write_text("\n\n".join(lines) + "\n")
    return path


def open_loop(world, service, workdir, rates, seconds):
    vegeta = ensure_vegeta()
    targets = targets_file(world, service, workdir)
    print(f"\nOpen loop: vegeta attack -rate R -duration {seconds}s; mix per 10 requests: 4 journal "
          "batches (8 entries), 2 event batches (10 events), 2 GET stack, 1 GET /api/user/stacks, "
          "1 batch-decrypt (10 values)")
    print(f"{'rate/s':>7} {'achieved':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}")
    capacity = None
    for rate in rates:
        attack = subprocess.run(
            [vegeta, "attack", f"-targets={targets}", f"-rate={rate}/s", f"-duration={seconds}s",
             "-timeout=30s"], capture_output=True, check=True)
        report = json.loads(subprocess.run([vegeta, "report", "-type=json"], input=attack.stdout,
                                           capture_output=True, check=True).stdout)
        lat = report["latencies"]
        errors = sum(n for code, n in report["status_codes"].items() if not code.startswith("2"))
        print(f"{rate:7d} {report['throughput']:9.1f} {lat['50th'] / 1e6:8.2f} "
              f"{lat['99th'] / 1e6:8.2f} {lat['max'] / 1e6:8.2f} {errors:7d}")
        if errors == 0 and lat["99th"] <= 100e6:
            capacity = rate
    print(f"highest rate with p99 <= 100 ms and no error: {capacity or 'none'} req/s "
          f"(of the rates tried)")
    return capacity


# --- /api/user/stacks with a big database ---------------------------------------------------------

SEED_BIG = """
-- 1 000 organizations of one member each, 10 projects of 10 stacks each: 100 000 stacks the
-- bench's caller cannot see.
INSERT INTO users (login) SELECT 'user' || g FROM generate_series(1, 1000) g;
INSERT INTO organizations (name) SELECT 'org' || g FROM generate_series(1, 1000) g;
INSERT INTO memberships (org_id, user_id, role)
SELECT o.id, u.id, 'admin' FROM organizations o JOIN users u ON u.login = 'user' || substr(o.name, 4)
 WHERE o.name ~ '^org[0-9]+$';
INSERT INTO projects (org_id, name)
SELECT o.id, 'p' || g FROM organizations o, generate_series(1, 10) g WHERE o.name ~ '^org[0-9]+$';
INSERT INTO stacks (project_id, name, tags)
SELECT p.id, 's' || g, jsonb_build_object('n', g::text)
  FROM projects p JOIN organizations o ON o.id = p.org_id, generate_series(1, 10) g
 WHERE o.name ~ '^org[0-9]+$';
"""


def user_stacks_p50(world, service, seconds):
    return wrk(service.url + "/api/user/stacks", world.get_headers(), seconds, connections=1,
               threads=1)


def scale(world, service, database_url, seconds):
    from app.db import connect

    small = user_stacks_p50(world, service, seconds)
    conn = connect(database_url)
    with conn, conn.cursor() as cur:
        cur.execute(SEED_BIG)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("ANALYZE")
        cur.execute("SELECT count(*) AS n FROM stacks")
        count = cur.fetchone()["n"]
    conn.close()
    big = user_stacks_p50(world, service, seconds)
    print(f"\nGET /api/user/stacks, one connection (wrk -t1 -c1 -d{seconds}s), the caller sees "
          f"{len(STACKS)} stacks")
    print(f"{'database':36} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in ((f"{len(STACKS)} stacks", small), (f"{count} stacks in 1 001 orgs", big)):
        print(f"{name:36} {r['rps']:8.0f} {r['p50_us'] / 1000:8.2f} {r['p99_us'] / 1000:8.2f}")
    print(f"p50 ratio big/small: {big['p50_us'] / max(small['p50_us'], 1):.2f}  (target <= 3)")


# --- profile ----------------------------------------------------------------------------------------

def profile(world, service, out_dir, seconds):
    """py-spy on one worker while wrk drives GET stack: a flame graph and the collapsed stacks."""
    py_spy = ensure_py_spy()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    worker = sorted(service.worker_pids())[0]
    spy = subprocess.Popen([py_spy, "record", "-p", str(worker), "-d", str(seconds + 1), "-r", "200",
                            "--format", "raw", "-o", str(out / "get_stack.collapsed")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    wrk(service.url + world.stack, world.get_headers(), seconds)
    spy.wait()
    print(f"\npy-spy samples of worker {worker} under GET stack: {out / 'get_stack.collapsed'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per closed-loop case")
    parser.add_argument("--rates", default="100,200,300,400",
                        help="open-loop arrival rates (req/s), comma separated; '' skips")
    parser.add_argument("--open-duration", type=int, default=15, help="seconds per rate")
    parser.add_argument("--workers", default="2")
    parser.add_argument("--threads", default="4")
    parser.add_argument("--profile", help="also record a py-spy profile into this folder")
    args = parser.parse_args()

    ensure_wrk()
    from tests.support import postgres
    from tests.support.servers import Service

    workdir = tempfile.mkdtemp(prefix="bench-request-path-")
    pg, stop_postgres = postgres.start()
    database_url = pg.url()
    # The same gunicorn (gunicorn.conf.py, workers, threads) and database for both apps.
    same = dict(env={"LEASE_SECONDS": 3600}, workers=int(args.workers), threads=int(args.threads))
    service = bare = None
    try:
        service = Service(database_url, workdir=Path(workdir) / "service", **same).start()
        bare = Service(database_url, app_spec="bench.request_path:bare_app()",
                       health_path="/bare", workdir=Path(workdir) / "bare", **same).start()
        world = World(service, database_url)
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
        if args.profile:
            profile(world, service, args.profile, args.duration)
        closed_loop(world, service, bare, pg, args.duration)
        rates = [int(r) for r in args.rates.split(",") if r.strip()]
        if rates:
            open_loop(world, service, workdir, rates, args.open_duration)
        scale(world, service, database_url, max(args.duration // 2, 3))
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    finally:
        for server in (service, bare):
            if server is not None:
                server.stop()
        stop_postgres()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
