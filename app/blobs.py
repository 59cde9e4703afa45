"""State blobs in S3-compatible object storage (BLOB_STORE_URL=s3://bucket/prefix): the store
(content-addressed objects: the key of a state's compressed bytes is their SHA-256), where a
finished version's state goes, reading a checkpoint row's state from whichever store holds it,
the collector of objects no row names, and moving versions between the stores.

With no BLOB_STORE_URL every state stays in PostgreSQL. An object is always written before the
row that names it commits, under a shared advisory lock the collector takes exclusively: a crash
in between leaves only an unreferenced object, which the collector removes once it is older than
BLOB_GC_GRACE_SECONDS. Functions that take a connection never commit."""
import hashlib
import threading
import zlib
from urllib.parse import urlparse

from flask import current_app, has_app_context

from .errors import ApiError
from .queries import queries

STORE_DOWN = "Service Unavailable: the object store cannot be reached"
CHUNK_BYTES = 1024 * 1024


class BlobStoreUnavailable(ApiError):
    """The object store did not answer (or refused us): a 503 to the client; the route's
    transaction rolls back, so nothing names an object that may not exist."""

    def __init__(self, detail=""):
        super().__init__(503, STORE_DOWN + (f" ({detail})" if detail else ""))


def key_for(data):
    """The key of stored bytes, relative to the store's prefix."""
    return "sha256/" + hashlib.sha256(data).hexdigest()


class S3BlobStore:
    """Objects under s3://bucket/prefix on any S3-compatible server. Keys given and returned are
    relative to the prefix, so a bucket can be restored under another prefix. The endpoint,
    region and credentials come from the arguments or the usual AWS environment variables."""

    def __init__(self, url, endpoint=None, region=None, timeout_seconds=10):
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"BLOB_STORE_URL must be s3://bucket[/prefix], not {url!r}")
        self.url = url
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self._endpoint, self._region, self._timeout = endpoint, region, timeout_seconds
        self._client = None
        self._lock = threading.Lock()

    @property
    def client(self):
        # Made on first use, in the process that uses it (after gunicorn forks).
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config as BotoConfig

                self._client = boto3.client(
                    "s3", endpoint_url=self._endpoint or None, region_name=self._region,
                    config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"},
                                      connect_timeout=self._timeout, read_timeout=self._timeout,
                                      retries={"mode": "standard", "max_attempts": 3}))
            return self._client

    def _name(self, key):
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, operation, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **kwargs)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise KeyError(kwargs.get("Key")) from None
            raise BlobStoreUnavailable(err.response.get("Error", {}).get("Code", "")) from err
        except BotoCoreError as err:
            raise BlobStoreUnavailable(type(err).__name__) from err

    def put(self, data):
        """Store bytes; returns their key. Writing the same bytes again rewrites the same object
        (and renews its age, which the collector's grace period counts from)."""
        data = bytes(data)
        key = key_for(data)
        self._call("put_object", Key=self._name(key), Body=data)
        return key

    def get(self, key):
        return b"".join(self.stream(key))

    def stream(self, key, chunk_bytes=CHUNK_BYTES):
        """The object's bytes in chunks. The request is made now (a missing object or a store
        that is down raises here, before a response starts); the body is read as it is iterated."""
        body = self._call("get_object", Key=self._name(key))["Body"]

        def chunks():
            try:
                yield from body.iter_chunks(chunk_bytes)
            finally:
                body.close()
        return chunks()

    def exists(self, key):
        try:
            self._call("head_object", Key=self._name(key))
        except KeyError:
            return False
        return True

    def delete(self, keys):
        """Delete objects (1 000 per request); a missing one is not an error."""
        keys = list(keys)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self._name(k)} for k in keys[start:start + 1000]]
            self._call("delete_objects", Delete={"Objects": batch, "Quiet": True})

    def list(self, older_than=None):
        """Pages (lists) of (key, last modified, size) of every object under the prefix; with
        `older_than` (an aware datetime), only the objects last written before it."""
        token = None
        prefix = self._name("")
        while True:
            found = self._call("list_objects_v2", Prefix=prefix, MaxKeys=1000,
                               **({"ContinuationToken": token} if token else {}))
            page = [(o["Key"][len(prefix):], o["LastModified"], o["Size"])
                    for o in found.get("Contents", [])
                    if older_than is None or o["LastModified"] < older_than]
            if page:
                yield page
            if not found.get("IsTruncated"):
                return
            token = found["NextContinuationToken"]

    def check(self):
        """BlobStoreUnavailable unless the bucket answers."""
        self._call("head_bucket")


def open_store(config):
    """The store BLOB_STORE_URL names in `config` (a mapping of settings), or None (every state
    in PostgreSQL)."""
    if not config["BLOB_STORE_URL"]:
        return None
    return S3BlobStore(config["BLOB_STORE_URL"], config["BLOB_STORE_ENDPOINT"],
                       config["BLOB_STORE_REGION"], config["BLOB_STORE_TIMEOUT_SECONDS"])


