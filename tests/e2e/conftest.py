"""Fixtures of the end-to-end suite: the real Pulumi CLI (built by build_pulumi_cli.sh into a
cache outside the work tree), a real gunicorn on a free port against a database of its own, and a
freshly made user logged in with the CLI for each test."""
import os
import subprocess
import uuid
from pathlib import Path

import psycopg2
import pytest

from tests.e2e.harness import REPO, Pulumi, Service, unique


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def pulumi_bin():
    bin_dir = os.environ.get("PULUMI_CLI_BIN")
    if not bin_dir:
        built = subprocess.run(["bash", str(REPO / "tests/e2e/build_pulumi_cli.sh")],
                               capture_output=True, text=True)
        if built.returncode != 0:
            pytest.fail(f"the real Pulumi CLI could not be built:\n{built.stderr[-4000:]}")
        bin_dir = built.stdout.strip().splitlines()[-1]
    bin_dir = Path(bin_dir)
    assert (bin_dir / "pulumi").exists() and (bin_dir / "pulumi-language-yaml").exists()
    return bin_dir


def make_database(postgres):
    """A fresh database in the session's PostgreSQL, apart from the one unit tests truncate."""
    name = f"e2e_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(postgres.url(database="postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    return postgres.url(database=name)


@pytest.fixture(scope="session")
def service(postgres):
    # Deltas from the first byte, so that the delta mode of small test stacks sends deltas.
    svc = Service(make_database(postgres), env={"DELTA_CHECKPOINT_CUTOFF_BYTES": "0"}).start()
    yield svc
    svc.stop()


@pytest.fixture
def login():
    return unique("u")


@pytest.fixture
def cli(service, pulumi_bin, login, tmp_path):
    """A new user, logged in with the real CLI in a temporary folder of its own."""
    token = service.user(login)
    pulumi = Pulumi(pulumi_bin, service.url, token, tmp_path / login)
    pulumi.login()
    pulumi.login_name = login
    return pulumi


@pytest.fixture
def new_cli(service, pulumi_bin, tmp_path):
    """Make more logged-in CLI users: new_cli({"acme": "viewer"}) -> Pulumi."""

    def make(orgs=None, login=None):
        login = login or unique("u")
        token = service.user(login, orgs)
        pulumi = Pulumi(pulumi_bin, service.url, token, tmp_path / login)
        pulumi.login()
        pulumi.login_name = login
        return pulumi

    return make
