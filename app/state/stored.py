"""States as the checkpoints table keeps them: opaque JSON text, gzip-compressed, with the few
facts the service needs (resource count, size, hash) computed once when stored."""
import gzip
import hashlib
import json
import zlib

# What a stack that was never deployed exports: a valid, empty version-3 deployment.
EMPTY_DEPLOYMENT = {
    "version": 3,
    "deployment": {"manifest": {"time": "0001-01-01T00:00:00Z", "magic": "", "version": ""}},
}
EMPTY_DEPLOYMENT_TEXT = json.dumps(EMPTY_DEPLOYMENT).encode()


def to_text(untyped):
    """The compact UTF-8 JSON text the service stores for a parsed state."""
    return json.dumps(untyped, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class StoredDeployment:
    """An UntypedDeployment's text ready for the checkpoints table. The text is kept as a list of
    byte chunks so that a large body's deployment can be stored from a view of the request's own
    bytes, without copying or re-encoding it."""

    def __init__(self, chunks, resource_count):
        self.chunks = [chunks] if isinstance(chunks, (bytes, bytearray, memoryview)) else chunks
        self.resource_count = resource_count

    @property
    def text(self):
        return b"".join(bytes(chunk) for chunk in self.chunks)

    @classmethod
    def from_untyped(cls, untyped):
        """From a parsed {"version", "features"?, "deployment"} object."""
        resources = (untyped.get("deployment") or {}).get("resources") or []
        return cls(to_text(untyped), len(resources))

    @classmethod
    def from_body(cls, body):
        """From a scanned request body (`scan.parse_object`): the envelope written by the
        service, the deployment exactly as the client sent it."""
        head = {"version": body.members["version"]}
        if body.members.get("features"):
            head["features"] = body.members["features"]
        prefix = json.dumps(head, separators=(",", ":"))[:-1] + ',"deployment":'
        deployment = body.members.get("deployment") or {}
        resources = deployment.get("resources") if isinstance(deployment, dict) else None
        count = len(resources) if isinstance(resources, list) else 0
        return cls([prefix.encode("utf-8"), body.raw_value("deployment"), b"}"], count)

    def row(self):
        compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
        digest = hashlib.sha256()
        size, compressed = 0, []
        for chunk in self.chunks:
            digest.update(chunk)
            size += len(chunk)
            compressed.append(compressor.compress(chunk))
        compressed.append(compressor.flush())
        return {
            "deployment_gz": b"".join(compressed),
            "size_bytes": size,
            "sha256": digest.hexdigest(),
            "resource_count": self.resource_count,
        }


def decompress(deployment_gz):
    """The stored text (bytes) of a checkpoint row."""
    return gzip.decompress(bytes(deployment_gz))
