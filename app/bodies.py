"""Request bodies before Flask sees them: a size limit checked before reading, and gzip-encoded
bodies (the CLI compresses checkpoints, imports and batches) decompressed with the same limit, so
that a small "zip bomb" is refused too."""
import io
import json
import zlib


def _error(start_response, status, message):
    body = json.dumps({"code": status, "message": message}).encode()
    reason = {400: "Bad Request", 413: "Request Entity Too Large",
              415: "Unsupported Media Type"}[status]
    start_response(f"{status} {reason}", [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ])
    return [body]


class BodyLimitMiddleware:
    def __init__(self, wsgi_app, max_bytes):
        self.wsgi_app = wsgi_app
        self.max_bytes = max_bytes

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > self.max_bytes:
            return _error(start_response, 413,
                          f"Request Entity Too Large: bodies are limited to {self.max_bytes} bytes")
        encoding = environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
        if encoding in ("gzip", "x-gzip"):
            try:
                raw = _read(environ, self.max_bytes)
                body = _gunzip(raw, self.max_bytes)
            except _TooLarge:
                return _error(start_response, 413,
                              f"Request Entity Too Large: bodies are limited to {self.max_bytes} "
                              "bytes once decompressed")
            except (zlib.error, EOFError, ValueError):
                return _error(start_response, 400, "Bad Request: the gzip-encoded body is corrupt")
            _replace_body(environ, body)
            del environ["HTTP_CONTENT_ENCODING"]
        elif encoding not in ("", "identity"):
            return _error(start_response, 415,
                          f"Unsupported Media Type: Content-Encoding {encoding!r} (only gzip)")
        elif chunked and not length.isdigit():
            try:
                raw = _read(environ, self.max_bytes)
            except _TooLarge:
                return _error(start_response, 413,
                              f"Request Entity Too Large: bodies are limited to {self.max_bytes} bytes")
            _replace_body(environ, raw)
        return self.wsgi_app(environ, start_response)


def _replace_body(environ, body):
    """The body now read whole: with its length, and no longer chunked, for whoever reads next."""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)


class _TooLarge(Exception):
    pass


def _read(environ, limit):
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        data = stream.read(int(length))
    else:
        chunks, total = [], 0
        while True:
            # Never ask for more than one byte past the limit: a server's read(n) may wait for
            # all n bytes, so a larger read would hang on a client that sent just over the
            # limit and then stalled, instead of refusing it.
            chunk = stream.read(min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise _TooLarge()
            chunks.append(chunk)
        data = b"".join(chunks)
    return data


def _gunzip(raw, limit):
    """All the members of a gzip stream (RFC 1952 allows several, one after the other), refusing
    more than `limit` bytes of output and anything after the last member."""
    parts, size = [], 0
    while raw:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        part = decompressor.decompress(raw, limit + 1 - size)
        size += len(part)
        if size > limit:
            raise _TooLarge()
        if not decompressor.eof:
            raise ValueError("truncated gzip stream")
        parts.append(part)
        raw = decompressor.unused_data
    return parts[0] if len(parts) == 1 else b"".join(parts)
