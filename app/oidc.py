"""OIDC token exchange: the issuers an organization trusts, their auth policies, and the
exchange of an issuer's signed ID token for a short-lived Pulumi access token (RFC 8693, as
`pulumi login --oidc-token` and pulumi/auth-actions call it). Functions take the connection and
never commit; the keys come from app/oidc_keys.py.

The decision rule of a policy document (also stated in the README): a policy *applies* to an
exchange when its tokenType is the requested token type, its teamName (team tokens) or userLogin
(personal tokens) names the requested team or user, and every one of its rules matches the ID
token's claims. Any applying `deny` refuses the exchange, wherever it stands in the list. Else an
applying `allow` grants it (an organization token with scope `admin` needs an applying allow
whose authorizedPermissions include `admin`). Else it is refused: no policy, no token.
"""
import dataclasses
import datetime
import json
import re
import secrets

import jwt
import psycopg2.errors
from psycopg2.extras import Json

from . import oidc_keys, text, tokens
from .errors import ApiError
from .queries import queries

GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TOKEN_TYPES = ("urn:ietf:params:oauth:token-type:id_token",
                       "urn:ietf:params:oauth:token-type:jwt")
TOKEN_TYPE_PREFIX = "urn:pulumi:token-type:access_token:"
TOKEN_TYPES = ("organization", "team", "personal", "runner")
AUDIENCE_PREFIX = "urn:pulumi:org:"
# Asymmetric signatures only: never `none`, never HMAC (whose "key" would be the issuer's public
# key, known to anyone).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
# The lifetime asked for when none is given (the CLI's default), and an issuer's maximum when
# its registration gives none (Pulumi Cloud's documented default).
DEFAULT_EXPIRATION = 2 * 3600
DEFAULT_MAX_EXPIRATION = 25 * 3600
# An organization name (as app/schemas/common.py's ORG_NAME, which is for bodies).
_ORG = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{1,38}[a-zA-Z0-9]")


class OAuthError(Exception):
    """An RFC 6749 error answer: {"error": code, "error_description": description}."""

    def __init__(self, status, error, description):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


# --- issuers --------------------------------------------------------------------------------------

def check_jwks(document):
    """A static JWK Set given at registration: at least one usable signing key."""
    try:
        oidc_keys.key_set(document)
    except oidc_keys.KeysUnavailable as err:
        raise ApiError(400, f"Bad Request: jwks: {err}") from None


def resolve_issuer(fetcher, url, jwks, thumbprints=()):
    """The `iss` of the issuer registered at `url`: with a static key set, the URL itself
    (nothing is fetched: air-gapped setups); else its discovery document's `issuer`, fetched now
    (from a server whose certificate is among `thumbprints`, when given), so that a URL that
    serves no OIDC issuer, or one whose certificate the thumbprints do not name, is refused at
    registration."""
    if jwks is not None:
        check_jwks(jwks)
        return url
    try:
        issuer, _ = fetcher.discover(url, thumbprints or ())
    except oidc_keys.KeysUnavailable as err:
        raise ApiError(400, f"Bad Request: url: {err}") from None
    return issuer


def create_issuer(conn, org, name, url, issuer, jwks, thumbprints, max_expiration):
    try:
        row = queries.create_oidc_issuer(
            conn, org_name=org, name=name, url=url, issuer=issuer,
            jwks=Json(jwks) if jwks is not None else None, thumbprints=thumbprints or [],
            max_expiration=max_expiration or DEFAULT_MAX_EXPIRATION)
    except psycopg2.errors.UniqueViolation:
        raise ApiError(409, "Conflict: this organization already has an issuer with that "
                            "name or issuer URL") from None
    return row


def issuers(conn, org):
    return list(queries.oidc_issuers(conn, org_name=org))


def _found(row, org, issuer_id):
    """`row`, or 404 for an issuer the organization does not have (another one's included)."""
    if row is None:
        raise ApiError(404, f"Not Found: organization '{org}' has no issuer {issuer_id}")
    return row


def issuer(conn, org, issuer_id):
    return _found(queries.oidc_issuer(conn, org_name=org, issuer_id=str(issuer_id)), org,
                  issuer_id)


