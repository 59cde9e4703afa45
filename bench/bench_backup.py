"""`pulumi-service backup` and `restore` timed: a database holding one stack with V versions of an
N-resource state (written through the service's own API, in process), backed up and restored into
a new database, with every state in PostgreSQL and with finished versions in a real S3 server
(versitygw). Prints seconds and bytes. Not a test: it asserts nothing.

    .venv/bin/python bench/bench_backup.py                          # 20 versions of 5000
    .venv/bin/python bench/bench_backup.py --versions 50 --resources 2000

Uses a throwaway PostgreSQL (tests/support/postgres.py).
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app import backup, create_app  # noqa: E402
from app.blobs import open_store  # noqa: E402
from tests.support import postgres as pg  # noqa: E402
from tests.support.api import People  # noqa: E402
from tests.support.apps import make_config, migrated  # noqa: E402
from tests.support.s3 import S3Server  # noqa: E402
from tests.support.updates import make_stack, run as run_update  # noqa: E402


def folder_bytes(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def measure(server_url, folder, versions, resources, settings):
    url = migrated(pg.create_database(server_url))
    app = create_app(make_config(url, BLOB_STORE_MIN_BYTES=0, **settings))
    people = People(app, url)
    api = people.user("adam", {"acme": "admin"})
    make_stack(api)
    for n in range(versions):
        run_update(api, resources + n)  # each version differs (and so is an object of its own)
    people.close()
    store = open_store({"BLOB_STORE_MIN_BYTES": 0, "BLOB_STORE_TIMEOUT_SECONDS": 30,
                        "BLOB_STORE_ENDPOINT": "", "BLOB_STORE_REGION": "", "BLOB_STORE_URL": "",
                        **settings})
    dest = Path(folder) / ("blobs" if store else "postgres")
    start = time.perf_counter()
    backup.backup(url, dest, store=store, log=lambda m: None)
    backed_up = time.perf_counter() - start
    target = pg.create_database(server_url)
    target_store = None
    if store is not None:
        target_store = open_store({**settings, "BLOB_STORE_URL": settings["BLOB_STORE_URL"]
                                   + "-restored", "BLOB_STORE_TIMEOUT_SECONDS": 30})
    start = time.perf_counter()
    backup.restore(target, dest, store=target_store, log=lambda m: None)
    restored = time.perf_counter() - start
    return backed_up, restored, folder_bytes(dest)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--resources", type=int, default=5000)
    args = parser.parse_args()
    with pg.running() as server, tempfile.TemporaryDirectory() as folder, \
            S3Server.running(Path(folder) / "s3") as s3:
        os.environ.update(s3.env)
        print(f"{args.versions} versions of {args.resources} resources")
        for label, settings in (("PostgreSQL only", {}),
                                ("blob store", s3.settings(s3.bucket()))):
            backed_up, restored, size = measure(server.url(), folder, args.versions,
                                                args.resources, settings)
            print(f"{label:16} backup {backed_up:6.2f} s   restore {restored:6.2f} s   "
                  f"backup size {size / 1e6:7.1f} MB")


if __name__ == "__main__":
    main()
