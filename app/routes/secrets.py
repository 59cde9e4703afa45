"""Secrets: the service secrets manager the CLI uses for every stack on this backend (encrypt,
decrypt, their batch forms, and the --show-secrets notices). Values are never stored or logged;
every decrypt, refused decrypt and notice is recorded in the audit log (app/audit.py) and on the
`app.audit` logger, with caller, stack and count."""
import base64
import functools
import json
import logging

from flask import Blueprint, current_app, g, jsonify

from .. import audit, secrets
from ..auth import ROLES, requires_role
from ..db import transaction
from ..errors import ApiError
from ..openapi import documented
from ..schemas import secrets as schemas
from ..api import STACK, actor, parse_body, stack_ref

bp = Blueprint("secrets", __name__, url_prefix="/api/stacks")
log = logging.getLogger("app.audit")

# Events of the `app.audit` log line -> the audit log's event types.
EVENTS = {"secrets.decrypt": "secrets.decrypted", "secrets.decrypt.refused": "secrets.decrypt_refused",
          "secrets.shown": "secrets.shown"}

# What the encrypt and decrypt routes refuse beyond their schemas (sizes and counts are settings).
TOO_LARGE = "Bad Request: a value over SECRETS_MAX_VALUE_BYTES or more values than SECRETS_MAX_BATCH"
PLAINTEXT_ROLE = ("Forbidden: plaintexts need the 'member' role (viewers too with "
                  "SECRETS_VIEWERS_CAN_DECRYPT)")
UNREADABLE = ("Bad Request: a ciphertext this stack's key did not make (another stack's, altered "
              "or not a ciphertext), or a value over the size limit")


def requires_decrypt_role(view):
    """Plaintexts need `member`; viewers may read the stack but not its secrets, unless
    SECRETS_VIEWERS_CAN_DECRYPT extends decrypt to them."""

    @functools.wraps(view)
    def checked(org, project, stack):
        if ROLES[g.role] < ROLES["member"] and not current_app.config["SECRETS_VIEWERS_CAN_DECRYPT"]:
            _audit("secrets.decrypt.refused", org, project, stack, 0, reason=f"role {g.role}")
            raise ApiError(
                403,
                f"Forbidden: reading the secrets of stack '{stack_ref(org, project, stack)}' "
                f"requires the 'member' role in organization '{org}'; you are '{g.role}'",
            )
        return view(org, project, stack)

    # Declared for the authorization matrix: plaintexts need this role unless the setting says.
    checked.plaintext_role = ("member", "SECRETS_VIEWERS_CAN_DECRYPT")
    return requires_role("viewer")(checked)


# --- encrypt ------------------------------------------------------------------------------------

@bp.post(STACK + "/encrypt")
@requires_role("member")
@documented(body=schemas.encrypt_value, response=schemas.encrypt_value_response,
            responses={400: TOO_LARGE})
def encrypt(org, project, stack):
    """Encrypt one value with the stack's key (made on first use)."""
    body = parse_body(schemas.encrypt_value)
    _check_sizes([body["plaintext"]], "plaintext", _max_value())
    cipher = _cipher(org, project, stack, create=True)
    return jsonify(schemas.encrypt_value_response.dump(
        {"ciphertext": cipher.encrypt(body["plaintext"])}
    ))


@bp.post(STACK + "/batch-encrypt")
@requires_role("member")
@documented(body=schemas.batch_encrypt, response=schemas.batch_encrypt_response,
            responses={400: TOO_LARGE})
def batch_encrypt(org, project, stack):
    """Encrypt several values with the stack's key, in order."""
    body = parse_body(schemas.batch_encrypt)
    plaintexts = body["plaintexts"] or []
    _check_count(plaintexts)
    _check_sizes(plaintexts, "plaintexts", _max_value())
    cipher = _cipher(org, project, stack, create=True)
    return jsonify(schemas.batch_encrypt_response.dump(
        {"ciphertexts": [cipher.encrypt(p) for p in plaintexts]}
    ))


# --- decrypt ------------------------------------------------------------------------------------

@bp.post(STACK + "/decrypt")
@requires_decrypt_role
@documented(body=schemas.decrypt_value, response=schemas.decrypt_value_response,
            responses={400: UNREADABLE, 403: PLAINTEXT_ROLE})
def decrypt(org, project, stack):
    """Decrypt one of the stack's ciphertexts (recorded in the audit log)."""
    body = parse_body(schemas.decrypt_value)
    ciphertext = body["ciphertext"]
    _check_sizes([ciphertext], "ciphertext", _max_value() + secrets.OVERHEAD_BYTES)
    cipher = _cipher(org, project, stack, create=False)
    plaintext = _decrypt_one(cipher, ciphertext, "the ciphertext", org, project, stack)
    _audit("secrets.decrypt", org, project, stack, 1)
    return jsonify(schemas.decrypt_value_response.dump({"plaintext": plaintext}))


@bp.post(STACK + "/batch-decrypt")
@requires_decrypt_role
@documented(body=schemas.batch_decrypt, response=schemas.batch_decrypt_response,
            responses={400: UNREADABLE, 403: PLAINTEXT_ROLE})
