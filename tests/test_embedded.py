"""The newcomer's path: `pulumi-service serve` with no DATABASE_URL starts a private PostgreSQL in
a data folder, prints a first token that works over real HTTP, stops cleanly on SIGTERM, and on
the next start reuses the same data."""
import re
import shutil
import tempfile
from pathlib import Path

import pytest
import requests

from tests.support import ACCEPT
from tests.support.servers import Serve, free_port

TOKEN_LINE = re.compile(r"^\s+(pul-[0-9a-f]+)\s*$")


def tokens_printed(service):
    return [m.group(1) for m in map(TOKEN_LINE.match, service.lines) if m]


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

    console_port = free_port()
    first = Serve(data, cwd=scratch, env={"CONSOLE_PORT": str(console_port)})
    try:
        first.wait_for_line("serving on")
        (token,) = tokens_printed(first)
        assert f"PULUMI_ACCESS_TOKEN={token} pulumi login http://127.0.0.1:" in "".join(first.lines)
        response = first.get("/api/user", token)
        assert response.status_code == 200
        assert response.json()["githubLogin"] == "admin"
        created = requests.post(first.url + "/api/stacks/admin/proj", json={"stackName": "dev"},
                                timeout=10,
                                headers={"Accept": ACCEPT, "Authorization": f"token {token}"})
        assert created.status_code == 200
        # The web console answers on its own port too (the CLI's localhost:8080 -> :3000).
        assert f"web console on http://127.0.0.1:{console_port}" in "".join(first.lines)
        sign_in = requests.get(f"http://127.0.0.1:{console_port}/login", timeout=60)
        assert sign_in.status_code == 200 and "Sign in" in sign_in.text
    finally:
        code = first.stop()
    assert code == 0, "".join(first.lines)
    # The embedded server stopped with the service (PostgreSQL removes its pid file on shutdown).
    assert not (data / "pgdata" / "postmaster.pid").exists()

    second = Serve(data, cwd=scratch)
    try:
        second.wait_for_line("serving on")
        assert tokens_printed(second) == []
        assert second.get("/api/user", token).status_code == 200
        assert second.get("/api/stacks/admin/proj/dev", token).status_code == 200
    finally:
        code = second.stop()
    assert code == 0, "".join(second.lines)
