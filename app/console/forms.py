"""The console's forms (Flask-WTF: each carries a CSRF token bound to the session)."""
from flask_wtf import FlaskForm
from wtforms import (BooleanField, HiddenField, PasswordField, SelectField, SelectMultipleField,
                     StringField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from ..auth import ENV_LEVELS


class PasswordSignIn(FlaskForm):
    login = StringField("Login", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])
    next = HiddenField()


class TokenSignIn(FlaskForm):
    token = PasswordField("Access token", validators=[DataRequired(), Length(max=200)])
    next = HiddenField()


class Confirm(FlaskForm):
    """A button that changes something (sign out, delete): only its CSRF token."""


class CliLogin(FlaskForm):
    port = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,5}$")])
    nonce = HiddenField(validators=[DataRequired(), Length(max=256)])
    description = HiddenField(validators=[Length(max=1024)])


class NewToken(FlaskForm):
    description = StringField("Description", validators=[Length(max=1024)])


class EditTag(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=256)])
    value = StringField("Value", validators=[Length(max=256)])


class RenameStack(FlaskForm):
    project = StringField("Project", validators=[DataRequired(), Length(max=100)])
    stack = StringField("Stack", validators=[DataRequired(), Length(max=100)])


class RestoreStack(FlaskForm):
    name = StringField("Restore as", validators=[Length(max=100)])


class DeleteStack(FlaskForm):
    confirm = StringField("Type the stack's name", validators=[DataRequired(), Length(max=100)])
    force = BooleanField("Delete it even if it still has resources")


ROLE_CHOICES = [SelectChoice(role) for role in ("viewer", "member", "admin")]


class MemberRole(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class NewInvite(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES, default="member")
    days = SelectField("Expires after", choices=[SelectChoice("1", "1 day"),
                                                 SelectChoice("7", "7 days"),
                                                 SelectChoice("30", "30 days")], default="7")


class AcceptInvite(FlaskForm):
    login = StringField("Login", validators=[DataRequired(), Length(max=40)])
    name = StringField("Name", validators=[Length(max=200)])
    email = StringField("Email", validators=[Length(max=200)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])
    confirm = PasswordField("Password again", validators=[
        DataRequired(), EqualTo("password", message="The two passwords differ.")])


PERMISSION_CHOICES = [SelectChoice("101", "read"), SelectChoice("102", "write"),
                      SelectChoice("103", "admin")]


class NewTeam(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=40)])
    display_name = StringField("Display name", validators=[Length(max=100)])
    description = StringField("Description", validators=[Length(max=1024)])


class TeamMember(FlaskForm):
    login = SelectField("Member", validate_choice=False, validators=[DataRequired()])
    action = SelectField("Action", choices=[SelectChoice(a) for a in ("add", "remove")])


class TeamGrant(FlaskForm):
    """A team's permission on one of the organization's stacks ("0": none, taken away)."""
    stack = SelectField("Stack", validate_choice=False)
    permission = SelectField("Permission", choices=[SelectChoice("0", "none")]
                             + PERMISSION_CHOICES)


class TeamEnvironmentGrant(FlaskForm):
    """A team's permission on one of the organization's ESC environments ("none": taken
    away)."""
    environment = SelectField("Environment", validate_choice=False)
    permission = SelectField("Permission", choices=[SelectChoice(p, p) for p in ENV_LEVELS])


class StackTeamGrant(FlaskForm):
    """A stack's grant to one of the organization's teams ("0": none, taken away)."""
    team = SelectField("Team", validate_choice=False)
    permission = SelectField("Permission", choices=[SelectChoice("0", "none")]
                             + PERMISSION_CHOICES)


class NewWebhook(FlaskForm):
    display_name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    payload_url = StringField("Payload URL", validators=[DataRequired(), Length(max=2048)])
    format = SelectField("Format", choices=[SelectChoice("raw", "raw JSON"),
                                            SelectChoice("slack", "Slack"),
                                            SelectChoice("ms_teams", "Microsoft Teams")])
    groups = SelectMultipleField("Events", validate_choice=False)
    secret = PasswordField("Secret (signs each delivery)", validators=[Length(max=1024)])
    active = BooleanField("Active", default=True)


class NewOrgToken(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=40)])
    description = StringField("Description", validators=[Length(max=1024)])
    admin = BooleanField("Admin (acts as an organization admin)")
    days = SelectField("Expires", choices=[SelectChoice("0", "never"),
                                           SelectChoice("30", "in 30 days"),
                                           SelectChoice("90", "in 90 days"),
                                           SelectChoice("365", "in a year")], default="0")
