"""Service-managed secrets over HTTP: encrypt, decrypt, batches, stack binding, roles, limits,
audit log, capability and the start-up master key check."""
import base64
import gzip
import json
import logging

import pytest

from app import create_app
from app import secrets, stacks
from app.secrets import generate_master_key
from tests.support import MASTER_KEY
from tests.support.api import Api
from tests.support.apps import make_config

STACK = "/api/stacks/acme/proj/dev"


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode("utf-8")).decode()


def unb64(text):
    return base64.b64decode(text)


def make_stack(api, path=STACK):
    org, project, stack = path.split("/")[3:6]
    response = api.post(f"/api/stacks/{org}/{project}", body={"stackName": stack})
    assert response.status_code == 200, response.get_json()


def encrypt(api, value, path=STACK):
    response = api.post(path + "/encrypt", body={"plaintext": b64(value)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["ciphertext"]


def decrypt(api, ciphertext, path=STACK):
    return api.post(path + "/decrypt", body={"ciphertext": ciphertext})


@pytest.fixture
def mona(acme):
    make_stack(acme["member"])
    return acme["member"]


# --- round trips --------------------------------------------------------------------------------

def test_encrypt_then_decrypt_returns_the_plaintext(mona):
    ciphertext = encrypt(mona, "s3cr3t")

    response = decrypt(mona, ciphertext)

    assert response.status_code == 200
    assert response.get_json() == {"plaintext": b64("s3cr3t")}


def test_ciphertext_is_standard_padded_base64_without_the_plaintext(mona):
    ciphertext = encrypt(mona, "s3cr3t-s3cr3t-s3cr3t")

    raw = base64.b64decode(ciphertext, validate=True)
    assert base64.b64encode(raw).decode() == ciphertext
    assert b"s3cr3t" not in raw


def test_same_plaintext_encrypts_to_different_ciphertexts(mona):
    assert encrypt(mona, "same") != encrypt(mona, "same")


def test_empty_and_binary_plaintexts_round_trip(mona):
    for value in (b"", bytes(range(256)), "päßwörd ✓".encode()):
        response = decrypt(mona, encrypt(mona, value))
        assert unb64(response.get_json()["plaintext"]) == value


def test_batch_encrypt_keeps_the_request_order(mona):
    values = [f"value-{i}" for i in range(50)]

    response = mona.post(STACK + "/batch-encrypt", body={"plaintexts": [b64(v) for v in values]})

    assert response.status_code == 200
    ciphertexts = response.get_json()["ciphertexts"]
    assert [unb64(decrypt(mona, c).get_json()["plaintext"]).decode() for c in ciphertexts] == values


def test_batch_decrypt_answers_every_ciphertext_keyed_as_requested(mona):
    ciphertexts = [encrypt(mona, f"v{i}") for i in range(5)]

    response = mona.post(STACK + "/batch-decrypt", body={"ciphertexts": ciphertexts})

    assert response.status_code == 200
    assert response.get_json() == {
        "plaintexts": {c: b64(f"v{i}") for i, c in enumerate(ciphertexts)}
    }


def test_batch_decrypt_accepts_duplicates(mona):
    one, two = encrypt(mona, "one"), encrypt(mona, "two")

    response = mona.post(STACK + "/batch-decrypt", body={"ciphertexts": [one, two, one, one]})

    assert response.status_code == 200
    assert response.get_json()["plaintexts"] == {one: b64("one"), two: b64("two")}


def test_batch_calls_work_gzipped_as_the_cli_sends_them(mona):
    body = gzip.compress(json.dumps({"plaintexts": [b64("zipped")]}).encode())

    encrypted = mona.post(STACK + "/batch-encrypt", data=body,
                          headers={"Content-Encoding": "gzip"})
    ciphertext = encrypted.get_json()["ciphertexts"][0]
    body = gzip.compress(json.dumps({"ciphertexts": [ciphertext]}).encode())
    decrypted = mona.post(STACK + "/batch-decrypt", data=body,
                          headers={"Content-Encoding": "gzip"})

    assert decrypted.get_json() == {"plaintexts": {ciphertext: b64("zipped")}}


def test_batches_of_thousands_of_values_work_in_one_call(mona):
    values = [b64(f"secret number {i}") for i in range(5000)]

    ciphertexts = mona.post(STACK + "/batch-encrypt",
                            body={"plaintexts": values}).get_json()["ciphertexts"]
    response = mona.post(STACK + "/batch-decrypt", body={"ciphertexts": ciphertexts})

    assert response.status_code == 200
    plaintexts = response.get_json()["plaintexts"]
    assert [plaintexts[c] for c in ciphertexts] == values


# --- bound to the stack -------------------------------------------------------------------------

def test_ciphertext_from_another_stack_is_refused_with_400(mona):
    make_stack(mona, "/api/stacks/acme/proj/prod")
    foreign = encrypt(mona, "prod only", "/api/stacks/acme/proj/prod")
    encrypt(mona, "dev has a key too")

    single = decrypt(mona, foreign)
    batch = mona.post(STACK + "/batch-decrypt", body={"ciphertexts": [foreign]})

    for response in (single, batch):
        assert response.status_code == 400
        assert "acme/proj/dev" in response.get_json()["message"]
        assert "another stack" in response.get_json()["message"]


def test_ciphertext_on_a_stack_that_never_encrypted_is_refused_with_400(mona):
    make_stack(mona, "/api/stacks/acme/proj/prod")
    foreign = encrypt(mona, "prod only", "/api/stacks/acme/proj/prod")

    response = decrypt(mona, foreign)

    assert response.status_code == 400
    assert "another stack" in response.get_json()["message"]


def test_one_foreign_ciphertext_fails_the_whole_batch(mona):
    make_stack(mona, "/api/stacks/acme/proj/prod")
    foreign = encrypt(mona, "prod only", "/api/stacks/acme/proj/prod")
    own = encrypt(mona, "dev")

    response = mona.post(STACK + "/batch-decrypt", body={"ciphertexts": [own, foreign]})

    assert response.status_code == 400
    assert "ciphertexts[1]" in response.get_json()["message"]


def test_tampered_ciphertext_is_refused_with_400(mona):
    raw = bytearray(unb64(encrypt(mona, "s3cr3t")))
    raw[-1] ^= 1

    response = decrypt(mona, b64(bytes(raw)))

    assert response.status_code == 400
    assert "corrupt" in response.get_json()["message"]


def test_value_is_bound_to_its_stack_id_as_associated_data():
    """Even the right data key refuses a value shown under another stack's identity."""
    keyring = secrets.Keyring(base64.b64decode(MASTER_KEY))
    data_key, key_id = bytes(32), bytes(16)
    sealed = secrets._seal(keyring.current.aead, data_key, secrets._data_key_aad(1, key_id))
    resealed = secrets._seal(keyring.current.aead, data_key, secrets._data_key_aad(2, key_id))
    ciphertext = secrets.StackCipher(keyring, 1, key_id, keyring.current.id, sealed).encrypt(b"x")

    other = secrets.StackCipher(keyring, 2, key_id, keyring.current.id, resealed)

    with pytest.raises(secrets.SecretError):
        other.decrypt(ciphertext)


def test_renamed_stack_still_decrypts_its_ciphertexts(mona):
    ciphertext = encrypt(mona, "kept")

    renamed = mona.post(STACK + "/rename", body={"newName": "staging", "newProject": "other"})
    response = decrypt(mona, ciphertext, "/api/stacks/acme/other/staging")

    assert renamed.status_code == 204
    assert response.get_json() == {"plaintext": b64("kept")}


def test_stack_recreated_under_the_same_name_cannot_decrypt_the_old_ciphertexts(acme, mona):
    ciphertext = encrypt(mona, "old stack's")
    assert acme["admin"].delete(STACK).status_code == 204
    make_stack(mona)
    encrypt(mona, "new stack's")

    response = decrypt(mona, ciphertext)

    assert response.status_code == 400
    assert "earlier stack of the same name" in response.get_json()["message"]


def test_a_deleted_stack_keeps_its_data_key_until_the_purge(acme, mona, db):
    encrypt(mona, "x")

    acme["admin"].delete(STACK)

    def keys():
        with db, db.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM stack_secret_keys")
            return cur.fetchone()["n"]

    assert keys() == 1  # restorable, its secrets with it (tests/test_deleted_stacks.py)
    with db, db.cursor() as cur:
        cur.execute("UPDATE stacks SET deleted_at = now() - interval '31 days'")
    with db:
        stacks.purge_deleted(db, retention_days=30)
    assert keys() == 0


def test_data_keys_are_stored_wrapped(mona, db):
    ciphertext = unb64(encrypt(mona, "x"))

    with db.cursor() as cur:
        cur.execute("SELECT wrapped_key, key_id FROM stack_secret_keys")
        row = cur.fetchone()
    # The stored bytes are nonce + wrapped key + tag, and the key id is what the ciphertext names.
    assert len(bytes(row["wrapped_key"])) == 12 + 32 + 16
    assert ciphertext[1:17] == bytes(row["key_id"])


# --- roles --------------------------------------------------------------------------------------

def test_member_and_admin_can_decrypt(acme, mona):
    ciphertext = encrypt(mona, "x")

    assert decrypt(acme["admin"], ciphertext).status_code == 200


@pytest.mark.parametrize("endpoint,body", [
    ("decrypt", {"ciphertext": b64("x" * 60)}),
    ("batch-decrypt", {"ciphertexts": [b64("x" * 60)]}),
])
def test_viewer_cannot_decrypt(acme, mona, endpoint, body):
    response = acme["viewer"].post(f"{STACK}/{endpoint}", body=body)

    assert response.status_code == 403
    assert response.get_json()["message"] == (
        "Forbidden: reading the secrets of stack 'acme/proj/dev' requires the 'member' role "
        "in organization 'acme'; you are 'viewer'"
    )


@pytest.mark.parametrize("endpoint,body", [
    ("encrypt", {"plaintext": b64("x")}),
    ("batch-encrypt", {"plaintexts": [b64("x")]}),
])
def test_viewer_cannot_encrypt(acme, mona, endpoint, body):
    response = acme["viewer"].post(f"{STACK}/{endpoint}", body=body)

    assert response.status_code == 403


def test_viewer_can_decrypt_when_the_setting_allows_it(app, acme, mona, monkeypatch):
    monkeypatch.setitem(app.config, "SECRETS_VIEWERS_CAN_DECRYPT", True)
    ciphertext = encrypt(mona, "shared")

    response = acme["viewer"].post(STACK + "/batch-decrypt", body={"ciphertexts": [ciphertext]})

    assert response.get_json() == {"plaintexts": {ciphertext: b64("shared")}}


@pytest.mark.parametrize("endpoint,body", [
    ("encrypt", {"plaintext": b64("x")}),
    ("decrypt", {"ciphertext": b64("x" * 60)}),
    ("batch-decrypt", {"ciphertexts": [b64("x" * 60)]}),
])
def test_outsider_gets_404(acme, mona, endpoint, body):
    response = acme["outsider"].post(f"{STACK}/{endpoint}", body=body)

    assert response.status_code == 404


def test_anonymous_gets_401(anonymous, mona):
    assert anonymous.post(STACK + "/encrypt", body={"plaintext": b64("x")}).status_code == 401


def test_missing_stack_gets_404(mona):
    response = mona.post("/api/stacks/acme/proj/nope/encrypt", body={"plaintext": b64("x")})

    assert response.status_code == 404
    assert "acme/proj/nope" in response.get_json()["message"]


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "not base64!",      # outside the alphabet
    "YWJj ZA==",        # a space inside
    "YWJjZA",           # padding missing
    "-_-_",             # URL-safe alphabet
    "YR==",             # unused bits set: not canonical
    123,
    None,
])
def test_malformed_base64_gets_400(mona, value):
    response = mona.post(STACK + "/encrypt", body={"plaintext": value})

    assert response.status_code == 400
    assert response.get_json()["message"].startswith("Bad Request: plaintext:")


