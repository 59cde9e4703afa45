"""The console's pages about organizations, stacks and updates, at the paths the CLI prints,
each behind the API's roles (`console_page`) and built from the API's own domain functions.
Secrets are masked everywhere (app/resources.py); Jinja escapes every value."""
import re

from flask import abort, g, jsonify, render_template, request

from .. import history, resources, updates
from ..auth import console_page
from ..db import transaction
from ..queries import queries
from ..stacks import load_stack
from . import bp

STACK = "/<org:org>/<project>/<stack>"
EVENTS_PAGE = 500
RESOURCES_PAGE = 500
PREVIEWS_SHOWN = 50
# The CLI's colour markers in engine event text, e.g. "<{%fg 1%}>" and "<{%reset%}>".
_COLOR = re.compile(r"<\{%[^%]*%\}>")
SORTS = {"name": lambda s: (s["project_name"], s["stack_name"]),
         "updated": lambda s: (s["last_start"] is None, -(s["last_start"].timestamp())
                               if s["last_start"] else 0)}


@bp.get("/<org:org>")
@console_page("viewer")
def org_stacks(org):
    """The organization's stacks: search, filter by project and tag, sort."""
    search = request.args.get("q", "").strip()
    project = request.args.get("project") or None
    tag = request.args.get("tag", "").strip()
    tag_name, _, tag_value = tag.partition("=")
    sort = request.args.get("sort") if request.args.get("sort") in SORTS else "name"
    with transaction() as conn:
        rows = list(queries.list_stacks(
            conn, login=g.person["login"], user_id=g.person["id"], token_org_id=None,
            token_permission=None, team_id=None, organization=org,
            project_name=None, tag_name=None, tag_value=None, after_id=0, page_size=10000))
    projects = {}
    for r in rows:
        projects[r["project_name"]] = projects.get(r["project_name"], 0) + 1
    shown = [r for r in rows
             if (project is None or r["project_name"] == project)
             and (not search or search.lower() in f"{r['project_name']}/{r['stack_name']}".lower())
             and (not tag_name or (tag_name in r["tags"]
                                   and (not tag_value or r["tags"][tag_name] == tag_value)))]
    shown.sort(key=SORTS[sort])
    return render_template("org.html", org=org, stacks=shown, projects=dict(sorted(projects.items())),
                           total=len(rows), search=search, project=project, tag=tag, sort=sort,
                           results=updates.RESULTS)


@bp.get(STACK)
@console_page("viewer")
def stack_overview(org, project, stack):
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        latest = history.latest(conn, row["id"])
        outputs = resources.stack_outputs(conn, row["id"])
    return render_template("stack.html", org=org, project=project, stack=stack, row=row,
                           latest=latest, outputs=outputs, results=updates.RESULTS)


