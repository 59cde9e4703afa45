"""A real S3-compatible server for tests: versitygw (Apache-2.0, objects as plain files), built
from the Go module proxy by tests/e2e/build_versitygw.sh and cached outside the work tree, run on
127.0.0.1 on a free port. `S3Server.running(folder)` starts one; tests share one per session
(conftest's `s3_server`) and each makes its own bucket."""
import contextlib
import itertools
import subprocess
import time
from pathlib import Path

from .servers import free_port, stop

REPO = Path(__file__).resolve().parents[2]
_BUCKETS = itertools.count(1)


def versitygw_binary():
    built = subprocess.run(["bash", str(REPO / "tests/e2e/build_versitygw.sh")],
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise RuntimeError(f"versitygw could not be built:\n{built.stderr[-4000:]}")
    return built.stdout.strip().splitlines()[-1]


class S3Server:
    ACCESS, SECRET = "testaccess", "testsecret1234"

    def __init__(self, folder):
        self.folder = Path(folder)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        # The usual AWS variables, as a process given them would read them.
        self.env = {"AWS_ACCESS_KEY_ID": self.ACCESS, "AWS_SECRET_ACCESS_KEY": self.SECRET,
                    "AWS_REGION": "us-east-1"}
        self.proc = None
        self._client = None

    def start(self):
        data, sidecar = self.folder / "s3-data", self.folder / "s3-meta"
        data.mkdir(parents=True, exist_ok=True)
        sidecar.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [versitygw_binary(), "--port", f"127.0.0.1:{self.port}", "--access", self.ACCESS,
             "--secret", self.SECRET, "posix", "--sidecar", str(sidecar), str(data)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client().list_buckets()
                return self
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("versitygw is not up") from None
                time.sleep(0.2)

    def stop(self):
        if self.proc is not None:
            stop(self.proc)

    def client(self):
        """The tests' S3 client of this server, made once: a boto3 session and client cost
        0.2-0.4 s to make, and each test's bucket cleanup made two. (boto3 clients are
        thread-safe; the credentials are explicit, never a session's default.)"""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self.endpoint, region_name="us-east-1",
                aws_access_key_id=self.ACCESS, aws_secret_access_key=self.SECRET,
                config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        return self._client

    def bucket(self, name=None):
        """A new empty bucket (a fresh name unless given); returns its name."""
        name = name or f"bucket-{next(_BUCKETS)}-{self.port}"
        with contextlib.suppress(self.client().exceptions.BucketAlreadyOwnedByYou):
            self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket):
        found = self.client().list_objects_v2(Bucket=bucket)
        return sorted(o["Key"] for o in found.get("Contents", []))

    def settings(self, bucket, prefix="states"):
        """The service's settings for a blob store in `bucket` (environment or Config)."""
        return {"BLOB_STORE_URL": f"s3://{bucket}/{prefix}", "BLOB_STORE_ENDPOINT": self.endpoint,
                "BLOB_STORE_REGION": "us-east-1"}

    @classmethod
    @contextlib.contextmanager
    def running(cls, folder):
        server = cls(folder).start()
        try:
            yield server
        finally:
            server.stop()
