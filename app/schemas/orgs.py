"""Organization shapes: the organization and its metadata and settings, members, and role
records (Pulumi's field names; Pulumi's cloud SDK decodes each of them into its model)."""
import datetime

from marshmallow import ValidationError, fields, pre_load, validate

from ..auth import ENV_LEVELS
from .common import ORG_NAME, Base


class UtcTime(fields.DateTime):
    """An instant as RFC 3339 in UTC, to the second ("2026-01-02T03:04:05Z"), as Pulumi sends."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# Pulumi's organization roles on the wire (a viewer travels as member: app/orgs.py).
PULUMI_ROLES = ("member", "admin")


class UserInfoSchema(Base):
    name = fields.String()
    github_login = fields.String(data_key="githubLogin")
    avatar_url = fields.String(data_key="avatarUrl")
    email = fields.String()


class OrganizationSchema(Base):
    github_login = fields.String(data_key="githubLogin")
    name = fields.String()
    avatar_url = fields.String(data_key="avatarUrl")
    repos = fields.List(fields.Dict())


# Pulumi Cloud's product features an organization may have (OrganizationFeatures); the SDK
# requires each of them in the metadata, and this service offers none of them (yet): all false.
PULUMI_FEATURES = """
auditLogsEnabled crossGuardEnabled webhooksEnabled integrationAssistantEnabled aleEnabled
deployEnabled scimEnabled resourceSearchEnabled resourceExportEnabled propertySearchUIEnabled
nlpSearchEnabled customTemplatesEnabled restoreStacksEnabled environmentsEnabled
environmentRevisionTagsEnabled legacyDeploymentsOrgToken gitHubEnterpriseIntegrationEnabled
gitHubEnterpriseCloudDataResidencyEnabled agentPoolRegistrationEnabled driftDetectionEnabled
selfHostedDeploymentsEnabled auditLogUIFilteringEnabled dependencyCachingEnabled
environmentsRestoreEnabled pangeaAccountsScanPageEnabled customRolesEnabled
environmentSecretRotationEnabled insightsMonetizationEnabled selfServeIDPRemoval
iacCloudImportEnabled bringYourOwnKeyEnabled approvalsEnabled escOnboardingEnabled
escOnboardingV2Enabled escOnboardingAzureOAuthClientEnabled escOnboardingGcpOAuthClientEnabled
policyManagementV2Enabled policyIssueManagementEnabled aiAgentsEnabled aiAgentsReadOnly
themingEnabled customRoleCondition neoTaskSharingEnabled ghAppDetailedDiffEnabled
neoCustomRolesEnabled discoveredStacksEnabled agentIntegrationCatalogEnabled
agentScheduledTasksEnabled neoCustomAgentsEnabled neoSecurityEnabled agentTriggeredTasksEnabled
customVCSEnabled bitbucketVCSEnabled insightsAutoPolicyPacksEnabled fixDriftWithNeoEnabled
cliIntegrationCatalogEnabled serviceBackedConfigEnabled neoByokEnabled
entityUserAssignmentsEnabled policyExceptionsEnabled staticDefaultRolesEnabled
""".split()


class OrganizationMetadataSchema(Base):
    id = fields.String()
    # "pulumi" for an organization, "single-user" for a user's personal one.
    kind = fields.String()
    created = UtcTime()
    user_role = fields.String(data_key="userRole", validate=validate.OneOf(PULUMI_ROLES))
    default_stack_permission = fields.Integer(data_key="defaultStackPermission")
    default_environment_permission = fields.String(data_key="defaultEnvironmentPermission")
    default_account_permission = fields.Integer(data_key="defaultAccountPermission")
    members_can_create_stacks = fields.Boolean(data_key="membersCanCreateStacks")
    members_can_delete_stacks = fields.Boolean(data_key="membersCanDeleteStacks")
    members_can_transfer_stacks = fields.Boolean(data_key="membersCanTransferStacks")
    members_can_create_teams = fields.Boolean(data_key="membersCanCreateTeams")
    members_can_create_accounts = fields.Boolean(data_key="membersCanCreateAccounts")
    # Pulumi's AI assistant and VCS integrations, which this service does not have.
    neo_enabled = fields.Boolean(data_key="neoEnabled")
    neo_approval_mode = fields.String(data_key="neoApprovalMode")
    neo_task_sharing_mode = fields.String(data_key="neoTaskSharingMode")
    neo_cli_explanations_disabled = fields.Boolean(data_key="neoCLIExplanationsDisabled")
    natural_language_search_disabled = fields.Boolean(data_key="naturalLanguageSearchDisabled")
    neo_agent_disabled = fields.Boolean(data_key="neoAgentDisabled")
    insights_trial_using_policy = fields.Boolean(data_key="insightsTrialUsingPolicy")
    ai_enablement = fields.String(data_key="aiEnablement")
    preferred_vcs = fields.String(data_key="preferredVCS")
    audit_logs_enabled = fields.Boolean(data_key="auditLogsEnabled")
    webhooks_enabled = fields.Boolean(data_key="webhooksEnabled")
    features = fields.Dict(keys=fields.String(), values=fields.Boolean())
    account_count = fields.Integer(data_key="accountCount")
    environment_count = fields.Integer(data_key="environmentCount")
    stack_count = fields.Integer(data_key="stackCount")
    member_count = fields.Integer(data_key="memberCount")


# The settings PATCH /api/orgs/{org} can change. Pulumi's Python SDK sends every `set...` field
# of its model: null for an unset enum or string, but false and 0 for an unset boolean or number
# (so through it, an unset boolean setting is set to false, as the SDK says).
SETTINGS = {
    "setDefaultStackPermission": "default_stack_permission",
    "setDefaultEnvironmentPermission": "default_environment_permission",
    "setMembersCanCreateStacks": "members_can_create_stacks",
    "setMembersCanDeleteStacks": "members_can_delete_stacks",
}


class UpdateOrganizationSchema(Base):
    """UpdateOrganizationRequest: each setting given (not null) is changed, the others stay."""

    default_stack_permission = fields.Integer(
        data_key="setDefaultStackPermission", allow_none=True, strict=True,
        validate=validate.OneOf((0, 101, 102, 103), error="must be one of 0 (none), 101 (read), "
                                                          "102 (write) or 103 (admin)"))
    default_environment_permission = fields.String(
        data_key="setDefaultEnvironmentPermission", allow_none=True,
        validate=validate.OneOf(ENV_LEVELS, error="must be one of " + ", ".join(ENV_LEVELS)))
    members_can_create_stacks = fields.Boolean(data_key="setMembersCanCreateStacks",
                                               allow_none=True)
    members_can_delete_stacks = fields.Boolean(data_key="setMembersCanDeleteStacks",
                                               allow_none=True)

    @pre_load
    def refuse_unsupported(self, data, **kwargs):
        # Turning on a setting this service does not have is refused rather than silently
        # ignored; null, false and 0 (what the SDK sends for those it leaves unset) are fine.
        unsupported = sorted(k for k, v in data.items()
                             if k.startswith("set") and k not in SETTINGS
                             and v not in (None, False, 0, ""))
        if unsupported:
            raise ValidationError({k: ["this setting is not supported by this service"]
                                   for k in unsupported})
        return data


class FgaRoleSchema(Base):
    id = fields.String()
    name = fields.String()
    modified_at = UtcTime(data_key="modifiedAt")


class MemberSchema(Base):
    role = fields.String(validate=validate.OneOf(PULUMI_ROLES))
    user = fields.Nested(UserInfoSchema)
    created = UtcTime()
    known_to_pulumi = fields.Boolean(data_key="knownToPulumi")
    virtual_admin = fields.Boolean(data_key="virtualAdmin")
    # The member's role in this service: viewer, member or admin (a record of GET .../roles).
    fga_role = fields.Nested(FgaRoleSchema, data_key="fgaRole")


class MembersSchema(Base):
    members = fields.List(fields.Nested(MemberSchema))
    continuation_token = fields.String(data_key="continuationToken")


class MembersQuerySchema(Base):
    # frontend: the service's own members; backend: those of an identity provider (none here).
    type = fields.String(load_default="frontend", validate=validate.OneOf(("frontend", "backend")))
    # The login to continue after (what the previous page answered).
    continuation_token = fields.String(data_key="continuationToken", validate=ORG_NAME.with_error(
        "invalid continuationToken"))
    include_suspended = fields.Boolean(data_key="includeSuspended")


# The service's roles (app/orgs.py), which are also the ids of its role records.
ROLES = ("viewer", "member", "admin")
ROLE = validate.OneOf(ROLES)


class AddMemberSchema(Base):
    role = fields.String(required=True, validate=ROLE)


class UpdateMemberSchema(Base):
    """UpdateOrganizationMemberRequest: `fgaRoleId` (a role record's id) wins over `role`."""

    role = fields.String(allow_none=True, validate=ROLE)
    fga_role_id = fields.String(data_key="fgaRoleId", allow_none=True, validate=ROLE)


class RoleSchema(Base):
    id = fields.String()
    org_id = fields.String(data_key="orgId")
    name = fields.String()
    description = fields.String()
    resource_type = fields.String(data_key="resourceType")
    ux_purpose = fields.String(data_key="uxPurpose")
    default_identifier = fields.String(data_key="defaultIdentifier")
    version = fields.Integer()
    is_org_default = fields.Boolean(data_key="isOrgDefault")
    created = UtcTime()
    modified = UtcTime()


class RolesSchema(Base):
    roles = fields.List(fields.Nested(RoleSchema))


class RolesQuerySchema(Base):
    ux_purpose = fields.String(data_key="uxPurpose")
    assigned_to_me = fields.Boolean(data_key="assignedToMe")


organization = OrganizationSchema()
metadata = OrganizationMetadataSchema()
update_organization = UpdateOrganizationSchema()
members = MembersSchema()
members_query = MembersQuerySchema()
add_member = AddMemberSchema()
member = MemberSchema()
update_member = UpdateMemberSchema()
roles = RolesSchema()
roles_query = RolesQuerySchema()
