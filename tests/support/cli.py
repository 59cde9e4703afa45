"""The pieces of the end-to-end suite: a real gunicorn serving the app, the admin command, and
the real Pulumi CLI run in a clean environment of its own."""
import base64
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
import requests

REPO = Path(__file__).resolve().parents[2]
ACCEPT = "application/vnd.pulumi+9"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique(prefix="u"):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class Service:
    """gunicorn serving create_app() on a free loopback port against `database_url`."""

    def __init__(self, database_url, env=None, workers=2, threads=4, port=None, master_key=None):
        self.database_url = database_url
        # The service refuses to start without a secrets master key; each service gets its own
        # unless told (a restart after a key rotation passes the new one).
        self.master_key = master_key or base64.b64encode(os.urandom(32)).decode()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = dict(env or {})
        self.workers = workers
        self.threads = threads
        self.proc = None
        self.log_path = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])

    def env(self):
        env = dict(os.environ, DATABASE_URL=self.database_url, SECRETS_MASTER_KEY=self.master_key,
                   SECRETS_MASTER_KEY_FILE="", SECRETS_PREVIOUS_MASTER_KEYS="")
        env.update(self.extra_env)
        return env

    def start(self, timeout=60):
        with open(self.log_path, "ab") as log:
            self.proc = self._spawn(log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n{self.log()}")
            try:
                requests.get(self.url + "/api/capabilities", headers={"Accept": ACCEPT}, timeout=2)
                return self
            except requests.ConnectionError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not come up:\n{self.log()}")

    def _spawn(self, log):
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--threads", str(self.threads),
             "--timeout", "300", "--graceful-timeout", "30", "app:create_app()"],
            cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
        )

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        return self.log_path.read_text(errors="replace")

    # --- the admin command --------------------------------------------------------------------

    def admin(self, *args, check=True):
        result = subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO,
                                env=self.env(), capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"pulumi-service {' '.join(args)} failed:\n{result.stdout}\n"
                                 f"{result.stderr}")
        return result

    def user(self, login, orgs=None):
        """Create a user (and any missing orgs, with the given roles); returns a new token."""
        self.admin("user", "create", login)
        for org, role in (orgs or {}).items():
            self.admin("org", "create", org, check=False)  # may exist already
            self.admin("org", "add-member", org, login, "--role", role)
        return self.admin("token", "create", login).stdout.strip().splitlines()[-1]

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


class Result:
    def __init__(self, args, proc):
        self.args = args
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def output(self):
        return self.stdout + self.stderr

    def __repr__(self):
        return (f"pulumi {' '.join(self.args)} -> {self.returncode}\n--- stdout\n{self.stdout}"
                f"\n--- stderr\n{self.stderr}")


class Pulumi:
    """The real `pulumi` CLI with a private PULUMI_HOME and a clean environment: only PATH, HOME
    and the PULUMI_* variables set here, so nothing on the machine changes its behaviour."""

    def __init__(self, bin_dir, service_url, token, root):
        self.bin_dir = Path(bin_dir)
        self.service_url = service_url
        self.token = token
        self.root = Path(root)
        self.home = self.root / "home"
        self.cwd = self.root / "project"
        self.home.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        # Variables every command of this CLI gets (a persistence mode, say).
        self.extra_env = {}

    def env(self, **extra):
        env = {
            "PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "PULUMI_HOME": str(self.home / ".pulumi"),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        }
        if self.token is not None:
            env["PULUMI_ACCESS_TOKEN"] = self.token
        env.update(self.extra_env)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def run(self, *args, check=True, timeout=600, cwd=None, env=None, input=None):
        proc = subprocess.run(
            [str(self.bin_dir / "pulumi"), "--non-interactive", "--color", "never", *args],
            cwd=cwd or self.cwd, env=self.env(**(env or {})), capture_output=True, text=True,
            timeout=timeout, input=input,
        )
        result = Result(args, proc)
        if check and result.returncode != 0:
            raise AssertionError(f"command failed: {result!r}")
        return result

    def popen(self, *args, env=None):
        """Start a command without waiting (to kill it mid-update or race it)."""
        return subprocess.Popen(
            [str(self.bin_dir / "pulumi"), "--non-interactive", "--color", "never", *args],
            cwd=self.cwd, env=self.env(**(env or {})), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )

    def login(self):
        return self.run("login", self.service_url)

    def write_program(self, text, project="proj"):
        """A Pulumi YAML program (the engine's built-in resources need no provider plugin)."""
        (self.cwd / "Pulumi.yaml").write_text(f"name: {project}\nruntime: yaml\n{text}")


# The three ways the CLI persists an update's state, chosen by its environment: journal entries
# (its default), delta checkpoints (journaling off) and full checkpoints (both off).
PERSISTENCE_MODES = {
    "journal": {},
    "delta": {"PULUMI_DISABLE_JOURNALING": "true"},
    "full": {"PULUMI_DISABLE_JOURNALING": "true", "PULUMI_OPTIMIZED_CHECKPOINT_PATCH": "false"},
}


def kill_group(proc):
    """SIGKILL a CLI and its language host at once, as a lost machine would."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return proc.communicate()


# A secret value in a state: {SECRET_SIG: SECRET_KIND, "ciphertext": ...}.
SECRET_SIG, SECRET_KIND = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def normalised(untyped, stack=None):
    """A state, comparable with another run's or another backend's state of the same program:
    resources sorted by URN (parallel steps finish in any order); what differs from run to run
    or backend to backend dropped (times, ids, the default provider's id in references,
    ciphertexts); and, given `stack`, the stack's name replaced (to compare two stacks)."""
    deployment = untyped["deployment"]

    def clean(value):
        if isinstance(value, dict):
            if value.get(SECRET_SIG) == SECRET_KIND:
                return "<secret>"
            return {k: clean(v) for k, v in value.items() if k not in ("created", "modified", "id")}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str) and stack is not None:
            return value.replace(stack, "<stack>")
        return value

    resources = []
    for resource in deployment.get("resources") or []:
        resource = clean(resource)
        if "provider" in resource:
            resource["provider"] = resource["provider"].rsplit("::", 1)[0]
        resources.append(resource)
    return {"resources": sorted(resources, key=lambda r: r["urn"]),
            "pending_operations": clean(deployment.get("pending_operations") or [])}


def stash_program(resources, outputs=None):
    """YAML for `pulumi:index:Stash` resources: {name: input value or dict of properties/options}."""
    lines = ["resources:"]
    for name, spec in resources.items():
        if not isinstance(spec, dict):
            spec = {"input": spec}
        lines += [f"  {name}:", "    type: pulumi:index:Stash", "    properties:",
                  f"      input: {json_scalar(spec['input'])}"]
        options = {k: v for k, v in spec.items() if k != "input"}
        if options:
            lines.append("    options:")
            for key, value in options.items():
                lines.append(f"      {key}: {json_scalar(value)}")
    if outputs:
        lines.append("outputs:")
        for name, value in outputs.items():
            lines.append(f"  {name}: {json_scalar(value)}")
    return "\n".join(lines) + "\n"


def json_scalar(value):
    import json

    return json.dumps(value)
