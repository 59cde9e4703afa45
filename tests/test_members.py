"""An organization's members over the API: list (pages, frontend/backend), add, change role,
remove; with every kind of caller, and the rules that keep an organization administered."""
import pytest

from app import members


def error(response, status, contains=""):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == status and contains in body["message"], body
    return body


def roles_in(api, org="acme"):
    body = api.get(f"/api/orgs/{org}/members?type=frontend").get_json()
    return {m["user"]["githubLogin"]: m["fgaRole"]["id"] for m in body["members"]}


# --- list ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["viewer", "member", "admin"])
def test_every_member_lists_the_members(acme, role):
    body = acme[role].get("/api/orgs/acme/members?type=frontend").get_json()
    assert [m["user"]["githubLogin"] for m in body["members"]] == ["adam", "mona", "vera"]
    assert "continuationToken" not in body


def test_member_record_has_pulumis_shape(acme):
    (vera,) = [m for m in acme["admin"].get("/api/orgs/acme/members").get_json()["members"]
               if m["user"]["githubLogin"] == "vera"]
    assert vera["role"] == "member"  # Pulumi has no viewer: the fine-grained role says it
    assert vera["fgaRole"]["id"] == vera["fgaRole"]["name"] == "viewer"
    assert vera["fgaRole"]["modifiedAt"].endswith("Z") and vera["created"].endswith("Z")
    assert vera["user"] == {"name": "vera", "githubLogin": "vera", "avatarUrl": "", "email": ""}
    assert (vera["knownToPulumi"], vera["virtualAdmin"]) == (True, False)


def test_admin_is_a_pulumi_admin(acme):
    assert roles_in(acme["viewer"]) == {"adam": "admin", "mona": "member", "vera": "viewer"}
    body = acme["viewer"].get("/api/orgs/acme/members").get_json()
    assert {m["user"]["githubLogin"]: m["role"] for m in body["members"]}["adam"] == "admin"


def test_members_come_in_pages(acme, monkeypatch):
    monkeypatch.setattr(members, "PAGE_SIZE", 2)
    first = acme["member"].get("/api/orgs/acme/members").get_json()
    assert [m["user"]["githubLogin"] for m in first["members"]] == ["adam", "mona"]
    token = first["continuationToken"]
    second = acme["member"].get(f"/api/orgs/acme/members?continuationToken={token}").get_json()
    assert [m["user"]["githubLogin"] for m in second["members"]] == ["vera"]
    assert "continuationToken" not in second


def test_backend_members_are_none_without_an_identity_provider(acme):
    assert acme["member"].get("/api/orgs/acme/members?type=backend").get_json() == {"members": []}


@pytest.mark.parametrize("query", ["type=sideways", "continuationToken=%2F..%2F"])
def test_invalid_list_queries_are_400(acme, query):
    error(acme["member"].get(f"/api/orgs/acme/members?{query}"), 400)


def test_outsider_cannot_list_members(acme):
    error(acme["outsider"].get("/api/orgs/acme/members"), 404)


# --- add ----------------------------------------------------------------------------------------

def test_admin_adds_an_existing_user(acme, people):
    people.user("zoe")
    response = acme["admin"].post("/api/orgs/acme/members/zoe", {"role": "viewer"})
    assert response.status_code == 200
    assert response.get_json()["fgaRole"]["id"] == "viewer"
    assert response.get_json()["user"]["githubLogin"] == "zoe"
    assert roles_in(acme["admin"])["zoe"] == "viewer"


def test_added_member_sees_the_organization(acme, people):
    zoe = people.user("zoe")
    acme["admin"].post("/api/orgs/acme/members/zoe", {"role": "member"})
    assert {"name": "acme", "githubLogin": "acme", "avatarUrl": "", "role": "member"} in \
        zoe.get("/api/user").get_json()["organizations"]


@pytest.mark.parametrize("role, status", [("viewer", 403), ("member", 403), ("outsider", 404)])
def test_only_admins_add_members(acme, people, role, status):
    people.user("zoe")
    error(acme[role].post("/api/orgs/acme/members/zoe", {"role": "member"}), status)
    assert "zoe" not in roles_in(acme["admin"])


def test_adding_an_unknown_user_is_404(acme):
    error(acme["admin"].post("/api/orgs/acme/members/nobody", {"role": "member"}), 404, "nobody")


def test_adding_a_member_again_is_409_and_keeps_their_role(acme):
    error(acme["admin"].post("/api/orgs/acme/members/vera", {"role": "admin"}), 409)
    assert roles_in(acme["admin"])["vera"] == "viewer"


@pytest.mark.parametrize("body", [{}, {"role": "owner"}, {"role": "billing-manager"}])
def test_adding_with_a_bad_role_is_400_and_adds_nothing(acme, people, body):
    people.user("zoe")
    error(acme["admin"].post("/api/orgs/acme/members/zoe", body), 400)
    assert "zoe" not in roles_in(acme["admin"])


