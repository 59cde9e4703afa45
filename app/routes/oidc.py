"""OIDC: the token exchange (POST /api/oauth/token, RFC 8693, as `pulumi login --oidc-token`
and pulumi/auth-actions call it) and an organization's trust configuration, its issuers and
their auth policies (organization admins only)."""
import dataclasses

from flask import Blueprint, current_app, jsonify, request

from .. import audit, oidc
from ..api import actor, parse_body, parse_json_body
from ..auth import public, requires_role
from ..db import transaction
from ..errors import ApiError
from ..openapi import accepts_any, documented
from ..schemas import oidc as schemas

bp = Blueprint("oidc", __name__, url_prefix="/api")

ISSUER = "/orgs/<org>/oidc/issuers/<uuid:issuer_id>"
# A token exchange body is a JWT and a few short fields: anything much larger is refused unread.
MAX_EXCHANGE_BODY = 64 * 1024


@bp.errorhandler(oidc.OAuthError)
def oauth_error(err):
    """RFC 6749's error body, with the service's own {code, message} beside it (one shape for
    every error of the service, and the one the CLI and auth-actions print)."""
    response = jsonify({"error": err.error, "error_description": err.description,
                        "code": err.status, "message": err.description})
    response.status_code = err.status
    response.headers["Cache-Control"] = "no-store"
    return response


def _exchange_fields():
    """The body's fields, form-encoded (the CLI) or JSON (auth-actions, the cloud SDK)."""
    if (request.content_length or 0) > MAX_EXCHANGE_BODY:
        raise oidc.OAuthError(400, "invalid_request", "the request body is too large")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_EXCHANGE_BODY:
        raise oidc.OAuthError(400, "invalid_request", "the request body is too large")
    if request.mimetype == "application/x-www-form-urlencoded":
        return request.form.to_dict()
    try:
        return parse_json_body()
    except ApiError as err:
        raise oidc.OAuthError(400, "invalid_request",
                              err.message.removeprefix("Bad Request: ")) from None


def _exchange_actor(issuer_row, claims):
    """The pipeline that exchanged a token, for the audit log: the issuer and the subject."""
    return dataclasses.replace(actor(), name=f"oidc:{issuer_row['name']}:{claims.get('sub')}")


@bp.post("/oauth/token")
@public
@accepts_any
@documented(body=schemas.exchange_request, response=schemas.exchange_response, responses={
    400: "invalid_request, unsupported_grant_type, invalid_target or invalid_scope: a missing "
         "or malformed field, or an ID token that is malformed, expired, for another audience, "
         "badly signed or from an issuer the organization does not trust",
    403: "access_denied: the issuer's auth policy does not allow this exchange",
    503: "temporarily_unavailable: the issuer's keys cannot be fetched, or the database is "
         "down"})
def exchange_token():
    """Exchange an ID token of a trusted OIDC issuer for a short-lived Pulumi access token."""
    config = current_app.config
    wanted = oidc.parse_request(_exchange_fields(), config["OIDC_MAX_TOKEN_BYTES"])
    with transaction() as conn:
        issuer_row, header, policies = oidc.find_issuer(conn, wanted)
    claims = oidc.verify(issuer_row, header, wanted, current_app.extensions["oidc_keys"],
                         config["OIDC_CLOCK_SKEW_SECONDS"])
    try:
        oidc.authorize(policies, wanted, claims)
    except oidc.OAuthError as refused:
        # The token is genuine: who was refused, and why, is worth the organization's log.
        with transaction() as conn:
            audit.record(conn, _exchange_actor(issuer_row, claims), wanted.org,
                         "oidc.exchange_refused", f"issuer {issuer_row['name']}",
                         f"refused a {wanted.token_type} token to {claims.get('sub')}: "
                         f"{refused.description}")
        raise
    with transaction() as conn:
        token_id, value, lifetime = oidc.issue(conn, issuer_row, wanted, claims)
        audit.record(conn, _exchange_actor(issuer_row, claims), wanted.org,
                     "oidc.token_exchanged", f"token {token_id}",
                     f"issued {wanted.token_type} token {token_id}"
                     + (f" ({wanted.scope})" if wanted.scope else "")
                     + f" for {lifetime} s to {claims.get('sub')} via issuer "
                     f"{issuer_row['name']}")
    response = jsonify(schemas.exchange_response.dump({
        "access_token": value,
        "issued_token_type": oidc.TOKEN_TYPE_PREFIX + wanted.token_type,
        "token_type": "token",
        "expires_in": lifetime,
        "scope": wanted.scope,
    }))
    response.headers["Cache-Control"] = "no-store"
    return response


# --- issuers --------------------------------------------------------------------------------------

def issuer_of(row):
    found = {
        "id": str(row["id"]),
        "name": row["name"],
        "url": row["url"],
        "issuer": row["issuer"],
        "thumbprints": list(row["thumbprints"]),
        "max_expiration": row["max_expiration"],
        "created": row["created_at"],
        "modified": row["modified_at"],
    }
    if row["jwks"] is not None:
        found["jwks"] = row["jwks"]
    if row["last_used_at"] is not None:
        found["last_used"] = row["last_used_at"]
    return found


