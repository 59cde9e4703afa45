"""Webhook shapes: Pulumi's Webhook (request and response) and WebhookDelivery."""
from marshmallow import fields, validate

from ..outbound import MAX_URL
from ..webhooks import FORMATS, GROUP_OF, GROUPS, MAX_DISPLAY_NAME, MAX_SECRET
from .common import NO_NUL, Base, text_field

# The URL's form; what its host resolves to is checked by app/outbound.py (400 naming it).
PAYLOAD_URL = validate.Regexp(r"^https?://[^\s\u0000/?#]+([/?#][^\s\u0000]*)?$",
                              error="the payload URL must be an http:// or https:// URL with a "
                                    "host")


class WebhookSchema(Base):
    """The request (`secret` write-only; `name` is generated, whatever is sent) and the response
    (`hasSecret`, `secretCiphertext`: a fingerprint, never the secret)."""
    organization_name = text_field(data_key="organizationName", allow_none=True)
    project_name = text_field(data_key="projectName", allow_none=True)
    stack_name = text_field(data_key="stackName", allow_none=True)
    env_name = text_field(data_key="envName", allow_none=True)
    name = text_field(allow_none=True)
    display_name = fields.String(data_key="displayName", required=True, validate=[
        NO_NUL, validate.Length(min=1, max=MAX_DISPLAY_NAME,
                                error="displayName must be 1 to {max} characters: it is empty "
                                      "or longer than {max}")])
    payload_url = fields.String(data_key="payloadUrl", required=True, validate=[
        validate.Length(max=MAX_URL), PAYLOAD_URL])
    active = fields.Boolean(load_default=True)
    format = fields.String(allow_none=True, validate=validate.OneOf(
        FORMATS + ("pulumi_deployments",), error="unknown format {input!r}; valid formats: "
                                                 + ", ".join(FORMATS)))
    filters = fields.List(fields.String(validate=validate.OneOf(
        sorted(GROUP_OF), error="unknown event filter {input!r}")),
        allow_none=True, validate=validate.Length(max=100))
    groups = fields.List(fields.String(validate=validate.OneOf(
        sorted(GROUPS), error="unknown event group {input!r}")),
        allow_none=True, validate=validate.Length(max=20))
    secret = fields.String(load_only=True, allow_none=True,
                           validate=[NO_NUL, validate.Length(max=MAX_SECRET)])
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
