"""The web console: server-rendered pages (Jinja2, one small script, no build step) in the same
app as the API, at the paths the Pulumi CLI prints (`<console>/<org>/<project>/<stack>`,
`.../updates/<version>`, `.../previews/<id>`, `/cli-login`, `/user/settings/tokens`).

People sign in with a password or an access token (app/signin.py); the signed cookie holds only
a session id whose row is in PostgreSQL, so signing out ends the session everywhere. Every form
carries a CSRF token (Flask-WTF), every page a strict Content-Security-Policy. Each view declares
who may see it with `console_page(role)` from app/auth.py; the hook below enforces it with the
API's rules (no membership: 404; a lower role: 403), answering in HTML.
"""
import datetime
import hashlib
import hmac
import re

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from .. import signin
from ..auth import CONSOLE_ANYONE, ROLES, check_stack_permission
from ..db import transaction
from ..errors import ApiError

bp = Blueprint("console", __name__, template_folder="templates")

# First path segments that are the service's own, never an organization's console pages.
RESERVED = {"api", "console-static", "login", "logout", "cli-login", "welcome", "user",
            "healthz", "readyz", "metrics", "favicon.ico", "robots.txt"}

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'{extra}; frame-ancestors 'none'; base-uri 'none'")


class OrgConverter(BaseConverter):
    """An organization's name in a console URL: any segment but the service's own paths. In the
    pattern itself, so that `/api/...` never even matches a console route (a converter that
    refused it later would turn an unknown API path into a 405)."""

    regex = "(?!(?:" + "|".join(re.escape(name) for name in sorted(RESERVED)) + ")$)[^/]+"
    # One segment, whatever the "/" in the pattern suggests to werkzeug.
    part_isolating = True


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, `Secure` whenever the request came over TLS (behind nginx, as
    X-Forwarded-Proto says when TRUSTED_PROXY_COUNT trusts it)."""

    def get_cookie_secure(self, app):
        return bool(app.config["CONSOLE_COOKIE_SECURE"] or request.is_secure)

    def open_session(self, app, request):
        # The API authenticates tokens, never the console's cookie: its requests get Flask's null
        # session (which refuses writes) without the cookie's signature check.
        if request.path.startswith("/api/"):
            return None
        return super().open_session(app, request)


def _secret_key(app):
    if app.config["CONSOLE_SECRET_KEY"]:
        return app.config["CONSOLE_SECRET_KEY"]
    keyring = app.extensions.get("secrets_keyring")
    raw = keyring.current.raw if keyring is not None else b""
    return hmac.new(raw, b"pulumi-service console session cookies v1", hashlib.sha256).hexdigest()


def safe_next(target):
    """A redirect target after sign-in: a path of this site only (never another host, scheme or
    a protocol-relative `//host`), else the console's home."""
    if (not isinstance(target, str) or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 0x21 or ord(c) == 0x7f for c in target)):
        return "/"
    return target


def here():
    """The current page's path and query, for `next=`."""
    query = request.query_string.decode("utf-8", "replace")
    return request.path + ("?" + query if query else "")


def _signed_in_person(conn):
    session_id = session.get("sid")
    if not session_id:
        return None
    found = signin.session_user(conn, session_id)
    if found is None:
        session.pop("sid", None)
    return found


def check_access():
    """The console's own authorization, from the view's `console_page` declaration."""
    view = current_app.view_functions[request.endpoint]
    _, role = view.auth
    g.person = None
    if role == CONSOLE_ANYONE and "sid" not in session:
        return None
    with transaction() as conn:
        person = _signed_in_person(conn)
        found = None
        args = request.view_args or {}
        if person is not None and role in ROLES:
            found = signin.access(conn, person["id"], args.get("org"), args.get("project"),
                                  args.get("stack"))
    if person is not None:
        g.person = dict(person)
        # What the audit log and the domain functions know a caller by.
        g.user = {**g.person, "token_id": None}
    if role == CONSOLE_ANYONE:
        return None
    if person is None:
        if request.method == "GET":
            return redirect(url_for("console.sign_in", next=here()))
        raise ApiError(401, "Sign in first")
    if role is None:
        return None
    org = args.get("org")
    held = found["role"] if found is not None else None
    if held is None:
        raise ApiError(404, f"Organization '{org}' not found")
    if found["stack_permission"] is not None:
        # A stack's page: the caller's permission on it, teams' grants included, as on the API.
        g.role = check_stack_permission(found, role, view, org, args["project"], args["stack"])
        return None
    if ROLES[held] < ROLES[role]:
        raise ApiError(403, f"This needs the '{role}' role in organization '{org}'; you are "
                            f"'{held}'")
    g.role = held
    return None


def security_headers(response):
    extra = getattr(g, "csp_form_action", "")
    response.headers["Content-Security-Policy"] = CSP.format(extra=f" {extra}" if extra else "")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    # Same-origin only: Flask-WTF checks the Referer of a form posted over TLS, and nothing (the
    # CLI's localhost listener included) learns a console URL from it.
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "console.static_file":
        response.headers["Cache-Control"] = "no-store"
    return response


def error_page(err):
    if isinstance(err, HTTPException):
        status, message = err.code, err.description
    else:
        status, message = err.status, err.message
    titles = {400: "Bad request", 401: "Sign in first", 403: "Not allowed", 404: "Not found",
              405: "Not allowed", 429: "Too many attempts"}
    response = current_app.make_response((
        render_template("error.html", status=status, title=titles.get(status, "Error"),
                        message=message), status))
    if isinstance(err, ApiError):
        response.headers.update(err.headers)
    return response


def role_at_least(role):
    return g.get("role") is not None and ROLES[g.role] >= ROLES[role]


def init_app(app):
    """After secrets.init_app (the session key derives from the master key)."""
    app.url_map.converters["org"] = OrgConverter
    app.secret_key = _secret_key(app)
    app.session_interface = ConsoleSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="pulumi_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=datetime.timedelta(hours=app.config["CONSOLE_SESSION_HOURS"]),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    app.jinja_env.globals.update(role_at_least=role_at_least, csrf_token=generate_csrf)
    app.register_blueprint(bp)


bp.before_request(check_access)
bp.after_request(security_headers)
bp.register_error_handler(ApiError, error_page)
bp.register_error_handler(HTTPException, error_page)

from . import pages, settings, sign_in  # noqa: E402,F401  (their views register on bp)
