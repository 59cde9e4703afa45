"""The caller's shapes: user, default organization, capabilities."""
from marshmallow import fields

from .common import Base


class OrganizationSummarySchema(Base):
    name = fields.String()
    github_login = fields.String(data_key="githubLogin")
    avatar_url = fields.String(data_key="avatarUrl")
    # Pulumi's organization role: admin or member (a viewer is a member: app/orgs.py).
    role = fields.String()


class TokenInfoSchema(Base):
    """Who a non-personal token stands for (absent for personal tokens)."""

    name = fields.String()
    organization = fields.String()
    team = fields.String()


class UserSchema(Base):
    id = fields.String()
    github_login = fields.String(data_key="githubLogin")
    name = fields.String()
    email = fields.String()
    avatar_url = fields.String(data_key="avatarUrl")
    organizations = fields.List(fields.Nested(OrganizationSummarySchema))
    identities = fields.List(fields.String())
    site_admin = fields.Boolean(data_key="siteAdmin")
    token_info = fields.Nested(TokenInfoSchema, data_key="tokenInfo")
    has_mfa = fields.Boolean(data_key="hasMFA")
    is_org_managed = fields.Boolean(data_key="isOrgManaged")
    is_managed_by_multi_org = fields.Boolean(data_key="isManagedByMultiOrg")


class DefaultOrgSchema(Base):
    # No JSON tags on the CLI's type: the field names are Go's.
    github_login = fields.String(data_key="GitHubLogin")
    messages = fields.List(fields.Dict(), data_key="Messages")


class CapabilitySchema(Base):
    capability = fields.String()
    version = fields.Integer()
    configuration = fields.Dict()


class CapabilitiesSchema(Base):
    capabilities = fields.List(fields.Nested(CapabilitySchema))


user = UserSchema()
default_org = DefaultOrgSchema()
capabilities = CapabilitiesSchema()
