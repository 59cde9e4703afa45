"""Organizations over the API: the caller's organizations and default, an organization, its
metadata and settings, and its roles; with every kind of caller."""
import pytest


def error(response, status, contains=""):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == status and contains in body["message"], body
    return body


# --- the caller: GET /api/user, default organization ---------------------------------------------

def test_user_lists_each_organization_with_the_callers_role(people):
    api = people.user("ann", {"acme": "admin", "globex": "member", "initech": "viewer"})
    body = api.get("/api/user").get_json()
    assert body["githubLogin"] == "ann"
    # A viewer is a Pulumi `member` (Pulumi has no viewer role); the personal organization is
    # listed too, as Pulumi Cloud does.
    assert body["organizations"] == [
        {"name": "acme", "githubLogin": "acme", "avatarUrl": "", "role": "admin"},
        {"name": "ann", "githubLogin": "ann", "avatarUrl": "", "role": "admin"},
        {"name": "globex", "githubLogin": "globex", "avatarUrl": "", "role": "member"},
        {"name": "initech", "githubLogin": "initech", "avatarUrl": "", "role": "member"},
    ]
    assert (body["hasMFA"], body["isOrgManaged"], body["isManagedByMultiOrg"]) == (False,) * 3


def test_user_with_a_personal_token_has_no_token_info(acme):
    assert "tokenInfo" not in acme["member"].get("/api/user").get_json()


def test_default_organization_is_the_personal_one_until_chosen(acme):
    body = acme["member"].get("/api/user/organizations/default").get_json()
    assert body == {"GitHubLogin": "mona", "Messages": []}


@pytest.mark.parametrize("role", ["viewer", "member", "admin"])
def test_a_member_of_any_role_sets_their_default_organization(acme, role):
    api = acme[role]
    assert api.post("/api/user/organizations/acme/default").status_code == 204
    assert api.get("/api/user/organizations/default").get_json()["GitHubLogin"] == "acme"


def test_default_organization_is_per_user(acme):
    acme["admin"].post("/api/user/organizations/acme/default")
    assert acme["member"].get("/api/user/organizations/default").get_json()["GitHubLogin"] == "mona"


def test_default_organization_back_to_the_personal_one(acme):
    api = acme["member"]
    api.post("/api/user/organizations/acme/default")
    assert api.post("/api/user/organizations/mona/default").status_code == 204
    assert api.get("/api/user/organizations/default").get_json()["GitHubLogin"] == "mona"


def test_outsider_cannot_make_an_organization_their_default(acme):
    error(acme["outsider"].post("/api/user/organizations/acme/default"), 404)
    assert acme["outsider"].get("/api/user/organizations/default").get_json()["GitHubLogin"] == "otto"


def test_default_organization_falls_back_once_the_membership_ends(acme):
    acme["member"].post("/api/user/organizations/acme/default")
    assert acme["admin"].delete("/api/orgs/acme/members/mona").status_code == 204
    assert acme["member"].get("/api/user/organizations/default").get_json()["GitHubLogin"] == "mona"


# --- GET /api/orgs/{org} and /metadata -----------------------------------------------------------

@pytest.mark.parametrize("role", ["viewer", "member", "admin"])
def test_every_member_reads_the_organization(acme, role):
    body = acme[role].get("/api/orgs/acme").get_json()
    assert body == {"githubLogin": "acme", "name": "acme", "avatarUrl": "", "repos": []}


def test_outsider_gets_404_for_the_organization_and_its_metadata(acme):
    error(acme["outsider"].get("/api/orgs/acme"), 404)
    error(acme["outsider"].get("/api/orgs/acme/metadata"), 404)


@pytest.mark.parametrize("role, pulumi_role", [("viewer", "member"), ("member", "member"),
                                               ("admin", "admin")])
def test_metadata_has_the_callers_role_settings_and_counts(acme, role, pulumi_role):
    acme["member"].post("/api/stacks/acme/proj", {"stackName": "dev"})
    body = acme[role].get("/api/orgs/acme/metadata").get_json()
    assert body["userRole"] == pulumi_role
    assert body["kind"] == "pulumi"
    assert (body["memberCount"], body["stackCount"]) == (3, 1)
    # The defaults: what the service did before the settings existed.
    assert (body["defaultStackPermission"], body["membersCanCreateStacks"],
            body["membersCanDeleteStacks"]) == (102, True, False)
    assert body["id"].isdigit() and body["created"].endswith("Z")


def test_metadata_of_the_personal_organization(acme):
    body = acme["member"].get("/api/orgs/mona/metadata").get_json()
    assert (body["kind"], body["userRole"], body["memberCount"]) == ("single-user", "admin", 1)


