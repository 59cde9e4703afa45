"""The web console in a real browser (Debian's Chromium driven by Playwright) with the real CLI:
`pulumi login <url>` + ENTER in a pseudo-terminal completing through the browser, and the
"View in Browser" link `pulumi up` prints opening that update, secrets masked, HTML escaped.
One browser for the module (a launch costs about a second)."""
import re
import shutil

import pexpect
import pytest
from playwright.sync_api import expect, sync_playwright

from app import signin
from app.db import connect
from tests.support import unique
from tests.support.cli import Pulumi, stash_program

PASSWORD = "a long enough password"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


def person(service, orgs=None):
    """A new user with a console password; returns (login, token)."""
    login = unique("u")
    token = service.user(login, orgs)
    conn = connect(service.database_url)
    try:
        with conn:
            signin.set_password(conn, login, PASSWORD)
    finally:
        conn.close()
    return login, token


def console_env(service):
    """The CLI derives the console from the API URL only for api.* hosts and localhost:8080;
    anywhere else PULUMI_CONSOLE_DOMAIN names it (here the same gunicorn)."""
    return {"PULUMI_CONSOLE_DOMAIN": service.url.split("://", 1)[1]}


def sign_in_page(page, login):
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")


def test_pulumi_login_with_enter_completes_in_the_browser(service, pulumi_bin, tmp_path, browser):
    login, _ = person(service)
    cli = Pulumi(pulumi_bin, service.url, None, tmp_path)
    # Only the CLI's own folder on PATH: no xdg-open, so the CLI prints the URL to visit
    # (which the test's browser then opens) instead of launching a desktop browser.
    env = {**cli.env(**console_env(service)), "PATH": str(pulumi_bin), "TERM": "xterm"}
    child = pexpect.spawn(str(pulumi_bin / "pulumi"), ["login", service.url], env=env,
                          cwd=str(cli.cwd), encoding="utf-8", timeout=60, dimensions=(40, 400))
    try:
        child.expect("to log in with your browser")
        child.send("\r")
        child.expect(r"Please visit:\s+(\S+)")
        url = child.match.group(1)
        assert url.startswith(service.url + "/cli-login?") and "cliSessionPort=" in url
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        assert "/login?next=" in page.url  # not signed in yet
        sign_in_page(page, login)
        assert "/cli-login?" in page.url
        page.click("#confirm")
        child.expect(f"Logged in to .* as {login}")
        child.expect(pexpect.EOF)
        page.wait_for_url(re.compile(r".*/welcome/cli$"))
        assert "The Pulumi CLI is logged in" in page.content()
        context.close()
    finally:
        child.close(force=True)
    # The token the browser handed over is the CLI's stored account now; whoami's "Backend URL"
    # is the console's.
    whoami = cli.run("whoami", "-v", env=console_env(service))
    assert f"User: {login}" in whoami.stdout
    assert "Access token source: stored account" in whoami.stdout
    assert f"Backend URL: {service.url}" in whoami.stdout


