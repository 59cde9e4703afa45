"""The web console as tests drive it without a browser: a Flask test client signed in with an
access token through the sign-in form (its CSRF token read from the page, as a browser sends it)."""
import re

_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


def csrf_of(response):
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:2000]
    return found.group(1)


def sign_in(client, token, next_path=None):
    """Sign `client` in with an access token; returns the sign-in's response (a redirect)."""
    page = client.get("/login")
    data = {"csrf_token": csrf_of(page), "token": token}
    if next_path is not None:
        data["next"] = next_path
    return client.post("/login/token", data=data)


def signed_in(app, token):
    """A new test client of `app`, signed in with `token`."""
    client = app.test_client()
    response = sign_in(client, token)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return client


def session_cookie(client):
    cookie = client.get_cookie("pulumi_console")
    return cookie.value if cookie is not None else None
