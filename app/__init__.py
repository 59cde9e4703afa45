"""The Pulumi Service backend: create_app() reads like the table of contents of the service."""
from flask import Flask

from . import (auth, blobs, console, db, errors, logs, migrate, observability, oidc_keys, openapi,
               secrets, server_header)
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
    logs.configure(app.config["LOG_LEVEL"])
    server_header.hide()

    if app.config["AUTO_MIGRATE"]:
        migrate.upgrade(app.config["DATABASE_URL"], log=app.logger.info)

    db.init_app(app)
    errors.init_app(app)
    observability.init_app(app)
    auth.init_app(app)
    secrets.init_app(app)
    oidc_keys.init_app(app)
    blobs.init_app(app)

    from .routes import (
        audit as audit_routes, deleted_stacks, environments, health, history, oidc as oidc_routes,
        openapi as openapi_routes, orgs, secrets as secrets_routes, stacks, teams, tokens, updates,
        user, webhooks,
    )
    app.register_blueprint(health.bp)
    app.register_blueprint(user.bp)
    app.register_blueprint(tokens.bp)
    app.register_blueprint(orgs.bp)
    app.register_blueprint(teams.bp)
    app.register_blueprint(stacks.bp)
    app.register_blueprint(deleted_stacks.bp)
    app.register_blueprint(secrets_routes.bp)
    app.register_blueprint(updates.bp)
    app.register_blueprint(history.bp)
    app.register_blueprint(openapi_routes.bp)
    app.register_blueprint(audit_routes.bp)
    app.register_blueprint(environments.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(oidc_routes.bp)
    # The web console: HTML pages for people, at the paths the CLI prints (after the API's
    # blueprints; its organization segment never takes a path of theirs).
    console.init_app(app)

    # After every blueprint: both read the whole route table.
    auth.check_declarations(app)
    openapi.init_app(app)
    app.wsgi_app = BodyLimitMiddleware(app.wsgi_app, app.config["MAX_BODY_BYTES"])
    observability.wrap(app)
    return app
