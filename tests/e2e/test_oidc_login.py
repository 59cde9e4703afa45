"""`pulumi login --oidc-token` with the real CLI: the ID token of a real identity provider on
127.0.0.1 (tests/support/oidc.py) exchanged at POST /api/oauth/token (a form, no Accept, no
Authorization), then `whoami -v` and an `up` with the exchanged token, and the CLI's refusals."""
import pytest

from tests.support import unique
from tests.support.cli import Pulumi
from tests.support.oidc import HttpApi, Issuer, allow, trust


@pytest.fixture(scope="module")
def issuer():
    with Issuer() as idp:
        yield idp


@pytest.fixture
def ci(service, pulumi_bin, issuer, tmp_path):
    """An organization trusting the issuer for its member's personal tokens from acme/infra
    (not from the `evil` branch), and a CLI with no token of its own, as in a pipeline."""
    org, admin, member = unique("org"), unique("a"), unique("m")
    admin_api = HttpApi(service, service.user(admin, {org: "admin"}))
    service.user(member, {org: "member"})
    trust(admin_api, issuer, [
        {"decision": "deny", "tokenType": "personal", "userLogin": member,
         "rules": {"ref": "refs/heads/evil"}},
        allow("personal", userLogin=member),
    ], org=org)
    pulumi = Pulumi(pulumi_bin, service.url, None, tmp_path)
    return {"org": org, "member": member, "pulumi": pulumi}


def test_login_with_an_oidc_token_file_then_whoami_and_up(ci, issuer, service, tmp_path):
    org, member, pulumi = ci["org"], ci["member"], ci["pulumi"]
    token_file = tmp_path / "id-token"
    token_file.write_text(issuer.mint(org=org) + "\n")
    login = pulumi.run("login", service.url, "--oidc-token", f"file://{token_file}",
                       "--oidc-org", org, "--oidc-user", member, "--oidc-expiration", "30m")
    assert f"Logged in to {service.url} as {member}" in login.output
    whoami = pulumi.run("whoami", "-v")
    assert f"User: {member}" in whoami.stdout
    # The CLI keeps the exchanged token's expiry in its token information, so it prints no
    # "personal" (that needs none); /api/user names no organization or team for this token.
    assert "Token type: unknown" in whoami.stdout
    pulumi.write_program("outputs:\n  greeting: hello\n")
    pulumi.run("stack", "init", f"{org}/proj/dev")
    pulumi.run("up", "--yes", "--skip-preview")
    assert pulumi.run("stack", "output", "greeting").stdout.strip() == "hello"
    # The exchanged token (the member's only one from this issuer) and the update it made.
    ((lifetime, subject, last_used),) = service.query(
        "SELECT extract(epoch FROM t.expires_at - t.created_at), t.oidc_subject, t.last_used_at "
        "FROM access_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE u.login = %s AND t.oidc_issuer = %s", (member, issuer.url))
    assert (float(lifetime), subject) == (pytest.approx(1800, abs=5), issuer.subject)
    assert last_used is not None
    ((initiator, result),) = service.query(
        "SELECT u.login, x.status FROM updates x JOIN users u ON u.id = x.initiator_id "
        "JOIN stacks s ON s.id = x.stack_id JOIN projects p ON p.id = s.project_id "
        "JOIN organizations o ON o.id = p.org_id WHERE o.name = %s AND x.kind = 'update'", (org,))
    assert (initiator, result) == (member, "succeeded")


def test_organization_and_team_logins_then_whoami(service, pulumi_bin, issuer, tmp_path):
    org, admin = unique("org"), unique("a")
    admin_api = HttpApi(service, service.user(admin, {org: "admin"}))
    assert admin_api.post(f"/api/orgs/{org}/teams/pulumi",
                          body={"name": "platform"}).status_code == 201
    trust(admin_api, issuer, [allow("organization"), allow("team", teamName="platform")], org=org)
    pulumi = Pulumi(pulumi_bin, service.url, None, tmp_path)
    # The organization comes from the token's audience when --oidc-org is not given.
    pulumi.run("login", service.url, "--oidc-token", issuer.mint(org=org))
    whoami = pulumi.run("whoami", "-v").stdout
    assert f"Token type: organization: {org}" in whoami
    assert "Token name: oidc-" in whoami
    pulumi.run("login", service.url, "--oidc-token", issuer.mint(org=org), "--oidc-org", org,
               "--oidc-team", "platform")
    assert "Token type: team: platform" in pulumi.run("whoami", "-v").stdout


@pytest.fixture(scope="module")
def stranger():
    """An identity provider no organization trusts."""
    with Issuer() as idp:
        yield idp


@pytest.mark.parametrize("token,message", [
    (lambda i, s, org: i.mint(org=org, ref="refs/heads/evil"), "access_denied"),
    (lambda i, s, org: i.mint(org=org, aud="https://elsewhere"), "audience"),
    (lambda i, s, org: i.mint(org=org, lifetime=-3600), "the token has expired"),
    (lambda i, s, org: s.mint(org=org), "not trusted by organization"),
    (lambda i, s, org: i.forged(org=org), "signature does not verify"),
    (lambda i, s, org: i.unsigned(org=org), "signed with 'none'"),
], ids=["policy deny", "wrong audience", "expired", "unregistered issuer", "forged", "alg none"])
def test_refused_oidc_login_prints_the_services_error(ci, issuer, stranger, service, token,
                                                      message):
    jwt = token(issuer, stranger, ci["org"])
    result = ci["pulumi"].run("login", service.url, "--oidc-token", jwt,
                              "--oidc-org", ci["org"], "--oidc-user", ci["member"], check=False)
    assert result.returncode != 0
    assert "OIDC token exchange failed" in result.output
    assert message in result.output
    assert not (ci["pulumi"].home / ".pulumi" / "credentials.json").exists()


def test_login_after_the_issuer_rotated_its_key(ci, service):
    with Issuer() as idp:
        admin = HttpApi(service, service.user(unique("a"), {ci["org"]: "admin"}))
        trust(admin, idp, [allow("personal", userLogin=ci["member"])], org=ci["org"],
              name="rotating")
        login = ("login", service.url, "--oidc-org", ci["org"], "--oidc-user", ci["member"])
        ci["pulumi"].run(*login, "--oidc-token", idp.mint(org=ci["org"]))
        fetched = idp.served["/keys"]
        kid = idp.rotate()
        ci["pulumi"].run(*login, "--oidc-token", idp.mint(kid=kid, org=ci["org"]))
        assert idp.served["/keys"] == fetched + 1