def test_malformed_base64_inside_a_batch_names_its_position(mona):
    response = mona.post(STACK + "/batch-decrypt", body={"ciphertexts": [b64("x" * 60), "%%"]})

    assert response.status_code == 400
    assert "ciphertexts.1" in response.get_json()["message"]


@pytest.mark.parametrize("endpoint,body,answer", [
    ("batch-encrypt", {"plaintexts": []}, {"ciphertexts": []}),
    ("batch-decrypt", {"ciphertexts": []}, {"plaintexts": {}}),
    ("batch-decrypt", {"ciphertexts": None}, {"plaintexts": {}}),
])
def test_empty_batch_gets_an_empty_answer(mona, endpoint, body, answer):
    """CLIs v3.60.0 and v3.30.0 ask to decrypt an empty batch ([] and null) when a state has no
    secrets."""
    response = mona.post(f"{STACK}/{endpoint}", body=body)

    assert response.status_code == 200
    assert response.get_json() == answer


@pytest.mark.parametrize("endpoint,body", [
    ("batch-decrypt", {}),
    ("decrypt", {}),
    ("encrypt", {}),
    ("decrypt", {"ciphertext": ""}),
])
def test_empty_input_gets_400(mona, endpoint, body):
    response = mona.post(f"{STACK}/{endpoint}", body=body)

    assert response.status_code == 400


