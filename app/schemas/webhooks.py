"""Webhook shapes: Pulumi's Webhook (request and response) and WebhookDelivery."""
from marshmallow import fields, validate

from .common import NO_NUL, Base, text_field


class WebhookSchema(Base):
    """The request (`secret` write-only; `name` is generated, whatever is sent) and the response
    (`hasSecret`, `secretCiphertext`: a fingerprint, never the secret)."""
    organization_name = text_field(data_key="organizationName", allow_none=True)
    project_name = text_field(data_key="projectName", allow_none=True)
    stack_name = text_field(data_key="stackName", allow_none=True)
    name = text_field(allow_none=True)
    # Lengths and values are checked by app/webhooks.py, which names the rule in its 400.
    display_name = text_field(data_key="displayName", required=True)
    payload_url = text_field(data_key="payloadUrl", required=True)
    active = fields.Boolean(load_default=True)
    format = text_field(allow_none=True)
    filters = fields.List(fields.String(validate=NO_NUL), allow_none=True,
                          validate=validate.Length(max=100))
    groups = fields.List(fields.String(validate=NO_NUL), allow_none=True,
                         validate=validate.Length(max=20))
    secret = text_field(load_only=True, allow_none=True)
    has_secret = fields.Boolean(data_key="hasSecret", dump_only=True)
    secret_ciphertext = fields.String(data_key="secretCiphertext", dump_only=True)


class WebhookDeliverySchema(Base):
    id = fields.String()
    kind = fields.String()
    payload = fields.String()
    timestamp = fields.Integer()
    duration = fields.Integer()
    request_url = fields.String(data_key="requestUrl")
    request_headers = fields.String(data_key="requestHeaders")
    response_code = fields.Integer(data_key="responseCode")
    response_headers = fields.String(data_key="responseHeaders")
    response_body = fields.String(data_key="responseBody")


webhook = WebhookSchema()
webhooks = WebhookSchema(many=True)
delivery = WebhookDeliverySchema()
deliveries = WebhookDeliverySchema(many=True)
