"""The `pulumi-service` admin command against the test database: db upgrade, users, organizations,
memberships and tokens, with clear errors and non-zero exits."""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import migrate
from app.cli import main
from tests.support.api import Api
from tests.support.api import assert_error
from tests.support.postgres import throwaway_database
from tests.support.rows import count


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def refused(result, message):
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def api(app):
    return lambda token: Api(app.test_client(), token)


def new_token(run, login, *options):
    return ok(run("token", "create", login, *options)).stdout.strip().splitlines()[-1]


# --- db upgrade ---------------------------------------------------------------------------------

def test_db_upgrade_migrates_an_empty_database_once(database_url):
    runner = CliRunner()
    with throwaway_database(database_url) as url:
        first = ok(runner.invoke(main, ["db", "upgrade"], env={"DATABASE_URL": url}))
        assert f"({len(migrate.available())} migration(s) applied)" in first.output
        assert "0001_init.sql" in first.output
        again = ok(runner.invoke(main, ["db", "upgrade"], env={"DATABASE_URL": url}))
        assert "(0 migration(s) applied)" in again.output


def test_db_upgrade_dry_run_prints_what_would_run_and_applies_nothing(database_url):
    runner = CliRunner()
    with throwaway_database(database_url) as url:
        latest = migrate.available()[-1][1]
        planned = ok(runner.invoke(main, ["db", "upgrade", "--dry-run"], env={"DATABASE_URL": url}))
        assert f"would apply migration {latest} (in one transaction)" in planned.output
        assert "    CREATE TABLE users" in planned.output
        assert f"{len(migrate.available())} migration(s) pending (dry run" in planned.output
        assert migrate.plan(url) == migrate.available()
        ok(runner.invoke(main, ["db", "upgrade"], env={"DATABASE_URL": url}))
        current = ok(runner.invoke(main, ["db", "upgrade", "--dry-run"], env={"DATABASE_URL": url}))
        assert current.output == "0 migration(s) pending (dry run: nothing applied)\n"


# --- users --------------------------------------------------------------------------------------

def test_user_create_makes_the_user_admin_of_a_personal_org(run, db):
    result = ok(run("user", "create", "alice", "--email", "alice@example.com"))
    assert "alice" in result.output
    assert count(db, "SELECT count(*) FROM users WHERE login = 'alice' "
                     "AND email = 'alice@example.com'") == 1
    assert count(db, "SELECT count(*) FROM organizations o JOIN users u "
                     "ON u.id = o.personal_user_id WHERE o.name = 'alice'") == 1
    assert count(db, "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id "
                     "JOIN organizations o ON o.id = m.org_id "
                     "WHERE u.login = 'alice' AND o.name = 'alice' AND m.role = 'admin'") == 1


def test_new_user_can_create_stacks_in_the_personal_org(run, api):
    ok(run("user", "create", "alice"))
    alice = api(new_token(run, "alice"))
    assert alice.post("/api/stacks/alice/proj", {"stackName": "dev"}).status_code == 200
    assert alice.get("/api/user").get_json()["githubLogin"] == "alice"


def test_user_create_refuses_a_duplicate_login(run, db):
    ok(run("user", "create", "alice"))
    refused(run("user", "create", "alice"), "already taken")
    assert count(db, "SELECT count(*) FROM users") == 1


def test_user_create_refuses_the_name_of_an_org(run, db):
    ok(run("org", "create", "acme"))
    refused(run("user", "create", "acme"), "already taken")
    assert count(db, "SELECT count(*) FROM users") == 0


@pytest.mark.parametrize("login", ["ab", "a" * 41, "bad login", "-alice", "alice-", "al/ice",
                                   "alicé", "alice\n", ""])
def test_user_create_refuses_a_bad_login(run, db, login):
    refused(run("user", "create", "--", login), "invalid login")
    assert count(db, "SELECT count(*) FROM users") == 0
    assert count(db, "SELECT count(*) FROM organizations") == 0


# --- organizations ------------------------------------------------------------------------------

def test_org_create(run, db):
    ok(run("org", "create", "acme"))
    assert count(db, "SELECT count(*) FROM organizations WHERE name = 'acme' "
                     "AND personal_user_id IS NULL") == 1