def test_body_that_is_not_json_gets_400(mona):
    response = mona.post(STACK + "/encrypt", data="plaintext=x")

    assert response.status_code == 400


def test_oversized_value_gets_400(app, mona, monkeypatch):
    monkeypatch.setitem(app.config, "SECRETS_MAX_VALUE_BYTES", 100)

    response = mona.post(STACK + "/batch-encrypt",
                         body={"plaintexts": [b64("x" * 100), b64("x" * 101)]})

    assert response.status_code == 400
    assert response.get_json()["message"] == (
        "Bad Request: plaintexts[1] is 101 bytes; the limit is 100"
    )


def test_oversized_ciphertext_gets_400(app, mona, monkeypatch):
    monkeypatch.setitem(app.config, "SECRETS_MAX_VALUE_BYTES", 100)

    response = decrypt(mona, b64("x" * 200))

    assert response.status_code == 400
    assert "the limit is" in response.get_json()["message"]


def test_too_many_values_in_one_call_get_400(app, mona, monkeypatch):
    monkeypatch.setitem(app.config, "SECRETS_MAX_BATCH", 3)

    response = mona.post(STACK + "/batch-encrypt", body={"plaintexts": [b64("x")] * 4})

    assert response.status_code == 400
    assert response.get_json()["message"] == (
        "Bad Request: 4 values in one call; the limit is 3"
    )


