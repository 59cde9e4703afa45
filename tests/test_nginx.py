"""The service as it runs in production: the system's nginx (deploy/nginx.conf, over TLS) in front
of gunicorn (gunicorn.conf.py, two workers) on a database of its own."""
import base64
import glob
import hashlib
import json
import os
import signal
import socket
import ssl
import re
import threading

import psycopg2
import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.support import pulumi_headers
from tests.support.deployments import gzipped_pieces
from tests.support.api import user_with_token
from tests.support.postgres import throwaway_database
from tests.support.servers import Nginx, Service, wait_until

# nginx is the system's (tests/run installs it for the tests marked e2e).
pytestmark = pytest.mark.e2e


class Stack:
    """gunicorn and nginx on one database, with a member of organization `acme`."""

    def __init__(self, workdir, database_url, **env):
        self.database_url = database_url
        self.token = user_with_token(database_url, "alice", {"acme": "member"})
        self.gunicorn = Service(database_url, env={"TRUSTED_PROXY_COUNT": 1, **env},
                                workdir=workdir / "gunicorn")
        self.nginx = Nginx(workdir / "nginx", self.gunicorn.port)

    def start(self):
        self.gunicorn.start()
        self.nginx.start()
        return self

    def stop(self):
        self.nginx.stop()
        self.gunicorn.stop()

    def headers(self, **extra):
        return pulumi_headers(self.token, **extra)


@pytest.fixture(scope="module")
def served(tmp_path_factory, postgres):
    with throwaway_database(postgres.url()) as database_url:
        workdir = tmp_path_factory.mktemp("served")
        # A metrics folder of our own, to see which workers counted requests.
        stack = Stack(workdir, database_url, PROMETHEUS_MULTIPROC_DIR=workdir / "metrics").start()
        yield stack
        stack.stop()


@pytest.fixture
def alone(tmp_path, postgres):
    """A stack of its own, for a test that stops it."""
    with throwaway_database(postgres.url()) as database_url:
        stack = Stack(tmp_path, database_url).start()
        yield stack
        stack.stop()


def stored_checkpoint(database_url, stack_name):
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT c.size_bytes, c.sha256, c.resource_count FROM checkpoints c "
                        "JOIN stacks s ON s.id = c.stack_id WHERE s.name = %s AND c.version = 0",
                        (stack_name,))
            return cur.fetchone()
    finally:
        conn.close()


def test_an_api_call_through_nginx(served):
    response = served.nginx.session().get(served.nginx.url + "/api/user", headers=served.headers())
    assert response.status_code == 200
    assert response.json()["githubLogin"] == "alice"


def test_plain_http_is_redirected_to_https(served):
    response = requests.get(f"http://127.0.0.1:{served.nginx.http_port}/api/user",
                            allow_redirects=False, timeout=30)
    assert response.status_code == 301
    assert response.headers["Location"].startswith("https://")


def test_a_100_mb_gzip_body_reaches_the_service(served):
    # Random text compresses only to about 3/4, so the compressed body itself is over 100 MB.
    blob = base64.b64encode(os.urandom(1024 * 1024)).decode()
    resources = [{"urn": f"urn:pulumi:big::website::kind::r{i}", "outputs": {"blob": blob}}
                 for i in range(100)]
    state = {"version": 3, "deployment": {"manifest": {}, "resources": resources}}
    text = json.dumps(state, separators=(",", ":")).encode()
    # Deflated at level 1 as gzip.compress would, the repeated megabyte once (12 s saved).
    pieces, repeated = [b'{"stackName":"big","state":'], blob.encode()
    for i, part in enumerate(text.split(repeated)):
        pieces += [repeated, part] if i else [part]
    body = gzipped_pieces(pieces + [b"}"])
    assert len(body) > 100 * 1024 * 1024
    response = served.nginx.session().post(
        served.nginx.url + "/api/stacks/acme/website", data=body,
        headers=served.headers(**{"Content-Encoding": "gzip"}), timeout=300)
    assert response.status_code == 200, response.text
    assert stored_checkpoint(served.database_url, "big") == (
        len(text), hashlib.sha256(text).hexdigest(), 100)


def test_the_service_sees_the_client_address_nginx_saw(served):
    # The connection comes from 127.0.0.2; gunicorn's peer is nginx (127.0.0.1).
    response = served.nginx.session(source="127.0.0.2").get(
        served.nginx.url + "/api/user", headers=served.headers(**{"X-Request-ID": "from-127-0-0-2"}))
    assert response.status_code == 200
    assert served.gunicorn.access_line("from-127-0-0-2")["remote_addr"] == "127.0.0.2"


