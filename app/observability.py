"""What every request leaves behind: a request id (the caller's X-Request-ID, or a new one) echoed
in the response, one JSON access-log line and the request metrics.

The observer wraps the whole WSGI application, outside the body limits, so that requests refused
before Flask (413 for an oversized body, 400 for a corrupt gzip) are logged and counted too. Flask
hooks only note what Flask knows (route template, caller, organization) in the WSGI environ for it.
Log lines name the route, the caller and the organization, never a header, body or query value.
"""
import logging
import re
import time
import uuid

from flask import g, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wsgi import ClosingIterator

from . import db, metrics
from .logs import ACCESS_LOGGER

access_log = logging.getLogger(ACCESS_LOGGER)
log = logging.getLogger(__name__)

# A caller's request id is kept only if it is short and plain (it goes into logs and headers).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_ID = "pulumi_service.request_id"
_ROUTE = "pulumi_service.route"
_USER = "pulumi_service.user"
_ORG = "pulumi_service.org"
_RECEIVED = "pulumi_service.request_bytes"


def request_id(environ):
    given = environ.get("HTTP_X_REQUEST_ID", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _length(environ):
    length = str(environ.get("CONTENT_LENGTH", ""))
    return int(length) if length.isdigit() else None


class RequestObserver:
    def __init__(self, wsgi_app, flask_app):
        self.wsgi_app = wsgi_app
        self.flask_app = flask_app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        environ[_ID] = rid = request_id(environ)
        # The body's size as received: the body middleware replaces CONTENT_LENGTH with the size
        # once decompressed.
        environ[_RECEIVED] = _length(environ)
        seen = {}

        def observed_start_response(status, headers, exc_info=None):
            seen["status"] = code = int(status.split(" ", 1)[0])
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append(("X-Request-ID", rid))
            if code >= 500 and not any(k.lower() == "x-pulumi-request-id" for k, _ in headers):
                headers.append(("X-Pulumi-Request-ID", rid))
            return start_response(status, headers, exc_info)

        try:
            body = self.wsgi_app(environ, observed_start_response)
        except BaseException:
            self._finish(environ, seen, started)
            raise
        # Logged when the server closes the response, so the duration covers sending the body.
        return ClosingIterator(body, lambda: self._finish(environ, seen, started))

    def _finish(self, environ, seen, started):
        seconds = time.perf_counter() - started
        status = seen.get("status", 500)
        method = environ.get("REQUEST_METHOD", "")
        route = environ.get(_ROUTE)
        try:
            metrics.observe_request(method, route, status, seconds)
            metrics.observe_pool(db.pool_stats(self.flask_app))
        except Exception:  # metrics must never fail a request that has been answered
            log.exception("could not record the metrics of a request")
        path = environ.get("PATH_INFO", "")
        access_log.info("%s %s %s", method, path, status, extra={
            "request_id": environ[_ID],
            "method": method,
            "route": route,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user": environ.get(_USER),
            "org": environ.get(_ORG),
            "request_bytes": environ.get(_RECEIVED),
            "body_bytes": _length(environ),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        })


def _start_request():
    # app/errors.py puts this id into the body of a 500.
    request.request_id = request.environ.get(_ID) or uuid.uuid4().hex


def _note_request(exc=None):
    environ = request.environ
    environ[_ROUTE] = request.url_rule.rule if request.url_rule is not None else None
    user = g.get("user")
    environ[_USER] = user.get("login") if user else None
    environ[_ORG] = (request.view_args or {}).get("org")


def init_app(app):
    """The Flask side; call before the auth hooks so that even their errors carry the id."""
    app.before_request(_start_request)
    app.teardown_request(_note_request)


def wrap(app):
    """The outermost WSGI layers: the trusted proxies' X-Forwarded-* (TRUSTED_PROXY_COUNT), then
    the observer."""
    wsgi_app = RequestObserver(app.wsgi_app, app)
    hops = app.config["TRUSTED_PROXY_COUNT"]
    if hops > 0:
        wsgi_app = ProxyFix(wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.wsgi_app = wsgi_app
