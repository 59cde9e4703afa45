"""Callers of the API in-process: a Flask test client that speaks like the Pulumi CLI, and users
with tokens made the way the admin command makes them."""
import json

from app.cli import create_token, create_user
from app.db import connect
from app.queries import queries

from . import ACCEPT
from .apps import migrated


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


def add_user(conn, login, orgs=None):
    """A user (with personal org) with the roles in `orgs` ({org name: role}, orgs made as
    needed) and a new token, in the caller's transaction; returns the token."""
    user = create_user(conn, login)
    for org, role in (orgs or {}).items():
        found = queries.org_by_name(conn, name=org) or queries.create_org(conn, name=org)
        queries.set_membership(conn, org_id=found["id"], user_id=user["id"], role=role)
    return create_token(conn, user, "test")


def user_with_token(database_url, login, orgs=None):
    """add_user() in its own transaction on `database_url` (migrated first: a real server's
    database may not be yet)."""
    conn = connect(migrated(database_url))
    try:
        with conn:
            return add_user(conn, login, orgs)
    finally:
        conn.close()


def assert_error(response, status, contains=None):
    """The response is the service's JSON error: {"code": status, "message": "..."}."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == status
    assert isinstance(body["message"], str) and body["message"]
    if contains is not None:
        assert contains in body["message"]
    return body


class People:
    """Users with tokens, all made over one connection (close() it when done)."""

    def __init__(self, app, database_url):
        self.app = app
        self.database_url = database_url
        self.tokens = {}
        self._conn = None

    def user(self, login, orgs=None):
        """A user (with personal org) and a token; `orgs` maps org name to role."""
        if self._conn is None:
            self._conn = connect(self.database_url)
        with self._conn:
            token = add_user(self._conn, login, orgs)
        self.tokens[login] = token
        return Api(self.app.test_client(), token)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None
