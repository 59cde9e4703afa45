"""The web console without a browser (tests/e2e/test_console_browser.py drives Chromium): sign-in
and sign-out, sessions, CSRF, throttling, redirects, the CLI's browser login, and the pages at
the CLI's URLs for each role, with secrets masked and every value escaped."""
import re
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

from app import create_app, signin
from app.db import connect
from tests.support.apps import make_config
from tests.support.console import (EVIL, csrf_of, deploy_example, session_cookie, sign_in,
                                   signed_in)
from tests.support.updates import make_stack



def _set_password(database_url, login, password):
    conn = connect(database_url)
    try:
        with conn:
            signin.set_password(conn, login, password)
    finally:
        conn.close()


@pytest.fixture
def deployed(acme):
    return deploy_example(acme["admin"])


# --- sign-in, sessions, CSRF ---------------------------------------------------------------------

def test_password_sign_in_sets_a_session_cookie_with_its_flags(app, acme, database_url):
    _set_password(database_url, "mona", "correct horse battery")
    client = app.test_client()
    page = client.get("/login", base_url="https://console.example")
    response = client.post("/login", base_url="https://console.example", data={
        "csrf_token": csrf_of(page), "login": "mona", "password": "correct horse battery"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("pulumi_console=")]
    assert cookie, response.headers
    flags = cookie[0].lower()
    assert "httponly" in flags and "samesite=lax" in flags and "secure" in flags
    home = client.get("/", base_url="https://console.example")
    assert home.status_code == 302 and home.headers["Location"] == "/mona"


def test_cookie_is_not_secure_over_plain_http(app, acme):
    client = app.test_client()
    response = sign_in(client, acme["member"].token)
    cookie = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("pulumi_console=")]
    assert cookie and "secure" not in cookie[0].lower()


def test_wrong_password_and_unknown_token_are_refused(app, acme, database_url):
    _set_password(database_url, "mona", "correct horse battery")
    client = app.test_client()
    page = client.get("/login")
    wrong = client.post("/login", data={"csrf_token": csrf_of(page), "login": "mona",
                                        "password": "wrong horse battery"})
    assert wrong.status_code == 401 and "Wrong login or password" in wrong.get_data(as_text=True)
    unknown = client.post("/login", data={"csrf_token": csrf_of(page), "login": "nobody",
                                          "password": "correct horse battery"})
    assert unknown.status_code == 401
    bad_token = sign_in(app.test_client(), "pul-" + "0" * 40)
    assert bad_token.status_code == 401
    assert client.get("/acme").status_code == 302  # still not signed in


def test_a_form_without_its_csrf_token_is_refused(app, acme, database_url):
    _set_password(database_url, "mona", "correct horse battery")
    client = app.test_client()
    client.get("/login")
    response = client.post("/login", data={"login": "mona", "password": "correct horse battery"})
    assert response.status_code == 400
    assert session_cookie(client) is None or client.get("/acme").status_code == 302
    # Signed in, a sign-out or CLI login without the token changes nothing either.
    member = signed_in(app, acme["member"].token)
    assert member.post("/logout", data={}).status_code == 400
    assert member.get("/acme").status_code == 200
    refused = member.post("/cli-login", data={"port": "4000", "nonce": "n", "description": "d"})
    assert refused.status_code == 400


def test_failed_sign_ins_are_throttled_like_the_api(database_url, acme):
    app = create_app(make_config(database_url, AUTH_FAIL_LIMIT=3))
    client = app.test_client()
    for _ in range(3):
        assert sign_in(client, "pul-" + "1" * 40).status_code == 401
    blocked = sign_in(client, acme["member"].token)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    # The API refuses the same address too: one count.
    api = app.test_client().get("/api/user", headers={
        "Accept": "application/vnd.pulumi+8", "Authorization": f"token {acme['member'].token}"})
    assert api.status_code == 429


def test_session_fixation_a_cookie_from_before_sign_in_stays_signed_out(app, acme):
    client = app.test_client()
    client.get("/login")
    planted = session_cookie(client)
    assert planted  # the CSRF token lives in the session
    sign_in(client, acme["member"].token)
    assert session_cookie(client) != planted
    attacker = app.test_client()
    attacker.set_cookie("pulumi_console", planted)
    assert attacker.get("/acme").status_code == 302


