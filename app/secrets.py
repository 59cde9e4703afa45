"""Service-managed secrets, the cryptography: master keys, the per-stack data keys they wrap, the
values encrypted under those data keys, the canary that proves which master key a database uses,
and the rotation that re-wraps every data key under a new master key.

Envelope encryption, all AES-256-GCM from `cryptography`:

    master key (environment)  --wraps-->  data key (one per stack, table stack_secret_keys)
    data key                  --encrypts-->  values (kept by the CLI, never by the service)

Each data key is bound (associated data) to its stack's row id and a random key id; each value to
the same pair. Neither depends on the stack's name, so a renamed stack keeps decrypting, while a
ciphertext shown to any other stack (or to a new stack re-created under the same name, which gets
a new key) fails closed. Functions here take a connection and leave the transaction to the caller
(only the start-up check commits, when it records the canary of a new database); they raise
SecretError (a client's fault) or MasterKeyError (the service's configuration).
"""
import base64
import binascii
import hashlib
import logging
import os
import stat
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .db import connect
from .queries import queries

log = logging.getLogger(__name__)

KEY_BYTES = 32  # AES-256
# The GCM standard nonce, random per encryption: safe for far more values than one stack has
# (the bound for random 96-bit nonces is about 2**32 encryptions per key).
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID_BYTES = 16

# Ciphertext layout: version | data key id | nonce | AES-GCM output (ciphertext and tag).
# The key id travels in the clear so that a ciphertext from another stack is recognised and
# refused with a clear message before any decryption is attempted.
VERSION = b"\x01"
HEADER_BYTES = len(VERSION) + KEY_ID_BYTES
OVERHEAD_BYTES = HEADER_BYTES + NONCE_BYTES + TAG_BYTES

_VALUE_AAD = b"pulumi-service/secret/v1\x00"
_DATA_KEY_AAD = b"pulumi-service/data-key/v1\x00"
_CANARY_AAD = b"pulumi-service/canary/v1"
_CANARY_PLAINTEXT = b"pulumi-service master key canary v1"


class SecretError(Exception):
    """A value the caller sent cannot be used (400)."""


class ForeignCiphertext(SecretError):
    """A well-formed ciphertext made under another stack's data key."""


class MasterKeyError(RuntimeError):
    """The service's master keys do not fit the database (refuse to start, or 503 per request)."""


def init_app(app):
    """Load the master keys and refuse to start unless they fit the database (see
    check_master_key); the keyring then lives in app.extensions for the routes."""
    keyring = Keyring.from_settings(app.config)
    conn = connect(app.config["DATABASE_URL"])
    try:
        active = check_master_key(conn, keyring)
    finally:
        conn.close()
    app.extensions["secrets_keyring"] = keyring
    app.logger.info("secrets: master key %s (the database uses %s)", keyring.describe(), active)


def keyring_of(app):
    return app.extensions["secrets_keyring"]


# --- master keys --------------------------------------------------------------------------------

def generate_master_key():
    """A new master key as the settings take it: standard base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def write_key_file(path, text):
    """A new file holding a master key, readable by its owner only; refuses to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(text + "\n")
        out.flush()
        os.fsync(out.fileno())


def master_key_id(raw):
    """A short public name for a master key (a hash of it), recorded beside every key it wraps."""
    return hashlib.sha256(b"pulumi-service/master-key-id\x00" + raw).hexdigest()[:16]


def parse_master_key(text, source):
    text = (text or "").strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise MasterKeyError(
            f"{source} is not a master key: expected the standard base64 of {KEY_BYTES} random "
            "bytes (make one with `pulumi-service secrets generate-master-key`)"
        )
    return raw


def read_master_key_file(path, source="SECRETS_MASTER_KEY_FILE"):
    try:
        with open(path, encoding="ascii", errors="replace") as key_file:
            text = key_file.read()
        mode = os.stat(path).st_mode
    except OSError as err:
        raise MasterKeyError(f"{source}: cannot read the master key file {path}: {err.strerror}")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the master key file %s can be read by other users; chmod 600 it", path)
    return parse_master_key(text, f"{source} ({path})")


