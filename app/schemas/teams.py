"""Team shapes: Pulumi's Team, its create and update requests, a stack's teams, and the team
stack permission request (Pulumi's field names; the cloud SDK decodes each into its model)."""
from marshmallow import ValidationError, fields, validate, validates_schema

from ..auth import ENV_LEVELS
from .common import NO_NUL, PROJECT_NAME, STACK_NAME, Base, _Name
from .environments import ENV_NAME, ENV_PROJECT

# Letters, digits, '-', '_' and '.', as Pulumi's team names.
TEAM_NAME = _Name(r"^[A-Za-z0-9_.-]{1,40}$", error="team names are 1 to 40 letters, digits, "
                                                  "'-', '_' or '.'")
STACK_PERMISSIONS = (0, 101, 102, 103)
PERMISSION_ERROR = "must be one of 0 (none), 101 (read), 102 (write) or 103 (admin)"


def team_name_field(**kwargs):
    return fields.String(validate=TEAM_NAME, **kwargs)


def display_name_field(**kwargs):
    return fields.String(validate=[NO_NUL, validate.Length(max=100)], **kwargs)


def description_field(**kwargs):
    return fields.String(validate=[NO_NUL, validate.Length(max=1024)], **kwargs)


def permission_field(**kwargs):
    return fields.Integer(strict=True, validate=validate.OneOf(STACK_PERMISSIONS,
                                                               error=PERMISSION_ERROR), **kwargs)


class TeamMemberSchema(Base):
    name = fields.String()
    github_login = fields.String(data_key="githubLogin")
    avatar_url = fields.String(data_key="avatarUrl")
    email = fields.String()
    role = fields.String()


class TeamStackSchema(Base):
    project_name = fields.String(data_key="projectName", required=True,
                                 validate=PROJECT_NAME)
    stack_name = fields.String(data_key="stackName", required=True, validate=STACK_NAME)
    permission = permission_field(required=True)


class StackIdSchema(Base):
    project_name = fields.String(data_key="projectName", required=True, validate=PROJECT_NAME)
    stack_name = fields.String(data_key="stackName", required=True, validate=STACK_NAME)


class TeamEnvironmentSchema(Base):
    """TeamEnvironmentSettings (maxOpenDuration is accepted and not kept: opens last at most
    the service's own limit)."""

    project_name = fields.String(data_key="projectName", required=True, validate=ENV_PROJECT)
    env_name = fields.String(data_key="envName", required=True, validate=ENV_NAME)
    permission = fields.String(required=True, validate=validate.OneOf(
        ENV_LEVELS, error="must be one of " + ", ".join(ENV_LEVELS)))
    max_open_duration = fields.String(data_key="maxOpenDuration", allow_none=True,
                                      load_only=True, validate=NO_NUL)


class EnvironmentIdSchema(Base):
    project_name = fields.String(data_key="projectName", required=True, validate=ENV_PROJECT)
    env_name = fields.String(data_key="envName", required=True, validate=ENV_NAME)


class TeamSchema(Base):
    kind = fields.String()
    name = fields.String()
    display_name = fields.String(data_key="displayName")
    description = fields.String()
    members = fields.List(fields.Nested(TeamMemberSchema))
    stacks = fields.List(fields.Nested(TeamStackSchema))
    environments = fields.List(fields.Nested(TeamEnvironmentSchema))
    user_role = fields.String(data_key="userRole")


class TeamsSchema(Base):
    teams = fields.List(fields.Nested(TeamSchema))


class CreateTeamSchema(Base):
    name = team_name_field(required=True)
    display_name = display_name_field(data_key="displayName", allow_none=True)
    description = description_field(allow_none=True)


class UpdateTeamSchema(Base):
    """UpdateTeamRequest: one action per call (fields the SDK leaves unset arrive as null)."""

    new_display_name = display_name_field(data_key="newDisplayName", allow_none=True)
    new_description = description_field(data_key="newDescription", allow_none=True)
    member_action = fields.String(data_key="memberAction", allow_none=True,
                                  validate=validate.OneOf(("add", "remove", "promote", "demote")))
    member = fields.String(allow_none=True, validate=NO_NUL)
    add_stack_permission = fields.Nested(TeamStackSchema, data_key="addStackPermission",
                                         allow_none=True)
    edit_stack_permission = fields.Nested(TeamStackSchema, data_key="editStackPermission",
                                          allow_none=True)
    remove_stack = fields.Nested(StackIdSchema, data_key="removeStack", allow_none=True)
    add_environment_permission = fields.Nested(TeamEnvironmentSchema,
                                               data_key="addEnvironmentPermission",
                                               allow_none=True)
    edit_environment_permission = fields.Nested(TeamEnvironmentSchema,
                                                data_key="editEnvironmentPermission",
                                                allow_none=True)
    remove_environment = fields.Nested(EnvironmentIdSchema, data_key="removeEnvironment",
                                       allow_none=True)

    ACTIONS = ("rename", "member_action", "add_stack_permission", "edit_stack_permission",
               "remove_stack", "add_environment_permission", "edit_environment_permission",
               "remove_environment")

    @validates_schema
    def one_action(self, data, **kwargs):
        given = [a for a in self.ACTIONS if (
            data.get("new_display_name") is not None or data.get("new_description") is not None
            if a == "rename" else data.get(a) is not None)]
        if len(given) != 1:
            raise ValidationError("give exactly one action: newDisplayName/newDescription, "
                                  "memberAction with member, addStackPermission, "
                                  "editStackPermission, removeStack, "
                                  "addEnvironmentPermission, editEnvironmentPermission or "
                                  "removeEnvironment")
        if given == ["member_action"] and not data.get("member"):
            raise ValidationError({"member": ["the login the memberAction is about"]})


class StackTeamSchema(Base):
    name = fields.String()
    display_name = fields.String(data_key="displayName")
    description = fields.String()
    permission = fields.Integer()
    is_member = fields.Boolean(data_key="isMember")


class StackTeamsSchema(Base):
    project_name = fields.String(data_key="projectName")
    teams = fields.List(fields.Nested(StackTeamSchema))


class TeamStackPermissionsSchema(Base):
    permissions = permission_field(required=True)


team = TeamSchema()
teams = TeamsSchema()
create_team = CreateTeamSchema()
update_team = UpdateTeamSchema()
stack_teams = StackTeamsSchema()
team_stack_permissions = TeamStackPermissionsSchema()
