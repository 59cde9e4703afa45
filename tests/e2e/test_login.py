"""`pulumi login` and `pulumi whoami` with the real CLI."""
from tests.support import unique
from tests.support.cli import Pulumi


def test_login_with_a_token_succeeds(service, pulumi_bin, tmp_path):
    login = unique("u")
    token = service.user(login)
    pulumi = Pulumi(pulumi_bin, service.url, token, tmp_path)
    result = pulumi.run("login", service.url)
    assert f"Logged in to {service.url} as {login}" in result.output


def test_whoami_names_the_user_the_backend_and_the_organizations(new_cli, service):
    org = unique("org")
    pulumi = new_cli({org: "member"})
    # The CLI prints the console URL as "Backend URL"; a self-hosted service has none unless
    # PULUMI_CONSOLE_DOMAIN names it (README: "Logging in with the Pulumi CLI").
    host = service.url.removeprefix("http://")
    result = pulumi.run("whoami", "-v", env={"PULUMI_CONSOLE_DOMAIN": host})
    assert f"User: {pulumi.login_name}" in result.stdout
    assert f"Backend URL: {service.url}" in result.stdout
    assert org in result.stdout.split("Organizations:")[1].splitlines()[0]


def test_wrong_token_fails_with_the_clis_ordinary_message(service, pulumi_bin, tmp_path):
    pulumi = Pulumi(pulumi_bin, service.url, "pul-0000000000000000000000000000000000000000",
                    tmp_path)
    result = pulumi.run("login", service.url, check=False)
    assert result.returncode != 0
    assert "Unauthorized: No credentials provided or are invalid." in result.output


def test_revoked_token_fails_to_log_in(service, pulumi_bin, tmp_path):
    login = unique("u")
    token = service.user(login)
    service.admin("token", "revoke", token)
    pulumi = Pulumi(pulumi_bin, service.url, token, tmp_path)
    result = pulumi.run("login", service.url, check=False)
    assert result.returncode != 0
    assert "Unauthorized" in result.output
