"""The tests' settings and apps. The session's database is migrated once (conftest's
`database_url`), so the apps tests make do not migrate again unless a test asks for it."""
from app import migrate
from app.config import Config

from . import MASTER_KEY


def make_config(database_url, **overrides):
    """The tests' settings: the environment's secrets settings never leak in, and no migration
    at start-up (pass AUTO_MIGRATE=True for a database that is not migrated yet)."""
    settings = dict(
        DATABASE_URL=database_url, TESTING=True, AUTO_MIGRATE=False,
        SECRETS_MASTER_KEY=MASTER_KEY, SECRETS_MASTER_KEY_FILE="", SECRETS_PREVIOUS_MASTER_KEYS="",
        SECRETS_VIEWERS_CAN_DECRYPT=False, SECRETS_BATCH_ENCRYPT=True,
    )
    settings.update(overrides)
    return Config(**settings)


def migrated(database_url):
    """Apply every pending migration to `database_url` quietly; returns the URL."""
    migrate.upgrade(database_url, log=lambda message: None)
    return database_url
