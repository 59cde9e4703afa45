"""The one place for test helpers, imported by the unit tests (tests/), the end-to-end tests
(tests/e2e/) and the benchmarks (bench/). Dependencies run one way: support imports `app`; tests
and bench import support; support never imports a test module or a conftest.

    postgres.py     the throwaway PostgreSQL server and databases in it
    apps.py         the tests' settings and apps (migrated once, OpenAPI document cached)
    api.py          callers of the API in-process: the Flask client that speaks like the CLI, users
    rows.py         rows put straight into the database, and the error-body check
    snapshots.py    a database's rows kept in a schema of their own and put back before each test
    deployments.py  fixture states (untyped deployments) and engine events
    updates.py      driving an update the way the CLI does, through the Flask client
    routes.py       the route table as tests see it
    servers.py      real servers: gunicorn (with gunicorn.conf.py), nginx, `pulumi-service serve`
    cli.py          the real Pulumi CLI in a clean environment, and comparing its states; the
                    CLI versions of the compatibility matrix
    automation.py   Python programs through the official SDK's Automation API (inline programs)
    console.py      the web console without a browser: signing a test client in, an example stack
    sdk.py          Pulumi's official REST client (pulumi-cloud-sdk) with the Accept shim
    faults.py       racing CLIs and killing gunicorn workers mid-update
"""
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What the Pulumi CLI sends: API level 8 is the oldest the service accepts, and the CLI sends it
# or newer. Tests about other values spell theirs out.
ACCEPT = "application/vnd.pulumi+8"

# The secrets master key of the tests' apps and servers (tests must not depend on the environment).
MASTER_KEY = "dGVzdC1vbmx5IG1hc3RlciBrZXksIDMyIGJ5dGVzISE="


def pulumi_headers(token=None, **extra):
    """The headers the CLI sends on an API call."""
    headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"token {token}"
    headers.update(extra)
    return headers


def unique(prefix="u"):
    """A name no other test uses (logins, stacks, databases)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"
