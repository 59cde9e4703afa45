"""The web console as tests drive it without a browser: a Flask test client signed in with an
access token through the sign-in form (its CSRF token read from the page, as a browser sends it)."""
import re

from .deployments import event, summary, untyped
from .updates import Operation, make_stack

# Text that would run if a page did not escape it.
EVIL = '<script>alert("x")</script>'
# A secret value as the engine stores it in a state.
SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
          "ciphertext": "v1:SECRETCIPHERTEXT"}

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


def deploy_example(admin):
    """acme/proj/dev after one update (version 1) made through `admin` (an Api): a secret output,
    an output, a tag and a diagnostic that carry HTML, a child resource; then a preview.
    Returns {"stack": console path, "preview": the preview's update id}."""
    stack = make_stack(admin, tags={"owner": EVIL})
    op = Operation(admin, stack)
    op.start()
    state = untyped(2)
    state["deployment"]["resources"][0]["outputs"] = {"password": SECRET, "banner": EVIL,
                                                      "answer": 42}
    assert op.checkpoint(state).status_code == 204
    assert op.events(event(0, diagnosticEvent={"message": f"warning: {EVIL}\n",
                                               "severity": "warning", "color": "raw"}),
                     summary(1, create=2)).status_code == 204
    assert op.complete().status_code == 204
    preview = Operation(admin, stack, kind="preview", dry_run=True)
    preview.start()
    assert preview.complete().status_code == 204
    return {"stack": "/acme/proj/dev", "preview": preview.id}
