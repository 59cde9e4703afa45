"""One error shape on the wire: {"code": <HTTP status>, "message": "..."} (the CLI reads the code)."""
import logging
import uuid

import psycopg2
import psycopg2.pool
from flask import jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status, message, headers=None, extra=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        # More members of the error body (ESC's `diagnostics`).
        self.extra = extra or {}


def error_response(status, message, **extra):
    body = {"code": status, "message": message}
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    return response


def _validation_message(messages, prefix=""):
    """Flatten marshmallow's nested messages into one readable line."""
    if isinstance(messages, dict):
        parts = []
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            parts.append(_validation_message(value, name))
        return "; ".join(parts)
    if isinstance(messages, list):
        texts = [m if isinstance(m, str) else _validation_message(m, prefix) for m in messages]
        return f"{prefix}: {' '.join(texts)}" if prefix else " ".join(texts)
    return f"{prefix}: {messages}" if prefix else str(messages)


def init_app(app):
    @app.errorhandler(ApiError)
    def handle_api_error(err):
        response = error_response(err.status, err.message, **err.extra)
        response.headers.update(err.headers)
        return response

    @app.errorhandler(ValidationError)
    def handle_validation_error(err):
        return error_response(400, "Bad Request: " + _validation_message(err.messages))

    @app.errorhandler(HTTPException)
    def handle_http_exception(err):
        response = error_response(err.code, f"{err.name}: {err.description}")
        if err.code == 405 and err.valid_methods:
            response.headers["Allow"] = ", ".join(err.valid_methods)
        return response

    @app.errorhandler(UnicodeEncodeError)
    def handle_unencodable_text(err):
        # JSON allows "\ud800" escapes; Python decodes them to lone surrogates, which neither
        # UTF-8 nor PostgreSQL can hold. The Pulumi CLI never sends them; any other client gets a
        # 400 rather than a 500, wherever in a body the text was.
        return error_response(400, "Bad Request: the body contains text that is not valid "
                                   "Unicode (an unpaired surrogate escape)")

    # A database that is down, restarting or unreachable: the connection attempt failed
    # (OperationalError), a pooled connection died under us (InterfaceError), or every pooled
    # connection is in use (PoolError). All are worth a retry, none is the caller's fault.
    @app.errorhandler(psycopg2.OperationalError)
    @app.errorhandler(psycopg2.InterfaceError)
    @app.errorhandler(psycopg2.pool.PoolError)
    def handle_database_down(err):
        log.warning("database unavailable: %s", err)
        response = error_response(503, "Service Unavailable: the database cannot be reached")
        response.headers["Retry-After"] = "1"
        return response

    # Class 22 "data exception" (a value the column or function refuses): input that got past
    # validation. The caller's fault, not the service's; logged so the validation gets fixed.
    @app.errorhandler(psycopg2.DataError)
    def handle_bad_data(err):
        log.warning("input refused by the database: %s", err)
        return error_response(400, "Bad Request: a value in the request is not acceptable")

    @app.errorhandler(Exception)
    def handle_unexpected(err):
        request_id = getattr(request, "request_id", None) or uuid.uuid4().hex
        log.exception("unhandled error (request id %s)", request_id)
        response = error_response(
            500, f"Internal Server Error (request id {request_id})", requestId=request_id
        )
        response.headers["X-Pulumi-Request-ID"] = request_id
        return response
