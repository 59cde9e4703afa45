"""Upgrades under load (issue 19, item 4): a migration written expand-then-contract is applied
while the running release serves a `pulumi up` and readers of the tables it changes, and no
request fails. The migration is a test-only one (a column on the tables the update writes and an
index built CONCURRENTLY on the journal it fills), appended after this release's own."""
import shutil
import threading

import pytest

from app import migrate
from tests.support import postgres as pg, unique
from tests.support.cli import logged_in, stash_program
from tests.support.faults import up_disrupted
from tests.support.servers import Service

# What a later release might add: new nullable columns (the running code names its columns, so
# it neither sees nor minds them) and an index built without blocking the writers.
EXPAND = """-- migrate: no-transaction
ALTER TABLE updates ADD COLUMN IF NOT EXISTS upgrade_probe text;
ALTER TABLE journal_entries ADD COLUMN IF NOT EXISTS upgrade_probe text;
DROP INDEX CONCURRENTLY IF EXISTS journal_entries_upgrade_probe;
CREATE INDEX CONCURRENTLY journal_entries_upgrade_probe
    ON journal_entries (upgrade_probe, update_id);
"""


@pytest.fixture
def serving(postgres, tmp_path):
    """The running release: gunicorn on a database of its own."""
    with pg.throwaway_database(postgres.url()) as url:
        svc = Service(url, workdir=tmp_path / "gunicorn").start()
        yield svc
        svc.stop()


class Reader(threading.Thread):
    """Reads the stack's history (the updates table) and the stack without pause; keeps every
    status."""

    def __init__(self, svc, token, path):
        super().__init__()
        self.svc, self.token, self.path = svc, token, path
        self.stop, self.statuses = threading.Event(), []

    def run(self):
        while not self.stop.is_set():
            for suffix in ("/updates", ""):
                try:
                    self.statuses.append(self.svc.api("GET", self.path + suffix,
                                                      self.token).status_code)
                except Exception as err:  # noqa: BLE001 - kept as a failure
                    self.statuses.append(repr(err))


def test_a_concurrent_migration_during_up_fails_no_request(serving, pulumi_bin, tmp_path,
                                                           monkeypatch):
    cli = logged_in(serving, pulumi_bin, tmp_path, unique("u"))
    cli.write_program(stash_program({f"r{i}": i for i in range(300)}))
    cli.run("stack", "init", "dev")
    # This release's migrations and the test's, as the next release would ship them.
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, folder)
    (folder / "9999_upgrade_probe.sql").write_text(EXPAND)
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", folder)
    applied = []

    path = f"/api/stacks/{cli.login_name}/proj/dev"
    reader = Reader(serving, cli.token, path)
    reader.start()
    try:
        code, output = up_disrupted(cli, serving, "dev", 30, lambda: applied.extend(
            migrate.upgrade(serving.database_url, log=lambda m: None)))
    finally:
        reader.stop.set()
        reader.join()
    assert code == 0, output
    assert applied == ["9999_upgrade_probe.sql"]
    assert [s for s in reader.statuses if s != 200] == []
    failed = [(line["method"], line["route"], line["status"]) for line in serving.access_lines()
              if line["status"] >= 500]
    assert failed == []
    assert serving.query("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                         "'journal_entries_upgrade_probe'::regclass") == [(True,)]
    history = serving.api("GET", path + "/updates", cli.token).json()["updates"]
    assert [(u["version"], u["result"], u["resourceCount"]) for u in history] == [
        (1, "succeeded", 302)]  # the resources, the stack and the default provider
