"""A stack's former names: after a rename the CLI still decrypts an old version's secrets through
the name that version recorded, until another stack takes that name."""
import base64

import pytest

ORG = "/api/stacks/acme"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def encrypt(api, path, value):
    response = api.post(path + "/encrypt", body={"plaintext": b64(value)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["ciphertext"]


def decrypt(api, path, ciphertext):
    return api.post(path + "/decrypt", body={"ciphertext": ciphertext})


def batch_decrypt(api, path, ciphertexts):
    return api.post(path + "/batch-decrypt", body={"ciphertexts": ciphertexts})


def rename(api, path, name, project=""):
    response = api.post(path + "/rename", body={"newName": name, "newProject": project})
    assert response.status_code == 204, response.get_json()


@pytest.fixture
def mona(acme):
    api = acme["member"]
    assert api.post(f"{ORG}/proj", body={"stackName": "first"}).status_code == 200
    return api


def test_former_names_decrypt_after_two_renames(mona):
    ciphertext = encrypt(mona, f"{ORG}/proj/first", "one")
    rename(mona, f"{ORG}/proj/first", "second")
    rename(mona, f"{ORG}/proj/second", "third", project="other")
    for path in (f"{ORG}/proj/first", f"{ORG}/proj/second", f"{ORG}/other/third"):
        response = decrypt(mona, path, ciphertext)
        assert response.status_code == 200, (path, response.get_json())
        assert response.get_json() == {"plaintext": b64("one")}
        response = batch_decrypt(mona, path, [ciphertext])
        assert response.get_json() == {"plaintexts": {ciphertext: b64("one")}}


def test_a_former_name_is_not_a_stack(mona):
    rename(mona, f"{ORG}/proj/first", "second")
    assert mona.get(f"{ORG}/proj/first").status_code == 404
    assert mona.head(f"{ORG}/proj").status_code == 200
    names = [s["stackName"] for s in mona.get("/api/user/stacks").get_json()["stacks"]]
    assert names == ["second"]


def test_a_new_stack_under_a_former_name_takes_it_back(mona):
    old = encrypt(mona, f"{ORG}/proj/first", "old")
    rename(mona, f"{ORG}/proj/first", "second")
    assert mona.post(f"{ORG}/proj", body={"stackName": "first"}).status_code == 200
    # The name is the new stack's: the renamed stack's ciphertexts are foreign to it ...
    refused = decrypt(mona, f"{ORG}/proj/first", old)
    assert refused.status_code == 400
    assert "another stack" in refused.get_json()["message"]
    # ... its own work, and the renamed stack still decrypts under its new name.
    new = encrypt(mona, f"{ORG}/proj/first", "new")
    assert decrypt(mona, f"{ORG}/proj/first", new).get_json() == {"plaintext": b64("new")}
    assert decrypt(mona, f"{ORG}/proj/second", old).get_json() == {"plaintext": b64("old")}


def test_renaming_onto_a_former_name_takes_it(mona):
    assert mona.post(f"{ORG}/proj", body={"stackName": "other"}).status_code == 200
    first = encrypt(mona, f"{ORG}/proj/first", "first's")
    rename(mona, f"{ORG}/proj/first", "moved")
    rename(mona, f"{ORG}/proj/other", "first")
    assert decrypt(mona, f"{ORG}/proj/first", first).status_code == 400
    assert decrypt(mona, f"{ORG}/proj/moved", first).status_code == 200


def test_renaming_back_to_the_old_name_keeps_one_owner(mona):
    ciphertext = encrypt(mona, f"{ORG}/proj/first", "v")
    rename(mona, f"{ORG}/proj/first", "second")
    rename(mona, f"{ORG}/proj/second", "first")
    for path in (f"{ORG}/proj/first", f"{ORG}/proj/second"):
        assert decrypt(mona, path, ciphertext).get_json() == {"plaintext": b64("v")}
    assert mona.get(f"{ORG}/proj/first").status_code == 200


def test_deleting_the_stack_ends_its_former_names(acme, mona):
    ciphertext = encrypt(mona, f"{ORG}/proj/first", "gone")
    rename(mona, f"{ORG}/proj/first", "second")
    assert acme["admin"].delete(f"{ORG}/proj/second").status_code == 204
    assert decrypt(mona, f"{ORG}/proj/first", ciphertext).status_code == 404


def test_former_names_follow_the_same_roles(acme, mona):
    ciphertext = encrypt(mona, f"{ORG}/proj/first", "x")
    rename(mona, f"{ORG}/proj/first", "second")
    assert decrypt(acme["viewer"], f"{ORG}/proj/first", ciphertext).status_code == 403
    assert decrypt(acme["outsider"], f"{ORG}/proj/first", ciphertext).status_code == 404
