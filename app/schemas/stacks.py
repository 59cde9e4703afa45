"""Stack shapes: create, rename, tags, and the stack and summary responses."""
from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from ..api import stack_ref, unix

from .common import (
    MAX_TAG_VALUE,
    NO_NUL,
    TAG_NAME,
    Base,
    ORG_NAME,
    PROJECT_NAME,
    STACK_NAME,
    TAG_MAP_SCHEMA,
    stack_name_field,
    tags_field,
    text_field,
)


class UntypedDeploymentSchema(Base):
    # A validator rather than a check in code, so that the OpenAPI document states the range.
    version = fields.Integer(
        required=True,
        validate=validate.Range(1, 4, error="unsupported deployment version {input} (1 to 4)"),
    )
    features = fields.List(fields.String())
    deployment = fields.Dict(required=True)

    @validates_schema
    def resources_are_a_list(self, data, **kwargs):
        # The stored resource count is the length of this list (a string or object would be
        # miscounted, a number would fail).
        if not isinstance(data["deployment"].get("resources") or [], list):
            raise ValidationError("resources must be a list", "deployment")


class CreateStackSchema(Base):
    stack_name = stack_name_field(data_key="stackName", required=True)
    tags = tags_field(load_default=dict)
    teams = fields.List(fields.String())
    state = fields.Nested(UntypedDeploymentSchema)
    config = fields.Dict()


class RenameStackSchema(Base):
    """Both forms: the CLI's {"newName": "<stack>", "newProject": "<project>"} and the
    contract's {"newName": "org/project/stack"}. With newProject present (even empty) it is the
    CLI's form, where an empty field keeps the current name or project (apitype's rule)."""

    new_name = fields.String(data_key="newName", required=True)
    new_project = fields.String(data_key="newProject", allow_none=True)

    @validates_schema
    def parse_names(self, data, **kwargs):
        name = data["new_name"]
        if data.get("new_project") is not None:
            project = data["new_project"]
            if not name and not project:
                raise ValidationError("give newName, newProject or both", "newName")
            if project and not PROJECT_NAME.match(project):
                raise ValidationError(f"invalid project name {project!r}", "newProject")
            if name and not STACK_NAME.match(name):
                raise ValidationError(f"invalid stack name {name!r}", "newName")
            return
        parts = name.split("/")
        if len(parts) != 3:
            raise ValidationError(
                f"{name!r} is not a fully qualified stack name 'org/project/stack'", "newName"
            )
        org, project, stack = parts
        if not (ORG_NAME.match(org) and PROJECT_NAME.match(project) and STACK_NAME.match(stack)):
            raise ValidationError(f"invalid fully qualified stack name {name!r}", "newName")

    def target(self, data):
        """(org, project, stack) of the rename target; None for a part that does not change."""
        if data.get("new_project") is not None:
            return None, data["new_project"] or None, data["new_name"] or None
        org, project, stack = data["new_name"].split("/")
        return org, project, stack


class TagsSchema(Base):
    """The stack's full new tag map: the CLI's bare map, or the contract's {"tags": {...}}."""

    tags = tags_field(required=True)

    @pre_load
    def unwrap(self, data, **kwargs):
        if not isinstance(data, dict):
            raise ValidationError("the body must be a JSON object of tag names to values")
        if set(data) == {"tags"} and isinstance(data["tags"], dict):
            return data
        return {"tags": data}


class OperationSchema(Base):
    kind = fields.String()
    author = fields.String()
    started = fields.Integer()


class StackSchema(Base):
    id = fields.String()
    org_name = fields.String(data_key="orgName")
    project_name = fields.String(data_key="projectName")
    stack_name = fields.String(data_key="stackName")
    current_operation = fields.Nested(OperationSchema, data_key="currentOperation")
    active_update = fields.String(data_key="activeUpdate")
    tags = fields.Dict(keys=fields.String(), values=fields.String())
    version = fields.Integer()
    resource_count = fields.Integer(data_key="resourceCount")


class LastUpdateSchema(Base):
    kind = fields.String()
    status = fields.String()
    start_time = fields.Integer(data_key="startTime")


class StackSummarySchema(Base):
    id = fields.String()
    org_name = fields.String(data_key="orgName")
    project_name = fields.String(data_key="projectName")
    stack_name = fields.String(data_key="stackName")
    tags = fields.Dict(keys=fields.String(), values=fields.String())
    version = fields.Integer()
    active_update = fields.String(data_key="activeUpdate")
    # The CLI decodes lastUpdate as Unix seconds; the contract's object travels as lastUpdateInfo.
    last_update = fields.Integer(data_key="lastUpdate")
    last_update_info = fields.Nested(LastUpdateSchema, data_key="lastUpdateInfo")
    resource_count = fields.Integer(data_key="resourceCount")


class ListStacksSchema(Base):
    stacks = fields.List(fields.Nested(StackSummarySchema))
    continuation_token = fields.String(data_key="continuationToken", allow_none=True)


class ListStacksQuerySchema(Base):
    organization = text_field()
    project = text_field()
    tag_name = text_field(data_key="tagName")
    tag_value = text_field(data_key="tagValue")
    # The id of the last stack of the previous page (a bigint).
    continuation_token = fields.String(
        data_key="continuationToken",
        validate=validate.Regexp(r"^[0-9]{1,18}$", error="invalid continuationToken"),
    )


