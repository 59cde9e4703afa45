"""What a platform asks of the service: is the process alive (/healthz), can it serve, with its
database reachable and its schema current (/readyz), and its Prometheus metrics (/metrics)."""
import hmac
import logging

import psycopg2
from flask import Blueprint, Response, current_app, jsonify, request

from .. import blobs, metrics, migrate
from ..auth import public
from ..db import transaction
from ..errors import ApiError
from ..openapi import documented
from ..queries import queries
from ..schemas import health as schemas

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@public
@documented(response=schemas.health)
def healthz():
    """The process is alive (the database is not consulted)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@public
@documented(response=schemas.ready, responses={
    503: "Service Unavailable: the database cannot be reached, migrations are pending, or the "
         "object store (BLOB_STORE_URL) cannot be reached",
})
def readyz():
    """The service can serve: its database is reachable and its schema current, and its object
    store (when states are kept in one) answers."""
    try:
        with transaction() as conn:
            pending = migrate.pending(conn)
    except psycopg2.Error as err:
        log.warning("not ready: the database cannot be reached: %s", err)
        raise ApiError(503, "Service Unavailable: the database cannot be reached")
    if pending:
        names = ", ".join(name for _, name, _ in pending)
        raise ApiError(503, f"Service Unavailable: database migrations pending: {names} "
                            "(run `pulumi-service db upgrade`)")
    store = blobs.store()
    if store is not None:
        try:
            store.check()
        except blobs.BlobStoreUnavailable as err:
            log.warning("not ready: %s", err.message)
            raise
    return jsonify({"status": "ready"})


@bp.get("/metrics")
@public
@documented(response=schemas.METRICS_TEXT, content_type=metrics.CONTENT_TYPE, responses={
    401: "Unauthorized: METRICS_TOKEN is set and the request does not send it as a Bearer token",
    404: "Not Found: metrics are disabled (METRICS_ENABLED)",
})
def prometheus_metrics():
    """Prometheus metrics of every worker (text exposition format)."""
    if not current_app.config["METRICS_ENABLED"]:
        raise ApiError(404, "Not Found: metrics are disabled (METRICS_ENABLED)")
    token = current_app.config["METRICS_TOKEN"]
    if token:
        given = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            raise ApiError(401, "Unauthorized: /metrics needs 'Authorization: Bearer <METRICS_TOKEN>'")
    try:
        with transaction() as conn:
            running = {row["kind"]: row["running"] for row in queries.running_updates_by_kind(conn)}
    except psycopg2.Error as err:
        # Still serve what the workers know; pulumi_service_database_up says what is missing.
        log.warning("metrics without the database: %s", err)
        running = None
    return Response(metrics.render(running), mimetype=None, content_type=metrics.CONTENT_TYPE)
