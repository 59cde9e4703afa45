"""The shapes of the read-only stack routes Pulumi's console client (pulumi-cloud-sdk StacksApi)
calls: resources at a version, the resource count, stack metadata, previews of a version, an
update's summary, the stack's activity and an update's timeline."""
from marshmallow import fields, validate

from .common import Base
from .updates import RequestedBySchema, UpdateRecordSchema


class ResourceSchema(Base):
    # A resource of a state as the CLI wrote it, secrets masked (app/resources.py).
    id = fields.String()
    type = fields.String(required=True)
    urn = fields.String(required=True)
    custom = fields.Boolean(dump_default=False)
    delete = fields.Boolean(dump_default=False)
    dependencies = fields.List(fields.String(), dump_default=list)
    parent = fields.String()
    protect = fields.Boolean()
    external = fields.Boolean()
    retain_on_delete = fields.Boolean(data_key="retainOnDelete")
    additional_secret_outputs = fields.List(fields.String(), data_key="additionalSecretOutputs")
    aliases = fields.List(fields.String())
    deleted_with = fields.String(data_key="deletedWith")
    init_errors = fields.List(fields.String(), data_key="initErrors")
    inputs = fields.Dict(keys=fields.String())
    outputs = fields.Dict(keys=fields.String())


class ResourceInfoSchema(Base):
    resource = fields.Nested(ResourceSchema)


class StackResourcesSchema(Base):
    resources = fields.List(fields.Nested(ResourceInfoSchema))
    # Pulumi Cloud's region of the stack; a self-hosted service has none.
    region = fields.String(dump_default="")
    version = fields.Integer()


class ResourceCountSchema(Base):
    resource_count = fields.Integer(data_key="resourceCount")
    version = fields.Integer()


class NotificationSettingsSchema(Base):
    notify_update_failure = fields.Boolean(data_key="notifyUpdateFailure")
    notify_update_success = fields.Boolean(data_key="notifyUpdateSuccess")


class StackMetadataSchema(Base):
    id = fields.String()
    org_name = fields.String(data_key="orgName")
    project_name = fields.String(data_key="projectName")
    stack_name = fields.String(data_key="stackName")
    owned_by = fields.Nested(RequestedBySchema, data_key="ownedBy")
    notification_settings = fields.Nested(NotificationSettingsSchema,
                                          data_key="notificationSettings")


class PageQuerySchema(Base):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=2 ** 31 - 1))
    page_size = fields.Integer(data_key="pageSize", load_default=100,
                               validate=validate.Range(min=1, max=1000))
    asc = fields.Boolean(load_default=False)


class StackUpdatesSchema(Base):
    updates = fields.List(fields.Nested(UpdateRecordSchema))
    items_per_page = fields.Integer(data_key="itemsPerPage")
    total = fields.Integer()


class UpdateSummarySchema(Base):
    result = fields.String()
    start_time = fields.Integer(data_key="startTime")
    end_time = fields.Integer(data_key="endTime")
    resource_count = fields.Integer(data_key="resourceCount")


class ActivitySchema(Base):
    update = fields.Nested(UpdateRecordSchema)


class StackActivitySchema(Base):
    activity = fields.List(fields.Nested(ActivitySchema))
    items_per_page = fields.Integer(data_key="itemsPerPage")
    total = fields.Integer()


class UpdateTimelineSchema(Base):
    update = fields.Nested(UpdateRecordSchema)
    collated_update_events = fields.List(fields.Nested(UpdateRecordSchema),
                                         data_key="collatedUpdateEvents")
    previews = fields.List(fields.Nested(UpdateRecordSchema))


stack_resources = StackResourcesSchema()
resource_count = ResourceCountSchema()
stack_metadata = StackMetadataSchema()
page_query = PageQuerySchema()
stack_updates = StackUpdatesSchema()
update_summary = UpdateSummarySchema()
stack_activity = StackActivitySchema()
update_timeline = UpdateTimelineSchema()