def init_app(app):
    found = open_store(app.config)
    if found is not None:
        found.client  # made now (each gunicorn worker makes its app): not by the first request
    app.extensions["blob_store"] = found


_OUTSIDE_APP = {}


def _settings():
    """(store or None, min bytes): the app's, or (admin command, outside any app) the
    environment's."""
    if has_app_context():
        return current_app.extensions.get("blob_store"), current_app.config["BLOB_STORE_MIN_BYTES"]
    if "store" not in _OUTSIDE_APP:
        from .config import Config
        config = vars(Config())
        _OUTSIDE_APP.update(store=open_store(config), min_bytes=config["BLOB_STORE_MIN_BYTES"])
    return _OUTSIDE_APP["store"], _OUTSIDE_APP["min_bytes"]


def store():
    return _settings()[0]


# --- a finished version's state ---------------------------------------------------------------

def placed(conn, row):
    """A checkpoint row (StoredDeployment.row()) for a finished version, with blob_key: its bytes
    moved to the object store when that is on and they are at least BLOB_STORE_MIN_BYTES."""
    found, min_bytes = _settings()
    data = row["deployment_gz"]
    if found is None or len(data) < min_bytes:
        return {**row, "blob_key": None}
    queries.lock_blob_writes(conn)
    return {**row, "deployment_gz": None, "blob_key": found.put(data)}


def offload(conn, stack_id, version):
    """Move a finished version's state, written inline while its update ran, to the object store
    (when on, and the state is large enough)."""
    found, min_bytes = _settings()
    if found is None:
        return
    inline = queries.inline_checkpoint_over(conn, stack_id=stack_id, version=version,
                                            min_bytes=min_bytes)
    if inline is None:
        return
    queries.lock_blob_writes(conn)
    queries.set_checkpoint_blob(conn, stack_id=stack_id, version=version,
                                blob_key=found.put(inline["deployment_gz"]))


def _store_for(row):
    found = store()
    if found is None:
        raise ApiError(503, "Service Unavailable: this state is in the object store and "
                            "BLOB_STORE_URL is not set")
    return found


def gz_of(row):
    """The compressed bytes of a checkpoint row's state, from whichever store holds them."""
    if row["deployment_gz"] is not None:
        return row["deployment_gz"]
    try:
        return _store_for(row).get(row["blob_key"])
    except KeyError:
        raise ApiError(500, f"Internal Server Error: object {row['blob_key']} is missing") from None


def stream_gz(row):
    """The compressed bytes of an object-store row's state in chunks, never held whole."""
    try:
        return _store_for(row).stream(row["blob_key"])
    except KeyError:
        raise ApiError(500, f"Internal Server Error: object {row['blob_key']} is missing") from None


def decompressed(chunks):
    """Decompress gzip chunks as they come."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for chunk in chunks:
        out = inflater.decompress(chunk)
        if out:
            yield out
    tail = inflater.flush()
    if tail:
        yield tail


# --- the collector ----------------------------------------------------------------------------

def referenced_keys(conn):
    """Every key a checkpoint row names, each once, in order (what a backup must copy)."""
    return [row["key"] for row in queries.referenced_blob_keys(conn)]


def collect_page(conn, found, keys):
    """Delete those of `keys` (objects the collector listed as old enough) that no row names.
    Under the exclusive lock: a transaction that wrote one of them and will name it has
    committed by then, and none writes until this one commits. Returns how many were deleted."""
    queries.lock_blob_deletes(conn)
    unreferenced = [r["key"] for r in queries.unreferenced_blob_keys(conn, keys=list(keys))]
    found.delete(unreferenced)
    return len(unreferenced)


# --- moving versions between the stores -------------------------------------------------------

def move_batch_to_store(conn, found, after, min_bytes, batch):
    """Move one batch of inline finished versions to the store; returns (moved, last key) with
    last key None when none were left. Each row moves only if still unchanged."""
    rows = list(queries.inline_checkpoints_to_move(
        conn, after_stack=after[0], after_version=after[1], min_bytes=min_bytes, batch=batch))
    if not rows:
        return 0, None
    queries.lock_blob_writes(conn)
    for row in rows:
        data = bytes(row["deployment_gz"])
        queries.set_checkpoint_blob_if_inline(
            conn, stack_id=row["stack_id"], version=row["version"], blob_key=found.put(data),
            digest=hashlib.sha256(data).hexdigest())
    return len(rows), (rows[-1]["stack_id"], rows[-1]["version"])


def move_batch_to_database(conn, found, after, batch):
    """Bring one batch of versions back inline; their objects become the collector's."""
    rows = list(queries.blob_checkpoints_to_move(conn, after_stack=after[0],
                                                 after_version=after[1], batch=batch))
    if not rows:
        return 0, None
    for row in rows:
        queries.set_checkpoint_inline(conn, stack_id=row["stack_id"], version=row["version"],
                                      blob_key=row["blob_key"],
                                      deployment_gz=found.get(row["blob_key"]))
    return len(rows), (rows[-1]["stack_id"], rows[-1]["version"])