def test_garbage_ciphertext_gets_400(mona):
    encrypt(mona, "x")

    response = decrypt(mona, b64("short"))

    assert response.status_code == 400
    assert "not a ciphertext made by this service" in response.get_json()["message"]


# --- audit --------------------------------------------------------------------------------------

def test_every_decrypt_is_logged_with_caller_stack_and_count_but_no_value(mona, caplog):
    ciphertexts = [encrypt(mona, "hunter2"), encrypt(mona, "swordfish")]
    caplog.set_level(logging.INFO, logger="app.audit")

    mona.post(STACK + "/batch-decrypt", body={"ciphertexts": ciphertexts})
    decrypt(mona, ciphertexts[0])

    events = [r for r in caplog.records if r.name == "app.audit"]
    assert [r.getMessage() for r in events] == [
        "secrets.decrypt caller=mona stack=acme/proj/dev count=2",
        "secrets.decrypt caller=mona stack=acme/proj/dev count=1",
    ]
    for secret in ("hunter2", "swordfish", b64("hunter2"), b64("swordfish")):
        assert secret not in caplog.text


def test_refused_decrypt_is_logged(acme, mona, caplog):
    caplog.set_level(logging.INFO, logger="app.audit")

    acme["viewer"].post(STACK + "/decrypt", body={"ciphertext": b64("x" * 60)})

    assert [r.getMessage() for r in caplog.records if r.name == "app.audit"] == [
        'secrets.decrypt.refused caller=vera stack=acme/proj/dev count=0 reason="role viewer"'
    ]