class MasterKey:
    def __init__(self, raw):
        self.raw = raw
        self.id = master_key_id(raw)
        self.aead = AESGCM(raw)


class Keyring:
    """The master key new data keys are wrapped with, and every master key accepted for
    unwrapping (the previous one during a rotation, or the next one before it)."""

    def __init__(self, current, others=()):
        self.current = MasterKey(current)
        self.keys = {self.current.id: self.current}
        for raw in others:
            key = MasterKey(raw)
            self.keys.setdefault(key.id, key)

    @classmethod
    def from_settings(cls, settings):
        """From SECRETS_MASTER_KEY (or SECRETS_MASTER_KEY_FILE) and SECRETS_PREVIOUS_MASTER_KEYS
        in a settings mapping (app.config, or vars(Config()))."""
        inline = settings.get("SECRETS_MASTER_KEY") or ""
        path = settings.get("SECRETS_MASTER_KEY_FILE") or ""
        if inline and path:
            raise MasterKeyError("set SECRETS_MASTER_KEY or SECRETS_MASTER_KEY_FILE, not both")
        if inline:
            current = parse_master_key(inline, "SECRETS_MASTER_KEY")
        elif path:
            current = read_master_key_file(path)
        else:
            raise MasterKeyError(
                "no secrets master key: set SECRETS_MASTER_KEY (the standard base64 of 32 random "
                "bytes) or SECRETS_MASTER_KEY_FILE (a file holding it); "
                "`pulumi-service secrets generate-master-key` makes one"
            )
        previous = [
            parse_master_key(text, f"SECRETS_PREVIOUS_MASTER_KEYS entry {n}")
            for n, text in enumerate(_split_keys(settings.get("SECRETS_PREVIOUS_MASTER_KEYS")), 1)
        ]
        return cls(current, previous)

    def get(self, key_id):
        key = self.keys.get(key_id)
        if key is None:
            raise MasterKeyError(
                f"this server does not hold master key {key_id}, which the database uses; "
                "configure it in SECRETS_MASTER_KEY or SECRETS_PREVIOUS_MASTER_KEYS"
            )
        return key

    def describe(self):
        others = sorted(set(self.keys) - {self.current.id})
        return f"{self.current.id}" + (f" (also accepting {', '.join(others)})" if others else "")


def _split_keys(text):
    return [part for part in (text or "").replace(",", " ").split() if part]


# --- the canary: which master key the database was set up with ----------------------------------

def _seal(aead, plaintext, aad):
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def _open(aead, sealed, aad):
    return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)


def check_master_key(conn, keyring):
    """Make sure this keyring can serve the database; on a new database, record the current
    master key as the database's (an encrypted canary). Raises MasterKeyError with the remedy.
    Commits only when it creates the canary."""
    canary = queries.get_secrets_canary(conn)
    if canary is None:
        queries.insert_secrets_canary(conn, master_key_id=keyring.current.id,
                                      sealed=_seal(keyring.current.aead, _CANARY_PLAINTEXT,
                                                   _CANARY_AAD))
        conn.commit()
        canary = queries.get_secrets_canary(conn)
    key = keyring.keys.get(canary["master_key_id"])
    if key is None or not _canary_opens(key, canary["sealed"]):
        raise MasterKeyError(
            "the secrets master key does not match the one this database was set up with "
            f"(the database uses master key {canary['master_key_id']}; this server has "
            f"{keyring.describe()}). Set SECRETS_MASTER_KEY or SECRETS_MASTER_KEY_FILE to the "
            "database's key; during a rotation give the other key in SECRETS_PREVIOUS_MASTER_KEYS. "
            "Refusing to start rather than serve secrets nobody can decrypt."
        )
    unknown = [row for row in queries.data_keys_per_master_key(conn)
               if row["master_key_id"] not in keyring.keys]
    unknown += [{"master_key_id": row["master_key_id"],
                 "stacks": f"{row['environments']} ESC environment"}
                for row in queries.environment_keys_per_master_key(conn)
                if row["master_key_id"] not in keyring.keys]
    if unknown:
        listed = ", ".join(f"{r['master_key_id']} ({r['stacks']} stacks)" for r in unknown)
        raise MasterKeyError(
            f"some stacks' data keys are wrapped by master keys this server does not hold: "
            f"{listed}. Give those keys in SECRETS_PREVIOUS_MASTER_KEYS (or finish the rotation "
            "with `pulumi-service secrets rotate-master-key`)."
        )
    return canary["master_key_id"]


