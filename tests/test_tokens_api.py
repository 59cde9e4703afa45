"""Personal access tokens over the API (/api/user/tokens): list, create (shown once, stored
hashed, optional expiry), delete; an expired or deleted token is refused at once."""
import hashlib
import time

import pytest


def error(response, status, contains=""):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == status and contains in body["message"], body
    return body


def as_token(api, token):
    return type(api)(api.client, token)


def listed(api):
    response = api.get("/api/user/tokens")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["tokens"]


def count_tokens(db):
    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM access_tokens")
        n = cur.fetchone()["n"]
    db.rollback()
    return n


@pytest.mark.parametrize("role", ["viewer", "member", "admin", "outsider"])
def test_every_user_creates_and_uses_a_token(acme, role):
    api = acme[role]
    response = api.post("/api/user/tokens", {"description": "laptop", "expires": 0})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"id", "tokenValue"} and body["tokenValue"].startswith("pul-")
    me = as_token(api, body["tokenValue"]).get("/api/user").get_json()
    assert me["githubLogin"] == api.get("/api/user").get_json()["githubLogin"]


def test_list_shows_each_token_but_never_its_value(acme):
    api = acme["member"]
    value = api.post("/api/user/tokens", {"description": "ci", "expires": 0}).get_json()["tokenValue"]
    tokens = listed(api)
    assert [t["description"] for t in tokens] == ["test", "ci"]
    assert value not in str(tokens) and acme["member"].token not in str(tokens)
    ci = tokens[1]
    assert (ci["type"], ci["admin"], ci["expires"], ci["lastUsed"], ci["createdBy"]) == (
        "personal", False, 0, 0, "mona")
    assert ci["created"].endswith("Z") and ci["id"].isdigit()


def test_tokens_are_per_user(acme):
    acme["member"].post("/api/user/tokens", {"description": "mine", "expires": 0})
    assert [t["description"] for t in listed(acme["viewer"])] == ["test"]


def test_last_used_is_recorded(acme):
    api = acme["member"]
    value = api.post("/api/user/tokens", {"description": "ci", "expires": 0}).get_json()["tokenValue"]
    before = int(time.time())
    as_token(api, value).get("/api/user")
    used = [t for t in listed(api) if t["description"] == "ci"][0]["lastUsed"]
    assert before - 1 <= used <= int(time.time()) + 1


def test_token_with_an_expiry_lists_it_and_works_until_then(acme):
    api = acme["member"]
    expires = int(time.time()) + 3600
    value = api.post("/api/user/tokens", {"description": "day", "expires": expires}).get_json()["tokenValue"]
    assert [t["expires"] for t in listed(api) if t["description"] == "day"] == [expires]
    assert as_token(api, value).get("/api/user").status_code == 200


def test_expired_token_is_401_at_once(acme, db):
    api = acme["member"]
    value = api.post("/api/user/tokens", {"description": "short", "expires": int(time.time()) + 60}
                     ).get_json()["tokenValue"]
    with db, db.cursor() as cur:
        cur.execute("UPDATE access_tokens SET expires_at = now() - interval '1 second' "
                    "WHERE description = 'short'")
    error(as_token(api, value).get("/api/user"), 401)
    # Still listed (with its expiry) until deleted.
    assert "short" in [t["description"] for t in listed(api)]


def test_deleted_token_is_401_at_once_and_no_longer_listed(acme):
    api = acme["member"]
    created = api.post("/api/user/tokens", {"description": "old", "expires": 0}).get_json()
    worker = as_token(api, created["tokenValue"])
    assert worker.get("/api/user").status_code == 200
    assert api.delete(f"/api/user/tokens/{created['id']}").status_code == 204
    error(worker.get("/api/user"), 401)
    assert [t["description"] for t in listed(api)] == ["test"]


def test_a_token_can_delete_itself(acme):
    api = acme["member"]
    (mine,) = listed(api)
    assert api.delete(f"/api/user/tokens/{mine['id']}").status_code == 204
    error(api.get("/api/user"), 401)


def test_deleting_another_users_token_is_404_and_it_keeps_working(acme):
    (veras,) = listed(acme["viewer"])
    error(acme["admin"].delete(f"/api/user/tokens/{veras['id']}"), 404)
    assert acme["viewer"].get("/api/user").status_code == 200


def test_deleting_an_unknown_or_deleted_token_is_404(acme):
    api = acme["member"]
    error(api.delete("/api/user/tokens/999999"), 404)
    created = api.post("/api/user/tokens", {"description": "x", "expires": 0}).get_json()
    api.delete(f"/api/user/tokens/{created['id']}")
    error(api.delete(f"/api/user/tokens/{created['id']}"), 404)


