"""OIDC shapes: the token exchange's request and response (RFC 8693 field names), issuers and
their auth policies (Pulumi's field names; Pulumi's cloud SDK decodes them into its models)."""
from marshmallow import fields, validate

from .common import NO_NUL, Base
from .orgs import UtcTime

TOKEN_TYPE_URNS = [f"urn:pulumi:token-type:access_token:{kind}"
                   for kind in ("organization", "team", "personal", "runner")]
# The longest issuer maximum accepted (seconds): 31 days.
LONGEST_MAX_EXPIRATION = 31 * 24 * 3600
URL_PATTERN = r"^https?://[^\s/?#@]+(/[^\s?#]*)?$"


class ExchangeRequestSchema(Base):
    """As JSON (auth-actions, the cloud SDK) or as a form (the CLI): the same fields."""
    grant_type = fields.String(required=True, validate=validate.OneOf(
        ["urn:ietf:params:oauth:grant-type:token-exchange"]))
    audience = fields.String(required=True, metadata={"description": "urn:pulumi:org:<org>"})
    subject_token = fields.String(required=True, metadata={"description": "the ID token (JWT)"})
    subject_token_type = fields.String(required=True, validate=validate.OneOf(
        ["urn:ietf:params:oauth:token-type:id_token", "urn:ietf:params:oauth:token-type:jwt"]))
    requested_token_type = fields.String(required=True, validate=validate.OneOf(TOKEN_TYPE_URNS))
    scope = fields.String(metadata={"description": "organization: empty or `admin`; team: "
                                                   "`team:<name>`; personal: `user:<login>`"})
    expiration = fields.Raw(metadata={
        "description": "lifetime in seconds, a number or a string of digits (default 7200), "
                       "capped by the issuer's maxExpiration",
        "openapi": {"oneOf": [{"type": "integer", "minimum": 1},
                              {"type": "string", "pattern": "^[0-9]{1,11}$"}]}})


class ExchangeResponseSchema(Base):
    access_token = fields.String(required=True)
    issued_token_type = fields.String(required=True)
    token_type = fields.String(required=True, metadata={
        "description": "`token`: send it as `Authorization: token <access_token>`"})
    expires_in = fields.Integer(required=True)
    scope = fields.String(required=True)


class IssuerSchema(Base):
    id = fields.String()
    name = fields.String()
    url = fields.String()
    issuer = fields.String()
    thumbprints = fields.List(fields.String())
    jwks = fields.Dict()
    max_expiration = fields.Integer(data_key="maxExpiration")
    created = UtcTime()
    modified = UtcTime()
    last_used = UtcTime(data_key="lastUsed")


class IssuersSchema(Base):
    oidc_issuers = fields.List(fields.Nested(IssuerSchema), data_key="oidcIssuers")


class JwksField(fields.Dict):
    """A JWK Set: {"keys": [JWK, ...]} (checked further by app/oidc.py)."""


def _text(longest, **kwargs):
    return fields.String(validate=[NO_NUL, validate.Length(max=longest)], **kwargs)


def _name(**kwargs):
    return fields.String(validate=[NO_NUL, validate.Length(min=1, max=256)], **kwargs)


# A TLS certificate's SHA-1 or SHA-256 thumbprint: hex, colons between the bytes allowed.
THUMBPRINT = validate.Regexp(
    r"^(?:(?:[0-9A-Fa-f]{2}:?){19}|(?:[0-9A-Fa-f]{2}:?){31})[0-9A-Fa-f]{2}$",
    error="a thumbprint is the SHA-1 or SHA-256 of a certificate, in hex")


class UpdateIssuerSchema(Base):
    name = _name(allow_none=True)
    thumbprints = fields.List(fields.String(validate=THUMBPRINT), allow_none=True,
                              validate=validate.Length(max=20))
    # 0 (what Pulumi's SDK sends when it is not set) or null: the default, or unchanged.
    max_expiration = fields.Integer(data_key="maxExpiration", allow_none=True, strict=True,
                                    validate=validate.Range(min=0, max=LONGEST_MAX_EXPIRATION))
    jwks = JwksField(allow_none=True)


class RegisterIssuerSchema(UpdateIssuerSchema):
    name = _name(required=True)
    url = fields.String(required=True, validate=[validate.Length(max=2048),
                                                 validate.Regexp(URL_PATTERN)])


class PolicySchema(Base):
    decision = fields.String(required=True, validate=validate.OneOf(["allow", "deny"]))
    token_type = fields.String(data_key="tokenType", required=True, validate=validate.OneOf(
        ["organization", "team", "personal", "runner"]))
    team_name = _text(256, data_key="teamName", allow_none=True)
    user_login = _text(256, data_key="userLogin", allow_none=True)
    runner_id = _text(256, data_key="runnerID", allow_none=True)
    role_id = _text(256, data_key="roleID", allow_none=True)
    authorized_permissions = fields.List(
        fields.String(validate=validate.OneOf(["admin"])), data_key="authorizedPermissions",
        load_default=list, allow_none=True)
    # claim path -> value pattern (app/oidc.py: paths are dotted, `*`, `?` and `.` wildcards).
    rules = fields.Dict(keys=fields.String(validate=[NO_NUL, validate.Length(min=1, max=256)]),
                        values=fields.String(validate=[NO_NUL, validate.Length(max=1024)]),
                        load_default=dict, allow_none=True, validate=validate.Length(max=50))


class AuthPolicySchema(Base):
    id = fields.String()
    version = fields.Integer()
    created = UtcTime()
    modified = UtcTime()
    policies = fields.List(fields.Nested(PolicySchema))


class UpdateAuthPolicySchema(Base):
    policies = fields.List(fields.Nested(PolicySchema), required=True,
                           validate=validate.Length(max=100))


exchange_request = ExchangeRequestSchema()
exchange_response = ExchangeResponseSchema()
issuer = IssuerSchema()
issuers = IssuersSchema()
register_issuer = RegisterIssuerSchema()
update_issuer = UpdateIssuerSchema()
auth_policy = AuthPolicySchema()
update_auth_policy = UpdateAuthPolicySchema()