def test_sign_out_ends_the_session_everywhere(app, acme):
    client = signed_in(app, acme["member"].token)
    stolen = session_cookie(client)
    page = client.get("/acme")
    out = client.post("/logout", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    replay = app.test_client()
    replay.set_cookie("pulumi_console", stolen)
    assert replay.get("/acme").status_code == 302


@pytest.mark.parametrize("target", [
    "//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
    "/%0d%0aLocation:%20https://evil.example", "\t//evil.example", "http:/evil.example",
])
def test_next_never_leaves_the_site(app, acme, target):
    response = sign_in(app.test_client(), acme["member"].token, next_path=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//"), location
    assert urlsplit(location).netloc == ""


def test_next_returns_to_the_page_asked_for(app, acme):
    client = app.test_client()
    asked = client.get("/acme/proj/dev/history")
    assert asked.status_code == 302
    login_url = asked.headers["Location"]
    assert parse_qs(urlsplit(login_url).query)["next"] == ["/acme/proj/dev/history"]
    response = sign_in(client, acme["member"].token, next_path="/acme/proj/dev/history")
    assert response.headers["Location"] == "/acme/proj/dev/history"


def test_pages_carry_a_strict_content_security_policy(app, acme):
    response = app.test_client().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"


# --- the CLI's browser login ------------------------------------------------------------------

def cli_login_url(port="4321", nonce="abc123", description="Generated by pulumi login"):
    """The URL the CLI opens (its query encoded the way Go's url.Values.Encode does)."""
    return "/cli-login?" + urlencode({"cliSessionDescription": description,
                                      "cliSessionNonce": nonce, "cliSessionPort": port})


def test_cli_login_asks_to_sign_in_first_then_hands_a_new_token_to_the_cli(app, acme):
    client = app.test_client()
    asked = client.get(cli_login_url())
    assert asked.status_code == 302 and asked.headers["Location"].startswith("/login?next=")
    next_path = parse_qs(urlsplit(asked.headers["Location"]).query)["next"][0]
    assert next_path == cli_login_url()
    back = sign_in(client, acme["member"].token, next_path=next_path)
    assert back.headers["Location"] == cli_login_url()
    page = client.get(cli_login_url(description="Generated by pulumi login on host"))
    assert page.status_code == 200 and "port 4321" in page.get_data(as_text=True)
    assert "form-action 'self' http://localhost:4321" in page.headers["Content-Security-Policy"]
    done = client.post("/cli-login", data={"csrf_token": csrf_of(page), "port": "4321",
                                           "nonce": "abc123",
                                           "description": "Generated by pulumi login on host"})
    assert done.status_code == 302
    target = urlsplit(done.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("http", "localhost:4321", "/")
    query = parse_qs(target.query)
    assert query["nonce"] == ["abc123"]
    token = query["accessToken"][0]
    me = app.test_client().get("/api/user", headers={"Accept": "application/vnd.pulumi+8",
                                                     "Authorization": f"token {token}"})
    assert me.status_code == 200 and me.get_json()["githubLogin"] == "mona"
    tokens = acme["member"].get("/api/user/tokens").get_json()["tokens"]
    assert "Generated by pulumi login on host" in [t["description"] for t in tokens]


@pytest.mark.parametrize("port", ["abc", "0", "65536", "99999999", "80;x", "", "-1", "８０"])
def test_cli_login_refuses_a_port_that_is_not_a_port(app, acme, port):
    client = signed_in(app, acme["member"].token)
    assert client.get(cli_login_url(port=port)).status_code == 400


def test_welcome_page_needs_no_sign_in(app):
    assert app.test_client().get("/welcome/cli").status_code == 200


# --- pages ----------------------------------------------------------------------------------------

def test_each_page_answers_each_role(app, acme, deployed):
    stack = deployed["stack"]
    pages = ["/acme", stack, f"{stack}/resources", f"{stack}/history", f"{stack}/updates/1",
             f"{stack}/previews/{deployed['preview']}", f"{stack}/updates/1/events"]
    for role in ("viewer", "member", "admin"):
        client = signed_in(app, acme[role].token)
        for page in pages:
            assert client.get(page).status_code == 200, (role, page)
    outsider = signed_in(app, acme["outsider"].token)
    for page in pages:
        assert outsider.get(page).status_code == 404, page
    anonymous = app.test_client()
    for page in pages:
        response = anonymous.get(page)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    member = signed_in(app, acme["member"].token)
    assert member.get(f"{stack}/updates/9").status_code == 404
    assert member.get("/acme/proj/nope").status_code == 404


def test_secrets_are_masked_and_values_escaped_for_every_role(app, acme, deployed):
    stack = deployed["stack"]
    for role in ("viewer", "admin"):
        client = signed_in(app, acme[role].token)
        root = quote("urn:pulumi:dev::proj::pulumi:pulumi:Stack::proj-dev", safe="")
        for page in ("/acme", stack, f"{stack}/resources", f"{stack}/updates/1",
                     f"{stack}/resource?urn={root}"):
            text = client.get(page).get_data(as_text=True)
            assert "SECRETCIPHERTEXT" not in text and EVIL not in text, (role, page)
            assert "<script>alert" not in text
        overview = client.get(stack).get_data(as_text=True)
        assert "[secret]" in overview
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in overview
        update = client.get(f"{stack}/updates/1").get_data(as_text=True)
        assert "warning: &lt;script&gt;" in update
        detail = client.get(f"{stack}/resource?urn={root}").get_data(as_text=True)
        assert '"password": "[secret]"' in detail and '"answer": 42' in detail


def test_org_page_searches_filters_and_sorts(app, acme, deployed):
    admin = acme["admin"]
    make_stack(admin, project="web", name="prod", tags={"env": "prod"})
    client = signed_in(app, acme["viewer"].token)

    def listed(query=""):
        text = client.get("/acme" + query).get_data(as_text=True)
        return re.findall(r'<a href="/acme/[^"]+">([^<]+)</a>', text)

    assert listed() == ["proj/dev", "web/prod"]
    assert listed("?project=web") == ["web/prod"]
    assert listed("?tag=env%3Dprod") == ["web/prod"]
    assert listed("?q=DEV") == ["proj/dev"]
    assert listed("?sort=updated") == ["proj/dev", "web/prod"]
    assert "No stack matches" in client.get("/acme?q=zzz").get_data(as_text=True)
    projects = client.get("/acme").get_data(as_text=True)
    assert '<a href="?project=web">web</a> · 1 stack<' in projects


def test_timeline_polling_returns_the_events_after_a_sequence(app, acme, deployed):
    client = signed_in(app, acme["viewer"].token)
    page = client.get(f"{deployed['stack']}/updates/1/events?after=0").get_json()
    assert page["after"] == 1 and page["more"] is False and page["status"] == "succeeded"
    assert 'data-sequence="1"' in page["html"] and 'data-sequence="0"' not in page["html"]
    assert client.get(f"{deployed['stack']}/updates/1/events?after=x").status_code == 400


def test_api_paths_are_never_console_pages(app, acme):
    client = signed_in(app, acme["member"].token)
    response = client.get("/api/nothing/here/at-all", headers={"Accept": "application/vnd.pulumi+8"})
    assert response.status_code == 404 and response.mimetype == "application/json"


# --- settings --------------------------------------------------------------------------------------

def test_tokens_page_shows_a_new_token_once_and_deletes_one(app, acme):
    client = signed_in(app, acme["member"].token)
    page = client.get("/user/settings/tokens")
    assert page.status_code == 200
    created = client.post("/user/settings/tokens", data={"csrf_token": csrf_of(page),
                                                         "description": f"laptop {EVIL}"})
    text = created.get_data(as_text=True)
    value = re.search(r'<code id="new-token">(pul-[0-9a-f]+)</code>', text).group(1)
    assert EVIL not in text and "laptop &lt;script&gt;" in text
    me = app.test_client().get("/api/user", headers={"Accept": "application/vnd.pulumi+8",
                                                     "Authorization": f"token {value}"})
    assert me.status_code == 200
    again = client.get("/user/settings/tokens").get_data(as_text=True)
    assert value not in again  # shown once
    token_id = next(t["id"] for t in acme["member"].get("/api/user/tokens").get_json()["tokens"]
                    if t["description"].startswith("laptop"))
    deleted = client.post(f"/user/settings/tokens/{token_id}/delete",
                          data={"csrf_token": csrf_of(client.get("/user/settings/tokens"))})
    assert deleted.status_code == 303
    refused = app.test_client().get("/api/user", headers={
        "Accept": "application/vnd.pulumi+8", "Authorization": f"token {value}"})
    assert refused.status_code == 401
    other = signed_in(app, acme["viewer"].token)
    theirs = other.post(f"/user/settings/tokens/{token_id}/delete",
                        data={"csrf_token": csrf_of(other.get("/user/settings/tokens"))})
    assert theirs.status_code == 404


def test_writers_edit_tags_and_viewers_cannot(app, acme, deployed):
    stack = deployed["stack"]
    member = signed_in(app, acme["member"].token)
    page = member.get(stack)
    assert 'action="/acme/proj/dev/tags"' in page.get_data(as_text=True)
    set_tag = member.post(f"{stack}/tags", data={"csrf_token": csrf_of(page), "name": "team",
                                                 "value": "infra"})
    assert set_tag.status_code == 303
    tags = acme["member"].get("/api/stacks/acme/proj/dev").get_json()["tags"]
    assert tags["team"] == "infra"
    bad = member.post(f"{stack}/tags", data={"csrf_token": csrf_of(page), "name": "no spaces",
                                             "value": "x"})
    assert bad.status_code == 400
    removed = member.post(f"{stack}/tags/delete", data={"csrf_token": csrf_of(page),
                                                        "name": "team"})
    assert removed.status_code == 303
    assert "team" not in acme["member"].get("/api/stacks/acme/proj/dev").get_json()["tags"]
    viewer = signed_in(app, acme["viewer"].token)
    view = viewer.get(stack)
    assert 'action="/acme/proj/dev/tags"' not in view.get_data(as_text=True)
    refused = viewer.post(f"{stack}/tags", data={"csrf_token": csrf_of(view), "name": "x",
                                                 "value": "y"})
    assert refused.status_code == 403


def test_resources_page_lists_a_tree_filters_and_pages(app, acme, deployed):
    client = signed_in(app, acme["viewer"].token)
    stack = deployed["stack"]
    text = client.get(f"{stack}/resources").get_data(as_text=True)
    assert "2 of 2 resources" in text
    assert text.index("proj-dev</a>") < text.index("thing1</a>")  # the root, then its child
    assert 'class="depth-1"><a href' in text
    only = client.get(f"{stack}/resources?q=Thing").get_data(as_text=True)
    assert "1 of 2 resources" in only and "thing1</a>" in only
    assert client.get(f"{stack}/resources?page=x").status_code == 400
    assert client.get(f"{stack}/resource").status_code == 400
    assert client.get(f"{stack}/resource?urn=urn:nothing").status_code == 404


def test_admins_see_members_and_the_audit_log_escaped(app, acme, deployed):
    admin = signed_in(app, acme["admin"].token)
    members = admin.get("/acme/settings/members").get_data(as_text=True)
    assert all(login in members for login in ("vera", "mona", "adam"))
    log = admin.get("/acme/settings/audit").get_data(as_text=True)
    assert "stack.created" in log and "update.completed" in log
    assert "<script" not in log.split("</head>", 1)[1].replace('<script src=', '')
    only = admin.get("/acme/settings/audit?event=stack.created").get_data(as_text=True)
    assert "update.completed</td>" not in only and "stack.created</td>" in only
    assert admin.get("/acme/settings/audit?event=nope").status_code == 400
    assert 'href="/acme/settings/audit"' in admin.get("/acme").get_data(as_text=True)
    member = signed_in(app, acme["member"].token)
    assert member.get("/acme/settings/members").status_code == 403
    assert member.get("/acme/settings/audit").status_code == 403
    assert 'href="/acme/settings/audit"' not in member.get("/acme").get_data(as_text=True)


def test_stack_settings_rename_for_writers_delete_for_admins(app, acme, deployed):
    stack = deployed["stack"]
    viewer = signed_in(app, acme["viewer"].token)
    assert viewer.get(f"{stack}/settings").status_code == 403
    member = signed_in(app, acme["member"].token)
    page = member.get(f"{stack}/settings")
    assert page.status_code == 200 and "Delete stack" not in page.get_data(as_text=True)
    bad = member.post(f"{stack}/settings/rename", data={"csrf_token": csrf_of(page),
                                                        "project": "proj", "stack": "a b"})
    assert bad.status_code == 400
    renamed = member.post(f"{stack}/settings/rename", data={"csrf_token": csrf_of(page),
                                                            "project": "proj", "stack": "prod"})
    assert renamed.status_code == 303 and renamed.headers["Location"] == "/acme/proj/prod"
    assert member.get("/acme/proj/prod").status_code == 200
    refused = member.post("/acme/proj/prod/settings/delete",
                          data={"csrf_token": csrf_of(page), "confirm": "prod"})
    assert refused.status_code == 403
    admin = signed_in(app, acme["admin"].token)
    page = admin.get("/acme/proj/prod/settings")
    wrong = admin.post("/acme/proj/prod/settings/delete",
                       data={"csrf_token": csrf_of(page), "confirm": "dev"})
    assert wrong.status_code == 400
    has_resources = admin.post("/acme/proj/prod/settings/delete",
                               data={"csrf_token": csrf_of(page), "confirm": "prod"})
    assert has_resources.status_code == 400
    assert "Stack still contains resources" in has_resources.get_data(as_text=True)
    deleted = admin.post("/acme/proj/prod/settings/delete",
                         data={"csrf_token": csrf_of(page), "confirm": "prod", "force": "y"})
    assert deleted.status_code == 303 and deleted.headers["Location"] == "/acme"
    assert admin.get("/acme/proj/prod").status_code == 404


def test_stack_pages_follow_team_grants_and_the_default_permission_like_the_api(app, acme):
    """Under defaultStackPermission "none" a member sees, on the console as on the API, only the
    stacks a team of theirs is granted; a viewer whose team may write edits tags."""
    admin = acme["admin"]
    for name in ("dev", "prod"):
        make_stack(admin, name=name)
    assert admin.patch("/api/orgs/acme", body={"setDefaultStackPermission": 0}).status_code == 200
    assert admin.post("/api/orgs/acme/teams/pulumi", body={"name": "ops"}).status_code == 201
    for login in ("mona", "vera"):
        assert admin.patch("/api/orgs/acme/teams/ops",
                           body={"memberAction": "add", "member": login}).status_code == 204
    assert admin.patch("/api/console/stacks/acme/proj/prod/teams/ops",
                       body={"permissions": 102}).status_code == 204
    member = signed_in(app, acme["member"].token)
    assert member.get("/acme/proj/dev").status_code == 404
    assert member.get("/acme/proj/prod").status_code == 200
    listing = member.get("/acme").get_data(as_text=True)
    assert "prod" in listing and "/acme/proj/dev" not in listing
    assert signed_in(app, acme["admin"].token).get("/acme/proj/dev").status_code == 200
    viewer = signed_in(app, acme["viewer"].token)
    page = viewer.get("/acme/proj/prod")
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)


def test_history_page_lists_previews_linking_to_their_pages(app, acme, deployed):
    client = signed_in(app, acme["viewer"].token)
    text = client.get(f"{deployed['stack']}/history").get_data(as_text=True)
    link = f'href="{deployed["stack"]}/previews/{deployed["preview"]}"'
    assert link in text and "No updates yet" not in text
    assert client.get(f"{deployed['stack']}/previews/{deployed['preview']}").status_code == 200
    make_stack(acme["admin"], name="empty")
    assert "No previews yet" in client.get("/acme/proj/empty/history").get_data(as_text=True)
