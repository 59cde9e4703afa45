"""History: recorded operations newest first, with what each did; previews kept apart."""
import pytest

from tests.support.deployments import untyped
from tests.support.updates import STACK, Operation, make_stack, run


@pytest.fixture
def member(acme):
    make_stack(acme["member"])
    return acme["member"]


def history(api, query=""):
    response = api.get(f"{STACK}/updates{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["updates"]


def test_history_of_a_new_stack_is_empty(member):
    assert history(member) == []


def test_history_is_newest_first(member):
    for kind in ("update", "refresh", "destroy"):
        run(member, 1, kind=kind)
    assert [(u["version"], u["kind"]) for u in history(member)] == [
        (3, "destroy"), (2, "refresh"), (1, "update")]


def test_history_entry_has_what_the_cli_shows(member):
    config = {"proj:greeting": {"string": "hi", "secret": False, "object": False}}
    run(member, 3, message="first", environment={"git.head": "abc"}, config=config,
        changes={"create": 3})
    [info] = history(member)
    assert info["kind"] == "update"
    assert info["message"] == "first"
    assert info["environment"] == {"git.head": "abc"}
    assert info["config"] == config
    assert info["result"] == "succeeded"
    assert info["version"] == 1
    assert info["resourceChanges"] == {"create": 3}
    assert info["resourceCount"] == 3
    assert 0 < info["startTime"] <= info["endTime"]


def test_running_update_is_in_progress(member):
    Operation(member).start()
    [info] = history(member)
    assert (info["result"], info["endTime"]) == ("in-progress", 0)


def test_cancelled_update_is_failed(member):
    op = Operation(member)
    op.start()
    op.cancel()
    assert history(member)[0]["result"] == "failed"


def test_previews_are_not_history(member):
    preview = Operation(member, dry_run=True)
    preview.start()
    preview.complete()
    Operation(member, kind="preview", dry_run=True).start()
    assert history(member) == []


def test_created_but_never_started_updates_are_not_history(member):
    Operation(member)
    assert history(member) == []


def test_history_pages(member):
    for _ in range(5):
        run(member, 1)
    assert [u["version"] for u in history(member, "?pageSize=2&page=1")] == [5, 4]
    assert [u["version"] for u in history(member, "?pageSize=2&page=3")] == [1]
    assert history(member, "?pageSize=2&page=4") == []


def test_history_without_page_size_is_complete(member):
    for _ in range(12):
        run(member, 1)
    assert len(history(member)) == 12


def test_bad_page_is_400(member):
    assert member.get(f"{STACK}/updates?pageSize=2&page=0").status_code == 400


def test_rename_appears_in_history(member):
    run(member, 2)
    member.post(f"{STACK}/rename", body={"newName": "prod", "newProject": "proj"})
    updates = member.get("/api/stacks/acme/proj/prod/updates").get_json()["updates"]
    assert [(u["version"], u["kind"]) for u in updates] == [(2, "rename"), (1, "update")]


def test_latest_update(member):
    run(member, 1, message="one")
    run(member, 1, message="two")
    info = member.get(f"{STACK}/updates/latest").get_json()["info"]
    assert (info["version"], info["message"]) == (2, "two")


def test_latest_update_of_a_new_stack_is_404(member):
    response = member.get(f"{STACK}/updates/latest")
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


def test_update_by_version(member):
    run(member, 1, message="one")
    run(member, 1, message="two")
    assert member.get(f"{STACK}/updates/1").get_json()["info"]["message"] == "one"


def test_update_by_version_has_pulumis_update_info_shape(member):
    run(member, 1, message="one")
    run(member, 1, message="two")
    body = member.get(f"{STACK}/updates/1").get_json()
    assert set(body) == {"info", "updateID", "version", "latestVersion", "requestedBy"}
    assert (body["version"], body["latestVersion"]) == (1, 2)
    assert body["requestedBy"] == {"name": "mona", "githubLogin": "mona", "avatarUrl": ""}
    assert body["updateID"] != member.get(f"{STACK}/updates/2").get_json()["updateID"]
    assert member.get(f"{STACK}/updates/latest").get_json()["updateID"] == \
        member.get(f"{STACK}/updates/2").get_json()["updateID"]


def test_update_of_an_unknown_version_is_404(member):
    assert member.get(f"{STACK}/updates/7").status_code == 404


def test_latest_previews(member):
    older = Operation(member, dry_run=True)
    older.start()
    newer = Operation(member, kind="preview", dry_run=True)
    newer.start()
    body = member.get(f"{STACK}/updates/latest/previews?asc=false&pageSize=1&page=1").get_json()
    assert body == {"updates": [{"updateID": newer.id}]}


def test_latest_previews_of_a_new_stack_are_empty(member):
    assert member.get(f"{STACK}/updates/latest/previews").get_json() == {"updates": []}


def test_viewer_reads_history(acme, member):
    run(member, 1)
    assert len(history(acme["viewer"])) == 1


def test_outsider_cannot_read_history(acme, member):
    assert acme["outsider"].get(f"{STACK}/updates").status_code == 404


def test_import_appears_in_history(member):
    run(member, 1)
    member.post(f"{STACK}/import", body=untyped(2))
    [latest, _] = history(member)
    assert (latest["kind"], latest["version"], latest["result"], latest["resourceCount"]) == (
        "import", 2, "succeeded", 2)
