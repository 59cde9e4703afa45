"""Real servers for the tests (and benchmarks) that need them: gunicorn started with the
repository's gunicorn.conf.py, nginx (the system's) with deploy/nginx.conf, only its addresses and
file paths changed, and `pulumi-service serve` as a newcomer runs it."""
import base64
import datetime
import ipaddress
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
import requests
from requests.adapters import HTTPAdapter

from . import ACCEPT, REPO
from .api import user_with_token

STARTUP_SECONDS = 60


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, what, seconds=STARTUP_SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def listening(port, host="127.0.0.1"):
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def children(pid):
    """The pids of a process's children (gunicorn's workers)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def stop(proc, sig=signal.SIGTERM, seconds=STARTUP_SECONDS):
    """Signal `proc` and wait for it; SIGKILL it if it takes longer than `seconds`."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Service:
    """`gunicorn -c gunicorn.conf.py 'app:create_app()'` on a free loopback port (or `port`)
    against `database_url`, as production runs it; the knobs tests turn are the configuration's
    own environment variables (workers, threads, a shorter graceful timeout) plus `env`.

    Its stdout (the JSON access log) and stderr go to one log file (`log_path`, in `workdir`
    if given). Each service gets its own secrets master key unless told (a restart after a key
    rotation passes the new one)."""

    def __init__(self, database_url, env=None, workers=2, threads=4, port=None, master_key=None,
                 workdir=None, app_spec="app:create_app()", health_path="/healthz"):
        self.database_url = database_url
        # What gunicorn serves (bench/request_path.py serves a bare app beside the service).
        self.app_spec, self.health_path = app_spec, health_path
        self.master_key = master_key or base64.b64encode(os.urandom(32)).decode()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = {k: str(v) for k, v in (env or {}).items()}
        self.workers = workers
        self.threads = threads
        self.proc = None
        if workdir is None:
            self.log_path = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])
        else:
            Path(workdir).mkdir(parents=True, exist_ok=True)
            self.log_path = Path(workdir) / "gunicorn.log"

    def env(self):
        env = dict(os.environ, DATABASE_URL=self.database_url, SECRETS_MASTER_KEY=self.master_key,
                   SECRETS_MASTER_KEY_FILE="", SECRETS_PREVIOUS_MASTER_KEYS="",
                   GUNICORN_WORKERS=str(self.workers), GUNICORN_THREADS=str(self.threads),
                   GUNICORN_GRACEFUL_TIMEOUT="30")
        # gunicorn.conf.py makes a metrics folder of its own unless one is given.
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update(self.extra_env)
        return env

    def start(self, timeout=STARTUP_SECONDS):
        command = [sys.executable, "-m", "gunicorn", "--config", str(REPO / "gunicorn.conf.py"),
                   "--bind", f"127.0.0.1:{self.port}", self.app_spec]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, cwd=REPO, env=self.env(), stdout=log,
                                         stderr=subprocess.STDOUT)
        try:
            wait_until(self.ready, f"gunicorn on port {self.port} ({self.log_path})", timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def ready(self):
        """Answering /healthz with every worker started; RuntimeError if gunicorn gave up (a
        worker that cannot start, e.g. refusing the wrong secrets master key)."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
        try:
            return requests.get(self.url + self.health_path, timeout=5).status_code == 200 and \
                len(self.worker_pids()) == self.workers
        except requests.RequestException:  # not listening yet, or too busy starting to answer
            return False

    def worker_pids(self):
        """gunicorn's workers: the master's children."""
        return children(self.proc.pid)

    def stop(self):
        if self.proc is not None:
            stop(self.proc)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def access_lines(self):
        """The access log's records (the log file also holds everything else gunicorn and the
        service wrote)."""
        lines = []
        for line in self.log().splitlines():
            if line.startswith("{") and '"app.access"' in line:
                record = json.loads(line)
                if record.get("logger") == "app.access":
                    lines.append(record)
        return lines

    def access_line(self, request_id):
        """The access line of a request; it is written once the response is sent, so maybe
        just after the client has it."""
        wait_until(lambda: any(r["request_id"] == request_id for r in self.access_lines()),
                   f"the access line of request {request_id}")
        [line] = [r for r in self.access_lines() if r["request_id"] == request_id]
        return line

    # --- the admin command --------------------------------------------------------------------

    def admin(self, *args, check=True):
        result = subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO,
                                env=self.env(), capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"pulumi-service {' '.join(args)} failed:\n{result.stdout}\n"
                                 f"{result.stderr}")
        return result

    def user(self, login, orgs=None):
        """A user (and any missing orgs, with the given roles) made by the admin command's own
        functions in the service's database; returns a new token. Not through the command
        itself: a Python start-up per step cost seconds per test (tests/test_admin_cli.py runs
        the installed command)."""
        return user_with_token(self.database_url, login, orgs)

    # --- the HTTP API, to check the service's state -------------------------------------------

    def api(self, method, path, token, **kwargs):
        headers = {"Accept": ACCEPT, "Authorization": f"token {token}"}
        headers.update(kwargs.pop("headers", {}))
        return requests.request(method, self.url + path, headers=headers, timeout=60, **kwargs)

    def query(self, sql, params=()):
        """Rows of one SQL query on the service's database, to check what it stored."""
        conn = psycopg2.connect(self.database_url)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()


