"""The audit log's shapes: the list and export queries, Pulumi's AuditLogEvent, the event-type
catalog."""
from marshmallow import fields, validate

from ..audit import EVENT_TYPES
from .common import NO_NUL, Base
from .orgs import UserInfoSchema

MAX_PAGE_SIZE = 1000


class AuditQuerySchema(Base):
    """Filters of the list and the export (the CLI's and the SDK's names); times are Unix seconds,
    both bounds included."""
    event = fields.String(data_key="eventFilter", validate=validate.OneOf(
        sorted(EVENT_TYPES), error="unknown event type {input!r} (see .../auditlogs/event-types)"))
    login = fields.String(data_key="userFilter", validate=[NO_NUL, validate.Length(max=100)])
    start_time = fields.Integer(data_key="startTime", validate=validate.Range(min=0, max=2 ** 40))
    end_time = fields.Integer(data_key="endTime", validate=validate.Range(min=0, max=2 ** 40))
    continuation_token = fields.String(data_key="continuationToken", validate=validate.Regexp(
        r"^[0-9]{1,18}$", error="not a continuation token this service gave"))


class ListQuerySchema(AuditQuerySchema):
    page_size = fields.Integer(data_key="pageSize", load_default=100,
                               validate=validate.Range(min=1, max=MAX_PAGE_SIZE))
    # The SDK sends format=json to the list.
    format = fields.String(validate=validate.OneOf(["json"]))


class ExportQuerySchema(AuditQuerySchema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "cef"]))


class AuditLogEventSchema(Base):
    timestamp = fields.Integer()
    source_ip = fields.String(data_key="sourceIP")
    event = fields.String()
    description = fields.String()
    user = fields.Nested(UserInfoSchema)
    token_id = fields.String(data_key="tokenID")
    require_org_admin = fields.Boolean(data_key="reqOrgAdmin")
    require_stack_admin = fields.Boolean(data_key="reqStackAdmin")
    authentication_failure = fields.Boolean(data_key="authFailure")
    actor_name = fields.String(data_key="actorName")


class AuditLogEventsSchema(Base):
    audit_log_events = fields.List(fields.Nested(AuditLogEventSchema), data_key="auditLogEvents")
    continuation_token = fields.String(data_key="continuationToken")


class EventTypeSchema(Base):
    event = fields.String()
    display_name = fields.String(data_key="displayName")
    description = fields.String()
    requires_org_admin = fields.Boolean(data_key="requiresOrgAdmin")
    requires_stack_admin = fields.Boolean(data_key="requiresStackAdmin")
    authentication_failure = fields.Boolean(data_key="authenticationFailure")
    deprecated = fields.Boolean()


class EventTypesSchema(Base):
    event_types = fields.List(fields.Nested(EventTypeSchema), data_key="eventTypes")


list_query = ListQuerySchema()
export_query = ExportQuerySchema()
audit_log_events = AuditLogEventsSchema()
event_types = EventTypesSchema()
