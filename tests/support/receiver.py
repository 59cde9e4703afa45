"""A real local HTTP receiver for webhook deliveries: records every request (headers, body,
whether `Pulumi-Webhook-Signature` is the HMAC-SHA256 of the body under the expected secret),
answers with scripted statuses (then 200), and can hold requests until released (to kill or cut
off the sender mid-delivery)."""
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, secret=None, statuses=()):
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.statuses = list(statuses)
        self.requests = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.released.set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def hold(self):
        """Requests from now on wait (recorded first) until release()."""
        self.released.clear()

    def release(self):
        self.released.set()

    def signed(self, body, header):
        expected = hmac.new(self.secret, body, hashlib.sha256).hexdigest() if self.secret else None
        return header is not None and expected is not None and hmac.compare_digest(header, expected)

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                signature = self.headers.get("Pulumi-Webhook-Signature")
                with receiver.lock:
                    receiver.requests.append({
                        "path": self.path, "headers": dict(self.headers), "body": body,
                        "json": json.loads(body), "signed": receiver.signed(body, signature),
                        "id": self.headers.get("Pulumi-Webhook-ID"),
                        "kind": self.headers.get("Pulumi-Webhook-Kind"),
                        "at": time.time(),
                    })
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.released.wait(120)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                reply = f"status {status}".encode()
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        return Handler

    def wait_for(self, count, seconds=30, kind=None):
        """The requests once at least `count` arrived (of `kind`, if given)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.of(kind)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"the receiver got {len(self.of(kind))} request(s) of kind {kind}, "
                             f"expected {count}")

    def of(self, kind=None):
        with self.lock:
            return [r for r in self.requests if kind is None or r["kind"] == kind]
