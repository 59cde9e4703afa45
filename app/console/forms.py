"""The console's forms (Flask-WTF: each carries a CSRF token bound to the session)."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Regexp


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