def test_view_in_browser_link_opens_the_update_with_secrets_masked(
        service, pulumi_bin, tmp_path, browser):
    org = unique("o")
    login, token = person(service, {org: "viewer"})
    owner = Pulumi(pulumi_bin, service.url, service.user(unique("w"), {org: "admin"}), tmp_path)
    owner.extra_env.update(console_env(service))
    owner.login()
    owner.write_program(
        "resources: {}\noutputs:\n  banner: <img src=x onerror=alert(1)>\n"
        "  password:\n    fn::secret: hunter2-very-secret\n")
    owner.run("stack", "init", f"{org}/proj/dev")
    up = owner.run("up", "--yes", "--skip-preview", "--stack", f"{org}/proj/dev")
    link = re.search(r"View (?:in Browser|Live): (\S+)", up.stdout).group(1)
    assert link == f"{service.url}/{org}/proj/dev/updates/1"
    listed = owner.run("stack", "ls", "--all")
    assert f"{service.url}/{org}/proj/dev" in listed.stdout

    context = browser.new_context()
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(link)
    sign_in_page(page, login)  # a viewer
    assert page.url == link
    assert page.locator("h1").inner_text().endswith("update #1")
    assert page.locator("#status .badge").inner_text() == "succeeded"
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["pulumi_console"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"

    page.goto(f"{service.url}/{org}/proj/dev")
    body = page.content()
    assert "hunter2-very-secret" not in body and "[secret]" in body
    assert page.get_by_text("<img src=x onerror=alert(1)>").count() == 1  # shown as text
    assert dialogs == []
    page.goto(f"{service.url}/{org}/proj/dev/resources")
    assert "pulumi:pulumi:Stack" in page.content()
    # Sign out: the old pages ask to sign in again.
    page.click("text=Sign out")
    page.goto(link)
    assert "/login?next=" in page.url
    context.close()


def test_update_page_follows_a_running_pulumi_up(service, pulumi_bin, tmp_path, browser):
    """The "View Live" link of a `pulumi up` still running: the page's timeline grows by polling
    and its result turns to succeeded when the CLI is done, without a reload."""
    org = unique("o")
    login, token = person(service, {org: "viewer"})
    owner = Pulumi(pulumi_bin, service.url, service.user(unique("w"), {org: "admin"}), tmp_path)
    owner.extra_env.update(console_env(service))
    owner.login()
    # A chain: each resource waits for the one before, so the update takes a while.
    chain = {"s0": "v0"}
    for i in range(1, 60):
        chain[f"s{i}"] = {"input": f"v{i}", "dependsOn": [f"${{s{i - 1}}}"]}
    owner.write_program(stash_program(chain))
    owner.run("stack", "init", f"{org}/proj/dev")
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{service.url}/login")
    sign_in_page(page, login)
    up = owner.popen("up", "--yes", "--skip-preview", "--stack", f"{org}/proj/dev")
    try:
        link = None
        for line in up.stdout:
            found = re.search(r"View (?:Live|in Browser): (\S+)", line)
            if found:
                link = found.group(1)
                break
        assert link == f"{service.url}/{org}/proj/dev/updates/1"
        page.goto(link)
        first = page.locator("#timeline tbody tr").count()
        assert page.locator("#status .badge").inner_text() == "in-progress"
        # (Playwright's expect polls from outside the page: the page's CSP forbids eval.)
        expect(page.locator("#status .badge")).to_have_text("succeeded", timeout=120_000)
        assert up.wait(timeout=120) == 0
        expect(page.locator("#live")).to_be_hidden(timeout=30_000)
        assert page.locator("#timeline tbody tr").count() > first
        # Every event arrived once: sequence numbers 0..n-1 in order.
        sequences = [int(s) for s in page.locator("#timeline tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.sequence)")]
        assert sequences == list(range(len(sequences)))
        assert page.locator("tr.event.summary").count() == 1
    finally:
        if up.poll() is None:
            up.kill()
        up.communicate()
        context.close()


def test_an_invite_link_made_in_the_browser_signs_a_newcomer_in(service, browser):
    """An admin makes an invite link on the members page; in another browser, the newcomer opens
    it, picks a login and a password, and lands signed in on the organization's stacks."""
    org = unique("o")
    admin, _ = person(service, {org: "admin"})
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{service.url}/{org}/settings/members")
    sign_in_page(page, admin)
    page.select_option("#invite-role", "viewer")
    page.click("text=Make invite link")
    link = page.locator("#invite-link").inner_text()
    assert link.startswith(f"{service.url}/invite/")
    context.close()
    newcomer = browser.new_context()
    page = newcomer.new_page()
    page.goto(link)
    login = unique("n")
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{service.url}/{org}")
    assert page.locator(".who").inner_text() == login
    page.goto(link)
    assert "has been used" in page.content()
    newcomer.close()