@bp.get(STACK + "/resources")
@console_page("viewer")
def stack_resources(org, project, stack):
    """The current state's resources as a tree by parent, a page at a time, filtered by type,
    name or URN; each links to its inputs and outputs."""
    search = request.args.get("q", "").strip()
    try:
        page = max(int(request.args.get("page", "1")), 1)
    except ValueError:
        abort(400, "page must be a number.")
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        found = resources.listing(conn, row["id"])
    tree = resources.tree(found)
    if search:
        needle = search.lower()
        tree = [(depth, r) for depth, r in tree if needle in (r.get("urn") or "").lower()
                or needle in (r.get("type") or "").lower()]
    pages = max((len(tree) + RESOURCES_PAGE - 1) // RESOURCES_PAGE, 1)
    shown = tree[(page - 1) * RESOURCES_PAGE:page * RESOURCES_PAGE]
    return render_template("resources.html", org=org, project=project, stack=stack, tree=shown,
                           total=len(found), matching=len(tree), page=page, pages=pages,
                           search=search, name_of=resources.name_of)


@bp.get(STACK + "/resource")
@console_page("viewer")
def stack_resource(org, project, stack):
    """One resource of the current state (by `urn`): its inputs and outputs, secrets masked."""
    urn = request.args.get("urn", "")
    if not urn:
        abort(400, "Which resource? Give its URN (?urn=...).")
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        found = resources.one(conn, row["id"], urn)
    if found is None:
        abort(404, f"Stack {org}/{project}/{stack} has no resource {urn!r}.")
    return render_template("resource.html", org=org, project=project, stack=stack, r=found,
                           name_of=resources.name_of)


@bp.get(STACK + "/history")
@console_page("viewer")
def stack_history(org, project, stack):
    with transaction() as conn:
        row = load_stack(conn, org, project, stack)
        found = history.history(conn, row["id"], limit=200)
        previews = history.recent_previews(conn, row["id"], PREVIEWS_SHOWN)
    return render_template("history.html", org=org, project=project, stack=stack,
                           updates=found, previews=previews, results=updates.RESULTS)


def _update(conn, org, project, stack, version=None, update_id=None):
    row = load_stack(conn, org, project, stack)
    found = queries.console_update(conn, stack_id=row["id"], version=version,
                                   update_id=str(update_id) if update_id else None)
    if found is None:
        what = f"version {version}" if version is not None else f"preview {update_id}"
        abort(404, f"Stack {org}/{project}/{stack} has no {what}.")
    return found


def _event_rows(rows):
    """What the timeline shows of each engine event: (sequence, kind, op, urn, text, detail)."""
    shown = []
    for row in rows:
        event = row["event"]
        kind = next((k for k in event if k not in ("sequence", "timestamp")), "")
        body = event.get(kind) or {}
        meta = body.get("metadata") or {} if isinstance(body, dict) else {}
        text, detail, op, urn = "", None, meta.get("op", ""), meta.get("urn", "")
        if kind == "diagnosticEvent":
            text = _COLOR.sub("", body.get("message", "")).rstrip()
            op, urn = body.get("severity", ""), body.get("urn", "")
        elif kind == "stdoutEvent":
            text = _COLOR.sub("", body.get("message", "")).rstrip()
        elif kind == "resOutputsEvent":
            outputs = ((meta.get("new") or {}).get("outputs"))
            detail = resources.masked(outputs) if outputs else None
        elif kind == "resOpFailedEvent":
            text = f"failed (status {body.get('status')})"
        elif kind == "summaryEvent":
            text = ", ".join(f"{k} {v}" for k, v in sorted(
                (body.get("resourceChanges") or {}).items()))
            text += f" in {body.get('durationSeconds', 0)} s"
        elif kind == "cancelEvent":
            text = "cancelled"
        elif kind == "policyEvent":
            text = body.get("message", "")
            urn = body.get("resourceUrn", "")
        shown.append({"sequence": row["sequence"], "kind": kind.removesuffix("Event"), "op": op,
                      "urn": urn, "text": text, "detail": detail})
    return shown


def _timeline(update, after):
    with transaction() as conn:
        over = update["status"] in updates.OVER
        rows = history.events_after(conn, update["id"], over, after, EVENTS_PAGE)
    last = rows[-1]["sequence"] if rows else after
    more = len(rows) == EVENTS_PAGE or not over
    return _event_rows(rows), last, more


def _update_page(org, project, stack, update):
    events, last, more = _timeline(update, -1)
    return render_template("update.html", org=org, project=project, stack=stack, update=update,
                           events=events, after=last, more=more, results=updates.RESULTS)


@bp.get(STACK + "/updates/<int:version>")
@console_page("viewer")
def update_page(org, project, stack, version):
    with transaction() as conn:
        update = _update(conn, org, project, stack, version=version)
    return _update_page(org, project, stack, update)


@bp.get(STACK + "/previews/<uuid:update_id>")
@console_page("viewer")
def preview_page(org, project, stack, update_id):
    with transaction() as conn:
        update = _update(conn, org, project, stack, update_id=update_id)
    return _update_page(org, project, stack, update)


def _events_json(update):
    try:
        after = int(request.args.get("after", "-1"))
    except ValueError:
        abort(400, "after must be a sequence number.")
    events, last, more = _timeline(update, after)
    html = render_template("_events.html", events=events)
    return jsonify({"html": html, "after": last, "more": more,
                    "status": updates.RESULTS[update["status"]]})


@bp.get(STACK + "/updates/<int:version>/events")
@console_page("viewer")
def update_events(org, project, stack, version):
    """The next events of the timeline, as HTML rows (the page polls this while it runs)."""
    with transaction() as conn:
        update = _update(conn, org, project, stack, version=version)
    return _events_json(update)


@bp.get(STACK + "/previews/<uuid:update_id>/events")
@console_page("viewer")
def preview_events(org, project, stack, update_id):
    with transaction() as conn:
        update = _update(conn, org, project, stack, update_id=update_id)
    return _events_json(update)


@bp.app_template_filter("duration")
def duration(update):
    if not update["start_time"] or not update["end_time"]:
        return "—"
    seconds = int((update["end_time"] - update["start_time"]).total_seconds())
    return f"{seconds // 60}m {seconds % 60}s" if seconds >= 60 else f"{seconds}s"