def self_signed_certificate(folder):
    """A certificate for 127.0.0.1 and localhost, and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = Path(folder) / "cert.pem", Path(folder) / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def nginx_binary():
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if found is None:
        # Not a skip: tests/run installs nginx, and CI must notice when it could not.
        raise AssertionError("nginx is not installed (tests/run installs the system's `nginx`)")
    return found


def _substitute(text, old, new):
    if old not in text:
        raise AssertionError(f"deploy/nginx.conf no longer contains {old!r}: update tests/support/servers.py")
    return text.replace(old, new)


class Nginx:
    """nginx from the system's package, serving deploy/nginx.conf over TLS on a free loopback
    port in front of `upstream_port` (or of several hosts: a list of ports), with a self-signed
    certificate."""

    def __init__(self, workdir, upstream_port):
        ports = upstream_port if isinstance(upstream_port, list) else [upstream_port]
        upstream = "\n    ".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;"
                                  for port in ports)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.http_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.cert, self.key = self_signed_certificate(self.workdir)
        site = (REPO / "deploy" / "nginx.conf").read_text()
        for old, new in [
            ("server 127.0.0.1:8080 max_fails=1 fail_timeout=10s;", upstream),
            ("listen 443 ssl;", f"listen 127.0.0.1:{self.port} ssl;"),
            ("listen [::]:443 ssl;", ""),
            ("listen 80;", f"listen 127.0.0.1:{self.http_port};"),
            ("listen [::]:80;", ""),
            ("/etc/ssl/certs/pulumi.example.com.pem", str(self.cert)),
            ("/etc/ssl/private/pulumi.example.com.key", str(self.key)),
        ]:
            site = _substitute(site, old, new)
        (self.workdir / "pulumi-service.conf").write_text(site)
        temp = {name: self.workdir / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in temp.values():
            path.mkdir(exist_ok=True)
        self.error_log = self.workdir / "error.log"
        self.conf = self.workdir / "nginx.conf"
        self.conf.write_text(f"""
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {self.workdir}/nginx.pid;
error_log {self.error_log} info;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    access_log {self.workdir}/access.log;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {self.workdir}/pulumi-service.conf;
}}
""")
        self.proc = None

    def start(self):
        binary = nginx_binary()
        check = subprocess.run([binary, "-t", "-p", str(self.workdir), "-c", str(self.conf)],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        with open(self.workdir / "nginx.stderr", "ab") as err:
            self.proc = subprocess.Popen([binary, "-p", str(self.workdir), "-c", str(self.conf)],
                                         stdout=err, stderr=err)
        wait_until(lambda: self.proc.poll() is None and listening(self.port),
                   f"nginx on port {self.port} ({self.error_log})")
        return self

    def stop(self):
        if self.proc is not None:
            stop(self.proc, signal.SIGQUIT)

    def session(self, source="127.0.0.1"):
        """A requests session that trusts the test certificate, its connections made from the
        loopback address `source` (nginx then sees that address as the client's)."""
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE and proxies from the environment would win
        session.verify = str(self.cert)
        adapter = _SourceAddress(source)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session


class _SourceAddress(HTTPAdapter):
    def __init__(self, source):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


class Serve:
    """`pulumi-service serve` as a newcomer runs it (no DATABASE_URL: the embedded PostgreSQL in
    `data`), its output read line by line as it comes."""

    def __init__(self, data, cwd, port=None, seconds=180, env=None):
        extra = env or {}
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.port = port or free_port()
        env.update(PULUMI_SERVICE_DATA=str(data), PORT=str(self.port), HOST="127.0.0.1")
        env.update(extra)
        command = Path(sys.executable).with_name("pulumi-service")
        self.url = f"http://127.0.0.1:{self.port}"
        self.seconds = seconds
        self.lines = []
        self._queue = queue.Queue()
        self.proc = subprocess.Popen([command, "serve"], env=env, cwd=cwd, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for_line(self, text):
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} in the output:\n" + "".join(self.lines))

    def get(self, path, token):
        """GET over real HTTP, retried while gunicorn is still starting."""
        deadline = time.monotonic() + self.seconds
        while True:
            try:
                return requests.get(self.url + path, timeout=10, headers={
                    "Accept": ACCEPT, "Authorization": f"token {token}"})
            # A worker still booting on a loaded machine can hold a request past the timeout.
            except (requests.ConnectionError, requests.Timeout):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.5)

    def stop(self):
        """SIGTERM, as systemd or Ctrl-C would; returns the exit code."""
        try:
            stop(self.proc, seconds=120)
            return self.proc.returncode
        finally:
            self._reader.join(timeout=10)
            self.proc.stdout.close()