# --- PATCH /api/orgs/{org} ----------------------------------------------------------------------

def test_admin_changes_settings_and_gets_the_metadata_back(acme):
    response = acme["admin"].patch("/api/orgs/acme", {
        "setDefaultStackPermission": 101, "setMembersCanCreateStacks": False,
        "setMembersCanDeleteStacks": True})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["defaultStackPermission"], body["membersCanCreateStacks"],
            body["membersCanDeleteStacks"]) == (101, False, True)
    again = acme["viewer"].get("/api/orgs/acme/metadata").get_json()
    assert (again["defaultStackPermission"], again["membersCanCreateStacks"],
            again["membersCanDeleteStacks"]) == (101, False, True)


def test_settings_not_given_or_null_stay(acme):
    acme["admin"].patch("/api/orgs/acme", {"setMembersCanDeleteStacks": True})
    body = acme["admin"].patch("/api/orgs/acme", {"setDefaultStackPermission": 0,
                                                  "setMembersCanCreateStacks": None,
                                                  "setNeoEnabled": None}).get_json()
    assert (body["defaultStackPermission"], body["membersCanCreateStacks"],
            body["membersCanDeleteStacks"]) == (0, True, True)


@pytest.mark.parametrize("role, status", [("viewer", 403), ("member", 403), ("outsider", 404)])
def test_only_admins_change_settings(acme, role, status):
    error(acme[role].patch("/api/orgs/acme", {"setMembersCanDeleteStacks": True}), status)
    assert acme["admin"].get("/api/orgs/acme/metadata").get_json()["membersCanDeleteStacks"] is False


@pytest.mark.parametrize("body, field", [
    ({"setDefaultStackPermission": 104}, "setDefaultStackPermission"),
    ({"setDefaultStackPermission": "read"}, "setDefaultStackPermission"),
    ({"setMembersCanCreateStacks": "maybe"}, "setMembersCanCreateStacks"),
    ({"setMembersCanCreateTeams": True}, "setMembersCanCreateTeams"),
])
def test_invalid_or_unsupported_settings_are_400_and_nothing_changes(acme, body, field):
    body = dict(body, setMembersCanDeleteStacks=True)
    error(acme["admin"].patch("/api/orgs/acme", body), 400, field)
    assert acme["admin"].get("/api/orgs/acme/metadata").get_json()["membersCanDeleteStacks"] is False


def test_unsupported_settings_left_false_or_zero_are_accepted(acme):
    # What Pulumi's Python SDK sends for every setting its caller leaves unset.
    body = {"setMembersCanCreateTeams": False, "setNeoEnabled": False,
            "setMaxAccessTokenExpiryDays": 0, "setPreferredVCS": None,
            "setMembersCanDeleteStacks": True}
    assert acme["admin"].patch("/api/orgs/acme", body).get_json()["membersCanDeleteStacks"] is True


def test_personal_organization_has_no_settings(acme):
    error(acme["member"].patch("/api/orgs/mona", {"setMembersCanCreateStacks": False}), 400,
          "personal")


# --- GET /api/orgs/{org}/roles ------------------------------------------------------------------

@pytest.mark.parametrize("role", ["viewer", "member", "admin"])
def test_roles_are_the_built_in_three(acme, role):
    roles = acme[role].get("/api/orgs/acme/roles").get_json()["roles"]
    assert [r["id"] for r in roles] == ["viewer", "member", "admin"]
    assert [r["name"] for r in roles] == ["viewer", "member", "admin"]
    member = roles[1]
    assert (member["uxPurpose"], member["isOrgDefault"], member["defaultIdentifier"]) == (
        "role", True, "member")
    assert member["orgId"].isdigit() and member["created"].endswith("Z")
    assert member["version"] == 1 and member["description"]


def test_roles_filtered_by_another_purpose_are_none(acme):
    assert acme["member"].get("/api/orgs/acme/roles?uxPurpose=policy").get_json() == {"roles": []}
    assert len(acme["member"].get("/api/orgs/acme/roles?uxPurpose=role").get_json()["roles"]) == 3


@pytest.mark.parametrize("role", ["viewer", "member", "admin"])
def test_roles_assigned_to_me_are_the_callers(acme, role):
    roles = acme[role].get("/api/orgs/acme/roles?assignedToMe=true").get_json()["roles"]
    assert [r["id"] for r in roles] == [role]


def test_outsider_sees_no_roles(acme):
    error(acme["outsider"].get("/api/orgs/acme/roles"), 404)
