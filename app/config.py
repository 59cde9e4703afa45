"""Every setting of the service, read once from the environment, with its default."""
import os


def _int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _bool(name, default):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


class Config:
    def __init__(self, **overrides):
        # PostgreSQL connection string; unset means the embedded default (see app/embedded.py).
        self.DATABASE_URL = os.environ.get("DATABASE_URL", "")
        # Connections per worker process.
        self.DB_POOL_MIN = _int("DB_POOL_MIN", 1)
        self.DB_POOL_MAX = _int("DB_POOL_MAX", 10)
        # Apply pending migrations when a worker starts (under an advisory lock).
        self.AUTO_MIGRATE = _bool("AUTO_MIGRATE", True)
        # Largest request body accepted, compressed or not (bytes). Checkpoints reach 100+ MB.
        self.MAX_BODY_BYTES = _int("MAX_BODY_BYTES", 256 * 1024 * 1024)
        # Page size of GET /api/user/stacks.
        self.STACK_PAGE_SIZE = _int("STACK_PAGE_SIZE", 100)
        # Lease of an update token, and how long past expiry an update counts as abandoned.
        self.LEASE_SECONDS = _int("LEASE_SECONDS", 300)
        self.ABANDONED_AFTER_SECONDS = _int("ABANDONED_AFTER_SECONDS", 600)
        # Page size of GET .../update/{id}/events.
        self.EVENTS_PAGE_SIZE = _int("EVENTS_PAGE_SIZE", 500)
        # Seconds to wait for a new database connection, and the longest a statement may run
        # (ms, 0 = no limit): with the database gone, requests fail with 503 instead of hanging.
        self.DB_CONNECT_TIMEOUT = _int("DB_CONNECT_TIMEOUT", 5)
        self.DB_STATEMENT_TIMEOUT_MS = _int("DB_STATEMENT_TIMEOUT_MS", 120_000)
        # Failed authentications (unknown, revoked or malformed credentials) one client address
        # may make in a window before every authenticated request from it gets 429 with
        # Retry-After until the window is over. AUTH_FAIL_LIMIT=0 turns this off.
        self.AUTH_FAIL_LIMIT = _int("AUTH_FAIL_LIMIT", 30)
        self.AUTH_FAIL_WINDOW_SECONDS = _int("AUTH_FAIL_WINDOW_SECONDS", 60)
        # Reverse proxies in front of the service that append to X-Forwarded-For (nginx: 1).
        # With 0 the client address is the TCP peer: behind a proxy, every client would share
        # the proxy's address (and its failed-authentication count).
        self.TRUSTED_PROXY_COUNT = _int("TRUSTED_PROXY_COUNT", 0)
        for key, value in overrides.items():
            setattr(self, key, value)
