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


class CreateTokenQuerySchema(Base):
    # Why the token is made, for the audit record Pulumi keeps; accepted and not stored yet.
    reason = text_field()


class CreatedTokenSchema(Base):
    id = fields.String()
    token_value = fields.String(data_key="tokenValue")


access_tokens = AccessTokensSchema()
create_personal_token = CreatePersonalTokenSchema()
create_token_query = CreateTokenQuerySchema()
created_token = CreatedTokenSchema()
