"""Pulumi's official Python client (PyPI `pulumi-cloud-sdk`) against a real gunicorn: each
answer of the organization, member, role, team, team stack permission, token (personal,
organization, team), tag, update-info and webhook routes decodes into the
SDK's model (the SDK refuses missing required fields and unknown enum values). The client, with
the transport shim that sends Pulumi's Accept header, is tests/support/sdk.py's."""
import datetime
import time
import uuid
from urllib.error import HTTPError

import pytest
from pulumi_cloud_sdk.models import (
    AccessTokenType,
    AddOrganizationMemberRequest,
    AuthPolicyDefinition,
    AuthPolicyUpdateRequest,
    CreateOrgAccessTokenRequest,
    CreatePersonalAccessTokenRequest,
    CreatePulumiTeamRequest,
    CreateTeamAccessTokenRequest,
    EnvironmentPermission,
    MemberAction,
    OidcIssuerRegistrationRequest,
    OidcIssuerUpdateRequest,
    OrganizationRole,
    PermissionDescriptorUXPurpose,
    RestoreDeletedStackRequest,
    StackPermission,
    StackTag,
    TeamEnvironmentSettings,
    TeamKind,
    TeamRole,
    TeamStackPermission,
    UpdateOrganizationMemberRequest,
    UpdateOrganizationRequest,
    UpdateTeamRequest,
    RemoveEnvironmentIdentifier,
    UpdateTeamStackPermissionsRequest,
    Webhook,
    WebhookDelivery,
    WebhookResponse,
)

from app.db import connect
from tests.support.api import user_with_token
from tests.support.oidc import Issuer, exchange_fields
from tests.support.sdk import Client, status_of


@pytest.fixture(scope="module")
def served(sdk_service):
    return sdk_service


@pytest.fixture
def org(served):
    """A new organization with an admin, a member and a viewer, each with an SDK client."""
    gunicorn, database_url = served
    name = "org-" + uuid.uuid4().hex[:8]
    clients = {}
    for role in ("admin", "member", "viewer"):
        login = f"{role}-{uuid.uuid4().hex[:8]}"
        clients[role] = Client(gunicorn.url, user_with_token(database_url, login, {name: role}),
                               login)
    clients["name"] = name
    clients["database_url"] = database_url
    return clients


def refused(call, status):
    with pytest.raises(HTTPError) as raised:
        call()
    raised.value.close()  # the error holds the response's socket
    assert raised.value.code == status


def test_current_user_and_default_organization(org):
    viewer = org["viewer"]
    user = viewer.users.get_current_user()
    assert user.github_login == viewer.login
    assert sorted((o.github_login, o.role.value) for o in user.organizations) == sorted([
        (org["name"], "member"), (viewer.login, "admin")])
    assert user.token_info is None
    assert viewer.users.get_default_organization().git_hub_login == viewer.login
    viewer.users.update_default_organization(org["name"])
    assert viewer.users.get_default_organization().git_hub_login == org["name"]


def test_organization_and_metadata(org):
    name = org["name"]
    got = org["member"].orgs.get_organization(name)
    assert (got.github_login, got.repos) == (name, [])
    meta = org["admin"].orgs.get_organization_metadata(name)
    assert (meta.user_role, meta.member_count, meta.stack_count) == (OrganizationRole.Admin, 3, 0)
    assert meta.default_stack_permission.value == 102
    assert isinstance(meta.created, datetime.datetime)


def test_settings_update(org):
    name = org["name"]
    # The SDK sends its unset booleans as false (and unset enums as null): give them all.
    meta = org["admin"].orgs.update_organization_settings(
        name, UpdateOrganizationRequest(set_members_can_delete_stacks=True,
                                        set_members_can_create_stacks=True))
    assert (meta.members_can_delete_stacks, meta.members_can_create_stacks) == (True, True)
    assert meta.default_stack_permission.value == 102
    meta = org["admin"].orgs.update_organization_settings(
        name, UpdateOrganizationRequest(set_default_stack_permission=StackPermission(101)))
    assert (meta.default_stack_permission.value, meta.members_can_delete_stacks,
            meta.members_can_create_stacks) == (101, False, False)
    refused(lambda: org["member"].orgs.update_organization_settings(
        name, UpdateOrganizationRequest(set_members_can_create_stacks=False)), 403)