def update_issuer(conn, fetcher, org, issuer_id, changes):
    """`changes`: name, jwks, thumbprints, max_expiration (None or absent: unchanged). An
    issuer registered without a static key set keeps using discovery until one is given; new
    thumbprints of such an issuer must name its certificate (checked by fetching its discovery
    document, 400 otherwise)."""
    jwks = changes.get("jwks")
    if jwks:
        check_jwks(jwks)
    thumbprints = changes.get("thumbprints")
    if thumbprints and not jwks:
        current = issuer(conn, org, issuer_id)
        if current["jwks"] is None:
            resolve_issuer(fetcher, current["url"], None, thumbprints)
    try:
        row = queries.update_oidc_issuer(
            conn, org_name=org, issuer_id=str(issuer_id), name=changes.get("name"),
            jwks=Json(jwks) if jwks else None,
            thumbprints=changes.get("thumbprints"),
            max_expiration=changes.get("max_expiration") or None)
    except psycopg2.errors.UniqueViolation:
        raise ApiError(409, "Conflict: this organization already has an issuer with that "
                            "name") from None
    return _found(row, org, issuer_id)


def delete_issuer(conn, org, issuer_id):
    return _found(queries.delete_oidc_issuer(conn, org_name=org, issuer_id=str(issuer_id)),
                  org, issuer_id)


# --- policies -------------------------------------------------------------------------------------

def policy_of_issuer(conn, org, issuer_id):
    return _found(queries.oidc_policy_of_issuer(conn, org_name=org, issuer_id=str(issuer_id)),
                  org, issuer_id)


def update_policy(conn, org, policy_id, policies):
    """Replace the issuer's policies (as loaded by their schema: snake_case keys)."""
    policies = [dict(p, authorized_permissions=p.get("authorized_permissions") or [],
                     rules=p.get("rules") or {}) for p in policies]
    for index, policy in enumerate(policies):
        _check_policy(policy, f"policies[{index}]")
    row = queries.update_oidc_policy(conn, org_name=org, policy_id=str(policy_id),
                                     policies=Json(policies))
    if row is None:
        raise ApiError(404, f"Not Found: organization '{org}' has no auth policy {policy_id}")
    return row


def _check_policy(policy, where):
    kind = policy["token_type"]
    needed = {"team": ("team_name", "teamName"), "personal": ("user_login", "userLogin"),
              "runner": ("runner_id", "runnerID")}.get(kind)
    if needed and not policy.get(needed[0]):
        raise ApiError(400, f"Bad Request: {where}: a {kind} policy names its {needed[1]}")
    if policy.get("authorized_permissions") and kind != "organization":
        raise ApiError(400, f"Bad Request: {where}: authorizedPermissions apply to organization "
                            "tokens only")
    if policy["decision"] == "allow" and not policy["rules"]:
        # An issuer such as GitHub's signs tokens for every repository in the world: an allow
        # without a claim rule would let all of them in.
        raise ApiError(400, f"Bad Request: {where}: an allow policy needs at least one rule")
    for path in policy["rules"]:
        try:
            claim_path(path)
        except ValueError as err:
            raise ApiError(400, f"Bad Request: {where}.rules: {err}") from None


_SEGMENT = re.compile(r'"([^"]*)"|([^".]+)')


def claim_path(path):
    """`a.b."c.d"` -> ["a", "b", "c.d"]: dots separate keys; a quoted key keeps its dots."""
    keys, at = [], 0
    while True:
        match = _SEGMENT.match(path, at)
        if match is None:
            raise ValueError(f"invalid claim path {path!r}")
        keys.append(match.group(1) if match.group(1) is not None else match.group(2))
        at = match.end()
        if at == len(path):
            return keys
        if path[at] != ".":
            raise ValueError(f"invalid claim path {path!r}")
        at += 1