def test_tokens_are_stored_only_as_hashes(acme, db):
    value = acme["member"].post("/api/user/tokens", {"description": "h", "expires": 0}
                                ).get_json()["tokenValue"]
    with db.cursor() as cur:
        cur.execute("SELECT token_hash, row_to_json(t)::text AS text FROM access_tokens t "
                    "WHERE description = 'h'")
        row = cur.fetchone()
    db.rollback()
    assert bytes(row["token_hash"]) == hashlib.sha256(value.encode()).digest()
    assert value not in row["text"] and value[4:] not in row["text"]


@pytest.mark.parametrize("body", [
    {"description": "x", "expires": -1},
    {"description": "x", "expires": 1},  # in the past
    {"description": "x", "expires": "tomorrow"},
    {"description": "x", "expires": 10 ** 13},
    {"description": 5, "expires": 0},
    {"description": "x" * 1025, "expires": 0},
    {"description": "a\u0000b", "expires": 0},
])
def test_invalid_requests_are_400_and_make_no_token(acme, db, body):
    before = count_tokens(db)
    error(acme["member"].post("/api/user/tokens", body), 400)
    assert count_tokens(db) == before


def test_null_description_and_expiry_mean_none_and_never(acme):
    api = acme["member"]
    assert api.post("/api/user/tokens", {"description": None, "expires": None}).status_code == 200
    assert listed(api)[-1]["description"] == "" and listed(api)[-1]["expires"] == 0


def test_reason_query_is_accepted(acme):
    assert acme["member"].post("/api/user/tokens?reason=ci",
                               {"description": "x", "expires": 0}).status_code == 200


def test_without_a_token_nothing_is_served(anonymous):
    error(anonymous.get("/api/user/tokens"), 401)
    error(anonymous.post("/api/user/tokens", {"description": "x", "expires": 0}), 401)
    error(anonymous.delete("/api/user/tokens/1"), 401)


# --- listing: search, filter, sort and pages (the query the SDK's list calls send) ------------

@pytest.fixture
def three_tokens(acme, db):
    """mona's tokens "alpha ci" (expired), "Beta" (used), "gamma" (expires in a day), besides
    the fixture's own."""
    api = acme["member"]
    for description, expires in [("alpha ci", int(time.time()) + 60), ("Beta", 0),
                                 ("gamma", int(time.time()) + 86400)]:
        assert api.post("/api/user/tokens", {"description": description, "expires": expires}
                        ).status_code == 200
    with db, db.cursor() as cur:
        cur.execute("UPDATE access_tokens SET expires_at = now() - interval '1 second' "
                    "WHERE description = 'alpha ci'")
        cur.execute("UPDATE access_tokens SET last_used_at = now() + interval '1 hour' "
                    "WHERE description = 'Beta'")
    return api


def descriptions(api, query, path="/api/user/tokens"):
    response = api.get(path + query)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return [t["description"] for t in body["tokens"]], body.get("continuationToken")


def test_list_searches_filters_and_sorts(three_tokens):
    api = three_tokens
    assert descriptions(api, "?search=ALPHA")[0] == ["alpha ci"]
    assert descriptions(api, "?filter=expired")[0] == ["alpha ci"]
    assert "alpha ci" not in descriptions(api, "?filter=active")[0]
    assert descriptions(api, "?search=a&sortBy=name&sortDirection=desc")[0] == [
        "gamma", "Beta", "alpha ci"]  # names are empty: the id breaks the tie, newest first
    assert descriptions(api, "?sortBy=lastUsed&sortDirection=desc")[0][0] == "Beta"
    assert descriptions(api, "?sortBy=expires&filter=active")[0][-1] in ("Beta", "test")
    assert descriptions(api, "?sortBy=expires")[0][0] == "alpha ci"


def test_list_pages_with_a_continuation_token(three_tokens):
    api = three_tokens
    everything, more = descriptions(api, "")
    assert more is None and len(everything) == 4
    first, more = descriptions(api, "?maxResults=3")
    rest, last = descriptions(api, f"?maxResults=3&continuationToken={more}")
    assert first + rest == everything and last is None


def test_organization_token_list_takes_the_same_query(acme):
    admin = acme["admin"]
    for name in ("deploy", "backup", "ci"):
        assert admin.post("/api/orgs/acme/tokens", {"name": name}).status_code == 200
    response = admin.get("/api/orgs/acme/tokens?sortBy=name&search=c")
    assert [t["name"] for t in response.get_json()["tokens"]] == ["backup", "ci"]


@pytest.mark.parametrize("query", ["?sortBy=size", "?sortDirection=up", "?filter=old",
                                   "?maxResults=0", "?continuationToken=x"])
def test_bad_list_queries_are_400(acme, query):
    error(acme["member"].get("/api/user/tokens" + query), 400)
