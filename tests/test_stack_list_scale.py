"""GET /api/user/stacks with a big database: the query starts from the caller's memberships
(checked with EXPLAIN against a seeded, analyzed database, so a regression to a walk over every
stack fails here rather than in production), and its keyset pages stay right while stacks come and
go between pages. Speed itself is measured by bench/request_path.py, not asserted."""
import json

import pytest

from app import create_app
from app.queries import queries
from tests.support.api import Api
from tests.support.apps import make_config

# Enough rows for the planner to prefer the indexes, once ANALYZEd: 200 organizations of 10
# projects of 10 stacks, none of them the caller's.
SEED = """
INSERT INTO users (login) SELECT 'seeduser' || g FROM generate_series(1, 200) g;
INSERT INTO organizations (name) SELECT 'seedorg' || g FROM generate_series(1, 200) g;
INSERT INTO memberships (org_id, user_id, role)
SELECT o.id, u.id, 'admin' FROM organizations o
  JOIN users u ON u.login = 'seeduser' || substr(o.name, 8)
 WHERE o.name LIKE 'seedorg%';
INSERT INTO projects (org_id, name)
SELECT o.id, 'p' || g FROM organizations o, generate_series(1, 10) g WHERE o.name LIKE 'seedorg%';
INSERT INTO stacks (project_id, name, tags)
SELECT p.id, 's' || g, jsonb_build_object('n', g::text)
  FROM projects p JOIN organizations o ON o.id = p.org_id, generate_series(1, 10) g
 WHERE o.name LIKE 'seedorg%';
"""


def make_stacks(api, org, project, names):
    for name in names:
        response = api.post(f"/api/stacks/{org}/{project}", body={"stackName": name})
        assert response.status_code == 200, response.get_json()


@pytest.fixture
def seeded(people, db):
    ivy = people.user("ivy", {"ivyorg": "member"})
    make_stacks(ivy, "ivyorg", "web", ["dev", "prod"])
    make_stacks(ivy, "ivy", "tools", ["ci"])
    with db, db.cursor() as cur:
        cur.execute(SEED)
    db.autocommit = True
    with db.cursor() as cur:
        cur.execute("ANALYZE")
    db.autocommit = False
    user = queries.user_by_login(db, login="ivy")
    return ivy, user


def plan_of(db, user, **filters):
    params = {"login": user["login"], "user_id": user["id"], "organization": None,
              "project_name": None, "tag_name": None, "tag_value": None, "after_id": 0,
              "page_size": 101, "token_org_id": None, "token_permission": 102, "team_id": None,
              **filters}
    with db.cursor() as cur:
        cur.execute("EXPLAIN (FORMAT JSON) " + queries.list_stacks.sql, params)
        plan = cur.fetchone()["QUERY PLAN"]
    db.rollback()
    return plan[0]["Plan"] if isinstance(plan, list) else json.loads(plan)[0]["Plan"]


def scans(node):
    """(node type, relation, index) of every scan in a plan."""
    found = []
    if "Relation Name" in node or "Index Name" in node:
        found.append((node["Node Type"], node.get("Relation Name"), node.get("Index Name")))
    for child in node.get("Plans", []):
        found.extend(scans(child))
    return found


@pytest.mark.parametrize("filters", [
    {}, {"organization": "ivyorg"}, {"project_name": "web"}, {"tag_name": "n", "tag_value": "1"},
    {"after_id": 1},
], ids=["no filter", "organization", "project", "tag", "second page"])
def test_stack_list_plan_starts_from_the_callers_memberships(seeded, db, filters):
    _, user = seeded
    found = scans(plan_of(db, user, **filters))
    stack_scans = [scan for scan in found if scan[1] == "stacks"]
    assert stack_scans, found
    # A walk over every stack (in id order, or whole) is what this query must never do again.
    assert not any(kind == "Seq Scan" or index == "stacks_pkey"
                   for kind, _, index in stack_scans), found
    # Projects and stacks are reached from the caller's organizations through their indexes.
    assert not any(kind == "Seq Scan" and relation == "projects" for kind, relation, _ in found), found
    assert "stacks_live_name" in {index for _, _, index in found}, found


def test_stack_list_in_a_big_database_is_the_callers_stacks(seeded):
    ivy, _ = seeded
    body = ivy.get("/api/user/stacks").get_json()
    assert [(s["orgName"], s["projectName"], s["stackName"]) for s in body["stacks"]] == [
        ("ivyorg", "web", "dev"), ("ivyorg", "web", "prod"), ("ivy", "tools", "ci")]
    assert "continuationToken" not in body or body["continuationToken"] is None


def listed(api, token=None):
    path = "/api/user/stacks" + (f"?continuationToken={token}" if token else "")
    response = api.get(path)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return [s["stackName"] for s in body["stacks"]], body.get("continuationToken")


def test_pages_stay_right_while_stacks_are_created_and_deleted_between_them(database_url, people):
    app = create_app(make_config(database_url, STACK_PAGE_SIZE=3, AUTO_MIGRATE=False))
    ivy = people.user("ivy", {"ivyorg": "admin"})
    api = Api(app.test_client(), people.tokens["ivy"])
    names = [f"s{i:02d}" for i in range(10)]
    make_stacks(api, "ivyorg", "web", names)

    seen, token = listed(api)
    assert seen == names[:3]
    # Between pages: the stack the token points at goes, so does one not listed yet, and new
    # stacks arrive (one of them in an organization the caller cannot see).
    assert api.delete("/api/stacks/ivyorg/web/s02").status_code == 204
    assert api.delete("/api/stacks/ivyorg/web/s05").status_code == 204
    make_stacks(api, "ivyorg", "web", ["new1"])
    other = people.user("olga", {"olgaorg": "admin"})
    make_stacks(other, "olgaorg", "web", ["hidden"])
    make_stacks(api, "ivyorg", "web", ["new2"])
    while token:
        page, token = listed(api, token)
        assert len(page) <= 3
        seen += page

    survivors = [n for n in names if n not in ("s02", "s05")]
    assert len(seen) == len(set(seen)), seen  # nothing twice
    assert [n for n in seen if n in survivors] == survivors  # nothing skipped, in order
    assert "s05" not in seen and "hidden" not in seen
    assert seen[-2:] == ["new1", "new2"]  # created after the list began: at its end
    assert ivy.get("/api/user/stacks").status_code == 200
