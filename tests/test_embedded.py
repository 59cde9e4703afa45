"""The newcomer's path: `pulumi-service serve` with no DATABASE_URL starts a private PostgreSQL in
a data folder, prints a first token that works over real HTTP, stops cleanly on SIGTERM, and on
the next start reuses the same data."""
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ACCEPT

TOKEN_LINE = re.compile(r"^\s+(pul-[0-9a-f]+)\s*$")
STARTUP_SECONDS = 180


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """`pulumi-service serve` as a subprocess, its output read line by line as it comes."""

    def __init__(self, data, port, cwd):
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update(PULUMI_SERVICE_DATA=str(data), PORT=str(port), HOST="127.0.0.1")
        command = Path(sys.executable).with_name("pulumi-service")
        self.url = f"http://127.0.0.1:{port}"
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
        deadline = time.monotonic() + STARTUP_SECONDS
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

    def tokens_printed(self):
        return [m.group(1) for m in map(TOKEN_LINE.match, self.lines) if m]

    def get(self, path, token):
        """GET over real HTTP, retried while gunicorn is still starting."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                return requests.get(self.url + path, timeout=10, headers={
                    "Accept": ACCEPT, "Authorization": f"token {token}"})
            except requests.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.5)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=120)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=10)
            self.proc.stdout.close()


@pytest.fixture
def scratch():
    """A folder for the data, outside pytest's tmp_path: as root the embedded PostgreSQL runs as
    its own system user, which must be able to reach the folder, and every pytest session resets
    its base temp folder (shared by parallel runs) to mode 0700."""
    folder = Path(tempfile.mkdtemp(prefix="pulumi-service-embedded-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_serve_without_database_url_runs_on_embedded_postgres_and_keeps_its_data(scratch):
    data = scratch / "data"

    first = Service(data, free_port(), cwd=scratch)
    try:
        first.wait_for_line("serving on")
        (token,) = first.tokens_printed()
        assert f"PULUMI_ACCESS_TOKEN={token} pulumi login http://127.0.0.1:" in "".join(first.lines)
        response = first.get("/api/user", token)
        assert response.status_code == 200
        assert response.json()["githubLogin"] == "admin"
        created = requests.post(first.url + "/api/stacks/admin/proj", json={"stackName": "dev"},
                                timeout=10,
                                headers={"Accept": ACCEPT, "Authorization": f"token {token}"})
        assert created.status_code == 200
    finally:
        code = first.stop()
    assert code == 0, "".join(first.lines)
    # The embedded server stopped with the service (PostgreSQL removes its pid file on shutdown).
    assert not (data / "pgdata" / "postmaster.pid").exists()

    second = Service(data, free_port(), cwd=scratch)
    try:
        second.wait_for_line("serving on")
        assert second.tokens_printed() == []
        assert second.get("/api/user", token).status_code == 200
        assert second.get("/api/stacks/admin/proj/dev", token).status_code == 200
    finally:
        code = second.stop()
    assert code == 0, "".join(second.lines)
