"""Real servers for the tests that need them: a database of their own in the session's
PostgreSQL, gunicorn started with the repository's gunicorn.conf.py, and nginx (the system's) with
deploy/nginx.conf, only its addresses and file paths changed."""
import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2
import requests
from requests.adapters import HTTPAdapter

from app import migrate
from app.cli import create_token, create_user
from app.db import connect
from app.queries import queries
from tests.conftest import MASTER_KEY
from tests.e2e.harness import Service

ROOT = Path(__file__).resolve().parent.parent
ACCEPT = "application/vnd.pulumi+8"
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
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def throwaway_database(server_url):
    """A new, empty database in the session's PostgreSQL server; dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = psycopg2.connect(server_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    url = psycopg2.extensions.parse_dsn(server_url)
    url["dbname"] = name
    dsn = " ".join(f"{k}={v}" for k, v in url.items())
    try:
        yield dsn
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def user_with_token(database_url, login, orgs=None):
    """A user (as the admin command makes them) with roles in `orgs`, and a new token."""
    migrate.upgrade(database_url, log=lambda message: None)
    conn = connect(database_url)
    try:
        with conn:
            user = create_user(conn, login)
            for org, role in (orgs or {}).items():
                found = queries.org_by_name(conn, name=org) or queries.create_org(conn, name=org)
                queries.set_membership(conn, org_id=found["id"], user_id=user["id"], role=role)
            return create_token(conn, user, "test")
    finally:
        conn.close()


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py 'app:create_app()'` on a free port, its stdout (the access
    log) and stderr kept in files."""

    def __init__(self, workdir, database_url, **env):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout_path = self.workdir / "gunicorn.stdout"
        self.stderr_path = self.workdir / "gunicorn.stderr"
        self.env = dict(os.environ, DATABASE_URL=database_url, GUNICORN_WORKERS="2",
                        GUNICORN_THREADS="4", SECRETS_MASTER_KEY=MASTER_KEY,
                        SECRETS_MASTER_KEY_FILE="", SECRETS_PREVIOUS_MASTER_KEYS="")
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.env.update({k: str(v) for k, v in env.items()})
        self.proc = None

    def start(self):
        command = [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
                   "--bind", f"127.0.0.1:{self.port}", "app:create_app()"]
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=err)
        wait_until(self.ready, f"gunicorn on port {self.port} ({self.stderr_path})")
        return self

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"gunicorn exited: {self.stderr_path.read_text()[-3000:]}")
        try:
            return requests.get(self.url + "/healthz", timeout=5).status_code == 200 and \
                len(self.workers()) == int(self.env["GUNICORN_WORKERS"])
        except requests.ConnectionError:
            return False

    def workers(self):
        return children(self.proc.pid)

    def stop(self):
        if self.proc is not None:
            stop(self.proc)

    def logs(self):
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def access_lines(self):
        lines = []
        for line in self.stdout_path.read_text().splitlines():
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
        raise AssertionError(f"deploy/nginx.conf no longer contains {old!r}: update tests/servers.py")
    return text.replace(old, new)


class Nginx:
    """nginx from the system's package, serving deploy/nginx.conf over TLS on a free loopback
    port in front of `upstream_port`, with a self-signed certificate."""

    def __init__(self, workdir, upstream_port):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.http_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.cert, self.key = self_signed_certificate(self.workdir)
        site = (ROOT / "deploy" / "nginx.conf").read_text()
        for old, new in [
            ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};"),
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


def pulumi_headers(token=None, **extra):
    headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"token {token}"
    headers.update(extra)
    return headers


# Used by the wire, fault and fuzz tests: the e2e harness's gunicorn, on a database of its own.
def new_database(postgres):
    """A fresh database in `postgres`, apart from the one unit tests truncate."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(postgres.url(database="postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    return postgres.url(database=name)


def gunicorn(database_url, env=None, workers=2, threads=4):
    """A started gunicorn (stop() it when done)."""
    return Service(database_url, env=env, workers=workers, threads=threads).start()