def test_org_create_refuses_a_duplicate(run, db):
    ok(run("org", "create", "acme"))
    refused(run("org", "create", "acme"), "already exists")
    assert count(db, "SELECT count(*) FROM organizations") == 1


def test_org_create_refuses_a_users_login(run):
    ok(run("user", "create", "alice"))
    refused(run("org", "create", "alice"), "already exists")


@pytest.mark.parametrize("name", ["ab", "bad name", "acme\n", "-acme"])
def test_org_create_refuses_a_bad_name(run, db, name):
    refused(run("org", "create", "--", name), "invalid organization name")
    assert count(db, "SELECT count(*) FROM organizations") == 0


@pytest.mark.parametrize("role, create, delete", [
    ("viewer", 403, 403),
    ("member", 200, 403),
    ("admin", 200, 204),
])
def test_org_add_member_grants_the_role(run, api, role, create, delete):
    ok(run("user", "create", "owner"))
    ok(run("user", "create", "alice"))
    ok(run("org", "create", "acme"))
    ok(run("org", "add-member", "acme", "owner", "--role", "admin"))
    assert ok(run("org", "add-member", "acme", "alice", "--role", role))
    owner, alice = api(new_token(run, "owner")), api(new_token(run, "alice"))
    owner.post("/api/stacks/acme/proj", {"stackName": "dev"})

    assert alice.get("/api/stacks/acme/proj/dev").status_code == 200
    assert alice.post("/api/stacks/acme/proj", {"stackName": "new"}).status_code == create
    assert alice.delete("/api/stacks/acme/proj/dev?force=true").status_code == delete


def test_org_add_member_again_changes_the_role(run, api, db):
    ok(run("user", "create", "alice"))
    ok(run("org", "create", "acme"))
    ok(run("org", "add-member", "acme", "alice", "--role", "viewer"))
    ok(run("org", "add-member", "acme", "alice", "--role", "member"))
    assert count(db, "SELECT count(*) FROM memberships m JOIN organizations o ON o.id = m.org_id "
                     "WHERE o.name = 'acme'") == 1
    alice = api(new_token(run, "alice"))
    assert alice.post("/api/stacks/acme/proj", {"stackName": "dev"}).status_code == 200


def test_org_add_member_refuses_a_bad_role(run, db):
    ok(run("user", "create", "alice"))
    ok(run("org", "create", "acme"))
    refused(run("org", "add-member", "acme", "alice", "--role", "owner"), "--role")
    assert count(db, "SELECT count(*) FROM memberships m JOIN organizations o ON o.id = m.org_id "
                     "WHERE o.name = 'acme'") == 0


def test_org_add_member_refuses_an_unknown_user(run):
    ok(run("org", "create", "acme"))
    refused(run("org", "add-member", "acme", "nobody", "--role", "member"), "no user")


def test_org_add_member_refuses_an_unknown_org(run):
    ok(run("user", "create", "alice"))
    refused(run("org", "add-member", "nowhere", "alice", "--role", "member"), "no organization")


def test_org_add_member_refuses_a_personal_org(run):
    ok(run("user", "create", "alice"))
    ok(run("user", "create", "bob"))
    refused(run("org", "add-member", "alice", "bob", "--role", "member"), "personal")


def test_org_remove_member_takes_access_away(run, api):
    ok(run("user", "create", "alice"))
    ok(run("org", "create", "acme"))
    ok(run("org", "add-member", "acme", "alice", "--role", "member"))
    alice = api(new_token(run, "alice"))
    alice.post("/api/stacks/acme/proj", {"stackName": "dev"})
    ok(run("org", "remove-member", "acme", "alice"))
    assert_error(alice.get("/api/stacks/acme/proj/dev"), 404)


# --- tokens -------------------------------------------------------------------------------------

def test_token_create_prints_the_token_alone_on_the_last_line(run, api):
    ok(run("user", "create", "alice"))
    result = ok(run("token", "create", "alice", "--description", "laptop"))
    last = result.stdout.rstrip("\n").splitlines()[-1]
    assert last == last.strip() and " " not in last
    assert api(last).get("/api/user").get_json()["githubLogin"] == "alice"