create_stack = CreateStackSchema()
rename_stack = RenameStackSchema()
stack_tags = TagsSchema()
stack = StackSchema()
list_stacks = ListStacksSchema()
list_stacks_query = ListStacksQuerySchema()


class CreatedStackSchema(Base):
    """The answer to a create: the stack's identity, tags and version."""

    id = fields.String()
    org_name = fields.String(data_key="orgName")
    project_name = fields.String(data_key="projectName")
    stack_name = fields.String(data_key="stackName")
    tags = fields.Dict(keys=fields.String(), values=fields.String())
    version = fields.Integer()


class DeleteStackQuerySchema(Base):
    # Delete even if the stack still has resources (the CLI's `stack rm --force`); an empty
    # value (`?force=`) is false.
    force = fields.Boolean(load_default=False, falsy=fields.Boolean.falsy | {""})


# The body of POST .../rename as documented (RenameStackSchema loads both forms): the CLI's (a
# stack name and a project, where an empty one keeps the current one, but not both empty) or
# the contract's fully qualified name, without newProject (present, even empty, it is the
# CLI's form).
FULLY_QUALIFIED = (f"^{ORG_NAME.pattern[1:-1]}/{PROJECT_NAME.pattern[1:-1]}/"
                   f"{STACK_NAME.pattern[1:-1]}$")


def _or_empty(name):
    return f"^(?:{name.pattern[1:-1]})?$"


RENAME_BODY = {"oneOf": [
    {"type": "object", "required": ["newName", "newProject"],
     "properties": {"newName": {"type": "string", "pattern": _or_empty(STACK_NAME)},
                    "newProject": {"type": "string", "pattern": _or_empty(PROJECT_NAME)}},
     "anyOf": [{"properties": {"newName": {"minLength": 1}}},
               {"properties": {"newProject": {"minLength": 1}}}]},
    {"type": "object", "required": ["newName"],
     "properties": {"newName": {"type": "string", "pattern": FULLY_QUALIFIED},
                    "newProject": {"type": "null"}}},
]}

# The body of PATCH .../tags as documented: the CLI's bare map of tag names to values, or the
# contract's {"tags": {...}} (TagsSchema loads both).
TAGS_BODY = {"oneOf": [
    TAG_MAP_SCHEMA,
    {"type": "object", "required": ["tags"], "additionalProperties": False,
     "properties": {"tags": TAG_MAP_SCHEMA}},
]}

created_stack = CreatedStackSchema()
delete_stack_query = DeleteStackQuerySchema()


def stack_of_row(row):
    """The Stack the CLI reads (StackSchema's fields), of a stack row (queries get_stack,
    lock_stack)."""
    body = {
        "id": stack_ref(row["org_name"], row["project_name"], row["stack_name"]),
        "org_name": row["org_name"],
        "project_name": row["project_name"],
        "stack_name": row["stack_name"],
        "active_update": str(row["active_update_id"] or ""),
        "tags": row["tags"],
        "version": row["version"],
        "resource_count": row["resource_count"] or 0,
    }
    if row["running_update_id"] is not None:
        body["current_operation"] = {
            "kind": row["op_kind"],
            "author": row["op_author"] or "",
            "started": unix(row["op_started"]) or 0,
        }
    return body


class StackTagSchema(Base):
    """One tag (Pulumi's StackTag), for the single-tag operations."""

    name = fields.String(required=True, validate=TAG_NAME.with_error(
        "at most 40 characters of letters, digits, '-', '_', '.' or ':'"))
    value = fields.String(required=True, validate=[validate.Length(max=MAX_TAG_VALUE), NO_NUL])


stack_tag = StackTagSchema()


# --- deleted stacks (Pulumi's restore-stack API) ------------------------------------------------

class DeletedStackSchema(Base):
    # `id` and `programId` are both the stack's own id: the {programID} of the restore path.
    id = fields.String()
    program_id = fields.String(data_key="programId")
    project_name = fields.String(data_key="projectName")
    stack_name = fields.String(data_key="stackName")
    version = fields.Integer()
    deleted_at = fields.Integer(data_key="deletedAt")
    # Pulumi's UpdateSummary: every field is required, so a stack never updated reports
    # not-started at 0.
    # (By name: app/schemas/resources.py imports this module's neighbours.)
    last_update = fields.Nested("UpdateSummarySchema", data_key="lastUpdate")


class DeletedStacksSchema(Base):
    deleted_stacks = fields.List(fields.Nested(DeletedStackSchema), data_key="deletedStacks")


class RestoreStackSchema(Base):
    """The name to restore the stack under; its own when absent (Pulumi's SDK always sends
    one)."""

    stack_name = stack_name_field(data_key="stackName")


deleted_stacks = DeletedStacksSchema()
restore_stack = RestoreStackSchema()

# Pulumi's AppUpdateResult of an update's status.
UPDATE_RESULT = {"not started": "not-started", "running": "in-progress",
                 "succeeded": "succeeded", "failed": "failed", "cancelled": "failed"}


def deleted_stack_of_row(row):
    return {
        "id": str(row["id"]), "program_id": str(row["id"]),
        "project_name": row["project_name"], "stack_name": row["stack_name"],
        "version": row["version"], "deleted_at": unix(row["deleted_at"]),
        "last_update": {
            "result": UPDATE_RESULT.get(row["last_status"], "not-started"),
            "start_time": unix(row["last_start"]) or 0,
            "end_time": unix(row["last_end"]) or 0,
            "resource_count": row["resource_count"] or 0,
        },
    }
