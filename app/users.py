"""Users: making one (with their personal organization), the one rule for a new login, shared
by the admin command and the console's invite links. Functions take the connection and never
commit."""
import psycopg2.errors

from .errors import ApiError
from .queries import queries
from .schemas.common import ORG_NAME


def create_user(conn, login, email="", name=""):
    """A user and their personal organization (of which they are admin); 400 for a login that
    is not one, 409 for one taken by a user or an organization."""
    if not ORG_NAME.match(login):
        raise ApiError(400, f"invalid login {login!r}: 3 to 40 letters, digits, '-' or '_', "
                            "starting and ending with a letter or digit")
    taken = ApiError(409, f"the name {login!r} is already taken by a user or an organization")
    if queries.org_by_name(conn, name=login) is not None:
        raise taken
    try:
        return queries.create_user(conn, login=login, email=email or "", name=name or "")
    except psycopg2.errors.UniqueViolation:
        # Taken by a concurrent request: the transaction is spoilt, the caller ends it.
        raise taken from None
