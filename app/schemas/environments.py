"""ESC environment shapes (the ESC CLI's and esc-sdk's JSON names). Definitions travel as YAML
text, not through a schema; opened environments are free-form Values."""
from marshmallow import fields, validate

from .common import (Base, MAX_TAG_VALUE, NO_NUL, PROJECT_NAME, STACK_NAME, TAG_NAME, _Name,
                     text_field)

ENV_NAME = STACK_NAME.with_error(
    "environment names may only contain alphanumerics, hyphens, underscores or periods")
ENV_PROJECT = PROJECT_NAME.with_error(
    "project names may only contain alphanumerics, hyphens, underscores or periods")


class CreateEnvironment(Base):
    project = fields.String(load_default="default", validate=ENV_PROJECT)
    name = fields.String(required=True, validate=ENV_NAME)


class EnvironmentSummary(Base):
    organization = fields.String(required=True)
    project = fields.String(required=True)
    name = fields.String(required=True)
    created = fields.String(required=True)
    modified = fields.String(required=True)


class EnvironmentList(Base):
    environments = fields.List(fields.Nested(EnvironmentSummary), required=True)
    next_token = fields.String(data_key="nextToken")


class ListQuery(Base):
    continuation_token = text_field(data_key="continuationToken", load_default=None)


class Retraction(Base):
    replacement = fields.Integer(required=True)
    at = fields.String(required=True)
    by_login = fields.String(data_key="byLogin")
    by_name = fields.String(data_key="byName")
    reason = fields.String()


class Revision(Base):
    number = fields.Integer(required=True)
    created = fields.String(required=True)
    creator_login = fields.String(data_key="creatorLogin", required=True)
    creator_name = fields.String(data_key="creatorName", required=True)
    tags = fields.List(fields.String(), required=True)
    retracted = fields.Nested(Retraction)


class EnvironmentSettings(Base):
    """EnvironmentSettings (GET), PatchEnvironmentSettingsRequest (PATCH: null or absent
    leaves a setting as it is)."""
    deletion_protected = fields.Boolean(data_key="deletionProtected", load_default=None,
                                        allow_none=True)


class RetractRevision(Base):
    """RetractEnvironmentRevisionRequest."""
    replacement = fields.Integer(load_default=None, allow_none=True, strict=True,
                                 validate=lambda n: 0 < n < 2**31)
    reason = fields.String(load_default="", allow_none=True,
                           validate=[NO_NUL, validate.Length(max=4096)])


class RevisionsQuery(Base):
    # 0 (what the ESC CLI sends for "from the latest") means no bound.
    before = fields.Integer(load_default=None, validate=lambda n: 0 <= n < 2**31)
    count = fields.Integer(load_default=None, validate=lambda n: 0 < n < 2**31)


class OpenQuery(Base):
    # A Go duration (`2h0m0s`), as the CLI sends it; the service caps it at 24h.
    duration = fields.String(load_default="", validate=_Name(
        r"^(?:[0-9]{1,6}(?:\.[0-9]{1,6})?(?:h|m|s|ms))*$", error="not a Go duration such as 2h0m0s"))


class ReadQuery(Base):
    property = text_field(load_default=None)


class CheckQuery(Base):
    show_secrets = fields.Boolean(data_key="showSecrets", load_default=False)


class OpenSession(Base):
    id = fields.String(required=True)


class UpdateResult(Base):
    diagnostics = fields.List(fields.Dict())


# An opened environment or one of its Values: free-form (esc.Environment / esc.Value).
OPENED = {"type": "object", "description": "esc.Environment {properties: {name: Value}} or "
                                           "esc.Value {value, secret?, unknown?, trace}"}
YAML_BODY = {"type": "string", "description": "the environment definition (YAML)"}

