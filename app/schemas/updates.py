"""Update shapes: the program request, start, lease, checkpoint envelope, engine events, status,
history and export/import."""
from marshmallow import INCLUDE, fields, validate

from .common import Base, tags_field, text_field
from .stacks import StackSchema

MAX_INT32 = 2 ** 31 - 1

FINAL_STATUSES = ("succeeded", "failed", "cancelled")
# The update kind of each UpdateKind the CLI sends to begin-update.
BEGIN_UPDATE_KINDS = {"update": "update", "preview": "preview", "refresh": "refresh",
                      "destroy": "destroy", "resource-import": "update"}


# --- requests -----------------------------------------------------------------------------------

class UpdateOptionsSchema(Base):
    local_policy_pack_paths = fields.List(text_field(), data_key="localPolicyPackPaths",
                                          allow_none=True)
    color = text_field()
    dry_run = fields.Boolean(data_key="dryRun", load_default=False)
    parallel = fields.Integer()
    show_config = fields.Boolean(data_key="showConfig")
    show_replacement_steps = fields.Boolean(data_key="showReplacementSteps")
    # Not a typo: the CLI's UpdateOptions.ShowSames goes on the wire as "showNames"
    # (sdk/go/common/apitype/updates.go).
    show_sames = fields.Boolean(data_key="showNames")
    summary = fields.Boolean()
    debug = fields.Boolean()


class ConfigValueSchema(Base):
    string = text_field(load_default="")
    secret = fields.Boolean(load_default=False)
    object = fields.Boolean(load_default=False)


class UpdateMetadataSchema(Base):
    message = text_field(load_default="", allow_none=True)
    environment = fields.Dict(keys=text_field(), values=text_field(), load_default=dict,
                              allow_none=True)


class UpdateProgramSchema(Base):
    """UpdateProgramRequest: what `pulumi up/preview/refresh/destroy` is about to run."""

    name = text_field(load_default="")
    runtime = text_field(load_default="")
    main = text_field(load_default="")
    description = text_field(load_default="")
    options = fields.Nested(UpdateOptionsSchema, load_default=lambda: {"dry_run": False})
    config = fields.Dict(keys=text_field(), values=fields.Nested(ConfigValueSchema),
                         load_default=dict, allow_none=True)
    metadata = fields.Nested(UpdateMetadataSchema, load_default=lambda: {"message": "",
                                                                          "environment": {}})


class StartUpdateSchema(Base):
    # The full new tag set of the stack; absent leaves the tags as they are.
    tags = tags_field(allow_none=True)
    # The journal format the CLI can write (it sends its newest, 2, unless journaling is off).
    journal_version = fields.Integer(data_key="journalVersion", load_default=0)


class BeginUpdateSchema(StartUpdateSchema):
    """BeginUpdateRequest: create (the program) and start (tags, journal) in one request."""

    # The CLI's UpdateKind; `pulumi import` runs as an update ("resource-import").
    update_kind = fields.String(data_key="updateKind", required=True,
                                validate=validate.OneOf(BEGIN_UPDATE_KINDS))
    program = fields.Nested(UpdateProgramSchema, required=True)


class RenewLeaseSchema(Base):
    # Deprecated: the token travels in the Authorization header.
    token = fields.String()
    duration = fields.Integer(load_default=0)


class CompleteUpdateSchema(Base):
    status = fields.String(required=True, validate=validate.OneOf(FINAL_STATUSES))


class DeploymentSchema(Base):
    """A deployment as the service reads it: opaque, but for its resources, which are counted."""

    class Meta:
        unknown = INCLUDE

    resources = fields.List(fields.Dict(), allow_none=True)


class CheckpointSchema(Base):
    """PatchUpdateCheckpointRequest's envelope (its deployment is stored as sent)."""

    is_invalid = fields.Boolean(data_key="isInvalid", load_default=False)
    version = fields.Integer(required=True, validate=validate.Range(min=1, max=4))
    features = fields.List(fields.String(), allow_none=True)
    deployment = fields.Nested(DeploymentSchema, required=True)


class DeploymentEnvelopeSchema(Base):
    """UntypedDeployment, the body of POST .../import and of every export (its deployment is
    stored and served as sent)."""

    version = fields.Integer(required=True, validate=validate.Range(min=1, max=4))
    features = fields.List(fields.String(), allow_none=True)
    deployment = fields.Nested(DeploymentSchema, required=True)


class SummaryEventSchema(Base):
    resource_changes = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                   data_key="resourceChanges", load_default=dict, allow_none=True)


class EngineEventSchema(Base):
    """One engine event: its sequence number, time, and one payload member (stdoutEvent,
    summaryEvent, ...), kept as sent."""

    class Meta:
        unknown = INCLUDE

    sequence = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_INT32))
    timestamp = fields.Integer()
    summary_event = fields.Nested(SummaryEventSchema, data_key="summaryEvent")


class EngineEventBatchSchema(Base):
    events = fields.List(fields.Nested(EngineEventSchema), required=True)


class HistoryQuerySchema(Base):
    page_size = fields.Integer(data_key="pageSize", validate=validate.Range(min=0, max=10_000))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_INT32))


class PreviewsQuerySchema(HistoryQuerySchema):
    asc = fields.Boolean(load_default=False)


class EventsQuerySchema(Base):
    continuation_token = fields.Integer(data_key="continuationToken",
                                        validate=validate.Range(min=-1, max=MAX_INT32))
    type = fields.List(text_field(), load_default=list)
    urn = text_field()
    include_non_activated = fields.Boolean()


# --- responses ----------------------------------------------------------------------------------

class CreateUpdateResponseSchema(Base):
    update_id = fields.String(data_key="updateID")


