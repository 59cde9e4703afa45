"""Request bodies: gzip decompression, the size limit before and after it, and chunked bodies, on a
real route (create a stack, whose body may carry a whole checkpoint)."""
import gzip
import io
import json
import socket

import pytest

from app import create_app
from tests.support.api import Api
from tests.support.apps import make_config
from tests.support import pulumi_headers
from tests.support.api import user_with_token
from tests.support.postgres import throwaway_database
from tests.support.servers import Service

LIMIT = 64 * 1024
URL = "/api/stacks/acme/website"


@pytest.fixture
def member(database_url, people):
    """A member of acme calling an app whose bodies are limited to LIMIT bytes."""
    people.user("mona", {"acme": "member"})
    app = create_app(make_config(database_url, MAX_BODY_BYTES=LIMIT))
    return Api(app.test_client(), people.tokens["mona"])


def create(name, padding=0):
    """The body of a stack creation, with an initial state padded to grow it."""
    state = {"version": 3, "deployment": {"manifest": {}, "pad": "x" * padding}}
    return json.dumps({"stackName": name, "state": state}).encode()


class Unreadable(io.BytesIO):
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read1 = readinto = read


def test_a_gzip_body_is_decompressed(member):
    response = member.post(URL, data=gzip.compress(create("zipped")),
                           headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.get_json()["stackName"] == "zipped"


def test_a_gzip_body_of_several_members_is_read_whole(member):
    body = create("members")
    response = member.post(URL, data=gzip.compress(body[:10]) + gzip.compress(body[10:]),
                           headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.get_json()["stackName"] == "members"


def test_a_corrupt_gzip_body_is_400(member):
    response = member.post(URL, data=b"\x1f\x8b\x08\x00garbage", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert response.get_json() == {"code": 400, "message": "Bad Request: the gzip-encoded body is corrupt"}


def test_a_truncated_gzip_body_is_400(member):
    response = member.post(URL, data=gzip.compress(create("cut"))[:-8],
                           headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400


def test_data_after_the_gzip_stream_is_400(member):
    response = member.post(URL, data=gzip.compress(create("tail")) + b"trailing",
                           headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400


def test_an_unknown_content_encoding_is_415(member):
    response = member.post(URL, data=b"...", headers={"Content-Encoding": "br"})
    assert response.status_code == 415
    assert response.get_json()["code"] == 415


def test_a_body_over_the_limit_is_413_before_it_is_read(member):
    response = member.post(URL, input_stream=Unreadable(b"x" * (LIMIT + 1)))
    assert response.status_code == 413
    assert response.get_json()["code"] == 413


def test_a_gzip_body_over_the_limit_once_decompressed_is_413(member):
    bomb = gzip.compress(create("bomb", padding=LIMIT))
    assert len(bomb) < LIMIT // 10
    response = member.post(URL, data=bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "once decompressed" in response.get_json()["message"]


def test_a_body_at_the_limit_is_accepted(member):
    body = create("edge")
    body = create("edge", padding=LIMIT - len(body))
    assert len(body) == LIMIT
    assert member.post(URL, data=body).status_code == 200


# What a server hands over for Transfer-Encoding: chunked: the decoded stream, and no length.
CHUNKED = {"headers": {"Transfer-Encoding": "chunked"}, "environ_overrides": {"CONTENT_LENGTH": ""}}


def test_a_chunked_body_is_read_whole(member):
    response = member.post(URL, input_stream=io.BytesIO(create("chunked")), **CHUNKED)
    assert response.status_code == 200
    assert response.get_json()["stackName"] == "chunked"


def test_a_chunked_body_over_the_limit_is_413(member):
    response = member.post(URL, input_stream=io.BytesIO(create("long", padding=LIMIT)), **CHUNKED)
    assert response.status_code == 413


def test_a_chunked_gzip_body_is_decompressed(member):
    response = member.post(URL, input_stream=io.BytesIO(gzip.compress(create("both"))),
                           headers={"Transfer-Encoding": "chunked", "Content-Encoding": "gzip"},
                           environ_overrides=CHUNKED["environ_overrides"])
    assert response.status_code == 200
    assert response.get_json()["stackName"] == "both"


# --- the same limits over the wire, through gunicorn ---------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory, postgres):
    with throwaway_database(postgres.url()) as database_url:
        token = user_with_token(database_url, "alice", {"acme": "member"})
        gunicorn = Service(database_url, env={"MAX_BODY_BYTES": LIMIT},
                           workdir=tmp_path_factory.mktemp("bodies")).start()
        yield gunicorn, token
        gunicorn.stop()


def exchange(port, request):
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_a_chunked_gzip_upload_through_gunicorn(served):
    gunicorn, token = served
    body = gzip.compress(create("wire"))
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 50]), body[i:i + 50])
                      for i in range(0, len(body), 50)) + b"0\r\n\r\n"
    head = "".join(f"{k}: {v}\r\n" for k, v in pulumi_headers(token, **{
        "Content-Encoding": "gzip", "Transfer-Encoding": "chunked", "Connection": "close"}).items())
    answer = exchange(gunicorn.port, f"POST {URL} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + chunks)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["stackName"] == "wire"


def test_an_oversized_upload_is_refused_through_gunicorn_before_it_is_sent(served):
    gunicorn, token = served
    head = "".join(f"{k}: {v}\r\n" for k, v in pulumi_headers(token).items())
    # Only the headers: the answer comes without waiting for the 1 GB body.
    answer = exchange(gunicorn.port, f"POST {URL} HTTP/1.1\r\nHost: x\r\n{head}"
                                     f"Content-Length: {1 << 30}\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 413 ")