create_environment = CreateEnvironment()
environment_list = EnvironmentList()
list_query = ListQuery()
revisions = Revision(many=True)
revisions_query = RevisionsQuery()
retract_revision = RetractRevision()
environment_settings = EnvironmentSettings()
open_query = OpenQuery()
read_query = ReadQuery()
check_query = CheckQuery()
open_session = OpenSession()
update_result = UpdateResult()


class RevisionTag(Base):
    name = fields.String(required=True)
    revision = fields.Integer(required=True)
    created = fields.String(required=True)
    modified = fields.String(required=True)
    editor_login = fields.String(data_key="editorLogin", required=True)
    editor_name = fields.String(data_key="editorName", required=True)


class RevisionTagList(Base):
    tags = fields.List(fields.Nested(RevisionTag), required=True)
    next_token = fields.String(data_key="nextToken")


class CreateRevisionTag(Base):
    name = fields.String(required=True, validate=TAG_NAME)
    revision = fields.Integer(load_default=None, validate=lambda n: 0 < n < 2**31)


class UpdateRevisionTag(Base):
    revision = fields.Integer(load_default=None, validate=lambda n: 0 < n < 2**31)


class RevisionTagsQuery(Base):
    after = text_field(load_default="")


revision_tag = RevisionTag()
revision_tag_list = RevisionTagList()
create_revision_tag = CreateRevisionTag()
update_revision_tag = UpdateRevisionTag()
revision_tags_query = RevisionTagsQuery()


class CloneEnvironment(Base):
    project = fields.String(load_default=None, validate=PROJECT_NAME.with_error(
        "project names may only contain alphanumerics, hyphens, underscores or periods"))
    name = fields.String(required=True, validate=ENV_NAME)
    # 0 (the CLI's "not given") means the latest revision.
    version = fields.Integer(load_default=0, validate=lambda n: 0 <= n < 2**31)
    preserve_history = fields.Boolean(data_key="preserveHistory", load_default=False)
    preserve_access = fields.Boolean(data_key="preserveAccess", load_default=False)
    preserve_environment_tags = fields.Boolean(data_key="preserveEnvironmentTags",
                                               load_default=False)
    preserve_revision_tags = fields.Boolean(data_key="preserveRevisionTags", load_default=False)


class EnvironmentTag(Base):
    name = fields.String(required=True)
    value = fields.String(required=True)
    created = fields.String(required=True)
    modified = fields.String(required=True)
    editor_login = fields.String(data_key="editorLogin", required=True)
    editor_name = fields.String(data_key="editorName", required=True)


class EnvironmentTagList(Base):
    # Keyed by tag name, as the CLI and the esc-sdk read it; nextToken "0" on the last page.
    tags = fields.Dict(keys=fields.String(), values=fields.Nested(EnvironmentTag), required=True)
    next_token = fields.String(data_key="nextToken", required=True)


TAG_VALUE = [NO_NUL, validate.Length(max=MAX_TAG_VALUE)]


class TagRequest(Base):
    name = fields.String(load_default="", validate=_Name(r"^(?:[a-zA-Z0-9_.:-]{1,40})?$",
                                                         error="invalid tag name"))
    value = fields.String(load_default="", validate=TAG_VALUE)


class CreateEnvironmentTag(Base):
    name = fields.String(required=True, validate=TAG_NAME)
    value = fields.String(required=True, validate=TAG_VALUE)


class UpdateEnvironmentTag(Base):
    current_tag = fields.Nested(TagRequest, data_key="currentTag", load_default=dict)
    new_tag = fields.Nested(TagRequest, data_key="newTag", required=True)


class EnvironmentTagsQuery(Base):
    after = text_field(load_default="")
    count = fields.Integer(load_default=None, validate=lambda n: 0 < n <= 500)


clone_environment = CloneEnvironment()
environment_tag = EnvironmentTag()
environment_tag_list = EnvironmentTagList()
create_environment_tag = CreateEnvironmentTag()
update_environment_tag = UpdateEnvironmentTag()
environment_tags_query = EnvironmentTagsQuery()