def batch_decrypt(org, project, stack):
    """Decrypt several of the stack's ciphertexts, keyed by each ciphertext as sent."""
    body = parse_body(schemas.batch_decrypt)
    ciphertexts = body["ciphertexts"] or []
    _check_count(ciphertexts)
    _check_sizes(ciphertexts, "ciphertexts", _max_value() + secrets.OVERHEAD_BYTES)
    cipher = _cipher(org, project, stack, create=False)
    plaintexts = {}
    for index, ciphertext in enumerate(ciphertexts):
        # The request's strings are canonical base64 (the schema insists), so re-encoding gives
        # back exactly the key the CLI will look up; duplicates are decrypted once.
        key = base64.b64encode(ciphertext).decode("ascii")
        if key not in plaintexts:
            plaintexts[key] = _decrypt_one(cipher, ciphertext, f"ciphertexts[{index}]",
                                           org, project, stack)
    if ciphertexts:  # an empty batch (older CLIs send one) reveals nothing
        _audit("secrets.decrypt", org, project, stack, len(ciphertexts))
    return jsonify(schemas.batch_decrypt_response.dump({"plaintexts": plaintexts}))


@bp.post(STACK + "/decrypt/log-decryption")
@requires_role("viewer")
@documented(body=schemas.decryption_notice, response=schemas.EMPTY_OBJECT)
def log_decryption(org, project, stack):
    """Record that the CLI showed a secret (its name, never its value)."""
    body = parse_body(schemas.decryption_notice, default={})
    _audit("secrets.shown", org, project, stack, 1, secret_name=body["secret_name"])
    return jsonify({})


@bp.post(STACK + "/decrypt/log-batch-decryption")
@requires_role("viewer")
@documented(body=schemas.decryption_notice, response=schemas.EMPTY_OBJECT)
def log_batch_decryption(org, project, stack):
    """Record that a command showed the stack's secrets (--show-secrets)."""
    body = parse_body(schemas.decryption_notice, default={})
    _audit("secrets.shown", org, project, stack, None, command=body["command_name"])
    return jsonify({})


# --- helpers ------------------------------------------------------------------------------------

def _cipher(org, project, stack, create):
    """The stack's cipher for this request (404 without such a stack, 503 when this server's
    master keys cannot open its data key)."""
    keyring = secrets.keyring_of(current_app)
    try:
        with transaction() as conn:
            cipher = secrets.stack_cipher(conn, keyring, org, project, stack, create)
    except secrets.MasterKeyError as err:
        raise _unavailable(err) from None
    if cipher is None:
        raise ApiError(404, f"Not Found: stack '{stack_ref(org, project, stack)}' not found")
    return cipher


def _unavailable(err):
    # The server's configuration, not the caller: say so, and let the CLI retry (a restart with
    # the right keys heals it).
    current_app.logger.error("secrets: %s", err)
    return ApiError(503, "Service Unavailable: this server cannot open the stack's secrets key "
                         "(its master key configuration does not match the database); "
                         "the operator has been told in the service log")


def _decrypt_one(cipher, ciphertext, what, org, project, stack):
    try:
        return cipher.decrypt(ciphertext)
    except secrets.SecretError as err:
        _audit("secrets.decrypt.refused", org, project, stack, 0, reason=type(err).__name__)
        raise ApiError(
            400,
            f"Bad Request: {what} cannot be decrypted by stack "
            f"'{stack_ref(org, project, stack)}': {err}",
        )


def _max_value():
    return current_app.config["SECRETS_MAX_VALUE_BYTES"]


def _check_count(values):
    limit = current_app.config["SECRETS_MAX_BATCH"]
    if len(values) > limit:
        raise ApiError(
            400, f"Bad Request: {len(values)} values in one call; the limit is {limit}"
        )


def _check_sizes(values, name, limit):
    """`name` is the field: "plaintext" for one value, "plaintexts" for a batch."""
    for index, value in enumerate(values):
        if len(value) > limit:
            where = f"{name}[{index}]" if name.endswith("s") else name
            raise ApiError(
                400, f"Bad Request: {where} is {len(value)} bytes; the limit is {limit}"
            )


def _audit(event, org, project, stack, count, **details):
    """One audit record and one log line per event: who, which stack, how many values; never a
    value. Its own transaction (a decrypt changes nothing), committed before the plaintexts or
    the refusal are sent."""
    fields = {"caller": g.user["login"], "stack": stack_ref(org, project, stack), "count": count,
              **details}
    # Logins and stack names are validated names; anything else is quoted (no forged lines).
    text = " ".join(
        f"{k}={v if k in ('caller', 'stack', 'count') else json.dumps(v)}"
        for k, v in fields.items() if v is not None
    )
    with transaction() as conn:
        audit.record(conn, actor(), org, EVENTS[event], fields["stack"],
                     _description(event, fields["stack"], count, details))
    log.info(
        "%s %s", event, text,
        extra={"audit_event": event, **{f"audit_{k}": v for k, v in fields.items()}},
    )


def _description(event, ref, count, details):
    if event == "secrets.decrypt":
        return f"decrypted {count} secret value{'s' if count != 1 else ''} of stack {ref}"
    if event == "secrets.decrypt.refused":
        return f"refused to decrypt secrets of stack {ref} ({details['reason']})"
    shown = details.get("secret_name") or details.get("command")
    return f"the CLI showed secrets of stack {ref}" + (f" ({shown})" if shown else "")
