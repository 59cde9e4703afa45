"""The audit log with the real CLI: `pulumi org audit-log list` (table and JSON, filters) and
`pulumi org audit-log export --format csv|cef` read what a stack's life recorded; only the
organization's admins may."""
import csv
import io
import json

import pytest

from app.db import connect
from tests.support import snapshots, unique
from tests.support.cli import Pulumi


@pytest.fixture(scope="module")
def _audited(service, pulumi_bin, tmp_path_factory):
    """An admin of a fresh organization (made with the admin command: org.created, member.added)
    who made a stack there, ran `pulumi up` on it and tagged it: made once (four admin commands
    and four CLI runs), its rows kept in a snapshot (tests/support/snapshots.py) that `admin`
    puts back before each test, so each test meets the stack's life exactly as made."""
    org, login = unique("audit"), unique("u")
    service.admin("user", "create", login)
    service.admin("org", "create", org)
    service.admin("org", "add-member", org, login, "--role", "admin")
    token = service.admin("token", "create", login).stdout.strip().splitlines()[-1]
    cli = Pulumi(pulumi_bin, service.url, token, tmp_path_factory.mktemp("audit") / login)
    cli.login()
    cli.login_name = login
    cli.write_program("resources: {}\noutputs:\n  answer: 42\n")
    cli.run("stack", "init", f"{org}/dev")
    cli.run("up", "--yes", "--skip-preview", "--stack", f"{org}/dev")
    cli.run("stack", "tag", "set", "team", "blue", "--stack", f"{org}/dev")
    conn = connect(service.database_url)
    try:
        yield org, cli, conn, snapshots.take(conn, "audit_cli_world")
        snapshots.drop(conn, "audit_cli_world")
    finally:
        conn.close()


@pytest.fixture
def org(_audited):
    return _audited[0]


@pytest.fixture
def admin(_audited):
    """The admin CLI of `_audited`, its organization's rows as just made."""
    _, cli, conn, restore = _audited
    snapshots.restore(conn, restore)
    return cli


def listed(cli, org, *args):
    result = cli.run("org", "audit-log", "list", "--org", org, "--output", "json", *args)
    return json.loads(result.stdout)


def test_list_shows_what_the_stack_went_through(admin, org):
    found = listed(admin, org)

    events = [(e["event"], e["user"]["githubLogin"]) for e in found["events"]]
    login = admin.login_name
    assert events == [("stack.tags_updated", login), ("update.completed", login),
                      ("update.started", login), ("stack.created", login),
                      ("member.added", ""), ("org.created", "")]
    assert found["count"] == 6
    assert found["events"][-1]["user"]["name"].startswith("pulumi-service admin command")
    assert found["events"][1]["description"] == (
        f"update of stack {org}/proj/dev succeeded (version 1)")
    assert all(e["sourceIP"] == "127.0.0.1" for e in found["events"][:4])
    assert all(e["sourceIP"] == "" for e in found["events"][4:])  # the admin command
    assert all(e["timestamp"] > 0 for e in found["events"])


def test_list_as_a_table_and_filtered(admin, org):
    table = admin.run("org", "audit-log", "list", "--org", org).stdout
    assert "EVENT" in table and "stack.created" in table and admin.login_name in table

    only = listed(admin, org, "--event-type", "update.started")
    assert [e["event"] for e in only["events"]] == ["update.started"]
    assert listed(admin, org, "--user", "nobody-at-all")["count"] == 0


def test_list_pages_with_all(admin, org, service):
    for i in range(3):
        admin.run("stack", "tag", "set", "n", str(i), "--stack", f"{org}/dev")
    found = listed(admin, org, "--all")
    assert found["count"] == 9
    assert listed(admin, org, "--count", "2")["count"] == 2


def test_export_csv_parses_with_its_header(admin, org):
    raw = admin.run("org", "audit-log", "export", "--org", org, "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(raw)))
    assert [r["Event"] for r in rows] == ["stack.tags_updated", "update.completed",
                                          "update.started", "stack.created", "member.added",
                                          "org.created"]
    assert rows[3]["Login"] == admin.login_name
    assert rows[3]["Description"] == f"created stack {org}/proj/dev"

    as_json = json.loads(admin.run("org", "audit-log", "export", "--org", org, "--format", "csv",
                                   "--output", "json").stdout)
    assert as_json["count"] == 6
    assert as_json["events"][3]["Event"] == "stack.created"


def test_export_cef_is_one_line_per_record(admin, org):
    raw = admin.run("org", "audit-log", "export", "--org", org, "--format", "cef").stdout
    lines = raw.splitlines()
    assert len(lines) == 6
    assert all("CEF:0|Pulumi|Pulumi Service (self-hosted)|1|" in line for line in lines)
    assert f"suser={admin.login_name}" in lines[3]
    assert "|stack.created|Stack Created|3|" in lines[3]


def test_a_member_is_refused(admin, org, new_cli):
    member = new_cli({org: "member"})
    result = member.run("org", "audit-log", "list", "--org", org, check=False)
    assert result.returncode != 0
    assert "403" in result.output and "admin" in result.output


def test_an_outsider_is_stopped_by_the_cli(admin, org, cli):
    result = cli.run("org", "audit-log", "list", "--org", org, check=False)
    assert result.returncode != 0
    assert f"is not a member of organization {org}" in result.output


# --- the official client (pulumi-cloud-sdk) -------------------------------------------------------

def sdk_client(service, token):
    """OrganizationsApi against the service, with the Accept shim the generated client needs
    (it sends `Accept: application/json` or `text/plain`, which the service refuses)."""
    from urllib.request import urlopen

    from pulumi_cloud_sdk import ApiClient, Configuration
    from pulumi_cloud_sdk.apis import OrganizationsApi

    config = Configuration()
    config.host = service.url
    config.access_token = token

    def transport(req, timeout):
        req.add_header("Accept", "application/vnd.pulumi+8")
        return urlopen(req, timeout=timeout)

    return OrganizationsApi(ApiClient(config, transport=transport))


def test_the_official_client_decodes_the_list_export_and_event_types(admin, org, service):
    orgs = sdk_client(service, admin.token)

    page = orgs.list_audit_log_events_handler_v2(org, event_filter="stack.created")
    [event] = page.audit_log_events
    assert event.event == "stack.created"
    assert event.user.github_login == admin.login_name
    assert event.source_ip == "127.0.0.1"
    assert page.continuation_token is None
    assert len(orgs.list_audit_log_events_handler_v1(org).audit_log_events) == 6

    exported = orgs.export_audit_log_events_handler_v2(org, format="csv",
                                                       user_filter=admin.login_name)
    assert exported.splitlines()[0].startswith("Timestamp,Name,Login,Event")
    assert len(exported.splitlines()) == 5
    assert "CEF:0|" in orgs.export_audit_log_events_handler_v1(org, format="cef")

    types = orgs.list_audit_log_event_types(org).event_types
    assert "update.completed" in {t.event for t in types}
