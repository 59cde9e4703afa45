"""Prometheus metrics: requests by route template, method and status with their latency,
checkpoint sizes, database pool use (kept by each worker) and operations in progress (read from
the database when scraped).

Under gunicorn every worker process writes its values to files in PROMETHEUS_MULTIPROC_DIR
(gunicorn.conf.py makes and cleans that folder, and must set it before this module is imported);
a scrape, whichever worker serves it, adds up the files of every worker.
"""
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST

# A route label for requests that matched no route (404s, and bodies refused before routing).
UNMATCHED = "(unmatched)"
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
# Operation kinds always exported (0 when none runs), so that a dashboard never sees a gap.
_KINDS = ("update", "preview", "refresh", "destroy", "import")

REQUESTS = Counter(
    "pulumi_service_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "pulumi_service_http_request_duration_seconds",
    "Time from the request reaching the service to the last byte of its response.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
CHECKPOINT_SIZE = Histogram(
    "pulumi_service_checkpoint_size_bytes",
    "Size of each stored checkpoint (the deployment's JSON text, before compression).",
    buckets=tuple(2 ** n for n in range(10, 30, 2)),  # 1 KiB .. 512 MiB, x4 per bucket
)
POOL_CONNECTIONS = Gauge(
    "pulumi_service_db_pool_connections",
    "Database connections held by the workers' pools, in use by a request or idle.",
    ["state"],
    multiprocess_mode="livesum",
)
POOL_MAX = Gauge(
    "pulumi_service_db_pool_max_connections",
    "Most connections the workers' pools may open (DB_POOL_MAX per worker).",
    multiprocess_mode="livesum",
)


# The labelled children of REQUESTS and LATENCY by (route, method, status): looked up once, as
# labels() costs more than the increment itself. Bounded by the route table.
_children = {}


def observe_request(method, route, status, seconds):
    key = (route, method, status)
    children = _children.get(key)
    if children is None:
        labels = {
            "route": route or UNMATCHED,
            "method": method if method in _METHODS else "OTHER",
            "status": str(status),
        }
        children = _children[key] = (REQUESTS.labels(**labels), LATENCY.labels(**labels))
    children[0].inc()
    children[1].observe(seconds)


def observe_checkpoint(size_bytes):
    """Call wherever a checkpoint is stored, with the size of its uncompressed text."""
    CHECKPOINT_SIZE.observe(size_bytes)


_POOL_GAUGES = {"in_use": POOL_CONNECTIONS.labels(state="in_use"),
                "idle": POOL_CONNECTIONS.labels(state="idle")}
_pool_seen = {}


def observe_pool(stats):
    """This worker's pool (app.db.pool_stats), sampled after each request; written only when a
    figure changed (under gunicorn each write goes to a shared file)."""
    if _pool_seen.get("pid") != os.getpid():  # a forked process starts with files of its own
        _pool_seen.clear()
        _pool_seen["pid"] = os.getpid()
    for state, gauge in _POOL_GAUGES.items():
        if _pool_seen.get(state) != stats[state]:
            gauge.set(stats[state])
            _pool_seen[state] = stats[state]
    if _pool_seen.get("max") != stats["max"]:
        POOL_MAX.set(stats["max"])
        _pool_seen["max"] = stats["max"]


class _ScrapeTime:
    """Figures read from the database by the scrape itself: the same for every worker, so they
    are not kept in the per-worker files."""

    def __init__(self, running_by_kind):
        self.running_by_kind = running_by_kind

    def collect(self):
        up = GaugeMetricFamily("pulumi_service_database_up",
                               "1 if the scrape could read the database, else 0.")
        up.add_metric([], 0 if self.running_by_kind is None else 1)
        yield up
        if self.running_by_kind is None:
            return
        running = GaugeMetricFamily(
            "pulumi_service_active_updates",
            "Operations in progress (updates, previews, refreshes, destroys, imports), by kind.",
            labels=["kind"],
        )
        counts = dict.fromkeys(_KINDS, 0)
        counts.update(self.running_by_kind)
        for kind, count in sorted(counts.items()):
            running.add_metric([kind], count)
        yield running


def multiprocess():
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def render(running_by_kind):
    """The text exposition of every metric; `running_by_kind` is {kind: count}, or None when the
    database could not be read."""
    if multiprocess():
        workers = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(workers)
    else:
        workers = REGISTRY
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_ScrapeTime(running_by_kind))
    return generate_latest(workers) + generate_latest(scrape)
