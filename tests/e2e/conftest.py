"""Fixtures of the end-to-end suite: the real Pulumi CLI, a real gunicorn on a free port against a
database of its own, and a freshly made user logged in with the CLI for each test. Every test
here is marked e2e (tests/conftest.py)."""
import pytest

from tests.support import postgres as pg, unique
from tests.support.cli import logged_in, pulumi_bin as built_pulumi_bin
from tests.support.servers import Service


@pytest.fixture(scope="session")
def pulumi_bin():
    return built_pulumi_bin()


@pytest.fixture(scope="session")
def service(postgres):
    # Deltas from the first byte, so that the delta mode of small test stacks sends deltas; the
    # OIDC tests' identity provider is plain http on 127.0.0.1, and rotates its key at once.
    svc = Service(pg.create_database(postgres.url(), prefix="e2e_"),
                  env={"DELTA_CHECKPOINT_CUTOFF_BYTES": "0", "OIDC_ALLOW_HTTP": "true",
                       "OIDC_ALLOW_PRIVATE_NETWORKS": "true",
                       "OIDC_JWKS_REFRESH_SECONDS": "0"}).start()
    yield svc
    svc.stop()


@pytest.fixture
def login():
    return unique("u")


@pytest.fixture
def cli(service, pulumi_bin, login, tmp_path):
    """A new user, logged in with the real CLI in a temporary folder of its own."""
    return logged_in(service, pulumi_bin, tmp_path, login)


@pytest.fixture
def new_cli(service, pulumi_bin, tmp_path):
    """Make more logged-in CLI users: new_cli({"acme": "viewer"}) -> Pulumi."""

    def make(orgs=None, login=None):
        return logged_in(service, pulumi_bin, tmp_path, login or unique("u"), orgs)

    return make
