"""Batch-decrypt throughput: one call of 10 000 values (the stack's data key is unwrapped once
per call), timed over several rounds. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_secrets.py                 # in-process Flask app, throwaway PostgreSQL
    .venv/bin/python bench/bench_secrets.py --url http://127.0.0.1:8080 --token pul-... \\
        --stack acme/bench/dev                              # a running service (gunicorn); the stack must exist

DATABASE_URL, when set, is used instead of a throwaway PostgreSQL (its tables are not cleaned).
"""
import argparse
import base64
import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ACCEPT = "application/vnd.pulumi+8"


def values(count, size):
    # Distinct values of `size` bytes, like passwords and keys in a state.
    return [base64.b64encode(f"{i:08d}".encode().ljust(size, b"s")).decode() for i in range(count)]


class FlaskCaller:
    def __init__(self, client, token):
        self.client, self.token = client, token

    def post(self, path, body):
        data = gzip.compress(json.dumps(body).encode(), compresslevel=1)
        response = self.client.post(path, data=data, headers={
            "Accept": ACCEPT, "Authorization": f"token {self.token}",
            "Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert response.status_code == 200, response.get_data(as_text=True)
        return json.loads(response.get_data())


class HttpCaller:
    def __init__(self, url, token):
        import requests

        self.session, self.url = requests.Session(), url.rstrip("/")
        self.session.headers.update({"Accept": ACCEPT, "Authorization": f"token {token}",
                                     "Content-Type": "application/json",
                                     "Content-Encoding": "gzip"})

    def post(self, path, body):
        data = gzip.compress(json.dumps(body).encode(), compresslevel=1)
        response = self.session.post(self.url + path, data=data)
        response.raise_for_status()
        return response.json()


def in_process():
    """An app on a throwaway (or DATABASE_URL) PostgreSQL, with a user, an org and a stack."""
    from app import create_app
    from app.cli import create_token, create_user
    from app.config import Config
    from app.db import connect
    from app.secrets import generate_master_key

    url, server = os.environ.get("DATABASE_URL"), None
    if not url:
        from tests.support.postgres import factory

        server = factory()()
        url = server.url()
    app = create_app(Config(DATABASE_URL=url, SECRETS_MASTER_KEY=generate_master_key(),
                            SECRETS_MASTER_KEY_FILE="", SECRETS_PREVIOUS_MASTER_KEYS=""))
    login = f"bench{int(time.time())}"
    conn = connect(url)
    with conn:
        token = create_token(conn, create_user(conn, login), "bench")
    conn.close()
    caller = FlaskCaller(app.test_client(), token)
    caller.post(f"/api/stacks/{login}/bench", {"stackName": "dev"})
    return caller, f"/api/stacks/{login}/bench/dev", server


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=32, help="plaintext bytes per value")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--stack", help="org/project/stack (with --url)")
    args = parser.parse_args()

    server = None
    if args.url:
        caller, path = HttpCaller(args.url, args.token), f"/api/stacks/{args.stack}"
        target = args.url
    else:
        caller, path, server = in_process()
        target = "in-process Flask app (test client)"
    try:
        plaintexts = values(args.count, args.size)
        started = time.perf_counter()
        ciphertexts = caller.post(path + "/batch-encrypt", {"plaintexts": plaintexts})["ciphertexts"]
        encrypt_seconds = time.perf_counter() - started

        timings = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            answer = caller.post(path + "/batch-decrypt", {"ciphertexts": ciphertexts})
            timings.append(time.perf_counter() - started)
            if len(answer["plaintexts"]) != len(set(ciphertexts)):
                raise SystemExit("batch-decrypt answered fewer values than requested")
    finally:
        if server is not None:
            server.stop()

    best, median = min(timings), statistics.median(timings)
    print(f"target: {target}")
    print(f"values per call: {args.count} ({args.size}-byte plaintexts), rounds: {args.rounds}")
    print(f"batch-encrypt: {encrypt_seconds * 1000:.0f} ms, {args.count / encrypt_seconds:,.0f} values/s")
    print(f"batch-decrypt: median {median * 1000:.0f} ms, best {best * 1000:.0f} ms per call; "
          f"{args.count / median:,.0f} values/s (median), {args.count / best:,.0f} values/s (best)")


if __name__ == "__main__":
    main()
