"""`pulumi-service backup` and `restore` (issue 19, item 3) on databases of their own: a restore
gives back every row; it refuses a database that is not empty, a corrupted backup and an
unfinished one, leaving the target untouched. (The round trip with the real CLI, secrets and an
`up` afterwards: tests/e2e/test_backup_restore.py.)"""
import json

import pytest
from click.testing import CliRunner

from app.cli import main
from tests.support.api import user_with_token
from tests.support.postgres import throwaway_database
from tests.support.rows import every_row


def run(url, *args):
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": url})


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
