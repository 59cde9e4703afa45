"""The `pulumi-service secrets` admin commands: master key generation, status and rotation, and
what servers with old, new or both keys do around a rotation."""
import base64
import os
import stat

import pytest
from click.testing import CliRunner

from app import create_app, embedded
from app.cli import main
from app.secrets import generate_master_key, master_key_id
from tests.support import MASTER_KEY
from tests.support.api import Api
from tests.support.apps import make_config
from tests.test_secrets import STACK, b64, decrypt, encrypt, make_stack

NEW_KEY = generate_master_key()


@pytest.fixture
def mona(acme, database_url):
    # A start of the service with MASTER_KEY records it as the database's (the canary), as the
    # first start of a real deployment does (tests empty every table between tests).
    create_app(make_config(database_url))
    make_stack(acme["member"])
    return acme["member"]


@pytest.fixture
def run(database_url):
    """The admin command with the service's environment (MASTER_KEY) plus `env`."""

    def invoke(*args, env=None):
        settings = {"DATABASE_URL": database_url, "SECRETS_MASTER_KEY": MASTER_KEY,
                    "SECRETS_MASTER_KEY_FILE": None, "SECRETS_PREVIOUS_MASTER_KEYS": None}
        settings.update(env or {})
        return CliRunner().invoke(main, ["secrets", *args], env=settings)

    return invoke


@pytest.fixture
def serve_with(database_url, people):
    """A (restarted) server with the given master key settings, called by `login` (mona)."""

    def start(login="mona", **settings):
        app = create_app(make_config(database_url, **settings))
        return Api(app.test_client(), people.tokens[login])

    return start


def key_file(tmp_path, text, name="new.key"):
    path = tmp_path / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def stored_keys(db):
    with db.cursor() as cur:
        cur.execute("SELECT key_id, master_key_id, wrapped_key FROM stack_secret_keys")
        return [{k: bytes(v) if isinstance(v, memoryview) else v for k, v in row.items()}
                for row in cur.fetchall()]


def test_rotation_rewraps_the_data_keys_and_values_decrypt_with_only_the_new_key(
        mona, run, serve_with, tmp_path, db):
    ciphertext = encrypt(mona, "before rotation")
    before = stored_keys(db)

    result = run("rotate-master-key", "--new-key-file", str(key_file(tmp_path, NEW_KEY)))
    after = stored_keys(db)
    restarted = serve_with(SECRETS_MASTER_KEY=NEW_KEY)

    assert result.exit_code == 0, result.output
    assert "re-wrapped 1 stack data key(s)" in result.output
    assert [k["key_id"] for k in after] == [k["key_id"] for k in before]
    assert after[0]["wrapped_key"] != before[0]["wrapped_key"]
    assert after[0]["master_key_id"] == master_key_id(base64.b64decode(NEW_KEY))
    assert decrypt(restarted, ciphertext).get_json() == {"plaintext": b64("before rotation")}


def test_rotation_with_the_wrong_old_key_fails_and_changes_nothing(mona, run, tmp_path, db):
    encrypt(mona, "x")
    before = stored_keys(db)

    result = run("rotate-master-key", "--new-key-file", str(key_file(tmp_path, NEW_KEY)),
                 env={"SECRETS_MASTER_KEY": generate_master_key()})

    assert result.exit_code == 1
    assert "which was not given" in result.output
    assert "Nothing was changed" in result.output
    assert stored_keys(db) == before
    assert decrypt(mona, encrypt(mona, "still served")).status_code == 200


def test_service_with_only_the_old_key_refuses_to_start_after_rotation(
        mona, run, serve_with, tmp_path):
    encrypt(mona, "x")
    run("rotate-master-key", "--new-key-file", str(key_file(tmp_path, NEW_KEY)))

    with pytest.raises(RuntimeError, match="does not match the one this database was set up with"):
        serve_with(SECRETS_MASTER_KEY=MASTER_KEY)


def test_server_not_yet_given_the_new_key_answers_503_after_rotation(
        mona, run, tmp_path):
    ciphertext = encrypt(mona, "x")
    run("rotate-master-key", "--new-key-file", str(key_file(tmp_path, NEW_KEY)))

    response = decrypt(mona, ciphertext)  # the session's server holds only the old key

    assert response.status_code == 503
    assert "master key configuration" in response.get_json()["message"]


def test_rotation_can_generate_the_new_key_into_a_file_only_its_owner_reads(
        mona, run, serve_with, tmp_path):
    ciphertext = encrypt(mona, "x")
    target = tmp_path / "generated.key"

    result = run("rotate-master-key", "--generate", str(target))
    restarted = serve_with(SECRETS_MASTER_KEY="", SECRETS_MASTER_KEY_FILE=str(target))

    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert decrypt(restarted, ciphertext).status_code == 200


