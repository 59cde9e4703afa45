"""An organization's members: listing them, and adding, re-roling and removing one. Functions
take the request's connection and never commit; each change is one function, the one place its
audit record will be written. Changes lock the organization row first, so that the rule "an
organization keeps at least one admin" holds against concurrent changes."""
from .errors import ApiError
from .orgs import BUILT_IN_ROLES, lock_org
from .queries import queries

# Members per page of `GET /api/orgs/{org}/members` (a module setting so tests can shrink it).
PAGE_SIZE = 100


def page(conn, org_row, after_login, page_size=None):
    """(members, next_token): one page of members in login order, and the login to continue
    after when there may be more."""
    size = page_size or PAGE_SIZE
    rows = list(queries.org_members(conn, org_id=org_row["id"], after_login=after_login or "",
                                    page_size=size + 1))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1]["login"] if more else None)


def _user(conn, login):
    user = queries.user_by_login(conn, login=login)
    if user is None:
        raise ApiError(404, f"Not Found: user '{login}' not found")
    return user


def _member(conn, org_row, login):
    member = queries.org_member(conn, org_id=org_row["id"], login=login)
    if member is None:
        raise ApiError(404, f"Not Found: '{login}' is not a member of organization "
                            f"'{org_row['name']}'")
    return member


def _not_personal(org_row):
    if org_row["personal_user_id"] is not None:
        raise ApiError(400, f"Bad Request: '{org_row['name']}' is a personal organization; its "
                            "only member is its owner")


def _check_role(role):
    if role not in BUILT_IN_ROLES:
        raise ApiError(400, f"Bad Request: unknown role {role!r}: one of "
                            f"{', '.join(BUILT_IN_ROLES)}")


def add(conn, org, login, role, actor):
    """Make an existing user a member of `org` with `role`; returns the new member."""
    _check_role(role)
    org_row = lock_org(conn, org)
    _not_personal(org_row)
    user = _user(conn, login)
    if queries.add_org_member(conn, org_id=org_row["id"], user_id=user["id"], role=role) is None:
        raise ApiError(409, f"Conflict: '{login}' is already a member of organization '{org}'")
    return _member(conn, org_row, login)


def change_role(conn, org, login, role, actor):
    """Give a member another role; the organization's last admin keeps theirs."""
    org_row = lock_org(conn, org)
    _not_personal(org_row)
    member = _member(conn, org_row, login)
    if not role:
        raise ApiError(400, "Bad Request: give the new role as 'role' or 'fgaRoleId'")
    _check_role(role)
    if member["role"] == role:
        return
    if member["role"] == "admin" and queries.count_org_admins(conn, org_id=org_row["id"]) <= 1:
        raise ApiError(409, f"Conflict: '{login}' is the last admin of organization '{org}'; "
                            "make another member admin first")
    queries.change_member_role(conn, org_id=org_row["id"], user_id=member["user_id"], role=role)


def remove(conn, org, login, actor):
    """Remove a member other than the caller (Pulumi's rule: leaving is not removing) and
    other than the last admin."""
    org_row = lock_org(conn, org)
    _not_personal(org_row)
    member = _member(conn, org_row, login)
    if member["user_id"] == actor["id"]:
        raise ApiError(400, "Bad Request: you cannot remove yourself from an organization; "
                            "another admin can")
    if member["role"] == "admin" and queries.count_org_admins(conn, org_id=org_row["id"]) <= 1:
        raise ApiError(409, f"Conflict: '{login}' is the last admin of organization '{org}'")
    queries.remove_membership(conn, org_id=org_row["id"], user_id=member["user_id"])