def test_members_add_edit_remove(org, served):
    gunicorn, database_url = served
    name, admin = org["name"], org["admin"]
    newcomer = f"new-{uuid.uuid4().hex[:8]}"
    user_with_token(database_url, newcomer)
    added = admin.orgs.add_organization_member(
        name, newcomer, AddOrganizationMemberRequest(role=OrganizationRole.Member))
    assert (added.user.github_login, added.role, added.fga_role.id) == (
        newcomer, OrganizationRole.Member, "member")
    admin.orgs.update_organization_member(name, newcomer,
                                          UpdateOrganizationMemberRequest(fga_role_id="viewer"))
    listed = admin.orgs.list_organization_members(name, type="frontend")
    roles = {m.user.github_login: (m.role, m.fga_role.name) for m in listed.members}
    assert roles[newcomer] == (OrganizationRole.Member, "viewer")
    assert roles[org["admin"].login] == (OrganizationRole.Admin, "admin")
    admin.orgs.delete_organization_member(name, newcomer)
    assert newcomer not in {m.user.github_login
                            for m in admin.orgs.list_organization_members(name).members}
    refused(lambda: admin.orgs.delete_organization_member(name, admin.login), 400)


def test_roles(org):
    listed = org["viewer"].orgs.list_roles_by_org_id_and_ux_purpose(
        org["name"], PermissionDescriptorUXPurpose.Role)
    assert [(r.id, r.name) for r in listed.roles] == [
        ("viewer", "viewer"), ("member", "member"), ("admin", "admin")]
    mine = org["viewer"].orgs.list_roles_by_org_id_and_ux_purpose(
        org["name"], PermissionDescriptorUXPurpose.Role, assigned_to_me=True)
    assert [r.id for r in mine.roles] == ["viewer"]


def test_personal_tokens(org, served):
    gunicorn = served[0]
    member = org["member"]
    expires = int(time.time()) + 3600
    created = member.users.create_personal_token(
        CreatePersonalAccessTokenRequest(description="sdk", expires=expires), reason="test")
    assert created.token_value.startswith("pul-")
    other = Client(gunicorn.url, created.token_value, member.login)
    assert other.users.get_current_user().github_login == member.login
    tokens = member.users.list_personal_tokens().tokens
    (sdk,) = [t for t in tokens if t.description == "sdk"]
    assert (sdk.id, sdk.expires, sdk.type.value) == (created.id, expires, "personal")
    assert sdk.last_used > 0
    member.users.delete_personal_token(created.id)
    refused(other.users.get_current_user, 401)
    refused(lambda: member.users.delete_personal_token(created.id), 404)


def stack_with_an_update(org):
    """A stack of the org with one succeeded update by the member, written as the update routes
    write it (the SDK has no update lifecycle to drive)."""
    conn = connect(org["database_url"])
    try:
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO projects (org_id, name) SELECT id, 'proj' FROM organizations "
                        "WHERE name = %s RETURNING id", (org["name"],))
            project_id = cur.fetchone()["id"]
            cur.execute("INSERT INTO stacks (project_id, name, version, tags) "
                        "VALUES (%s, 'dev', 1, '{\"owner\": \"mona\"}') RETURNING id",
                        (project_id,))
            stack_id = cur.fetchone()["id"]
            cur.execute(
                """INSERT INTO updates (id, stack_id, kind, status, version, initiator_id,
                                        start_time, end_time, message, resource_count)
                   SELECT %s, %s, 'update', 'succeeded', 1, id, now(), now(), 'first', 0
                     FROM users WHERE login = %s""",
                (str(uuid.uuid4()), stack_id, org["member"].login))
    finally:
        conn.close()


def test_update_info_by_version_and_latest(org):
    stack_with_an_update(org)
    member = org["member"]
    for info in (member.stacks.get_stack_update(org["name"], "proj", "dev", 1),
                 member.stacks.get_latest_stack_update(org["name"], "proj", "dev")):
        assert (info.version, info.latest_version, info.info.message) == (1, 1, "first")
        assert info.info.result.value == "succeeded" and info.info.kind.value == "update"
        assert info.requested_by.github_login == member.login and info.update_id


