"""`pulumi-service backup` and `restore` (issue 19, item 3) on databases of their own: a restore
gives back every row; it refuses a database that is not empty, a corrupted backup and an
unfinished one, leaving the target untouched; with a blob store, the objects the database names
go with it and come back into an empty bucket. (The round trip with the real CLI, secrets and an
`up` afterwards: tests/e2e/test_backup_restore.py.)"""
import json

import pytest
from click.testing import CliRunner

from app import create_app
from app.cli import main
from tests.support.api import People, user_with_token
from tests.support.apps import make_config
from tests.support.postgres import throwaway_database
from tests.support.rows import every_row
from tests.support.updates import make_stack, run as run_update


def run(url, *args, **env):
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": url, "BLOB_STORE_URL": "",
                                                     **env})


@pytest.fixture(scope="module")
def backed_up(postgres, tmp_path_factory):
    """A service's database with a user, an organization and a token, and its backup."""
    with throwaway_database(postgres.url()) as url:
        user_with_token(url, "alice", {"acme": "admin"})
        dest = tmp_path_factory.mktemp("backup") / "b1"
        result = run(url, "backup", str(dest))
        assert result.exit_code == 0, result.output
        yield url, dest


@pytest.fixture
def empty(postgres):
    with throwaway_database(postgres.url()) as url:
        yield url


def test_a_backup_restores_every_row_into_an_empty_database(backed_up, empty):
    source, dest = backed_up
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["counts"]["organizations"] == 2  # alice's own and acme
    assert len(manifest["files"]["database.dump"]["sha256"]) == 64
    result = run(empty, "restore", str(dest))
    assert result.exit_code == 0, result.output
    assert "restored; its secrets need the master key" not in result.output  # none was used yet
    assert every_row(empty) == every_row(source)


def test_a_backup_refuses_a_folder_that_is_not_empty(backed_up):
    source, dest = backed_up
    result = run(source, "backup", str(dest))
    assert result.exit_code != 0 and "is not empty" in result.output


def test_restore_refuses_a_database_that_is_not_empty(backed_up):
    source, dest = backed_up
    before = every_row(source)
    result = run(source, "restore", str(dest))
    assert result.exit_code != 0 and "the database is not empty" in result.output
    assert "Traceback" not in result.output
    assert every_row(source) == before


@pytest.mark.parametrize("damage, message", [
    (lambda folder: flip_a_byte(folder / "database.dump"), "database.dump does not match"),
    (lambda folder: (folder / "database.dump").unlink(), "missing database.dump"),
    (lambda folder: (folder / "manifest.json").unlink(), "holds no manifest.json"),
])
def test_restore_refuses_a_damaged_backup_and_leaves_the_database_empty(
        backed_up, empty, tmp_path, damage, message):
    _, dest = backed_up
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in dest.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    damage(copy)
    result = run(empty, "restore", str(copy))
    assert result.exit_code != 0 and message in result.output, result.output
    assert every_row(empty) == {}


def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# --- with the blob store ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def backed_up_with_objects(postgres, s3_server, tmp_path_factory):
    """A service whose two versions are objects in a bucket, and its backup."""
    bucket = s3_server.bucket()
    settings = s3_server.settings(bucket)
    with throwaway_database(postgres.url()) as url:
        user_with_token(url, "alice", {"acme": "admin"})
        app = create_app(make_config(url, BLOB_STORE_MIN_BYTES=0, **settings))
        people = People(app, url)
        api = people.user("adam", {"acme": "admin"})
        make_stack(api)
        run_update(api, 2)
        run_update(api, 3)
        people.close()
        dest = tmp_path_factory.mktemp("backup") / "b2"
        result = run(url, "backup", str(dest), **settings)
        assert result.exit_code == 0, result.output
        yield url, dest, s3_server.keys(bucket)


def test_a_backup_restores_the_objects_before_the_rows_that_name_them(
        backed_up_with_objects, empty, s3_server):
    source, dest, keys = backed_up_with_objects
    assert len(keys) == 2
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["counts"]["objects"] == 2
    bucket = s3_server.bucket()
    result = run(empty, "restore", str(dest), **s3_server.settings(bucket))
    assert result.exit_code == 0, result.output
    assert s3_server.keys(bucket) == keys
    assert every_row(empty) == every_row(source)


def test_restore_refuses_a_bucket_that_is_not_empty_or_missing(backed_up_with_objects, empty,
                                                               s3_server):
    _, dest, _ = backed_up_with_objects
    result = run(empty, "restore", str(dest))
    assert result.exit_code != 0 and "set BLOB_STORE_URL" in result.output, result.output
    bucket = s3_server.bucket()
    s3_server.client().put_object(Bucket=bucket, Key="states/sha256/other", Body=b"x")
    result = run(empty, "restore", str(dest), **s3_server.settings(bucket))
    assert result.exit_code != 0 and "is not empty" in result.output, result.output
    assert every_row(empty) == {}
