"""The fixture ladder: one throwaway PostgreSQL and one migrated database per session, emptied
after each test that used it, an app, and callers with every role. The helpers behind these
fixtures live in tests/support/."""
from pathlib import Path

import psycopg2
import pytest

from click.testing import CliRunner

from app import create_app
from app.cli import main as admin_command
from app.db import connect
from tests.support import postgres as pg
from tests.support.api import Api, People
from tests.support.apps import make_config, migrated
from tests.support.postgres import throwaway_database
from tests.support.s3 import S3Server
from tests.support.servers import Service


def pytest_collection_modifyitems(items):
    """Everything in tests/e2e/ is marked e2e: it needs the real Pulumi CLI. Elsewhere a module
    that needs the CLI or the system's nginx says so itself (tests/test_nginx.py). tests/run
    builds the CLI and installs nginx only when such tests are selected; `-m "not e2e"` is the
    fast lane."""
    e2e = Path(__file__).parent / "e2e"
    for item in items:
        if e2e in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def postgres():
    with pg.running() as server:
        yield server


@pytest.fixture(scope="session")
def database_url(postgres):
    """The session's database, migrated once; apps made on it do not migrate again."""
    return migrated(postgres.url())


@pytest.fixture(scope="session")
def sdk_service(tmp_path_factory, postgres):
    """(gunicorn, database_url): one real service on a database of its own for the official
    clients' tests (tests/test_cloud_sdk.py, tests/test_esc_sdk.py), started once for both.
    OIDC issuers may be plain http on 127.0.0.1 (the cloud-sdk OIDC test's identity provider)."""
    with throwaway_database(postgres.url()) as url:
        gunicorn = Service(url, workdir=tmp_path_factory.mktemp("sdk"),
                           env={"OIDC_ALLOW_HTTP": "true",
                                "OIDC_ALLOW_PRIVATE_NETWORKS": "true"}).start()
        yield gunicorn, url
        gunicorn.stop()


@pytest.fixture(scope="session")
def app(database_url):
    return create_app(make_config(database_url))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One real S3 server (versitygw) per session; each test makes its own bucket. Its
    credentials are in this process's AWS variables while it runs, as a service's would be
    (clients made on boto3's default session would keep them: tests/support/s3.py and app/blobs.py
    make sessions of their own)."""
    with pytest.MonkeyPatch.context() as patch, \
            S3Server.running(tmp_path_factory.mktemp("s3")) as server:
        for name, value in server.env.items():
            patch.setenv(name, value)
        yield server


@pytest.fixture(scope="session")
def _emptier(database_url):
    """One connection, and one statement that empties every table but the migrations' and
    restarts every sequence (made once: the session's schema does not change). DELETE rather
    than TRUNCATE: on tables of a few rows it takes well under a millisecond where TRUNCATE,
    which makes new files for every table, took about 100 ms a test. Foreign keys are not
    checked meanwhile (replica mode), so the order of the tables does not matter."""
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename <> 'schema_migrations'")
        tables = [row[0] for row in cur.fetchall()]
        cur.execute("SELECT oid::regclass::text FROM pg_class "
                    "WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace")
        sequences = [row[0] for row in cur.fetchall()]
    statement = "; ".join(
        ["SET session_replication_role = replica"]
        + [f'DELETE FROM "{table}"' for table in tables]
        + ["SET session_replication_role = DEFAULT"]
        + [f"SELECT setval('{sequence}', 1, false)" for sequence in sequences]
    )
    yield conn, statement
    conn.close()


@pytest.fixture(autouse=True)
def clean_database(request):
    """Empty every table after each test that uses the session's database."""
    if "database_url" not in request.fixturenames:
        yield
        return
    conn, empty = request.getfixturevalue("_emptier")
    yield
    if conn.closed:  # a test that restarted or disconnected the server
        conn = psycopg2.connect(conn.dsn)
        conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(empty)


@pytest.fixture
def db(database_url):
    conn = connect(database_url)
    yield conn
    conn.close()


@pytest.fixture
def people(app, database_url):
    people = People(app, database_url)
    yield people
    people.close()


@pytest.fixture
def anonymous(app):
    return Api(app.test_client())


@pytest.fixture
def acme(people):
    """Organization `acme` with one user of each role, plus an outsider with an org of their own."""
    return {
        "viewer": people.user("vera", {"acme": "viewer"}),
        "member": people.user("mona", {"acme": "member"}),
        "admin": people.user("adam", {"acme": "admin"}),
        "outsider": people.user("otto", {"globex": "admin"}),
    }


@pytest.fixture
def run(database_url):
    """run("user", "create", "alice") -> click Result: the admin command against the test
    database."""
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(admin_command, list(args), env={"DATABASE_URL": database_url},
                             catch_exceptions=False)

    return invoke
