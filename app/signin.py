"""Signing people in to the web console: passwords (argon2id hashes, set by the admin command),
access tokens, and console sessions (a random id in the browser's signed cookie, its SHA-256 in
`console_sessions`). Functions take the connection and never commit."""
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .auth import hash_token
from .errors import ApiError
from .queries import queries

_hasher = PasswordHasher()
# Verified against when the login is unknown, so that a wrong login takes as long as a wrong
# password and the answer's timing does not tell which logins exist. Made by the process's first
# password check, whatever its login (so that check is slower for every login alike), not at
# import: hashing at argon2's cost took 0.6 s of every worker's and admin command's start-up.
_dummy_hash = []
MIN_PASSWORD_LENGTH = 12


def set_password(conn, login, password):
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ApiError(400, f"Bad Request: a password needs at least {MIN_PASSWORD_LENGTH} "
                            "characters")
    if queries.set_password(conn, login=login, password_hash=_hasher.hash(password)) is None:
        raise ApiError(404, f"Not Found: no user with login {login!r}")


def user_of_password(conn, login, password):
    """The user's id if `password` is theirs, else None (also for a login without one)."""
    if not _dummy_hash:
        _dummy_hash.append(_hasher.hash(secrets.token_hex(16)))
    dummy = _dummy_hash[0]
    row = queries.password_of_login(conn, login=login)
    stored = row["password_hash"] if row and row["password_hash"] else dummy
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    return row["id"] if stored is not dummy else None


def user_of_token(conn, token, client, failure_limit, window_seconds):
    """(user id or None, seconds the client must wait or None) for an access token, looked up
    the way the API looks up its callers' (app/auth.py)."""
    found = queries.authenticate_token(
        conn, token_hash=hash_token(token), org_name=None, touch_seconds=60, client=client,
        failure_limit=failure_limit, window_seconds=window_seconds)
    return found["id"], found["retry_after"]


def start_session(conn, user_id, lifetime_seconds):
    """A new session of the user; returns its id (for the cookie, never stored)."""
    session_id = secrets.token_urlsafe(32)
    queries.create_console_session(conn, id_hash=hash_token(session_id), user_id=user_id,
                                   lifetime_seconds=lifetime_seconds)
    return session_id


def session_user(conn, session_id):
    """The user (id, login, name, email) of a live session, or None."""
    return queries.console_session_user(conn, id_hash=hash_token(session_id))


def end_session(conn, session_id):
    queries.delete_console_session(conn, id_hash=hash_token(session_id))


def access(conn, user_id, org, project=None, stack=None):
    """The person's role in `org` and, with a stack, their permission on it (the API's rule)."""
    return queries.person_access(conn, user_id=user_id, org_name=org,
                                 project_name=project if stack is not None else None,
                                 stack_name=stack)
