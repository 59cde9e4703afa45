"""The real CLI against a service that keeps every finished version in a real S3 server
(versitygw, threshold 0 bytes): `up` in the journal and full-checkpoint modes, `preview` from the
stored state, `stack export` (current and past versions) and `stack history` read back."""
import json

import pytest

from tests.support import postgres as pg
from tests.support.cli import PERSISTENCE_MODES, logged_in, stash_program
from tests.support.servers import Service


@pytest.fixture(scope="module")
def blob_service(postgres, s3_server):
    bucket = s3_server.bucket()
    svc = Service(pg.create_database(postgres.url(), prefix="e2e_blobs_"),
                  env={**s3_server.settings(bucket), **s3_server.env,
                       "BLOB_STORE_MIN_BYTES": "0"}).start()
    yield svc, bucket
    svc.stop()


def stash_inputs(untyped):
    return {r["urn"].rsplit("::", 1)[1]: r["outputs"]["input"]
            for r in untyped["deployment"]["resources"] if r["type"] == "pulumi:index:Stash"}


def test_up_and_export_with_the_state_in_the_object_store(blob_service, s3_server, pulumi_bin,
                                                           tmp_path):
    svc, bucket = blob_service
    cli = logged_in(svc, pulumi_bin, tmp_path, "blobber")
    cli.write_program(stash_program({"a": "one", "b": "two"}))
    cli.run("stack", "init", "dev")
    cli.run("up", "--yes", "--skip-preview", "-m", "first")
    cli.write_program(stash_program({"a": "uno", "c": "three"}))
    cli.run("up", "--yes", "--skip-preview", "-m", "second", env=PERSISTENCE_MODES["full"])
    cli.run("preview", "--expect-no-changes")

    stored = svc.query("SELECT c.version, c.deployment_gz IS NULL AS moved, c.blob_key "
                       "FROM checkpoints c ORDER BY c.version")
    assert [(version, moved) for version, moved, _ in stored] == [(1, True), (2, True)]
    assert s3_server.keys(bucket) == sorted(f"states/{key}" for _, _, key in stored)

    current = json.loads(cli.run("stack", "export").stdout)
    assert stash_inputs(current) == {"a": "uno", "c": "three"}
    first = json.loads(cli.run("stack", "export", "--version", "1").stdout)
    assert stash_inputs(first) == {"a": "one", "b": "two"}
    history = json.loads(cli.run("stack", "history", "--json").stdout)
    assert [h["message"] for h in history] == ["second", "first"]
