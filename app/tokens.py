"""Personal access tokens over the API: listing, creating (the value is shown once and only its
SHA-256 is stored) and deleting (revoking) them. Functions take the request's connection and
never commit; each change is one function, the one place its audit record will be written."""
import datetime

from .auth import hash_token, new_token
from .errors import ApiError
from .queries import queries


def personal_tokens(conn, user):
    return list(queries.personal_tokens(conn, user_id=user["id"]))


def create_personal(conn, user, description, expires_at):
    """A new token of the caller's; returns (id, value). `expires_at` None: never expires."""
    if expires_at is not None and expires_at <= datetime.datetime.now(datetime.timezone.utc):
        raise ApiError(400, "Bad Request: expires must be in the future (or 0 for never)")
    value = new_token()
    row = queries.create_personal_token(conn, user_id=user["id"], token_hash=hash_token(value),
                                        description=description, expires_at=expires_at)
    return row["id"], value


def delete_personal(conn, user, token_id):
    """Revoke one of the caller's tokens; it is refused from its next request on."""
    if queries.revoke_personal_token(conn, user_id=user["id"], token_id=token_id) is None:
        raise ApiError(404, f"Not Found: you have no token with id {token_id}")
