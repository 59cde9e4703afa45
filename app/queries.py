"""The named queries, loaded once from sql/queries/*.sql (aiosql, psycopg2 driver), and the cursor
that runs them on the pool's connections as server-side prepared statements.

PostgreSQL spends most of a small query's time parsing and planning it (about 1 ms for the
authentication statement or GET stack's, against tens of microseconds to execute them). A pool
connection prepares each named query the first time it runs one and executes the prepared
statement after that, so a request pays for planning only once per connection. Connections
outside the pool (migrations, the admin command) and any other SQL run as plain statements.
"""
import re
from pathlib import Path

import aiosql
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
from aiosql.types import SQLOperationType

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

queries = aiosql.from_path(SQL_DIR / "queries", "psycopg2", mandatory_parameters=False)

_PARAMETER = re.compile(r"%\((\w+)\)s")
_INT32 = -2**31


def _statement(sql):
    """(the query with $1, $2 ... in place of its %(name)s, [name of $1, name of $2 ...])."""
    names = []

    def number(match):
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _PARAMETER.sub(number, sql).replace("%%", "%"), names


# The SQL text (as aiosql hands it to the cursor) of every named query that is one statement:
# (its prepared statement's name, the query with $n, its parameters' names). The statement is
# named after the query, so that pg_stat_activity says `EXECUTE set_tags(...)`.
_NAMED = {}
for _name in queries.available_queries:
    _fn = getattr(queries, _name)
    if _fn.operation != SQLOperationType.SCRIPT:
        _NAMED[_fn.sql] = (_name.replace(".", "__"), *_statement(_fn.sql))
# Named queries PostgreSQL refused to prepare (none today; e.g. a parameter whose type it cannot
# infer): run as plain statements from then on, by every connection of the process.
_UNPREPARABLE = set()


class Connection(psycopg2.extensions.connection):
    """A pool connection: remembers which named queries it has prepared (by their SQL text)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prepared = set()
        self.prepare = True


class PreparingCursor(psycopg2.extras.RealDictCursor):
    """RealDictCursor that runs the named queries as prepared statements on a Connection."""

    def execute(self, query, vars=None):
        statement = _NAMED.get(query) if isinstance(vars, dict) else None
        conn = self.connection
        if statement is None or not getattr(conn, "prepare", False) or query in _UNPREPARABLE:
            return super().execute(query, vars)
        name, positional, names = statement
        if query not in conn.prepared and not self._prepare(query, name, positional):
            return super().execute(query, vars)
        if not names:
            return super().execute(f"EXECUTE {name}")
        values = [vars.get(n) for n in names]
        # A prepared parameter has a type: an integer column's takes no value past 32 bits, where
        # the plain statement compares it as bigint and finds nothing (an id from a URL).
        if any(type(v) is int and not _INT32 <= v < -_INT32 for v in values):
            return super().execute(query, vars)
        return super().execute(f"EXECUTE {name} ({', '.join(['%s'] * len(names))})", values)

    def _prepare(self, query, name, positional):
        conn = self.connection
        # Inside a transaction a refused PREPARE would abort it: try it under a savepoint.
        in_transaction = (not conn.autocommit and conn.info.transaction_status
                          != psycopg2.extensions.TRANSACTION_STATUS_IDLE)
        try:
            if in_transaction:
                super().execute("SAVEPOINT prepare_named_query")
            super().execute(f"PREPARE {name} AS {positional}")
            if in_transaction:
                super().execute("RELEASE SAVEPOINT prepare_named_query")
        except (psycopg2.errors.SyntaxError, psycopg2.errors.IndeterminateDatatype,
                psycopg2.errors.AmbiguousParameter, psycopg2.errors.DatatypeMismatch):
            if in_transaction:
                super().execute("ROLLBACK TO SAVEPOINT prepare_named_query")
            _UNPREPARABLE.add(query)
            return False
        conn.prepared.add(query)
        return True