def test_a_forwarded_for_sent_by_the_client_is_not_believed(served):
    response = served.nginx.session(source="127.0.0.2").get(
        served.nginx.url + "/api/user",
        headers=served.headers(**{"X-Request-ID": "spoofer", "X-Forwarded-For": "203.0.113.66"}))
    assert response.status_code == 200
    assert served.gunicorn.access_line("spoofer")["remote_addr"] == "127.0.0.2"


def test_nginx_gives_each_request_an_id_the_service_logs(served):
    response = served.nginx.session().get(served.nginx.url + "/healthz")
    assert served.gunicorn.access_line(response.headers["X-Request-ID"])["status"] == 200


def test_metrics_are_refused_to_clients_outside_the_allowed_networks(served):
    response = served.nginx.session(source="127.0.0.2").get(served.nginx.url + "/metrics")
    assert response.status_code == 403


def test_a_body_over_the_proxy_limit_gets_a_json_413(served):
    # Only the headers are sent: nginx answers from Content-Length alone.
    context = ssl.create_default_context(cafile=str(served.nginx.cert))
    with socket.create_connection(("127.0.0.1", served.nginx.port), timeout=60) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall((f"POST /api/stacks/acme/website HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {300 * 1024 * 1024}\r\n"
                     f"Authorization: token {served.token}\r\n\r\n").encode())
        head, _, body = read_response(tls).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(body)["code"] == 413


def read_response(sock):
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), None)
        if sep and length is not None and len(body) >= length:
            break
    return data


def head_requests(families, route):
    """HEAD requests to `route` counted in these metric families, whatever their status."""
    return sum(sample.value
               for family in families
               for sample in family.samples
               if sample.name == "pulumi_service_http_requests_total"
               and sample.labels["route"] == route and sample.labels["method"] == "HEAD")


def scraped_head_requests(session, url, route):
    return head_requests(text_string_to_metric_families(session.get(url + "/metrics").text), route)


def workers_that_answered(folder, route):
    """The workers (their counter files) that counted HEAD requests to `route`."""
    return {path for path in glob.glob(os.path.join(folder, "counter_*.db"))
            if head_requests(MultiProcessCollector.merge([path]), route)}


def test_metrics_add_up_the_requests_of_every_worker(served):
    session, url = served.nginx.session(), served.nginx.url
    route = "/api/stacks/<org>/<project>"
    folder = served.gunicorn.env()["PROMETHEUS_MULTIPROC_DIR"]
    before = scraped_head_requests(session, url, route)

    def one_request():
        response = served.nginx.session().head(url + "/api/stacks/acme/uncounted",
                                               headers=served.headers())
        assert response.status_code == 404

    sent = 0
    # Until both workers have answered some (which worker accepts a connection is the kernel's
    # choice).
    while len(workers_that_answered(folder, route)) < 2 or sent < 40:
        threads = [threading.Thread(target=one_request) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sent += 8
        assert sent < 4000, "one worker answered every request"
    assert scraped_head_requests(session, url, route) == before + sent


class Traffic:
    """Clients calling the service through nginx without pause, reading and writing, until
    stopped; every answer is kept."""

    def __init__(self, stack, clients=4):
        self.stack = stack
        self.answers = []
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(clients)]

    def run(self, client):
        session = self.stack.nginx.session()
        url = self.stack.nginx.url
        n = 0
        while not self.done.is_set():
            n += 1
            try:
                if n % 2:
                    response = session.get(url + "/api/user", headers=self.stack.headers())
                else:
                    response = session.post(url + "/api/stacks/acme/traffic",
                                             json={"stackName": f"c{client}-{n}"},
                                             headers=self.stack.headers())
                self.answers.append(response.status_code)
            except requests.RequestException as err:
                self.answers.append(repr(err))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        self.wait_for_answers(20)
        return self

    def wait_for_answers(self, more):
        target = len(self.answers) + more
        wait_until(lambda: len(self.answers) >= target, f"{more} more answers")

    def __exit__(self, *exc):
        self.done.set()
        for thread in self.threads:
            thread.join()

    def failures(self):
        return [answer for answer in self.answers if answer != 200]


