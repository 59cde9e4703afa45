"""The fixture ladder: one throwaway PostgreSQL and one migrated schema per session, a clean
database per test, an app, and callers with every role."""
import json

import psycopg2
import pytest

from app import create_app
from app.cli import create_token, create_user
from app.config import Config
from app.db import connect
from app.queries import queries
from tests.pgserver import factory

ACCEPT = "application/vnd.pulumi+8"
# The secrets master key of the test session's app (tests must not depend on the environment).
MASTER_KEY = "dGVzdC1vbmx5IG1hc3RlciBrZXksIDMyIGJ5dGVzISE="


@pytest.fixture(scope="session")
def postgres():
    pg_factory = factory()
    server = pg_factory()
    yield server
    server.stop()
    pg_factory.clear_cache()


@pytest.fixture(scope="session")
def database_url(postgres):
    return postgres.url()


@pytest.fixture(scope="session")
def app(database_url):
    return create_app(make_config(database_url))


def make_config(database_url, **overrides):
    """The tests' settings: the environment's secrets settings never leak in."""
    settings = dict(
        DATABASE_URL=database_url, TESTING=True,
        SECRETS_MASTER_KEY=MASTER_KEY, SECRETS_MASTER_KEY_FILE="", SECRETS_PREVIOUS_MASTER_KEYS="",
        SECRETS_VIEWERS_CAN_DECRYPT=False, SECRETS_BATCH_ENCRYPT=True,
    )
    settings.update(overrides)
    return Config(**settings)


@pytest.fixture(autouse=True)
def clean_database(request):
    """Empty every table after each test that touched the database."""
    yield
    if "database_url" not in request.fixturenames:
        return
    url = request.getfixturevalue("database_url")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
        )
        tables = cur.fetchone()[0]
        if tables:
            cur.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    conn.close()


@pytest.fixture
def db(database_url):
    conn = connect(database_url)
    yield conn
    conn.close()


class Api:
    """A Flask test client that speaks like the Pulumi CLI (headers, JSON, token)."""

    def __init__(self, client, token=None, accept=ACCEPT):
        self.client = client
        self.token = token
        self.accept = accept

    def headers(self, extra=None):
        headers = {"Content-Type": "application/json"}
        if self.accept:
            headers["Accept"] = self.accept
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        headers.update(extra or {})
        return headers

    def call(self, method, path, body=None, headers=None, data=None, **kwargs):
        if body is not None:
            data = json.dumps(body)
        return self.client.open(path, method=method, data=data, headers=self.headers(headers),
                                **kwargs)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def head(self, path, **kw):
        return self.call("HEAD", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


class People:
    """Users with tokens, made the way the admin command makes them."""

    def __init__(self, app, database_url):
        self.app = app
        self.database_url = database_url
        self.tokens = {}

    def user(self, login, orgs=None):
        """A user (with personal org) and a token; `orgs` maps org name to role."""
        conn = connect(self.database_url)
        try:
            with conn:
                user = create_user(conn, login)
                for org, role in (orgs or {}).items():
                    found = queries.org_by_name(conn, name=org) or queries.create_org(conn, name=org)
                    queries.set_membership(conn, org_id=found["id"], user_id=user["id"], role=role)
                token = create_token(conn, user, "test")
        finally:
            conn.close()
        self.tokens[login] = token
        return Api(self.app.test_client(), token)


@pytest.fixture
def people(app, database_url):
    return People(app, database_url)


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
