"""One-time invite links to an organization: an admin makes one (a role, a lifetime), the
invitee opens it, chooses a login and a password, and becomes a member with that role. The link
carries only a random secret, stored as its SHA-256 like access tokens. Functions take the
connection and never commit."""
import secrets

from . import members, signin, users
from .auth import hash_token
from .errors import ApiError
from .orgs import BUILT_IN_ROLES, lock_org
from .queries import queries

MAX_DAYS = 30
GONE = ("This invite link has been used, has expired or was revoked. Ask an admin of the "
        "organization for a new one.")


def create(conn, org, role, days, created_by):
    """A new invite; returns (its row, the secret for the link: shown once, never stored)."""
    if role not in BUILT_IN_ROLES:
        raise ApiError(400, f"unknown role {role!r}: one of {', '.join(BUILT_IN_ROLES)}")
    if not 1 <= days <= MAX_DAYS:
        raise ApiError(400, f"an invite lasts 1 to {MAX_DAYS} days")
    org_row = lock_org(conn, org)
    if org_row["personal_user_id"] is not None:
        raise ApiError(400, f"'{org}' is a personal organization; its only member is its owner")
    secret = secrets.token_urlsafe(32)
    row = queries.insert_invite(conn, org_id=org_row["id"], secret_hash=hash_token(secret),
                                role=role, created_by=created_by, days=days)
    return row, secret


def open_invites(conn, org_row):
    return list(queries.open_invites(conn, org_id=org_row["id"]))


def revoke(conn, org, invite_id):
    org_row = lock_org(conn, org)
    if queries.revoke_invite(conn, id=invite_id, org_id=org_row["id"]) is None:
        raise ApiError(404, f"organization '{org}' has no open invite {invite_id}")


def usable(conn, secret):
    """The invite of a link (its org_name and role), or 410 when it cannot be used."""
    found = queries.usable_invite(conn, secret_hash=hash_token(secret))
    if found is None:
        raise ApiError(410, GONE)
    return found


def accept(conn, secret, login, password, email="", name=""):
    """Use an invite: a new user with `password`, a member of the invite's organization with
    its role. Returns (the invite, the user). The link is spent in the same transaction."""
    invite = queries.claim_invite(conn, secret_hash=hash_token(secret))
    if invite is None:
        raise ApiError(410, GONE)
    user = users.create_user(conn, login, email, name)
    signin.set_password(conn, login, password)
    # The organization's own rule for a new member (locks it, refuses a personal one).
    members.add(conn, invite["org_name"], login, invite["role"], user)
    queries.set_invite_user(conn, id=invite["id"], user_id=user["id"])
    return invite, user