class HeldRequest:
    """A PATCH of a stack's tags that waits, inside the service, on a row lock the test holds:
    a request in flight for as long as the test wants."""

    def __init__(self, stack, stack_name):
        self.stack = stack
        self.stack_name = stack_name
        self.response = None
        self.lock = psycopg2.connect(stack.database_url)

    def __enter__(self):
        session = self.stack.nginx.session()
        created = session.post(self.stack.nginx.url + "/api/stacks/acme/held",
                               json={"stackName": self.stack_name}, headers=self.stack.headers())
        assert created.status_code == 200
        with self.lock.cursor() as cur:
            cur.execute("SELECT id FROM stacks WHERE name = %s FOR UPDATE", (self.stack_name,))
        self.thread = threading.Thread(target=self.send, args=(session,))
        self.thread.start()
        wait_until(self.waiting, "the request to wait on the lock")
        return self

    def send(self, session):
        self.response = session.patch(
            f"{self.stack.nginx.url}/api/stacks/acme/held/{self.stack_name}/tags",
            json={"owner": "held"}, headers=self.stack.headers(), timeout=120)

    def waiting(self):
        # From another connection: a transaction sees pg_stat_activity as it was at its start.
        conn = psycopg2.connect(self.stack.database_url)
        try:
            with conn.cursor() as cur:
                # The service runs its named queries as prepared statements (app/queries.py).
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND (query LIKE 'UPDATE stacks SET tags%' "
                            "OR query LIKE 'EXECUTE set_tags%')")
                return cur.fetchone()[0] == 1
        finally:
            conn.close()

    def release(self):
        self.lock.commit()
        self.thread.join()
        self.lock.close()
        return self.response

    def __exit__(self, *exc):
        if not self.lock.closed:
            self.release()


def test_a_reload_under_traffic_fails_no_request(served):
    old = served.gunicorn.worker_pids()
    with Traffic(served) as traffic:
        served.gunicorn.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: len(new := served.gunicorn.worker_pids()) == 2 and not new & old,
                   "new workers to replace the old ones")
        traffic.wait_for_answers(50)
    assert traffic.failures() == []


def test_a_reload_lets_a_request_in_flight_finish(served):
    old = served.gunicorn.worker_pids()
    with HeldRequest(served, "during-reload") as held:
        served.gunicorn.proc.send_signal(signal.SIGHUP)
        # The new workers are up; the old ones stay until the held request is done.
        wait_until(lambda: len(served.gunicorn.worker_pids() - old) == 2, "two new workers")
        assert served.nginx.session().get(served.nginx.url + "/healthz").status_code == 200
        response = held.release()
    assert response.status_code == 204
    wait_until(lambda: not served.gunicorn.worker_pids() & old, "the old workers to exit")


def test_sigterm_lets_a_request_in_flight_finish(alone):
    with HeldRequest(alone, "during-shutdown") as held:
        alone.gunicorn.proc.send_signal(signal.SIGTERM)
        # Both workers were told to stop; the idle one has gone, the busy one is finishing.
        wait_until(lambda: len(alone.gunicorn.worker_pids()) <= 1, "the idle worker to exit")
        response = held.release()
    assert response.status_code == 204
    assert alone.gunicorn.proc.wait(60) == 0
    conn = psycopg2.connect(alone.database_url)
    with conn.cursor() as cur:
        cur.execute("SELECT tags FROM stacks WHERE name = 'during-shutdown'")
        assert cur.fetchone()[0] == {"owner": "held"}
    conn.close()


def test_the_console_host_signs_in_over_tls_with_a_secure_cookie(served):
    """The console's name (`app.`) beside the API's, through deploy/nginx.conf: the service sees
    TLS through X-Forwarded-Proto, so the session cookie is Secure, and a form posted from the
    page (with the Referer a browser sends) passes the CSRF check."""
    session = served.nginx.session()
    host = {"Host": "app.pulumi.example.com"}
    page = session.get(served.nginx.url + "/login", headers=host)
    assert page.status_code == 200 and "Sign in" in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    csrf = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    signed = session.post(served.nginx.url + "/login/token", allow_redirects=False,
                          data={"csrf_token": csrf, "token": served.token},
                          headers={**host, "Referer": "https://app.pulumi.example.com/login"})
    assert signed.status_code == 302, signed.text[:500]
    cookie = next(c for c in signed.raw.headers.getlist("Set-Cookie")
                  if c.startswith("pulumi_console="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert session.get(served.nginx.url + "/acme", headers=host).status_code == 200
