"""Update shapes: the program request, start, lease, checkpoint envelope, engine events, status,
history and export/import."""
from marshmallow import ValidationError, fields, validate, validates_schema

from .common import Base, tags_field

UPDATE_KINDS = ("update", "preview", "refresh", "destroy")
FINAL_STATUSES = ("succeeded", "failed", "cancelled")


# --- requests -----------------------------------------------------------------------------------

class UpdateOptionsSchema(Base):
    local_policy_pack_paths = fields.List(fields.String(), data_key="localPolicyPackPaths",
                                          allow_none=True)
    color = fields.String()
    dry_run = fields.Boolean(data_key="dryRun", load_default=False)
    parallel = fields.Integer()
    show_config = fields.Boolean(data_key="showConfig")
    show_replacement_steps = fields.Boolean(data_key="showReplacementSteps")
    show_sames = fields.Boolean(data_key="showNames")
    summary = fields.Boolean()
    debug = fields.Boolean()


class ConfigValueSchema(Base):
    string = fields.String(load_default="")
    secret = fields.Boolean(load_default=False)
    object = fields.Boolean(load_default=False)


class UpdateMetadataSchema(Base):
    message = fields.String(load_default="", allow_none=True)
    environment = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict,
                              allow_none=True)


class UpdateProgramSchema(Base):
    """UpdateProgramRequest: what `pulumi up/preview/refresh/destroy` is about to run."""

    name = fields.String(load_default="")
    runtime = fields.String(load_default="")
    main = fields.String(load_default="")
    description = fields.String(load_default="")
    options = fields.Nested(UpdateOptionsSchema, load_default=lambda: {"dry_run": False})
    config = fields.Dict(keys=fields.String(), values=fields.Nested(ConfigValueSchema),
                         load_default=dict, allow_none=True)
    metadata = fields.Nested(UpdateMetadataSchema, load_default=lambda: {"message": "",
                                                                          "environment": {}})


class StartUpdateSchema(Base):
    # The full new tag set of the stack; absent leaves the tags as they are.
    tags = tags_field(allow_none=True)
    # Journaling is not offered yet: the answer never carries a journal version.
    journal_version = fields.Integer(data_key="journalVersion")


class RenewLeaseSchema(Base):
    # Deprecated: the token travels in the Authorization header.
    token = fields.String()
    duration = fields.Integer(load_default=0)


class CompleteUpdateSchema(Base):
    status = fields.String(required=True, validate=validate.OneOf(FINAL_STATUSES))


class CheckpointSchema(Base):
    """PatchUpdateCheckpointRequest's envelope (its deployment is stored as sent)."""

    is_invalid = fields.Boolean(data_key="isInvalid", load_default=False)
    version = fields.Integer(required=True)
    features = fields.List(fields.String(), allow_none=True)
    deployment = fields.Dict(required=True)

    @validates_schema
    def known_version(self, data, **kwargs):
        if not 1 <= data["version"] <= 4:
            raise ValidationError(
                f"unsupported deployment version {data['version']} (1 to 4)", "version"
            )
        resources = data["deployment"].get("resources")
        if resources is not None and not isinstance(resources, list):
            raise ValidationError("resources must be an array", "deployment")


class ImportSchema(CheckpointSchema):
    """UntypedDeployment, the body of POST .../import (its deployment is stored as sent)."""


class SummaryEventSchema(Base):
    resource_changes = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                   data_key="resourceChanges", load_default=dict, allow_none=True)


class EngineEventSchema(Base):
    sequence = fields.Integer(required=True, validate=validate.Range(min=0))
    timestamp = fields.Integer()
    summary_event = fields.Nested(SummaryEventSchema, data_key="summaryEvent")


class EngineEventBatchSchema(Base):
    events = fields.List(fields.Nested(EngineEventSchema), required=True)


class HistoryQuerySchema(Base):
    page_size = fields.Integer(data_key="pageSize", validate=validate.Range(min=0))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))


class PreviewsQuerySchema(HistoryQuerySchema):
    asc = fields.Boolean(load_default=False)


class EventsQuerySchema(Base):
    continuation_token = fields.Integer(data_key="continuationToken",
                                        validate=validate.Range(min=-1))
    type = fields.List(fields.String(), load_default=list)
    urn = fields.String()
    include_non_activated = fields.Boolean()


# --- responses ----------------------------------------------------------------------------------

class CreateUpdateResponseSchema(Base):
    update_id = fields.String(data_key="updateID")


class StartUpdateResponseSchema(Base):
    version = fields.Integer()
    token = fields.String()
    token_expiration = fields.Integer(data_key="tokenExpiration")


class RenewLeaseResponseSchema(Base):
    token = fields.String()
    token_expiration = fields.Integer(data_key="tokenExpiration")


class UpdateResultsSchema(Base):
    status = fields.String()
    events = fields.List(fields.Dict())
    continuation_token = fields.String(data_key="continuationToken", allow_none=True)


class UpdateEventsSchema(Base):
    events = fields.List(fields.Raw())
    # Serialised as null, not left out, once everything was delivered and the update is over.
    continuation_token = fields.String(data_key="continuationToken", allow_none=True)


class UpdateInfoSchema(Base):
    kind = fields.String()
    start_time = fields.Integer(data_key="startTime")
    message = fields.String()
    environment = fields.Dict(keys=fields.String(), values=fields.String())
    config = fields.Dict(keys=fields.String(), values=fields.Nested(ConfigValueSchema))
    result = fields.String()
    end_time = fields.Integer(data_key="endTime")
    version = fields.Integer()
    resource_changes = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                   data_key="resourceChanges")
    resource_count = fields.Integer(data_key="resourceCount")


class HistorySchema(Base):
    updates = fields.List(fields.Nested(UpdateInfoSchema))


class LatestUpdateSchema(Base):
    info = fields.Nested(UpdateInfoSchema)


class PreviewSchema(Base):
    update_id = fields.String(data_key="updateID")


class PreviewsSchema(Base):
    updates = fields.List(fields.Nested(PreviewSchema))


class ImportResponseSchema(Base):
    # Lower-case "d" here, unlike updateID everywhere else.
    update_id = fields.String(data_key="updateId")


update_program = UpdateProgramSchema()
start_update = StartUpdateSchema()
renew_lease = RenewLeaseSchema()
complete_update = CompleteUpdateSchema()
checkpoint = CheckpointSchema()
import_deployment = ImportSchema()
engine_event_batch = EngineEventBatchSchema()
history_query = HistoryQuerySchema()
previews_query = PreviewsQuerySchema()
events_query = EventsQuerySchema()

created_update = CreateUpdateResponseSchema()
started_update = StartUpdateResponseSchema()
renewed_lease = RenewLeaseResponseSchema()
update_results = UpdateResultsSchema()
update_events = UpdateEventsSchema()
update_info = UpdateInfoSchema()
history = HistorySchema()
latest_update = LatestUpdateSchema()
previews = PreviewsSchema()
imported = ImportResponseSchema()