@pytest.mark.parametrize("endpoint,body,logged", [
    ("log-decryption", {"secretName": "proj:dbPassword"}, 'secret_name="proj:dbPassword"'),
    ("log-batch-decryption", {"commandName": "pulumi stack export"},
     'command="pulumi stack export"'),
])
def test_show_secrets_notices_are_accepted_and_logged(acme, mona, caplog, endpoint, body, logged):
    caplog.set_level(logging.INFO, logger="app.audit")

    response = acme["viewer"].post(f"{STACK}/decrypt/{endpoint}", body=body)

    assert response.status_code == 200
    message = [r.getMessage() for r in caplog.records if r.name == "app.audit"][0]
    assert message.startswith("secrets.shown caller=vera stack=acme/proj/dev")
    assert message.endswith(logged)


# --- capability ---------------------------------------------------------------------------------

def test_batch_encrypt_capability_is_advertised(mona):
    response = mona.get("/api/capabilities")

    assert {"capability": "batch-encrypt"} in response.get_json()["capabilities"]


def test_batch_encrypt_capability_can_be_turned_off(app, mona, monkeypatch):
    monkeypatch.setitem(app.config, "SECRETS_BATCH_ENCRYPT", False)

    response = mona.get("/api/capabilities")

    assert {"capability": "batch-encrypt"} not in response.get_json()["capabilities"]


# --- master key at start-up ---------------------------------------------------------------------

def test_service_refuses_to_start_with_another_master_key(database_url):
    create_app(make_config(database_url))  # sets the database up with MASTER_KEY

    with pytest.raises(RuntimeError, match="does not match the one this database was set up with"):
        create_app(make_config(database_url, SECRETS_MASTER_KEY=generate_master_key()))


def test_service_refuses_to_start_without_a_master_key(database_url):
    with pytest.raises(RuntimeError, match="no secrets master key"):
        create_app(make_config(database_url, SECRETS_MASTER_KEY=""))


def test_service_refuses_a_master_key_that_is_not_32_bytes(database_url):
    with pytest.raises(RuntimeError, match="not a master key"):
        create_app(make_config(database_url, SECRETS_MASTER_KEY=b64("too short")))


def test_service_with_a_new_key_serves_the_database_key_among_the_previous_keys(
        database_url, people, mona):
    ciphertext = encrypt(mona, "before the new key")

    app = create_app(make_config(database_url, SECRETS_MASTER_KEY=generate_master_key(),
                                 SECRETS_PREVIOUS_MASTER_KEYS=MASTER_KEY))
    response = decrypt(Api(app.test_client(), people.tokens["mona"]), ciphertext)

    assert response.get_json() == {"plaintext": b64("before the new key")}


def test_service_reads_the_master_key_from_a_file(database_url, tmp_path, people, mona):
    ciphertext = encrypt(mona, "x")
    key_file = tmp_path / "master.key"
    key_file.write_text(MASTER_KEY + "\n")
    key_file.chmod(0o600)

    app = create_app(make_config(database_url, SECRETS_MASTER_KEY="",
                                 SECRETS_MASTER_KEY_FILE=str(key_file)))
    response = decrypt(Api(app.test_client(), people.tokens["mona"]), ciphertext)

    assert response.get_json() == {"plaintext": b64("x")}
