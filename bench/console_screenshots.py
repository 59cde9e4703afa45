"""Screenshots of the web console's pages for the README, taken from real pages: a throwaway
PostgreSQL, the service under gunicorn, a few stacks made over the API the way the CLI makes
them, and Debian's Chromium driven by Playwright (laptop and phone widths). Writes PNGs to
docs/console/ (or --out).

    .venv/bin/python bench/console_screenshots.py
"""
import argparse
import re
import shutil
import sys
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_console import events, state  # noqa: E402
from bench.bench_up import database  # noqa: E402
from tests.support import ACCEPT  # noqa: E402
from tests.support.servers import Service  # noqa: E402
from tests.support.updates import program  # noqa: E402


def example_data(service, token, org):
    headers = {"Accept": ACCEPT, "Authorization": f"token {token}"}
    session = requests.Session()
    for project, stack, tags, count in [("web", "prod", {"env": "prod", "team": "web"}, 40),
                                        ("web", "staging", {"env": "staging"}, 38),
                                        ("data", "warehouse", {"team": "data"}, 12)]:
        api = f"{service.url}/api/stacks/{org}/{project}"
        assert session.post(api, headers=headers, json={"stackName": stack, "tags": tags}).ok
        assert session.post(f"{api}/{stack}/import", headers=headers,
                            json=state(count, project, stack)).ok
        update = session.post(f"{api}/{stack}/update", headers=headers,
                              json=program(message="Roll out the new cache")).json()["updateID"]
        lease = session.post(f"{api}/{stack}/update/{update}", headers=headers,
                             json={}).json()["token"]
        leased = {**headers, "Authorization": f"update-token {lease}"}
        assert session.post(f"{api}/{stack}/update/{update}/events/batch", headers=leased,
                            json={"events": events(24)}).ok
        assert session.post(f"{api}/{stack}/update/{update}/complete", headers=leased,
                            json={"status": "succeeded"}).ok
    assert session.post(f"{service.url}/api/esc/environments/{org}", headers=headers,
                        json={"project": "web", "name": "shared"}).ok
    teams = f"{service.url}/api/orgs/{org}/teams"
    assert session.post(f"{teams}/pulumi", headers=headers, json={
        "name": "platform", "displayName": "Platform", "description": "Runs the web stacks"}).ok
    for change in [{"memberAction": "add", "member": "bob"},
                   {"addStackPermission": {"projectName": "web", "stackName": "prod",
                                           "permission": 103}},
                   {"addStackPermission": {"projectName": "web", "stackName": "staging",
                                           "permission": 102}},
                   {"addEnvironmentPermission": {"projectName": "web", "envName": "shared",
                                                 "permission": "open"}}]:
        assert session.patch(f"{teams}/platform", headers=headers, json=change).ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "console")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    url, stop_database = database()
    service = Service(url, workers=1, threads=4).start()
    try:
        org = "acme"
        token = service.user("alice", {org: "admin"})
        service.user("bob", {org: "member"})
        service.user("carol", {org: "viewer"})
        example_data(service, token, org)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                args=["--no-sandbox"])
            for width, height, suffix in [(1280, 800, ""), (390, 844, "-phone")]:
                page = browser.new_context(viewport={"width": width, "height": height}).new_page()
                page.goto(service.url + "/login")
                page.screenshot(path=args.out / f"sign-in{suffix}.png")
                page.fill("#token", token)
                page.click("form[action='/login/token'] button[type=submit]")
                shots = {"stacks": f"/{org}", "stack": f"/{org}/web/prod",
                         "resources": f"/{org}/web/prod/resources",
                         "history": f"/{org}/web/prod/history",
                         "update": f"/{org}/web/prod/updates/2",
                         "members": f"/{org}/settings/members",
                         "team": f"/{org}/settings/teams/platform"}
                for name, path in shots.items():
                    page.goto(service.url + path)
                    page.screenshot(path=args.out / f"{name}{suffix}.png", full_page=False)
                page.context.close()
            browser.close()
    finally:
        service.stop()
        stop_database()
    print("\n".join(str(p.relative_to(REPO)) for p in sorted(args.out.glob("*.png"))))


if __name__ == "__main__":
    main()