@bp.post("/orgs/<org>/oidc/issuers")
@requires_role("admin")
@documented(body=schemas.register_issuer, response=schemas.issuer, responses={
    400: "Bad Request: an invalid field, a URL the service may not fetch, or one that serves "
         "no OIDC discovery document (and no static jwks given)",
    409: "Conflict: the organization has an issuer of that name or issuer URL"})
def register_issuer(org):
    """Trust an OIDC issuer: its tokens may be exchanged as its auth policy (made empty:
    denying everything) allows."""
    body = parse_body(schemas.register_issuer)
    fetcher = current_app.extensions["oidc_keys"].fetcher
    iss = oidc.resolve_issuer(fetcher, body["url"], body.get("jwks"), body.get("thumbprints"))
    with transaction() as conn:
        row = oidc.create_issuer(conn, org, body["name"], body["url"], iss, body.get("jwks"),
                                 body.get("thumbprints"), body.get("max_expiration"))
        audit.record(conn, actor(), org, "oidc.issuer_registered", f"issuer {row['name']}",
                     f"registered OIDC issuer {row['name']} ({iss})"
                     + (" with a static key set" if body.get("jwks") else ""))
    return jsonify(schemas.issuer.dump(issuer_of(row)))


@bp.get("/orgs/<org>/oidc/issuers")
@requires_role("admin")
@documented(response=schemas.issuers)
def list_issuers(org):
    """The organization's OIDC issuers."""
    with transaction() as conn:
        rows = oidc.issuers(conn, org)
    return jsonify(schemas.issuers.dump({"oidc_issuers": [issuer_of(r) for r in rows]}))


@bp.get(ISSUER)
@requires_role("admin")
@documented(response=schemas.issuer)
def get_issuer(org, issuer_id):
    """One OIDC issuer of the organization."""
    with transaction() as conn:
        row = oidc.issuer(conn, org, issuer_id)
    return jsonify(schemas.issuer.dump(issuer_of(row)))


@bp.patch(ISSUER)
@requires_role("admin")
@documented(body=schemas.update_issuer, response=schemas.issuer, responses={
    400: "Bad Request: an invalid field or key set",
    409: "Conflict: the organization has an issuer of that name"})
def update_issuer(org, issuer_id):
    """Change an issuer's name, static key set, thumbprints or maximum token lifetime (those
    given; the others stay)."""
    body = parse_body(schemas.update_issuer)
    with transaction() as conn:
        row = oidc.update_issuer(conn, current_app.extensions["oidc_keys"].fetcher, org,
                                 issuer_id, body)
        changed = sorted(k for k, v in body.items() if v not in (None, 0))
        audit.record(conn, actor(), org, "oidc.issuer_updated", f"issuer {row['name']}",
                     f"changed OIDC issuer {row['name']}: " + (", ".join(changed) or "nothing"))
    return jsonify(schemas.issuer.dump(issuer_of(row)))


@bp.delete(ISSUER)
@requires_role("admin")
@documented(status=204)
def delete_issuer(org, issuer_id):
    """Stop trusting an issuer (its policy goes too; tokens it issued live until they expire
    or are revoked)."""
    with transaction() as conn:
        name = oidc.delete_issuer(conn, org, issuer_id)
        audit.record(conn, actor(), org, "oidc.issuer_deleted", f"issuer {name}",
                     f"deleted OIDC issuer {name}")
    return "", 204


# --- auth policies --------------------------------------------------------------------------------

def policy_of(row):
    return {"id": str(row["id"]), "version": row["version"], "created": row["created_at"],
            "modified": row["modified_at"], "policies": row["policies"]}


@bp.get("/orgs/<org>/auth/policies/oidcissuers/<uuid:issuer_id>")
@requires_role("admin")
@documented(response=schemas.auth_policy)
def get_auth_policy(org, issuer_id):
    """The auth policy of an issuer: which tokens its ID tokens may be exchanged for."""
    with transaction() as conn:
        row = oidc.policy_of_issuer(conn, org, issuer_id)
    return jsonify(schemas.auth_policy.dump(policy_of(row)))


@bp.patch("/orgs/<org>/auth/policies/<uuid:policy_id>")
@requires_role("admin")
@documented(body=schemas.update_auth_policy, response=schemas.auth_policy, responses={
    400: "Bad Request: an invalid policy (a team or personal policy without its team or user, "
         "an allow without rules, an invalid claim path)"})
def update_auth_policy(org, policy_id):
    """Replace an issuer's auth policy rules (see the README for how they decide)."""
    body = parse_body(schemas.update_auth_policy)
    with transaction() as conn:
        row = oidc.update_policy(conn, org, policy_id, body["policies"])
        audit.record(conn, actor(), org, "oidc.policy_updated", f"issuer {row['issuer_name']}",
                     f"set {len(body['policies'])} auth policies of OIDC issuer "
                     f"{row['issuer_name']} (version {row['version']})")
    return jsonify(schemas.auth_policy.dump(policy_of(row)))
