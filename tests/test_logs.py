"""What gunicorn's output holds after a run: JSON lines, one access line per request, and never a
token, a secret value or checkpoint content."""
import base64
import gzip
import json
import secrets

import pytest
import requests

from tests.support import pulumi_headers
from tests.support.api import user_with_token
from tests.support.postgres import throwaway_database
from tests.support.servers import Service


@pytest.fixture(scope="module")
def server(tmp_path_factory, postgres):
    with throwaway_database(postgres.url()) as database_url:
        token = user_with_token(database_url, "alice", {"acme": "member"})
        gunicorn = Service(database_url, env={"LOG_LEVEL": "DEBUG"},
                           workdir=tmp_path_factory.mktemp("logs")).start()
        yield gunicorn, token
        gunicorn.stop()


def test_a_full_run_logs_no_token_secret_or_checkpoint_content(server):
    gunicorn, token = server
    url = gunicorn.url + "/api/stacks/acme/website"
    secret = "s3cr3t-" + secrets.token_hex(8)
    ciphertext = "v1:" + secrets.token_hex(16)
    content = "checkpoint-content-" + secrets.token_hex(8)
    tag = "tag-value-" + secrets.token_hex(8)
    wrong_token = "pul-" + secrets.token_hex(20)
    config_secret = "config-secret-" + secrets.token_hex(8)
    plaintext = base64.b64encode(config_secret.encode()).decode()
    state = {"version": 3, "deployment": {"manifest": {}, "resources": [{
        "urn": "urn:pulumi:dev::website::aws:s3/bucket:Bucket::site",
        "type": "aws:s3/bucket:Bucket",
        "inputs": {"password": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                                "ciphertext": ciphertext}},
        "outputs": {"password": secret, "note": content},
    }]}}
    headers = pulumi_headers(token)
    calls = [
        requests.post(url, json={"stackName": "dev", "tags": {"team": tag}, "state": state},
                      headers=headers),
        requests.patch(url + "/dev/tags", json={"team": tag, "password": secret}, headers=headers),
        requests.get(url + "/dev", headers=headers),
        requests.post(url, data=gzip.compress(json.dumps({"stackName": "gz", "state": state}).encode()),
                      headers=pulumi_headers(token, **{"Content-Encoding": "gzip"})),
        requests.post(url, data=b"\x1f\x8b not gzip " + secret.encode(),
                      headers=pulumi_headers(token, **{"Content-Encoding": "gzip"})),
        requests.post(url, data=f'{{"stackName": "{secret}"'.encode(), headers=headers),
        requests.get(gunicorn.url + "/api/user", headers=pulumi_headers(wrong_token)),
        requests.get(gunicorn.url + "/api/user", headers={"Accept": "application/vnd.pulumi+8",
                                                          "Authorization": token}),
    ]
    encrypted = requests.post(url + "/dev/encrypt", json={"plaintext": plaintext}, headers=headers)
    decrypted = requests.post(url + "/dev/decrypt", json=encrypted.json(), headers=headers)
    assert decrypted.json() == {"plaintext": plaintext}
    calls += [encrypted, decrypted]
    assert [c.status_code for c in calls] == [200, 204, 200, 200, 400, 400, 401, 401, 200, 200]
    request_ids = {c.headers["X-Request-ID"] for c in calls}
    gunicorn.access_line(calls[-1].headers["X-Request-ID"])  # the last line is written

    logs = gunicorn.log()
    for line in logs.splitlines():
        json.loads(line)  # every line is one JSON object
    assert request_ids <= {r["request_id"] for r in gunicorn.access_lines()}
    for value in (token, token[4:], wrong_token, secret, ciphertext, content, tag, config_secret,
                  plaintext, encrypted.json()["ciphertext"]):
        assert value not in logs
