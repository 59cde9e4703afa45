"""Health shapes: what /healthz and /readyz answer, and /metrics' text."""
from marshmallow import fields, validate

from .common import Base


class HealthSchema(Base):
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class ReadySchema(Base):
    status = fields.String(required=True, validate=validate.OneOf(["ready"]))


# The Prometheus text exposition format.
METRICS_TEXT = {"type": "string"}

health = HealthSchema()
ready = ReadySchema()
