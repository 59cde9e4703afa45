"""The `pulumi-service` admin command: serve, db upgrade, user, org, token."""
import contextlib
import os
import signal
import subprocess
import sys

import click
import psycopg2

from . import embedded, migrate
from .auth import ROLES, hash_token, new_token
from .db import connect
from .queries import queries
from .schemas.common import ORG_NAME


@contextlib.contextmanager
def _conn():
    """A migrated database's connection in one transaction, closed afterwards (psycopg2's own
    `with conn` commits but leaves the connection open)."""
    url = embedded.database_url()
    migrate.upgrade(url, log=lambda m: click.echo(m, err=True))
    conn = connect(url)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def _fail(message):
    raise click.ClickException(message)


def _user(conn, login):
    user = queries.user_by_login(conn, login=login)
    if user is None:
        _fail(f"no user with login {login!r}")
    return user


def create_user(conn, login, email="", name=""):
    """A user and their personal organization; refuses a login taken by a user or an org."""
    if not ORG_NAME.match(login):
        _fail(f"invalid login {login!r}: 3 to 40 letters, digits, '-' or '_', "
              "starting and ending with a letter or digit")
    if queries.org_by_name(conn, name=login) is not None:
        _fail(f"the name {login!r} is already taken by a user or an organization")
    try:
        return queries.create_user(conn, login=login, email=email or "", name=name or "")
    except psycopg2.errors.UniqueViolation:
        conn.rollback()
        _fail(f"the name {login!r} is already taken by a user or an organization")


def create_token(conn, user, description=""):
    token = new_token()
    queries.create_token(conn, user_id=user["id"], token_hash=hash_token(token),
                         description=description or "")
    return token


@click.group()
def main():
    """Administer a self-hosted Pulumi Service backend (DATABASE_URL, or the embedded default)."""


@main.group()
def db():
    """The database schema."""


@db.command("upgrade")
def db_upgrade():
    """Apply pending migrations (safe to run from several hosts at once)."""
    applied = migrate.upgrade(embedded.database_url(), log=click.echo)
    click.echo(f"database is current ({len(applied)} migration(s) applied)")


@main.group()
def user():
    """Users (each has a personal organization named after the login)."""


@user.command("create")
@click.argument("login")
@click.option("--email", default="")
@click.option("--name", default="")
def user_create(login, email, name):
    with _conn() as conn:
        create_user(conn, login, email, name)
    click.echo(f"created user {login} (admin of organization {login})")


@main.group()
def org():
    """Organizations and their members."""


@org.command("create")
@click.argument("name")
def org_create(name):
    if not ORG_NAME.match(name):
        _fail(f"invalid organization name {name!r}")
    with _conn() as conn:
        if queries.create_org(conn, name=name) is None:
            _fail(f"organization {name!r} already exists (or is a user's login)")
    click.echo(f"created organization {name}")


@org.command("add-member")
@click.argument("org_name", metavar="ORG")
@click.argument("login")
@click.option("--role", required=True, type=click.Choice(list(ROLES)))
def org_add_member(org_name, login, role):
    with _conn() as conn:
        found = queries.org_by_name(conn, name=org_name)
        if found is None:
            _fail(f"no organization {org_name!r}")
        if found["personal_user_id"] is not None:
            _fail(f"{org_name!r} is a personal organization")
        member = _user(conn, login)
        queries.set_membership(conn, org_id=found["id"], user_id=member["id"], role=role)
    click.echo(f"{login} is {role} of {org_name}")


@org.command("remove-member")
@click.argument("org_name", metavar="ORG")
@click.argument("login")
def org_remove_member(org_name, login):
    with _conn() as conn:
        found = queries.org_by_name(conn, name=org_name)
        if found is None:
            _fail(f"no organization {org_name!r}")
        queries.remove_membership(conn, org_id=found["id"], user_id=_user(conn, login)["id"])
    click.echo(f"{login} removed from {org_name}")


@main.group()
def token():
    """API access tokens (only their hashes are stored)."""


@token.command("create")
@click.argument("login")
@click.option("--description", default="")
def token_create(login, description):
    """Print a new token for LOGIN, alone on the last line."""
    with _conn() as conn:
        value = create_token(conn, _user(conn, login), description)
    click.echo(f"created a token for {login}; it is shown once:")
    click.echo(value)


@token.command("revoke")
@click.argument("value", required=False)
@click.option("--id", "token_id", type=int, help="revoke by id (see `token list`)")
def token_revoke(value, token_id):
    if not value and token_id is None:
        _fail("give the token, or --id")
    with _conn() as conn:
        count = queries.revoke_token(conn, token_hash=hash_token(value) if value else None,
                                     token_id=token_id)
    if not count:
        _fail("no such active token")
    click.echo("token revoked")


@token.command("list")
@click.argument("login")
def token_list(login):
    with _conn() as conn:
        for row in queries.tokens_of_user(conn, user_id=_user(conn, login)["id"]):
            state = "revoked" if row["revoked_at"] else "active"
            click.echo(f"{row['id']}\t{state}\t{row['created_at']:%Y-%m-%d}\t"
                       f"{row['last_used_at'] or '-'}\t{row['description']}")


@main.command()
@click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="127.0.0.1")
@click.option("--port", default=lambda: int(os.environ.get("PORT", "8080")), type=int,
              show_default="8080")
def serve(host, port):
    """Run the service with gunicorn (the embedded database when DATABASE_URL is unset)."""
    url = embedded.database_url()
    if not os.environ.get("DATABASE_URL"):
        click.echo(f"using the embedded PostgreSQL in {embedded.data_dir()}")
    migrate.upgrade(url, log=click.echo)
    with connect(url) as conn:
        if queries.count_users(conn) == 0:
            admin = create_user(conn, "admin")
            first_token = create_token(conn, admin, "first admin token")
            click.echo("created the first user 'admin' with this token (shown once):")
            click.echo(f"\n    {first_token}\n")
            click.echo("log in with the Pulumi CLI:")
            click.echo(f"    PULUMI_ACCESS_TOKEN={first_token} pulumi login http://{host}:{port}\n")
    env = dict(os.environ, DATABASE_URL=url)
    command = [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}"]
    config = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "gunicorn.conf.py")
    if os.path.exists(config):
        command += ["--config", config]
    command.append("app:create_app()")
    click.echo(f"serving on http://{host}:{port}")
    proc = subprocess.Popen(command, env=env)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, f: proc.send_signal(s))
    sys.exit(proc.wait())


if __name__ == "__main__":
    main()
