"""The route table as tests see it: every (METHOD, rule, view) the app serves, and an app made
without a database to read it at collection time."""
from unittest import mock

from app import create_app, secrets

from .apps import make_config


def served(app):
    """[(METHOD, werkzeug rule, view)] of every operation, the way clients call them: Flask's
    implicit OPTIONS everywhere and HEAD on GET routes are left out."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        methods = set(rule.methods) - {"OPTIONS"}
        if "GET" in methods:
            methods.discard("HEAD")
        for method in sorted(methods):
            found.append((method, rule, app.view_functions[rule.endpoint]))
    return found


def collect_app():
    """The app without a database, for test collection: its pool is made lazily, on the first
    request that needs one (public routes such as the OpenAPI document need none). The secrets
    start-up check, which reads the database, is left out: only the route table is wanted."""
    def keyring_only(app):
        app.extensions["secrets_keyring"] = secrets.Keyring.from_settings(app.config)

    with mock.patch.object(secrets, "init_app", keyring_only):
        return create_app(make_config("postgresql://collect-only/none", AUTO_MIGRATE=False))


def route_table():
    return served(collect_app())