def pattern_matches(pattern, value):
    """Pulumi's rule wildcards over the whole value: `*` any run of characters, `?` zero or
    one character, `.` exactly one character; every other character stands for itself."""
    regex = "".join({"*": ".*", "?": ".?", ".": "."}.get(ch) or re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _claim(claims, path):
    value = claims
    for key in claim_path(path):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _rule_matches(claims, path, pattern):
    value = _claim(claims, path)
    values = value if isinstance(value, list) else [value]
    for item in values:
        if isinstance(item, bool):
            item = "true" if item else "false"
        elif isinstance(item, (int, float)):
            item = json.dumps(item)
        if isinstance(item, str) and pattern_matches(str(pattern), item):
            return True
    return False


def _applies(policy, request, claims):
    if policy.get("token_type") != request.token_type:
        return False
    if request.token_type == "team" and policy.get("team_name") != request.team:
        return False
    if request.token_type == "personal" and policy.get("user_login") != request.user:
        return False
    rules = policy.get("rules") or {}
    return all(_rule_matches(claims, path, pattern) for path, pattern in rules.items())


def decide(policies, request, claims):
    """(allowed, why) under the rule in this module's docstring."""
    applying = [p for p in policies if _applies(p, request, claims)]
    if any(p.get("decision") == "deny" for p in applying):
        return False, "a deny policy of the issuer matches this token"
    allows = [p for p in applying if p.get("decision") == "allow"]
    if request.admin:
        allows = [p for p in allows if "admin" in (p.get("authorized_permissions") or [])]
    if not allows:
        return False, "no allow policy of the issuer matches this token and request"
    return True, ""


# --- the exchange ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Request:
    org: str
    token_type: str
    team: str | None
    user: str | None
    admin: bool
    scope: str
    expiration: int
    subject_token: str


def _field(fields, name, required=True):
    value = fields.get(name)
    if value is None or value == "":
        if required:
            raise OAuthError(400, "invalid_request", f"missing parameter: {name}")
        return None
    if not isinstance(value, str):
        raise OAuthError(400, "invalid_request", f"{name} must be a string")
    if not text.is_storable(value):
        raise OAuthError(400, "invalid_request", f"{name} is not valid text")
    return value


def parse_request(fields, max_token_bytes):
    """The exchange asked for, from the body's fields (form or JSON: same names)."""
    grant_type = _field(fields, "grant_type")
    if grant_type != GRANT_TOKEN_EXCHANGE:
        raise OAuthError(400, "unsupported_grant_type",
                         f"grant_type must be {GRANT_TOKEN_EXCHANGE}")
    subject_token = _field(fields, "subject_token")
    if len(subject_token) > max_token_bytes:
        raise OAuthError(400, "invalid_request",
                         f"subject_token is longer than {max_token_bytes} bytes")
    if _field(fields, "subject_token_type") not in SUBJECT_TOKEN_TYPES:
        raise OAuthError(400, "invalid_request",
                         f"subject_token_type must be {SUBJECT_TOKEN_TYPES[0]}")
    audience = _field(fields, "audience")
    if not audience.startswith(AUDIENCE_PREFIX) or not _ORG.fullmatch(
            audience[len(AUDIENCE_PREFIX):]):
        raise OAuthError(400, "invalid_target", f"audience must be {AUDIENCE_PREFIX}<org>")
    requested = _field(fields, "requested_token_type")
    token_type = requested[len(TOKEN_TYPE_PREFIX):] if requested.startswith(
        TOKEN_TYPE_PREFIX) else None
    if token_type not in TOKEN_TYPES:
        raise OAuthError(400, "invalid_request", "requested_token_type must be "
                         f"{TOKEN_TYPE_PREFIX}organization, team, personal or runner")
    scope = _field(fields, "scope", required=False) or ""
    team = user = None
    admin = False
    if token_type == "organization":
        if scope not in ("", "admin"):
            raise OAuthError(400, "invalid_scope",
                             "an organization token's scope is empty or `admin`")
        admin = scope == "admin"
    elif token_type == "team":
        team = scope[len("team:"):] if scope.startswith("team:") else ""
        if not team:
            raise OAuthError(400, "invalid_scope", "a team token's scope is team:<team name>")
    elif token_type == "personal":
        user = scope[len("user:"):] if scope.startswith("user:") else ""
        if not user:
            raise OAuthError(400, "invalid_scope", "a personal token's scope is user:<login>")
    else:
        raise OAuthError(400, "invalid_request", "runner tokens are not supported by this service")
    return Request(org=audience[len(AUDIENCE_PREFIX):], token_type=token_type, team=team,
                   user=user, admin=admin, scope=scope,
                   expiration=_expiration(fields.get("expiration")), subject_token=subject_token)


def _expiration(value):
    """Seconds, as a number (auth-actions) or a string of digits (the CLI); default 2 h."""
    if value is None or value == "":
        return DEFAULT_EXPIRATION
    # ASCII digits only: str.isdigit() also takes '²', which int() refuses.
    if isinstance(value, str) and value.isascii() and value.strip().isdigit() and len(value) < 12:
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise OAuthError(400, "invalid_request", "expiration must be a positive number of seconds")
    return value


def _unverified(token):
    """The header and claims, for choosing the issuer and its key only: nothing is believed
    before the signature is checked."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise OAuthError(400, "invalid_request", "subject_token is not a JWT") from None
    return header, claims


def find_issuer(conn, request):
    """The registered issuer of the token's `iss` in the requested organization, with its
    policies. An unknown organization answers as an unregistered issuer does (the endpoint
    takes no credentials: it must not tell which organizations exist)."""
    header, claims = _unverified(request.subject_token)
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise OAuthError(400, "invalid_request",
                         f"subject_token is signed with {alg!r}; accepted: {', '.join(ALGORITHMS)}")
    iss = claims.get("iss")
    row = queries.oidc_issuer_by_iss(conn, org_name=request.org, issuer=iss) if isinstance(
        iss, str) and text.is_storable(iss) else None
    if row is None:
        raise OAuthError(400, "invalid_request", "the token's issuer is not trusted by "
                         f"organization '{request.org}'")
    policy = queries.oidc_policy_of_issuer(conn, org_name=request.org, issuer_id=str(row["id"]))
    return row, header, policy["policies"]


def verify(issuer_row, header, request, keys, leeway):
    """The ID token's claims, once its signature checks against the issuer's key and `iss`,
    `aud`, `exp`, `nbf` and `iat` hold (within `leeway` seconds)."""
    alg, kid = header["alg"], header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise OAuthError(400, "invalid_request", "the token's kid is not a string")
    try:
        if issuer_row["jwks"] is not None:
            key = oidc_keys.pick(oidc_keys.key_set(issuer_row["jwks"]), kid)
        else:
            key = keys.key(issuer_row["url"], kid, issuer_row["thumbprints"] or ())
    except oidc_keys.KeysUnavailable as err:
        raise OAuthError(503, "temporarily_unavailable",
                         f"the issuer's keys cannot be had: {err}") from None
    if key is None:
        raise OAuthError(400, "invalid_request", "the issuer has no key "
                         + (f"with kid {kid!r}" if kid else "to check a token without kid"))
    if (_KEY_TYPES[alg[:2]] != key.kty or (key.alg or alg) != alg
            or (alg in _CURVES and key.crv != _CURVES[alg])):
        raise OAuthError(400, "invalid_request", f"the issuer's key does not sign with {alg}")
    try:
        return jwt.decode(
            request.subject_token, key.key, algorithms=[alg],
            audience=AUDIENCE_PREFIX + request.org, issuer=issuer_row["issuer"], leeway=leeway,
            options={"require": ["iss", "aud", "exp", "iat", "sub"]})
    except jwt.ExpiredSignatureError:
        raise OAuthError(400, "invalid_request", "the token has expired") from None
    except jwt.InvalidAudienceError:
        raise OAuthError(400, "invalid_request",
                         f"the token's audience is not {AUDIENCE_PREFIX}{request.org}") from None
    except jwt.InvalidSignatureError:
        raise OAuthError(400, "invalid_request", "the token's signature does not verify") from None
    except jwt.PyJWTError as err:
        raise OAuthError(400, "invalid_request", f"the token is not acceptable: {err}") from None


def authorize(policies, request, claims):
    allowed, why = decide(policies, request, claims)
    if not allowed:
        raise OAuthError(403, "access_denied", why)


def issue(conn, issuer_row, request, claims):
    """The access token the exchange grants, made by app/tokens.py like every other token and
    marked with its origin: (token id, value, lifetime in seconds)."""
    lifetime = min(request.expiration, issuer_row["max_expiration"])
    expires_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
        seconds=lifetime)
    subject = str(claims["sub"])
    made = {"description": f"OIDC: {subject} via {issuer_row['name']}"[:1024],
            "expires_at": expires_at}
    if request.token_type == "personal":
        member = queries.org_member_by_login(conn, org_name=request.org, login=request.user)
        if member is None:
            raise OAuthError(400, "invalid_scope",
                             f"'{request.user}' is not a member of organization '{request.org}'")
        token_id, value = tokens.create_token(conn, kind="personal", user_id=member["id"], **made)
    else:
        # Organization and team tokens need a name unique in their owner, deleted ones included.
        made["name"] = f"oidc-{secrets.token_hex(8)}"
        if request.token_type == "team":
            team = queries.team_by_name(conn, org_id=issuer_row["org_id"], name=request.team)
            if team is None:
                raise OAuthError(400, "invalid_scope",
                                 f"organization '{request.org}' has no team '{request.team}'")
            token_id, value = tokens.create_token(conn, kind="team", org_id=team["org_id"],
                                                  team_id=team["id"], **made)
        else:
            token_id, value = tokens.create_token(conn, kind="organization",
                                                  org_id=issuer_row["org_id"],
                                                  admin=request.admin, **made)
    queries.set_token_origin(conn, token_id=token_id, oidc_issuer=issuer_row["issuer"],
                             oidc_subject=subject)
    queries.touch_oidc_issuer(conn, issuer_id=str(issuer_row["id"]))
    return token_id, value, lifetime
