"""Access tokens: creating one of any kind (personal, organization, team: the value is returned
once and only its SHA-256 is stored), listing and deleting (revoking) them. Functions take the
request's connection and never commit; each change is one function, the one place its audit
record is written from."""
import datetime

from .auth import hash_token, new_token
from .errors import ApiError
from .queries import queries

KINDS = ("personal", "organization", "team")
# Pulumi's rule for named tokens: 1 to 40 characters.
MAX_NAME = 40


def create_token(conn, *, kind, user_id=None, org_id=None, team_id=None, name="",
                 description="", expires_at=None, created_by=None, admin=False):
    """A new token; returns (id, value), the value being shown this once.

    kind "personal": user_id (the user it acts as); "organization": org_id (it acts as the
    organization; `admin` makes it an organization admin); "team": org_id and team_id (it acts
    with the team's grants). Organization and team tokens need a `name` unique among their
    owner's tokens, deleted ones included (409 otherwise). `expires_at`: an aware datetime in the
    future, or None for never. `created_by`: the user who made it (None: the service itself, as
    an OIDC exchange or the admin command)."""
    if kind not in KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    if (kind == "personal") != (user_id is not None) or (kind != "personal") != (org_id is not None) \
            or (kind == "team") != (team_id is not None):
        raise ValueError(f"a {kind} token needs exactly its owner's ids")
    if kind != "personal" and not 1 <= len(name or "") <= MAX_NAME:
        raise ApiError(400, f"Bad Request: a token name of 1 to {MAX_NAME} characters is required")
    if expires_at is not None and expires_at <= datetime.datetime.now(datetime.timezone.utc):
        raise ApiError(400, "Bad Request: expires must be in the future (or 0 for never)")
    value = new_token()
    row = queries.insert_token(
        conn, kind=kind, user_id=user_id, org_id=org_id, team_id=team_id, name=name or "",
        description=description or "", token_hash=hash_token(value), expires_at=expires_at,
        created_by=created_by if created_by is not None else user_id,
        admin=bool(admin and kind == "organization"))
    if row is None:
        raise ApiError(409, f"Conflict: a token named {name!r} exists already")
    return row["id"], value


def personal_tokens(conn, user):
    return list(queries.personal_tokens(conn, user_id=user["id"]))


def create_personal(conn, user, description, expires_at):
    """A new token of the caller's; returns (id, value). `expires_at` None: never expires."""
    return create_token(conn, kind="personal", user_id=user["id"], description=description,
                        expires_at=expires_at)


def delete_personal(conn, user, token_id):
    """Revoke one of the caller's tokens; it is refused from its next request on."""
    if queries.revoke_personal_token(conn, user_id=user["id"], token_id=token_id) is None:
        raise ApiError(404, f"Not Found: you have no token with id {token_id}")


def owned_tokens(conn, org_id, team_id=None):
    """The organization's tokens, or with `team_id` the team's (live ones, expired included)."""
    return list(queries.org_tokens(conn, org_id=org_id, team_id=team_id))


def delete_owned(conn, org_id, token_id, team_id=None):
    """Revoke an organization's (or a team's) token: refused from its next request on."""
    if queries.revoke_org_token(conn, org_id=org_id, token_id=token_id, team_id=team_id) is None:
        raise ApiError(404, f"Not Found: no such token: {token_id}")


def owned_created_record(token_id, name, org, team=None, admin=False):
    """(target, description) of the audit record of a new organization or team token (its id
    and name, never the token), the API's and the console's alike."""
    owner = f"team {team}" if team else f"organization {org}"
    return (f"token {token_id}", f"created token {token_id} ({name}) of {owner}"
                                 + (" with admin rights" if admin and not team else ""))


def owned_revoked_record(token_id, org, team=None):
    return f"token {token_id}", f"deleted token {token_id} of " + (f"team {team}" if team else org)
