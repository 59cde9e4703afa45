"""Signing in and out of the console, and the CLI's browser login (`pulumi login` + ENTER):
`/cli-login` makes a personal token for the signed-in person once they confirm, and hands it to
the CLI's listener on localhost with the CLI's nonce."""
from pathlib import Path
from urllib.parse import urlencode

from flask import (abort, current_app, g, redirect, render_template, request, send_from_directory,
                   session)

from .. import audit, signin, tokens
from ..api import actor
from ..auth import CONSOLE_ANYONE, blocked_for, console_page, record_failure
from ..db import get_conn, transaction
from ..errors import ApiError
from . import bp, forms, safe_next

STATIC = Path(__file__).parent / "static"
CLI_SESSION_PARAMS = ("cliSessionPort", "cliSessionNonce", "cliSessionDescription")


@bp.get("/console-static/<path:filename>")
@console_page(CONSOLE_ANYONE)
def static_file(filename):
    return send_from_directory(STATIC, filename, max_age=3600)


@bp.get("/")
@console_page(CONSOLE_ANYONE)
def home():
    if g.person is None:
        return redirect("/login")
    return redirect(f"/{g.person['login']}")


def refuse_if_blocked():
    retry_after = blocked_for()
    if retry_after is not None:
        raise ApiError(429, f"Too many failed sign-ins from this address; try again in "
                            f"{max(retry_after, 1)} seconds",
                       headers={"Retry-After": str(max(retry_after, 1))})


def start_session(conn, user_id):
    """A new session of `user_id` in the caller's transaction; its id, for `hold_session`."""
    return signin.start_session(conn, user_id, current_app.config["CONSOLE_SESSION_HOURS"] * 3600)


def hold_session(session_id):
    """Put a session in a fresh cookie: whatever the browser held before (a session id planted
    by someone else included) is dropped, so a session cannot be fixed."""
    session.clear()
    session.permanent = True
    session["sid"] = session_id


def _signed_in(user_id):
    with transaction() as conn:
        session_id = start_session(conn, user_id)
    hold_session(session_id)


def _sign_in_page(password_form, token_form, status=200, error=None):
    return render_template("sign_in.html", password_form=password_form, token_form=token_form,
                           error=error), status


@bp.get("/login")
@console_page(CONSOLE_ANYONE)
def sign_in():
    target = safe_next(request.args.get("next", "/"))
    if g.person is not None:
        return redirect(target)
    return _sign_in_page(forms.PasswordSignIn(next=target), forms.TokenSignIn(next=target))


@bp.post("/login")
@console_page(CONSOLE_ANYONE)
def sign_in_with_password():
    form = forms.PasswordSignIn()
    if not form.validate_on_submit():
        return _sign_in_page(form, forms.TokenSignIn(next=form.next.data), 400,
                             "The form was incomplete or expired; try again.")
    refuse_if_blocked()
    with transaction() as conn:
        user_id = signin.user_of_password(conn, form.login.data, form.password.data)
    if user_id is None:
        record_failure()
        return _sign_in_page(form, forms.TokenSignIn(next=form.next.data), 401,
                             "Wrong login or password.")
    _signed_in(user_id)
    return redirect(safe_next(form.next.data))


@bp.post("/login/token")
@console_page(CONSOLE_ANYONE)
def sign_in_with_token():
    form = forms.TokenSignIn()
    if not form.validate_on_submit():
        return _sign_in_page(forms.PasswordSignIn(next=form.next.data), form, 400,
                             "The form was incomplete or expired; try again.")
    refuse_if_blocked()
    config = current_app.config
    user_id, retry_after = signin.user_of_token(
        get_conn(), form.token.data.strip(), request.remote_addr or "unknown",
        max(config["AUTH_FAIL_LIMIT"], 0), config["AUTH_FAIL_WINDOW_SECONDS"])
    if user_id is None:
        record_failure()
        return _sign_in_page(forms.PasswordSignIn(next=form.next.data), form, 401,
                             "That access token is unknown, revoked or expired.")
    _signed_in(user_id)
    return redirect(safe_next(form.next.data))


@bp.post("/logout")
@console_page(CONSOLE_ANYONE)
def sign_out():
    form = forms.Confirm()
    if not form.validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    session_id = session.get("sid")
    if session_id:
        with transaction() as conn:
            signin.end_session(conn, session_id)
    session.clear()
    return redirect("/login")


def _cli_session(values):
    """(port, nonce, description) of a browser login request; 400 for a port that is not one."""
    port, nonce, description = (values.get(name, "") for name in CLI_SESSION_PARAMS)
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) <= 65535):
        abort(400, "cliSessionPort must be a port number (1-65535).")
    if not nonce or len(nonce) > 256 or not nonce.isprintable():
        abort(400, "cliSessionNonce is missing or malformed.")
    if len(description) > 1024 or not description.isprintable():
        abort(400, "cliSessionDescription is too long or malformed.")
    return int(port), nonce, description


@bp.get("/cli-login")
@console_page(None)
def cli_login():
    """Ask the signed-in person to confirm giving the CLI a new personal token."""
    port, nonce, description = _cli_session(request.args)
    form = forms.CliLogin(port=str(port), nonce=nonce, description=description)
    # The confirmation posts here, and its answer redirects to the CLI's listener.
    g.csp_form_action = f"http://localhost:{port}"
    return render_template("cli_login.html", form=form, port=port, description=description)


@bp.post("/cli-login")
@console_page(None)
def cli_login_confirm():
    form = forms.CliLogin()
    if not form.validate_on_submit():
        abort(400, "The form expired or was not sent from this site; run `pulumi login` again.")
    port, nonce, description = _cli_session({
        "cliSessionPort": form.port.data, "cliSessionNonce": form.nonce.data,
        "cliSessionDescription": form.description.data or ""})
    with transaction() as conn:
        token_id, value = tokens.create_personal(conn, g.person, description, None)
        audit.record(conn, actor(), g.person["login"], "token.created", f"token {token_id}",
                     f"created token {token_id} for {g.person['login']} by browser login"
                     + (f" ({description})" if description else ""))
    # The CLI's own protocol puts the token in this one URL, to its listener on this machine.
    return redirect(f"http://localhost:{port}/?" + urlencode({"accessToken": value,
                                                              "nonce": nonce}))


@bp.get("/welcome/cli")
@console_page(CONSOLE_ANYONE)
def welcome_cli():
    return render_template("welcome_cli.html")
