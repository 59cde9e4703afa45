"""gunicorn settings of the service: `pulumi-service serve` passes this file, and a bare `gunicorn`
started in this folder reads it too (`gunicorn 'app:create_app()'`). Every value can be set from
the environment; README.md "Running in production" lists them.

The master never imports the service's code (no preload): each worker imports it and opens its own
database pool after the fork, and a SIGHUP reload starts workers on the code now on disk.
"""
import glob
import os
import runpy
import shutil
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def _int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _cpus():
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (containers, taskset)
    except AttributeError:
        return os.cpu_count() or 1


bind = [os.environ.get("GUNICORN_BIND")
        or f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8080')}"]

# Processes for CPU work (parsing checkpoints holds the GIL), threads for requests that wait on
# PostgreSQL or on the network. Keep DB_POOL_MAX >= threads, and workers x DB_POOL_MAX within
# PostgreSQL's max_connections.
workers = _int("GUNICORN_WORKERS", _int("WEB_CONCURRENCY", _cpus() + 1))
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
preload_app = False

# A worker that has not checked in for this long is killed and replaced. gthread workers check in
# between requests, so a long request (a 200 MB checkpoint) does not count against it; nginx's
# proxy timeouts in deploy/nginx.conf match it.
timeout = _int("GUNICORN_TIMEOUT", 300)
# On SIGTERM (or a SIGHUP reload) workers stop accepting and finish the requests in flight for at
# most this long. A systemd unit's TimeoutStopSec must be longer.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 120)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Heartbeat files in memory rather than on a possibly slow disk (containers).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# The service decides which X-Forwarded-* headers it believes (TRUSTED_PROXY_COUNT, werkzeug's
# ProxyFix); gunicorn itself believes none, so the two cannot disagree.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "")

# gunicorn's runtime control socket (gunicornc) is shared by every gunicorn of a user unless given
# a path of its own: off unless GUNICORN_CONTROL_SOCKET names one.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

proc_name = "pulumi-service"

# Logs: JSON lines, the access log (written by the service: route, user, org, request id) on
# stdout and everything else on stderr. app/logs.py is read by path, not imported, so that the
# master does not import the `app` package.
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()
accesslog = None
logconfig_dict = runpy.run_path(os.path.join(HERE, "app", "logs.py"))["config"](loglevel.upper())

# Prometheus multiprocess mode: each worker writes its metrics to files in this folder, and a
# scrape adds them up. It must be set before a worker imports prometheus_client, hence here; a
# reload re-reads this file with the variable already set and keeps the folder.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="pulumi-service-metrics-")
    os.environ["PULUMI_SERVICE_OWN_METRICS_DIR"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def on_starting(server):
    # Files left by an earlier run would be added to this one's figures.
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for path in glob.glob(os.path.join(folder, "*.db")):
        os.remove(path)


def child_exit(server, worker):
    # A dead worker's gauges (its pool) no longer count; its counters and histograms still do.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    own = os.environ.get("PULUMI_SERVICE_OWN_METRICS_DIR")
    if own and own == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(own, ignore_errors=True)