def test_a_login_no_user_can_have_is_404(acme):
    # A name in the URL that names nothing is not found (the body's names are what get 400).
    error(acme["admin"].post("/api/orgs/acme/members/-x-", {"role": "member"}), 404, "-x-")
    error(acme["admin"].patch("/api/orgs/acme/members/-x-", {"role": "member"}), 404, "-x-")
    error(acme["admin"].delete("/api/orgs/acme/members/-x-"), 404, "-x-")


def test_personal_organization_takes_no_members(acme):
    error(acme["member"].post("/api/orgs/mona/members/vera", {"role": "viewer"}), 400, "personal")


# --- change role --------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [{"role": "admin"}, {"fgaRoleId": "admin"},
                                  {"role": "viewer", "fgaRoleId": "admin"}])
def test_admin_changes_a_role_by_name_or_role_id(acme, body):
    assert acme["admin"].patch("/api/orgs/acme/members/vera", body).status_code == 204
    assert roles_in(acme["admin"])["vera"] == "admin"


def test_changed_role_takes_effect_at_once(acme):
    error(acme["viewer"].post("/api/stacks/acme/proj", {"stackName": "dev"}), 403)
    acme["admin"].patch("/api/orgs/acme/members/vera", {"role": "member"})
    assert acme["viewer"].post("/api/stacks/acme/proj", {"stackName": "dev"}).status_code == 200


@pytest.mark.parametrize("role, status", [("viewer", 403), ("member", 403), ("outsider", 404)])
def test_only_admins_change_roles(acme, role, status):
    error(acme[role].patch("/api/orgs/acme/members/mona", {"role": "admin"}), status)
    assert roles_in(acme["admin"])["mona"] == "member"


@pytest.mark.parametrize("body", [{}, {"role": None}, {"role": "owner"},
                                  {"fgaRoleId": "no-such-role"}, {"role": "billing-manager"}])
def test_changing_to_a_bad_role_is_400(acme, body):
    error(acme["admin"].patch("/api/orgs/acme/members/mona", body), 400)
    assert roles_in(acme["admin"])["mona"] == "member"


def test_changing_the_role_of_a_non_member_is_404(acme, people):
    people.user("zoe")
    error(acme["admin"].patch("/api/orgs/acme/members/zoe", {"role": "member"}), 404)
    error(acme["admin"].patch("/api/orgs/acme/members/nobody", {"role": "member"}), 404)


def test_the_last_admin_cannot_be_demoted(acme):
    error(acme["admin"].patch("/api/orgs/acme/members/adam", {"role": "member"}), 409,
          "last admin")
    assert roles_in(acme["admin"])["adam"] == "admin"


def test_an_admin_can_step_down_once_there_is_another(acme):
    acme["admin"].patch("/api/orgs/acme/members/mona", {"role": "admin"})
    assert acme["admin"].patch("/api/orgs/acme/members/adam", {"role": "viewer"}).status_code == 204
    assert roles_in(acme["member"]) == {"adam": "viewer", "mona": "admin", "vera": "viewer"}
    # ... and is no longer one.
    error(acme["admin"].patch("/api/orgs/acme/members/mona", {"role": "viewer"}), 403)


# --- remove -------------------------------------------------------------------------------------

def test_admin_removes_a_member_who_then_sees_nothing(acme):
    assert acme["admin"].delete("/api/orgs/acme/members/vera").status_code == 204
    assert "vera" not in roles_in(acme["admin"])
    error(acme["viewer"].get("/api/orgs/acme"), 404)
    assert [o["name"] for o in acme["viewer"].get("/api/user").get_json()["organizations"]] == [
        "vera"]


@pytest.mark.parametrize("role, status", [("viewer", 403), ("member", 403), ("outsider", 404)])
def test_only_admins_remove_members(acme, role, status):
    error(acme[role].delete("/api/orgs/acme/members/vera"), status)
    assert "vera" in roles_in(acme["admin"])


def test_removing_a_non_member_is_404(acme, people):
    people.user("zoe")
    error(acme["admin"].delete("/api/orgs/acme/members/zoe"), 404)


def test_an_admin_cannot_remove_themself(acme):
    acme["admin"].patch("/api/orgs/acme/members/mona", {"role": "admin"})
    error(acme["admin"].delete("/api/orgs/acme/members/adam"), 400, "yourself")
    assert roles_in(acme["admin"])["adam"] == "admin"


def test_another_admin_can_remove_an_admin(acme):
    acme["admin"].patch("/api/orgs/acme/members/mona", {"role": "admin"})
    assert acme["member"].delete("/api/orgs/acme/members/adam").status_code == 204
    assert roles_in(acme["member"]) == {"mona": "admin", "vera": "viewer"}
