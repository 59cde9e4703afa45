"""Real servers for the tests that need the wire: a gunicorn serving the app on a database of its
own in the session's PostgreSQL, and an admin-made user with a token."""
import uuid

import psycopg2

from tests.e2e.harness import Service


def new_database(postgres):
    """A fresh database in `postgres`, apart from the one unit tests truncate."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(postgres.url(database="postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    return postgres.url(database=name)


def gunicorn(database_url, env=None, workers=2, threads=4):
    """A started gunicorn (stop() it when done)."""
    return Service(database_url, env=env, workers=workers, threads=threads).start()
