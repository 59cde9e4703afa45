"""Secrets shapes: encrypt, decrypt, their batch forms, and the decryption notices. Values travel
as Go []byte does in JSON: standard base64 with padding, in both directions."""
import base64
import binascii

from marshmallow import fields

from .common import Base


# The same rule as JSON Schema, for the OpenAPI document: whole groups of 4 characters, and in
# a padded last group the bits past the data are zero (the one 'A' in "QQ==" vs "QR==").
CANONICAL_BASE64 = (r"^(?:[A-Za-z0-9+/]{4})*"
                    r"(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$")


class Base64Bytes(fields.Field):
    """Bytes as canonical standard padded base64 (what Go's encoding/json writes). Anything else
    is refused, so that a batch-decrypt answer can be keyed by exactly the strings requested.
    The OpenAPI document says so: type string, format byte (app/openapi.py maps the class)
    and the pattern in its metadata."""

    default_error_messages = {"invalid": "not standard base64 with padding"}

    def __init__(self, **kwargs):
        kwargs["metadata"] = {"pattern": CANONICAL_BASE64, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise self.make_error("invalid") from None
        if base64.b64encode(raw).decode("ascii") != value:
            raise self.make_error("invalid")  # unused trailing bits set: not canonical
        return raw

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else base64.b64encode(value).decode("ascii")


def _values(**kwargs):
    # May be empty, or null: older CLIs ask to decrypt an empty batch when a state has no
    # secrets (`pulumi stack export --show-secrets` after a destroy): v3.60.0 sends [], v3.30.0
    # null. The routes read null as [].
    return fields.List(Base64Bytes(required=True), required=True, allow_none=True, **kwargs)


class EncryptValueSchema(Base):
    # May be empty: "" is a valid secret.
    plaintext = Base64Bytes(required=True)


class EncryptValueResponseSchema(Base):
    ciphertext = Base64Bytes()


class DecryptValueSchema(Base):
    ciphertext = Base64Bytes(required=True)


class DecryptValueResponseSchema(Base):
    plaintext = Base64Bytes()


class BatchEncryptSchema(Base):
    plaintexts = _values()


class BatchEncryptResponseSchema(Base):
    ciphertexts = fields.List(Base64Bytes())


class BatchDecryptSchema(Base):
    ciphertexts = _values()


class BatchDecryptResponseSchema(Base):
    # Keyed by each requested ciphertext's base64, exactly as sent (the CLI looks every one up).
    plaintexts = fields.Dict(keys=fields.String(), values=Base64Bytes())


class DecryptionNoticeSchema(Base):
    """`pulumi ... --show-secrets` tells the service what it showed (names, never values)."""

    secret_name = fields.String(data_key="secretName", load_default="")
    command_name = fields.String(data_key="commandName", load_default="")


# The answer to a decryption notice.
EMPTY_OBJECT = {"type": "object", "maxProperties": 0}

encrypt_value = EncryptValueSchema()
encrypt_value_response = EncryptValueResponseSchema()
decrypt_value = DecryptValueSchema()
decrypt_value_response = DecryptValueResponseSchema()
batch_encrypt = BatchEncryptSchema()
batch_encrypt_response = BatchEncryptResponseSchema()
batch_decrypt = BatchDecryptSchema()
batch_decrypt_response = BatchDecryptResponseSchema()
decryption_notice = DecryptionNoticeSchema()
