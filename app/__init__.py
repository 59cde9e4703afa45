"""The Pulumi Service backend: create_app() reads like the table of contents of the service."""
import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import auth, db, errors, migrate, openapi, server_header
from .bodies import BodyLimitMiddleware
from .config import Config


def create_app(config=None):
    app = Flask(__name__)
    app.config.from_object(config or Config())
    if not app.config["DATABASE_URL"]:
        raise RuntimeError(
            "DATABASE_URL is not set: run `pulumi-service serve` for the embedded database, "
            "or point DATABASE_URL at PostgreSQL"
        )
    logging.basicConfig(level=logging.INFO)
    server_header.hide()

    if app.config["AUTO_MIGRATE"]:
        migrate.upgrade(app.config["DATABASE_URL"], log=app.logger.info)

    db.init_app(app)
    errors.init_app(app)
    auth.init_app(app)

    from .routes import openapi as openapi_routes, stacks, user
    app.register_blueprint(user.bp)
    app.register_blueprint(stacks.bp)
    app.register_blueprint(openapi_routes.bp)

    # After every blueprint: both read the whole route table.
    auth.check_declarations(app)
    openapi.init_app(app)
    app.wsgi_app = BodyLimitMiddleware(app.wsgi_app, app.config["MAX_BODY_BYTES"])
    if app.config["TRUSTED_PROXY_COUNT"] > 0:
        # The client's address from X-Forwarded-For, as set by that many proxies in front.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXY_COUNT"])
    return app
