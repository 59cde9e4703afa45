"""Access token shapes (Pulumi's AccessToken and its create request and response)."""
from marshmallow import fields, validate

from .common import NO_NUL, Base, text_field

# The last second a Python datetime can hold (9999-12-31T23:59:59Z).
MAX_UNIX = 253402300799


class AccessTokenSchema(Base):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    created = fields.String()
    # Unix seconds; 0 = never used / never expires.
    last_used = fields.Integer(data_key="lastUsed")
    expires = fields.Integer()
    admin = fields.Boolean()
    created_by = fields.String(data_key="createdBy", allow_none=True)
    type = fields.String()


class AccessTokensSchema(Base):
    tokens = fields.List(fields.Nested(AccessTokenSchema))
    continuation_token = fields.String(data_key="continuationToken")


class CreatePersonalTokenSchema(Base):
    description = fields.String(load_default="", allow_none=True,
                                validate=[NO_NUL, validate.Length(max=1024)])
    # Unix seconds; 0 (or absent) = never expires.
    expires = fields.Integer(load_default=0, allow_none=True, strict=True,
                             validate=validate.Range(min=0, max=MAX_UNIX))


class CreateTeamTokenSchema(CreatePersonalTokenSchema):
    # 1 to 40 characters, unique among the owner's tokens (app/tokens.py).
    name = fields.String(required=True, validate=[NO_NUL, validate.Length(min=1, max=40)])


class CreateOrgTokenSchema(CreateTeamTokenSchema):
    admin = fields.Boolean(load_default=False, allow_none=True)
    # A custom role for the token: this service has none (null, as the SDK sends it, is fine).
    role_id = fields.String(data_key="roleID", allow_none=True,
                            validate=validate.Length(max=0, error="custom roles are not "
                                                                  "supported"))


class CreateTokenQuerySchema(Base):
    # Why the token is made, for the audit record Pulumi keeps; accepted and not stored yet.
    reason = text_field()


class ListTokensQuerySchema(Base):
    """What Pulumi's token lists accept (the SDK's list_personal_tokens, list_org_tokens,
    list_team_tokens): a search in names and descriptions, a status filter, a sort and pages."""

    search = fields.String(validate=[NO_NUL, validate.Length(max=1024)])
    # Every live token (Pulumi lists expired ones too), or those not expired, or expired ones.
    filter = fields.String(load_default="all", validate=validate.OneOf(
        ["all", "active", "expired"]))
    sort_by = fields.String(data_key="sortBy", load_default="created",
                            validate=validate.OneOf(["name", "created", "lastUsed", "expires"]))
    sort_direction = fields.String(data_key="sortDirection", load_default="asc",
                                   validate=validate.OneOf(["asc", "desc"]))
    max_results = fields.Integer(data_key="maxResults", validate=validate.Range(1, 1000))
    # Where the next page starts (the count of tokens before it), as the last page answered.
    continuation_token = fields.String(
        data_key="continuationToken",
        validate=validate.Regexp(r"^[0-9]{1,9}$", error="invalid continuationToken"))


class CreatedTokenSchema(Base):
    id = fields.String()
    token_value = fields.String(data_key="tokenValue")


access_tokens = AccessTokensSchema()
create_personal_token = CreatePersonalTokenSchema()
create_token_query = CreateTokenQuerySchema()
list_tokens_query = ListTokensQuerySchema()
create_org_token = CreateOrgTokenSchema()
create_team_token = CreateTeamTokenSchema()
created_token = CreatedTokenSchema()