def test_deleted_stacks_list_and_restore(org):
    """Pulumi's restore-stack calls: the list decodes into DeletedStack models (with their
    UpdateSummary), and the restore brings the stack back."""
    stack_with_an_update(org)
    name, admin = org["name"], org["admin"]
    admin.stacks.delete_stack(name, "proj", "dev", force=True)
    refused(lambda: admin.stacks.get_stack_update(name, "proj", "dev", 1), 404)
    refused(lambda: org["member"].orgs.list_deleted_stacks(name), 403)
    (found,) = admin.orgs.list_deleted_stacks(name).deleted_stacks
    assert (found.project_name, found.stack_name, found.version) == ("proj", "dev", 1)
    assert found.last_update.result.value == "succeeded" and found.deleted_at > 0
    admin.orgs.restore_deleted_stack(name, found.program_id,
                                     RestoreDeletedStackRequest(stack_name="dev"))
    assert admin.stacks.get_stack_update(name, "proj", "dev", 1).version == 1
    assert admin.orgs.list_deleted_stacks(name).deleted_stacks == []


def test_stack_tags(org):
    stack_with_an_update(org)
    name, member = org["name"], org["member"]
    member.stacks.add_stack_tag(name, "proj", "dev", StackTag(name="team", value="infra"))
    member.stacks.update_stack_tag(name, "proj", "dev", "team",
                                   StackTag(name="team", value="platform"))
    member.stacks.delete_stack_tag(name, "proj", "dev", "owner")
    refused(lambda: org["viewer"].stacks.delete_stack_tag(name, "proj", "dev", "team"), 403)
    # The SDK's GetStack model is not what this test is about: read the tags as the CLI does.
    conn = connect(org["database_url"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tags FROM stacks WHERE name = 'dev' AND project_id IN "
                        "(SELECT p.id FROM projects p JOIN organizations o ON o.id = p.org_id "
                        "WHERE o.name = %s)", (name,))
            assert cur.fetchone()["tags"] == {"team": "platform"}
    finally:
        conn.close()


def test_webhooks_decode_into_the_sdks_models(org):
    """Organization and stack hooks through every SDK call; `.invalid` never resolves, so the
    ping is refused at send time and recorded (response code 0) without leaving the machine."""
    stack_with_an_update(org)
    name, admin = org["name"], org["admin"]
    url = "https://hooks.example.invalid/pulumi"
    made = admin.orgs.create_organization_webhook(name, Webhook(
        organization_name=name, display_name="ci", payload_url=url, active=True,
        secret="k", groups=["stacks"]))
    assert isinstance(made, WebhookResponse) and made.has_secret and len(made.name) == 8
    [listed] = admin.orgs.list_organization_webhooks(name)
    assert listed.name == made.name and listed.payload_url == url
    updated = admin.orgs.update_organization_webhook(name, made.name, Webhook(
        organization_name=name, display_name="ci2", payload_url=url, active=False))
    assert (updated.display_name, updated.active, updated.has_secret) == ("ci2", False, True)
    assert admin.orgs.get_organization_webhook(name, made.name).display_name == "ci2"
    ping = admin.orgs.ping_organization_webhook(name, made.name)
    assert isinstance(ping, WebhookDelivery) and ping.kind == "ping" and ping.response_code == 0
    [delivery] = admin.orgs.get_organization_webhook_deliveries(name, made.name)
    assert delivery.id == ping.id
    again = admin.orgs.redeliver_organization_webhook_event(name, made.name, ping.id)
    assert again.id == ping.id
    admin.orgs.delete_organization_webhook(name, made.name)
    refused(lambda: org["member"].orgs.list_organization_webhooks(name), 403)

    stack = admin.stacks.create_stack_webhook(name, "proj", "dev", Webhook(
        organization_name=name, project_name="proj", stack_name="dev", display_name="chat",
        payload_url=url, active=True, format="slack", filters=["update_failed"]))
    assert (stack.stack_name, stack.format, stack.filters) == ("dev", "slack", ["update_failed"])
    [listed] = admin.stacks.list_stack_webhooks(name, "proj", "dev")
    assert listed.name == stack.name
    assert admin.stacks.get_stack_webhook(name, "proj", "dev", stack.name).has_secret is False
    admin.stacks.update_stack_webhook(name, "proj", "dev", stack.name, Webhook(
        organization_name=name, display_name="chat", payload_url=url, active=True,
        secret="s"))
    ping = admin.stacks.ping_stack_webhook(name, "proj", "dev", stack.name)
    [delivery] = admin.stacks.get_stack_webhook_deliveries(name, "proj", "dev", stack.name)
    assert admin.stacks.redeliver_stack_webhook_event(
        name, "proj", "dev", stack.name, delivery.id).kind == "ping" == ping.kind
    admin.stacks.delete_stack_webhook(name, "proj", "dev", stack.name)
    assert admin.stacks.list_stack_webhooks(name, "proj", "dev") == []


def test_oidc_issuers_policies_and_the_exchange(org, served):
    gunicorn = served[0]
    name, admin, member = org["name"], org["admin"], org["member"]
    with Issuer() as idp:
        created = admin.orgs.register_oidc_issuer(
            name, OidcIssuerRegistrationRequest(name="ci", url=idp.url, max_expiration=3600))
        assert (created.name, created.url, created.issuer, created.max_expiration) == (
            "ci", idp.url, idp.url, 3600)
        assert [i.id for i in admin.orgs.list_orgs_oidc_issuers(name).oidc_issuers] == [
            created.id]
        renamed = admin.orgs.update_oidc_issuer(name, created.id,
                                                OidcIssuerUpdateRequest(name="github"))
        assert (renamed.name, renamed.max_expiration) == ("github", 3600)
        assert admin.orgs.get_oidc_issuer(name, created.id).name == "github"
        policy = admin.orgs.get_auth_policy(name, created.id)
        assert (policy.policies, policy.version) == ([], 1)
        policy = admin.orgs.update_auth_policy(name, policy.id, AuthPolicyUpdateRequest(policies=[
            AuthPolicyDefinition(decision="allow", token_type="personal", user_login=member.login,
                                 authorized_permissions=[], rules={"sub": "repo:acme/*"})]))
        assert policy.version == 2 and policy.policies[0].user_login == member.login
        refused(lambda: member.orgs.list_orgs_oidc_issuers(name), 403)
        # The exchange through the SDK's own call (JSON, expiration a number), without a token.
        anonymous = Client(gunicorn.url, None, "")
        fields = exchange_fields(idp.mint(org=name), org=name, token_type="personal",
                                 scope=f"user:{member.login}")
        granted = anonymous.misc.token({**fields, "expiration": 600})
        assert (granted.expires_in, granted.token_type) == (600, "token")
        exchanged = Client(gunicorn.url, granted.access_token, member.login)
        assert exchanged.users.get_current_user().github_login == member.login
        assert admin.orgs.get_oidc_issuer(name, created.id).last_used
        admin.orgs.delete_oidc_issuer(name, created.id)
        refused(lambda: admin.orgs.get_oidc_issuer(name, created.id), 404)
def test_teams_and_team_stack_permissions(org):
    stack_with_an_update(org)
    name, admin = org["name"], org["admin"]
    created = admin.orgs.create_pulumi_team(
        name, CreatePulumiTeamRequest(name="ops", display_name="Ops", description="on call"))
    assert (created.kind, created.name, created.members) == (TeamKind.Pulumi, "ops", [])
    admin.orgs.update_team(name, "ops", UpdateTeamRequest(member_action=MemberAction.Add,
                                                          member=org["viewer"].login))
    admin.orgs.update_team(name, "ops", UpdateTeamRequest(add_stack_permission=TeamStackPermission(
        project_name="proj", stack_name="dev", permission=StackPermission.Read)))
    admin.stacks.update_team_stack_permissions(
        name, "proj", "dev", "ops", UpdateTeamStackPermissionsRequest(permissions=StackPermission(102)))
    team = org["member"].orgs.get_team(name, "ops")
    assert [(m.github_login, m.role) for m in team.members] == [(org["viewer"].login,
                                                                 TeamRole.Member)]
    assert [(s.stack_name, s.permission) for s in team.stacks] == [("dev", StackPermission.Write)]
    assert [t.user_role for t in org["viewer"].orgs.list_teams(name).teams] == [TeamRole.Member]
    teams = org["viewer"].stacks.list_stack_teams(name, "proj", "dev")
    assert teams.project_name == "proj"
    assert [(t.name, t.permission, t.is_member) for t in teams.teams] == [
        ("ops", StackPermission.Write, True)]
    # The viewer's team may write: the union of role and grants.
    org["viewer"].stacks.add_stack_tag(name, "proj", "dev", StackTag(name="by", value="viewer"))
    refused(lambda: org["member"].orgs.delete_team(name, "ops"), 403)
    admin.orgs.delete_team(name, "ops")
    refused(lambda: org["viewer"].stacks.add_stack_tag(name, "proj", "dev",
                                                      StackTag(name="again", value="x")), 403)


def test_team_environment_permissions_and_the_default(org):
    name, admin, member = org["name"], org["admin"], org["member"]
    esc = f"/api/esc/environments/{name}"
    assert status_of(admin, "POST", esc, {"project": "proj", "name": "dev"}) == 200
    admin.orgs.update_organization_settings(name, UpdateOrganizationRequest(
        set_default_environment_permission=EnvironmentPermission.None_))
    assert admin.orgs.get_organization_metadata(name).default_environment_permission == \
        EnvironmentPermission.None_
    admin.orgs.create_pulumi_team(name, CreatePulumiTeamRequest(name="ops", display_name="Ops",
                                                                description=""))
    admin.orgs.update_team(name, "ops", UpdateTeamRequest(member_action=MemberAction.Add,
                                                          member=member.login))
    assert status_of(member, "GET", f"{esc}/proj/dev") == 404
    admin.orgs.update_team(name, "ops", UpdateTeamRequest(
        add_environment_permission=TeamEnvironmentSettings(
            project_name="proj", env_name="dev", permission=EnvironmentPermission.Open)))
    team = member.orgs.get_team(name, "ops")
    assert [(e.project_name, e.env_name, e.permission) for e in team.environments] == [
        ("proj", "dev", EnvironmentPermission.Open)]
    assert status_of(member, "GET", f"{esc}/proj/dev/decrypt") == 200
    admin.orgs.update_team(name, "ops", UpdateTeamRequest(
        remove_environment=RemoveEnvironmentIdentifier(project_name="proj", env_name="dev")))
    assert member.orgs.get_team(name, "ops").environments == []
    assert status_of(member, "GET", f"{esc}/proj/dev") == 404


def test_org_and_team_tokens(org, served):
    gunicorn = served[0]
    name, admin = org["name"], org["admin"]
    created = admin.orgs.create_org_token(
        name, CreateOrgAccessTokenRequest(description="ci", expires=0, name="ci", admin=False),
        reason="test")
    as_org = Client(gunicorn.url, created.token_value, name)
    user = as_org.users.get_current_user()
    assert user.github_login == name and (user.token_info.name, user.token_info.organization) == (
        "ci", name)
    (listed,) = admin.orgs.list_org_tokens(name).tokens
    assert (listed.id, listed.name, listed.admin, listed.type) == (
        created.id, "ci", False, AccessTokenType.Organization)
    admin.orgs.create_pulumi_team(name, CreatePulumiTeamRequest(name="ops", display_name="",
                                                                description=""))
    team_token = admin.orgs.create_team_token(
        name, "ops", CreateTeamAccessTokenRequest(description="", expires=0, name="t"))
    as_team = Client(gunicorn.url, team_token.token_value, name)
    assert as_team.users.get_current_user().token_info.team == "ops"
    assert [t.type for t in admin.orgs.list_team_tokens(name, "ops").tokens] == [
        AccessTokenType.Team]
    admin.orgs.delete_team_token(name, "ops", team_token.id)
    admin.orgs.delete_org_token(name, created.id)
    refused(as_org.users.get_current_user, 401)
    refused(as_team.users.get_current_user, 401)
    refused(lambda: org["member"].orgs.list_org_tokens(name), 403)