class StartUpdateResponseSchema(Base):
    version = fields.Integer()
    token = fields.String()
    token_expiration = fields.Integer(data_key="tokenExpiration")
    # 1: persist state as journal entries; absent: checkpoints.
    journal_version = fields.Integer(data_key="journalVersion")


class BeginUpdateResponseSchema(StartUpdateResponseSchema):
    """BeginUpdateResponse. The stack's state before the update (`deployment`, an
    UntypedDeployment) is added to the dumped object as stored text, when it is small enough."""

    update_id = fields.String(data_key="updateID")
    stack = fields.Nested(StackSchema)
    deployment = fields.Dict(dump_only=True, metadata={
        "description": "The stack's state before the update; absent when it is over "
                       "BEGIN_UPDATE_STATE_MAX_BYTES (the CLI then exports it)"})


class JournalEntrySchema(Base):
    """One entry as the service needs it: the rest is kept as sent and read at replay."""

    class Meta:
        unknown = INCLUDE

    version = fields.Integer(required=True, validate=validate.Equal(
        1, error="only journal entries of version 1 are accepted"))
    kind = fields.Integer(required=True, validate=validate.Range(0, 9))
    sequence_id = fields.Integer(data_key="sequenceID", required=True,
                                 validate=validate.Range(0, 2 ** 63 - 1))
    operation_id = fields.Integer(data_key="operationID", load_default=0)


class JournalEntriesSchema(Base):
    entries = fields.List(fields.Nested(JournalEntrySchema), load_default=list)


class VerbatimCheckpointSchema(Base):
    # The deployment schema version; the deployment itself is kept byte for byte.
    version = fields.Integer(required=True)
    untyped_deployment = fields.Nested(DeploymentEnvelopeSchema, data_key="untypedDeployment",
                                       required=True)
    sequence_number = fields.Integer(data_key="sequenceNumber", required=True,
                                     validate=validate.Range(1, 2 ** 31 - 1))


class DeltaCheckpointSchema(Base):
    version = fields.Integer(required=True)
    checkpoint_hash = fields.String(data_key="checkpointHash", required=True,
                                    validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    sequence_number = fields.Integer(data_key="sequenceNumber", required=True,
                                     validate=validate.Range(1, 2 ** 31 - 1))
    # gotextdiff TextEdits: {"Span": {"start": {"offset"}, "end": {"offset"}}, "NewText"}.
    deployment_delta = fields.List(fields.Dict(), data_key="deploymentDelta", load_default=list)


class RenewLeaseResponseSchema(Base):
    token = fields.String()
    token_expiration = fields.Integer(data_key="tokenExpiration")


class UpdateResultsSchema(Base):
    status = fields.String(validate=validate.OneOf(
        ("not started", "requested", "running", "failed", "succeeded", "cancelled")))
    events = fields.List(fields.Dict())
    continuation_token = fields.String(data_key="continuationToken", allow_none=True)


class UpdateEventsSchema(Base):
    events = fields.List(fields.Dict())
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


class RequestedBySchema(Base):
    name = fields.String()
    github_login = fields.String(data_key="githubLogin")
    avatar_url = fields.String(data_key="avatarUrl")


class UpdateRecordSchema(Base):
    """Pulumi's UpdateInfo envelope (GET .../updates/latest and .../updates/{version}): the
    operation (`info`, what the CLI reads) and who ran it, its id, and the stack's latest version."""

    info = fields.Nested(UpdateInfoSchema)
    update_id = fields.String(data_key="updateID")
    version = fields.Integer()
    latest_version = fields.Integer(data_key="latestVersion")
    requested_by = fields.Nested(RequestedBySchema, data_key="requestedBy")


class PreviewSchema(Base):
    update_id = fields.String(data_key="updateID")


class PreviewsSchema(Base):
    updates = fields.List(fields.Nested(PreviewSchema))


class StackOutputsQuerySchema(Base):
    # The update that reads the outputs, for coherence windows (which the service does not
    # offer): accepted and ignored.
    reading_update_id = fields.String(data_key="readingUpdateID")


class StackOutputsSchema(Base):
    # The stack resource's outputs exactly as the state stores them (secrets still encrypted)
    # and the secrets provider that decrypts them; both absent when the stack has no state.
    outputs = fields.Dict(keys=fields.String())
    secrets_providers = fields.Dict(data_key="secretsProviders")


class ImportResponseSchema(Base):
    # Lower-case "d" here, unlike updateID everywhere else.
    update_id = fields.String(data_key="updateId")


update_program = UpdateProgramSchema()
start_update = StartUpdateSchema()
journal_entries = JournalEntriesSchema()
verbatim_checkpoint = VerbatimCheckpointSchema()
delta_checkpoint = DeltaCheckpointSchema()
renew_lease = RenewLeaseSchema()
complete_update = CompleteUpdateSchema()
checkpoint = CheckpointSchema()
import_deployment = DeploymentEnvelopeSchema()
engine_event_batch = EngineEventBatchSchema()
history_query = HistoryQuerySchema()
previews_query = PreviewsQuerySchema()
events_query = EventsQuerySchema()
stack_outputs_query = StackOutputsQuerySchema()

created_update = CreateUpdateResponseSchema()
started_update = StartUpdateResponseSchema()
begin_update = BeginUpdateSchema()
begun_update = BeginUpdateResponseSchema()
renewed_lease = RenewLeaseResponseSchema()
update_results = UpdateResultsSchema()
update_events = UpdateEventsSchema()
update_info = UpdateInfoSchema()
update_record = UpdateRecordSchema()
history = HistorySchema()
previews = PreviewsSchema()
imported = ImportResponseSchema()
stack_outputs = StackOutputsSchema()