def _canary_opens(key, sealed):
    try:
        return _open(key.aead, bytes(sealed), _CANARY_AAD) == _CANARY_PLAINTEXT
    except InvalidTag:
        return False


# --- data keys ----------------------------------------------------------------------------------

def _data_key_aad(stack_id, key_id):
    return _DATA_KEY_AAD + int(stack_id).to_bytes(8, "big") + key_id


def create_data_key(conn, keyring, stack_id):
    """Give a stack its data key unless it has one (a concurrent caller may win; both then use the
    winner's). New keys are wrapped by the master key the database uses now (the canary's), so a
    server that already holds the next key during a rolling restart writes nothing the servers
    not yet restarted cannot read."""
    active_id = queries.lock_active_master_key_id(conn) or keyring.current.id
    master = keyring.get(active_id)
    key_id = uuid.uuid4().bytes
    data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    queries.insert_stack_secret_key(
        conn, stack_id=stack_id, key_id=key_id, master_key_id=master.id,
        wrapped_key=_seal(master.aead, data_key, _data_key_aad(stack_id, key_id)),
    )


class StackCipher:
    """One stack's data key, unwrapped once for one request."""

    def __init__(self, keyring, stack_id, key_id, master_key_id, wrapped_key):
        self.stack_id = stack_id
        self.key_id = bytes(key_id)
        master = keyring.get(master_key_id)
        try:
            data_key = _open(master.aead, bytes(wrapped_key), _data_key_aad(stack_id, self.key_id))
        except InvalidTag:
            raise MasterKeyError(
                f"the data key of stack {stack_id} does not open with master key {master_key_id}"
            )
        self.aead = AESGCM(data_key)
        self.header = VERSION + self.key_id
        self.aad = _VALUE_AAD + int(stack_id).to_bytes(8, "big") + self.key_id

    def encrypt(self, plaintext):
        nonce = os.urandom(NONCE_BYTES)
        return self.header + nonce + self.aead.encrypt(nonce, plaintext, self.aad)

    def decrypt(self, ciphertext):
        if len(ciphertext) < OVERHEAD_BYTES or ciphertext[:1] != VERSION:
            raise SecretError("it is not a ciphertext made by this service")
        if ciphertext[1:HEADER_BYTES] != self.key_id:
            raise ForeignCiphertext(
                "it was encrypted for another stack (or for an earlier stack of the same name); "
                "secrets do not move between stacks"
            )
        body = ciphertext[HEADER_BYTES:]
        try:
            return self.aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], self.aad)
        except InvalidTag:
            raise SecretError("it is corrupt, or was not encrypted for this stack")


def stack_cipher(conn, keyring, org, project, stack, create):
    """The cipher of the stack's data key, unwrapped once (never cached across requests: an
    unwrap costs microseconds next to the query that fetches it), or None when there is no such
    stack. With `create`, a stack that has no key gets one; without, it gets a cipher to which
    every ciphertext is foreign."""
    row = queries.stack_secret_key(conn, org_name=org, project_name=project, stack_name=stack)
    if row is None:
        return None
    if row["key_id"] is None:
        if not create:
            return no_key_cipher()
        create_data_key(conn, keyring, row["stack_id"])
        row = queries.stack_secret_key_by_id(conn, stack_id=row["stack_id"])
    return StackCipher(keyring, row["stack_id"], row["key_id"], row["master_key_id"],
                       row["wrapped_key"])


def no_key_cipher():
    """Stands in for a stack that never encrypted anything: every ciphertext is foreign to it."""
    return _NoKey()


class _NoKey:
    def decrypt(self, ciphertext):
        if len(ciphertext) < OVERHEAD_BYTES or ciphertext[:1] != VERSION:
            raise SecretError("it is not a ciphertext made by this service")
        raise ForeignCiphertext(
            "this stack has never encrypted a value, so it was encrypted for another stack "
            "(or for an earlier stack of the same name); secrets do not move between stacks"
        )


