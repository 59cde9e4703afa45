"""What goes on the wire through a real gunicorn: no server banner, and an oversized body refused
with 413 before it is read (a huge Content-Length, or a chunked body that never ends)."""
import socket

import pytest
import requests

from tests.support import ACCEPT
from tests.support.postgres import create_database
from tests.support.servers import Service

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def server(postgres):
    service = Service(create_database(postgres.url()), env={"MAX_BODY_BYTES": str(LIMIT)}).start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def token(server):
    return server.user("wireuser")


def raw_exchange(server, head, body_parts=(), timeout=15):
    """Send a request head and some body bytes, never finishing the body; return the response
    head the server sent meanwhile. The socket timeout only bounds a hang (a failure)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    try:
        sock.sendall(head.encode("latin-1"))
        for part in body_parts:
            sock.sendall(part)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received.decode("latin-1")
    finally:
        sock.close()


def test_huge_content_length_is_refused_before_the_body_is_read(server, token):
    head = (f"POST /api/stacks/wireuser/proj HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Accept: {ACCEPT}\r\nAuthorization: token {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n")
    # A few bytes of a terabyte that will never come: the answer must not wait for the rest.
    response = raw_exchange(server, head, [b'{"stackName": '])
    assert response.startswith("HTTP/1.1 413 "), response


def test_endless_chunked_body_is_refused_once_over_the_limit(server, token):
    head = (f"POST /api/stacks/wireuser/proj HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Accept: {ACCEPT}\r\nAuthorization: token {token}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    # Just over the limit, then a stall: refusing it must not need a single byte more.
    chunk = b"x" * 1000
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (LIMIT // len(chunk) + 1)
    response = raw_exchange(server, head, parts)  # no terminating 0-chunk is ever sent
    assert response.startswith("HTTP/1.1 413 "), response


def test_413_body_is_the_json_error(server, token):
    response = requests.post(f"{server.url}/api/stacks/wireuser/proj", data=b"x" * (LIMIT + 1),
                             headers={"Accept": ACCEPT, "Authorization": f"token {token}"},
                             timeout=30)
    assert response.status_code == 413
    assert response.json()["code"] == 413


@pytest.mark.parametrize("path,headers,status", [
    ("/api/capabilities", "token", 200),
    ("/api/stacks/wireuser/proj/nope", "token", 404),
    ("/api/user", None, 401),
    ("/api/user", {}, 415),
    ("/api/openapi", {}, 200),
    ("/no/such/page/at/all/here", {}, 404),  # fewer segments: a console page
])
def test_no_server_banner(server, token, path, headers, status):
    if headers == "token":
        headers = {"Accept": ACCEPT, "Authorization": f"token {token}"}
    elif headers is None:
        headers = {"Accept": ACCEPT}
    response = requests.get(server.url + path, headers=headers, timeout=30)
    assert response.status_code == status
    assert "Server" not in response.headers, response.headers
    assert "gunicorn" not in str(response.headers).lower()
    assert "python" not in str(response.headers).lower()
    assert "werkzeug" not in str(response.headers).lower()


def test_no_server_banner_on_a_413_from_the_body_limit(server, token):
    response = requests.post(f"{server.url}/api/stacks/wireuser/proj", data=b"x" * (LIMIT + 1),
                             headers={"Accept": ACCEPT}, timeout=30)
    assert response.status_code == 413
    assert "Server" not in response.headers


def test_failed_authentications_are_counted_across_gunicorn_workers(postgres):
    # Two workers, each with its own pool and no shared memory: the count lives in PostgreSQL.
    limit = 6
    service = Service(create_database(postgres.url()), env={"AUTH_FAIL_LIMIT": str(limit)},
                      workers=2).start()
    try:
        token = service.user("ratelimited")
        statuses = []
        for _ in range(limit):
            # A new connection each time, so that requests spread over both workers.
            statuses.append(requests.get(f"{service.url}/api/user", timeout=30, headers={
                "Accept": ACCEPT, "Authorization": "token pul-not-a-token",
                "Connection": "close"}).status_code)
        assert statuses == [401] * limit
        blocked = requests.get(f"{service.url}/api/user", timeout=30, headers={
            "Accept": ACCEPT, "Authorization": f"token {token}"})
        assert blocked.status_code == 429
        assert blocked.json()["code"] == 429
        assert int(blocked.headers["Retry-After"]) >= 1
        assert "Server" not in blocked.headers
    finally:
        service.stop()