def test_rotation_does_not_overwrite_an_existing_key_file(mona, run, tmp_path):
    target = key_file(tmp_path, NEW_KEY)

    result = run("rotate-master-key", "--generate", str(target))

    assert result.exit_code == 1
    assert "not overwriting" in result.output
    assert target.read_text() == NEW_KEY + "\n"


def test_rolling_rotation_servers_with_both_keys_keep_the_old_servers_working(
        mona, run, serve_with):
    """Step 1: servers restarted with the new key as SECRETS_MASTER_KEY and the old one as
    previous still wrap new data keys under the key the database uses, which servers not yet
    restarted (old key only) can open."""
    both = serve_with(SECRETS_MASTER_KEY=NEW_KEY, SECRETS_PREVIOUS_MASTER_KEYS=MASTER_KEY)
    make_stack(both, "/api/stacks/acme/proj/made-during-rollout")

    ciphertext = encrypt(both, "new stack", "/api/stacks/acme/proj/made-during-rollout")
    response = decrypt(mona, ciphertext, "/api/stacks/acme/proj/made-during-rollout")

    assert response.get_json() == {"plaintext": b64("new stack")}


def test_rolling_rotation_to_the_configured_key_then_drop_the_old_one(
        mona, run, serve_with):
    """Step 2: `rotate-master-key` with no new key moves the database to SECRETS_MASTER_KEY;
    step 3: servers restart without the old key."""
    ciphertext = encrypt(mona, "kept")
    both_keys = {"SECRETS_MASTER_KEY": NEW_KEY, "SECRETS_PREVIOUS_MASTER_KEYS": MASTER_KEY}
    serving_both = serve_with(**both_keys)

    result = run("rotate-master-key", env=both_keys)
    during = decrypt(serving_both, ciphertext)
    new_only = serve_with(SECRETS_MASTER_KEY=NEW_KEY)

    assert result.exit_code == 0, result.output
    assert during.get_json() == {"plaintext": b64("kept")}
    assert decrypt(new_only, ciphertext).get_json() == {"plaintext": b64("kept")}


def test_rotation_without_a_new_key_refuses_when_the_database_already_uses_it(mona, run):
    encrypt(mona, "x")

    result = run("rotate-master-key")

    assert result.exit_code == 1
    assert "already uses master key" in result.output


def test_generate_master_key_prints_a_32_byte_key(run):
    result = run("generate-master-key")

    assert len(base64.b64decode(result.output.strip(), validate=True)) == 32


def test_status_shows_which_master_key_wraps_how_many_stacks(acme, mona, run):
    encrypt(mona, "x")
    make_stack(mona, "/api/stacks/acme/proj/prod")
    encrypt(mona, "x", "/api/stacks/acme/proj/prod")

    result = run("status")

    current = master_key_id(base64.b64decode(MASTER_KEY))
    assert f"database master key: {current}" in result.output
    assert f"{current}: 2 stack data keys (held)" in result.output


# --- the embedded default ------------------------------------------------------------------------

@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PULUMI_SERVICE_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def test_embedded_default_makes_its_master_key_once_readable_only_by_its_owner(data_dir):
    path, created = embedded.ensure_master_key()
    again, created_again = embedded.ensure_master_key()

    assert (created, created_again) == (True, False)
    assert again == path == data_dir / "secrets-master.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(base64.b64decode(path.read_text().strip())) == 32


def test_embedded_rotation_replaces_the_key_file_and_keeps_the_previous_one(
        data_dir, database_url, monkeypatch, people, serve_with):
    path, _ = embedded.ensure_master_key()
    old_key = path.read_text().strip()
    make_stack(people.user("emma"), "/api/stacks/emma/proj/dev")
    emma = serve_with(login="emma", SECRETS_MASTER_KEY="", SECRETS_MASTER_KEY_FILE=str(path))
    ciphertext = encrypt(emma, "x", "/api/stacks/emma/proj/dev")
    # The embedded database, played by the test's database.
    monkeypatch.setattr(embedded, "database_url", lambda: database_url)

    result = CliRunner().invoke(main, ["secrets", "rotate-master-key"], env={
        "DATABASE_URL": None, "SECRETS_MASTER_KEY": None, "SECRETS_MASTER_KEY_FILE": None,
        "SECRETS_PREVIOUS_MASTER_KEYS": None})
    restarted = serve_with(login="emma", SECRETS_MASTER_KEY="", SECRETS_MASTER_KEY_FILE=str(path))

    assert result.exit_code == 0, result.output
    assert (data_dir / "secrets-master.key.previous").read_text().strip() == old_key
    assert path.read_text().strip() != old_key
    response = decrypt(restarted, ciphertext, "/api/stacks/emma/proj/dev")
    assert response.get_json() == {"plaintext": b64("x")}