# --- rotation -----------------------------------------------------------------------------------

def rotate_master_key(conn, keyring, new_raw):
    """Re-wrap every data key, webhook secret and the canary under a new master key, in the
    caller's one
    transaction (values are not touched: they are encrypted by the data keys). Servers holding
    both keys keep working throughout. Returns (old master key ids, number of data keys)."""
    new = MasterKey(new_raw)
    accepted = dict(keyring.keys)
    accepted[new.id] = new
    # The canary's lock first: data keys created from now on wait, then see the new key.
    canary = queries.lock_secrets_canary(conn)
    if canary is not None:
        key = accepted.get(canary["master_key_id"])
        if key is None or not _canary_opens(key, canary["sealed"]):
            raise MasterKeyError(
                f"the database uses master key {canary['master_key_id']}, which was not given "
                f"(given: {keyring.describe()}); put the database's current key in "
                "SECRETS_MASTER_KEY or SECRETS_PREVIOUS_MASTER_KEYS. Nothing was changed."
            )
    rows = list(queries.lock_all_stack_secret_keys(conn))
    missing = sorted({r["master_key_id"] for r in rows} - set(accepted))
    if missing:
        raise MasterKeyError(
            f"data keys are wrapped by master keys not given: {', '.join(missing)}; put the "
            "current key in SECRETS_MASTER_KEY (and any older one in SECRETS_PREVIOUS_MASTER_KEYS). "
            "Nothing was changed."
        )
    stack_ids, wrapped = [], []
    for row in rows:
        aad = _data_key_aad(row["stack_id"], bytes(row["key_id"]))
        try:
            data_key = _open(accepted[row["master_key_id"]].aead, bytes(row["wrapped_key"]),
                             aad)
        except InvalidTag:
            raise MasterKeyError(
                f"the data key of stack {row['stack_id']} does not open with master key "
                f"{row['master_key_id']}; nothing was changed"
            )
        stack_ids.append(row["stack_id"])
        wrapped.append(_seal(new.aead, data_key, aad))
    if rows:
        queries.rewrap_stack_secret_keys(conn, stack_ids=stack_ids, master_key_id=new.id,
                                         wrapped_keys=wrapped)
    env_ids = _rewrap_environment_keys(conn, accepted, new)
    hook_key_ids = _reseal_webhook_secrets(conn, accepted, new)
    sealed = _seal(new.aead, _CANARY_PLAINTEXT, _CANARY_AAD)
    if canary is None:
        queries.insert_secrets_canary(conn, master_key_id=new.id, sealed=sealed)
    else:
        queries.update_secrets_canary(conn, master_key_id=new.id, sealed=sealed)
    old_ids = sorted({r["master_key_id"] for r in rows} | env_ids | hook_key_ids
                     | ({canary["master_key_id"]} if canary else set()))
    return old_ids, len(rows)


def _rewrap_environment_keys(conn, accepted, new):
    """ESC environments' data keys re-wrapped under `new` (part of the rotation's transaction);
    the master key ids they were wrapped by."""
    rows = list(queries.lock_all_environment_keys(conn))
    missing = sorted({r["master_key_id"] for r in rows} - set(accepted))
    if missing:
        raise MasterKeyError(f"environment data keys are wrapped by master keys not given: "
                             f"{', '.join(missing)}. Nothing was changed.")
    ids, wrapped = [], []
    for row in rows:
        aad = _ENV_KEY_AAD + bytes(row["key_id"])
        try:
            data_key = _open(accepted[row["master_key_id"]].aead, bytes(row["wrapped_key"]), aad)
        except InvalidTag:
            raise MasterKeyError(f"the data key of environment {row['id']} does not open with "
                                 f"master key {row['master_key_id']}; nothing was changed")
        ids.append(row["id"])
        wrapped.append(_seal(new.aead, data_key, aad))
    if rows:
        queries.rewrap_environment_keys(conn, ids=ids, master_key_id=new.id, wrapped_keys=wrapped)
    return {r["master_key_id"] for r in rows}


# --- ESC environments ---------------------------------------------------------------------------
# Each environment has its own data key, made with the environment (its row id is not known yet,
# so the key and its values are bound to the random key id alone, under their own labels: no
# stack's key or value opens as an environment's). Open sessions are sealed with the master key
# itself: they live for hours, and one a rotation makes unreadable is simply opened again.