def test_token_create_for_an_unknown_user_is_refused(run, db):
    refused(run("token", "create", "nobody"), "no user")
    assert count(db, "SELECT count(*) FROM access_tokens") == 0


def test_tokens_are_stored_only_as_hashes(run, db):
    ok(run("user", "create", "alice"))
    token = new_token(run, "alice", "--description", "laptop")
    with db.cursor() as cur:
        cur.execute("SELECT * FROM access_tokens")
        (row,) = cur.fetchall()
        cur.execute("SELECT row_to_json(t)::text AS text FROM access_tokens t")
        as_text = cur.fetchone()["text"]
    db.rollback()
    assert bytes(row["token_hash"]) == hashlib.sha256(token.encode()).digest()
    assert row["description"] == "laptop"
    assert token not in as_text
    assert token[4:] not in as_text  # not even without its prefix
    assert token.encode() not in bytes(row["token_hash"])


def test_every_token_is_different(run):
    ok(run("user", "create", "alice"))
    assert len({new_token(run, "alice") for _ in range(5)}) == 5


def test_token_revoke_makes_it_401(run, api):
    ok(run("user", "create", "alice"))
    token = new_token(run, "alice")
    other = new_token(run, "alice")
    assert api(token).get("/api/user").status_code == 200
    ok(run("token", "revoke", token))
    assert_error(api(token).get("/api/user"), 401)
    assert api(other).get("/api/user").status_code == 200


def test_token_revoke_by_id(run, api, db):
    ok(run("user", "create", "alice"))
    token = new_token(run, "alice")
    token_id = count(db, "SELECT id FROM access_tokens")
    ok(run("token", "revoke", "--id", str(token_id)))
    assert_error(api(token).get("/api/user"), 401)


def test_token_revoke_of_an_unknown_token_is_refused(run):
    refused(run("token", "revoke", "pul-" + "0" * 40), "no such active token")


def test_token_revoke_twice_is_refused(run):
    ok(run("user", "create", "alice"))
    token = new_token(run, "alice")
    ok(run("token", "revoke", token))
    refused(run("token", "revoke", token), "no such active token")


def test_token_revoke_needs_a_token_or_an_id(run):
    refused(run("token", "revoke"), "give the token")


def test_token_list_shows_state_and_description_never_the_token(run):
    ok(run("user", "create", "alice"))
    kept = new_token(run, "alice", "--description", "laptop")
    gone = new_token(run, "alice", "--description", "old ci")
    ok(run("token", "revoke", gone))
    listing = ok(run("token", "list", "alice")).stdout
    lines = listing.strip().splitlines()
    assert len(lines) == 2
    assert "active" in lines[0] and "laptop" in lines[0]
    assert "revoked" in lines[1] and "old ci" in lines[1]
    assert kept not in listing and gone not in listing


def test_token_create_with_an_expiry_is_refused_once_it_passes(run, api, db):
    ok(run("user", "create", "alice"))
    token = new_token(run, "alice", "--expires-in-days", "30")
    assert api(token).get("/api/user").status_code == 200
    assert "expires 20" in ok(run("token", "list", "alice")).stdout
    with db, db.cursor() as cur:
        cur.execute("UPDATE access_tokens SET expires_at = now() - interval '1 second'")
    assert_error(api(token).get("/api/user"), 401)
    assert "expired" in ok(run("token", "list", "alice")).stdout


def test_token_list_for_an_unknown_user_is_refused(run):
    refused(run("token", "list", "nobody"), "no user")


# --- the installed command ----------------------------------------------------------------------

def test_installed_command_creates_a_user_and_a_working_token(database_url, api):
    command = Path(sys.executable).with_name("pulumi-service")
    env = dict(os.environ, DATABASE_URL=database_url)
    subprocess.run([command, "user", "create", "alice"], env=env, check=True,
                   capture_output=True, timeout=120)
    created = subprocess.run([command, "token", "create", "alice"], env=env, check=True,
                             capture_output=True, text=True, timeout=120)
    token = created.stdout.splitlines()[-1]
    assert api(token).get("/api/user").status_code == 200
    failed = subprocess.run([command, "user", "create", "alice"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert failed.returncode != 0
    assert "already taken" in failed.stderr
