"""Log lines as JSON objects, one per line: the access log (logger `app.access`, one line per
request) on stdout, everything else (the service's and gunicorn's own lines) on stderr.

gunicorn.conf.py loads this file by path (runpy) rather than importing the `app` package, so that
the gunicorn master never imports the service's code and a SIGHUP reload picks up new code; keep
this module free of imports from the package.
"""
import logging
import logging.config

ACCESS_LOGGER = "app.access"


def config(level="INFO"):
    """A logging.config.dictConfig dictionary: JSON to stderr, the access log to stdout."""
    json_formatter = {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(levelname)s %(name)s %(process)d %(message)s",
        "rename_fields": {"levelname": "level", "name": "logger", "process": "pid"},
        "timestamp": True,
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": json_formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json",
                       "stream": "ext://sys.stderr"},
            "stdout": {"class": "logging.StreamHandler", "formatter": "json",
                       "stream": "ext://sys.stdout"},
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            # gunicorn's own access log stays off (accesslog = None): the service writes a
            # richer line (route, user, org, request id) itself.
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            ACCESS_LOGGER: {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        },
    }


def configure(level="INFO"):
    """JSON logging for a process that nobody configured yet (gunicorn.conf.py configures its
    workers before the app starts; a test runner has its own handlers): only the level then."""
    if logging.getLogger().handlers:
        logging.getLogger().setLevel(level)
        return
    logging.config.dictConfig(config(level))