_ENV_KEY_AAD = b"pulumi-service/environment-key/v1\x00"
_ENV_VALUE_AAD = b"pulumi-service/environment-secret/v1\x00"
_SESSION_AAD = b"pulumi-service/environment-session/v1\x00"


def new_environment_key(conn, keyring):
    """A new environment's data key, wrapped: {key_id, master_key_id, wrapped_key}."""
    master = keyring.get(queries.lock_active_master_key_id(conn) or keyring.current.id)
    key_id = uuid.uuid4().bytes
    data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    return {"key_id": key_id, "master_key_id": master.id,
            "wrapped_key": _seal(master.aead, data_key, _ENV_KEY_AAD + key_id)}


class EnvironmentCipher(StackCipher):
    """One environment's data key, unwrapped for one request (values as StackCipher's)."""

    def __init__(self, keyring, key_id, master_key_id, wrapped_key):
        self.key_id = bytes(key_id)
        master = keyring.get(master_key_id)
        try:
            data_key = _open(master.aead, bytes(wrapped_key), _ENV_KEY_AAD + self.key_id)
        except InvalidTag:
            raise MasterKeyError(f"an environment's data key does not open with master key "
                                 f"{master_key_id}")
        self.aead = AESGCM(data_key)
        self.header = VERSION + self.key_id
        self.aad = _ENV_VALUE_AAD + self.key_id


def seal_session(keyring, session_id, plaintext):
    """(master key id, sealed) of an open session's evaluated environment."""
    return keyring.current.id, _seal(keyring.current.aead, plaintext,
                                     _SESSION_AAD + session_id.encode())


def open_session(keyring, session_id, master_key_id, sealed):
    """The session's plaintext, or None when this server cannot open it any more."""
    key = keyring.keys.get(master_key_id)
    if key is None:
        return None
    try:
        return _open(key.aead, bytes(sealed), _SESSION_AAD + session_id.encode())
    except InvalidTag:
        return None


# --- webhook secrets: sealed with the master key itself ------------------------------------------

_WEBHOOK_SECRET_AAD = b"pulumi-service/webhook-secret/v1\x00"


def seal_webhook_secret(conn, keyring, name, secret):
    """(master key id, sealed bytes) of webhook `name`'s HMAC key, sealed with the master key the
    database uses now (as data keys are, see create_data_key) and bound to the hook's name."""
    master = keyring.get(queries.lock_active_master_key_id(conn) or keyring.current.id)
    return master.id, _seal(master.aead, secret, _WEBHOOK_SECRET_AAD + name.encode())


def open_webhook_secret(keyring, master_key_id, sealed, name):
    """The HMAC key of webhook `name`; MasterKeyError when it does not open."""
    try:
        return _open(keyring.get(master_key_id).aead, bytes(sealed),
                     _WEBHOOK_SECRET_AAD + name.encode())
    except InvalidTag:
        raise MasterKeyError(f"the secret of webhook {name} does not open with master key "
                             f"{master_key_id}")


def _reseal_webhook_secrets(conn, accepted, new):
    """Every webhook secret sealed again with `new` (part of rotate_master_key)."""
    rows = list(queries.lock_webhook_secrets(conn))
    missing = sorted({r["secret_master_key_id"] for r in rows} - set(accepted))
    if missing:
        raise MasterKeyError(f"webhook secrets are sealed with master keys not given: "
                             f"{', '.join(missing)}. Nothing was changed.")
    for row in rows:
        aad = _WEBHOOK_SECRET_AAD + row["name"].encode()
        try:
            secret = _open(accepted[row["secret_master_key_id"]].aead,
                           bytes(row["secret_sealed"]), aad)
        except InvalidTag:
            raise MasterKeyError(f"the secret of webhook {row['name']} does not open with "
                                 f"master key {row['secret_master_key_id']}; nothing was changed")
        queries.reseal_webhook_secret(conn, id=row["id"], master_key_id=new.id,
                                      sealed=_seal(new.aead, secret, aad))
    return {r["secret_master_key_id"] for r in rows}
