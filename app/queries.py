"""The named queries, loaded once from sql/queries/*.sql (aiosql, psycopg2 driver)."""
from pathlib import Path

import aiosql

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

queries = aiosql.from_path(SQL_DIR / "queries", "psycopg2", mandatory_parameters=False)
