"""An organization's audit log, for its admins: the list (`pulumi org audit-log list`), the export
in CSV or CEF (`pulumi org audit-log export`), the event-type catalog; and the security events
no route records itself (a failed-authentication burst, a refused admin action), recorded after
the response is made. Writing and verifying the log is app/audit.py."""
import csv
import io
import logging
from datetime import timezone

from flask import Blueprint, Response, current_app, g, jsonify, request

from .. import audit
from ..api import actor, parse_query
from ..auth import requires_role
from ..db import transaction
from ..openapi import documented
from ..queries import queries
from ..schemas import audit as schemas

bp = Blueprint("audit", __name__, url_prefix="/api/orgs")
log = logging.getLogger(__name__)

# The most records one export returns (the CLI makes one call): narrow it with the time filters.
EXPORT_MAX_RECORDS = 100_000
CSV_HEADER = ["Timestamp", "Name", "Login", "Event", "Description", "SourceIP",
              "RequireOrgAdmin", "RequireStackAdmin", "AuthenticationFailure"]


def _filters(query):
    before = query.get("continuation_token")
    return dict(event=query.get("event"), login=query.get("login"),
                start_time=query.get("start_time"), end_time=query.get("end_time"),
                before_seq=int(before) if before is not None else None)


def _event(row):
    kind = audit.EVENT_TYPES[row["event"]]
    found = {
        "timestamp": int(row["at"].timestamp()),
        "source_ip": row["source_ip"],
        "event": row["event"],
        "description": row["description"],
        "user": {"name": row["actor_name"] or row["actor_login"],
                 "github_login": row["actor_login"], "avatar_url": ""},
        "require_org_admin": kind.requires_org_admin,
        "require_stack_admin": kind.requires_stack_admin,
        "authentication_failure": kind.authentication_failure,
    }
    if row["token_id"] is not None:
        found["token_id"] = str(row["token_id"])
    if row["actor_name"]:
        found["actor_name"] = row["actor_name"]
    return found


@bp.get("/<org>/auditlogs/v2")
@bp.get("/<org>/auditlogs", endpoint="list_audit_log_v1")
@requires_role("admin")
@documented(query=schemas.list_query, response=schemas.audit_log_events,
            responses={400: "Bad Request: an unknown event type or filter value"})
def list_audit_log(org):
    """The organization's audit log, newest first, a page at a time (continuationToken)."""
    query = parse_query(schemas.list_query)
    with transaction() as conn:
        rows, more = audit.list_records(conn, org, page_size=query["page_size"],
                                        **_filters(query))
    found = {"audit_log_events": [_event(r) for r in rows]}
    if more is not None:
        found["continuation_token"] = str(more)
    return jsonify(schemas.audit_log_events.dump(found))


@bp.get("/<org>/auditlogs/v2/export")
@bp.get("/<org>/auditlogs/export", endpoint="export_audit_log_v1")
@requires_role("admin")
@documented(query=schemas.export_query, content_type="text/plain",
            response={"type": "string", "description": "CSV (with a header row) or CEF lines"},
            responses={400: "Bad Request: an unknown format, event type or filter value"})
def export_audit_log(org):
    """The organization's audit log, newest first, as CSV (with a header row) or CEF lines."""
    query = parse_query(schemas.export_query)
    with transaction() as conn:
        rows, _ = audit.list_records(conn, org, page_size=EXPORT_MAX_RECORDS, **_filters(query))
    if query["format"] == "cef":
        host = request.host.rsplit(":", 1)[0] if "]" not in request.host else request.host
        text = "".join(_cef(org, host, row) + "\n" for row in rows)
    else:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for row in rows:
            event = _event(row)
            writer.writerow([
                f"{row['at'].astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}",
                event["user"]["name"], row["actor_login"], row["event"], row["description"],
                row["source_ip"], *(str(event[k]).lower() for k in (
                    "require_org_admin", "require_stack_admin", "authentication_failure")),
            ])
        text = out.getvalue()
    return Response(text, mimetype="text/plain")


@bp.get("/<org>/auditlogs/event-types")
@requires_role("admin")
@documented(response=schemas.event_types)
def audit_log_event_types(org):
    """Every event type the audit log records."""
    return jsonify(schemas.event_types.dump({"event_types": [
        {"event": name, "display_name": kind.display_name, "description": kind.description,
         "requires_org_admin": kind.requires_org_admin,
         "requires_stack_admin": kind.requires_stack_admin,
         "authentication_failure": kind.authentication_failure, "deprecated": False}
        for name, kind in sorted(audit.EVENT_TYPES.items())
    ]}))


# --- CEF ------------------------------------------------------------------------------------------


def _cef_header(value):
    return str(value).replace("\\", "\\\\").replace("|", "\\|")


def _cef_value(value):
    return (str(value).replace("\\", "\\\\").replace("=", "\\=")
            .replace("\r", "\\r").replace("\n", "\\n"))


def _cef(org, host, row):
    """`MMM dd HH:mm:ss host CEF:0|vendor|product|version|event|name|severity|extension`."""
    kind = audit.EVENT_TYPES[row["event"]]
    at = row["at"].astimezone(timezone.utc)
    extension = {
        "dvchost": host,
        "rt": int(at.timestamp() * 1000),
        "src": row["source_ip"],
        "suser": row["actor_login"] or row["actor_name"],
        "orgID": org,
        "userID": row["actor_login"],
        "requireOrgAdmin": str(kind.requires_org_admin).lower(),
        "requireStackAdmin": str(kind.requires_stack_admin).lower(),
        "authenticationFailure": str(kind.authentication_failure).lower(),
        "msg": row["description"],
    }
    header = "|".join(_cef_header(v) for v in (
        "CEF:0", "Pulumi", "Pulumi Service (self-hosted)", "1", row["event"], kind.display_name,
        kind.severity))
    ext = " ".join(f"{k}={_cef_value(v)}" for k, v in extension.items() if v != "")
    return f"{at:%b %d %H:%M:%S} {host} {header}|{ext}"


# --- security events ------------------------------------------------------------------------------

@bp.after_app_request
def record_security_events(response):
    """A refused admin action (403 on a route that requires `admin`) and a client's failed
    authentications reaching AUTH_FAIL_LIMIT are recorded here, after the response is made: the
    request's own transaction (if any) has rolled back with the error."""
    status = response.status_code
    if status not in (401, 403) or request.url_rule is None:
        return response
    try:
        if status == 403 and _declared(request.url_rule.endpoint) == ("token", "admin") \
                and getattr(g, "user", None):
            org = request.view_args.get("org")
            with transaction() as conn:
                audit.record(conn, actor(), org, "auth.forbidden", request.path,
                             f"{g.user['login']} was refused {request.method} {request.path} "
                             "(it requires the admin role)")
        elif status == 401 and request.headers.get("Authorization") \
                and current_app.config["AUTH_FAIL_LIMIT"] > 0:
            with transaction() as conn:
                org = (request.view_args or {}).get("org")
                if org and queries.org_by_name(conn, name=org) is None:
                    org = None  # unknown names make no chains
                audit.record_failure_burst(conn, actor(), org,
                                           current_app.config["AUTH_FAIL_LIMIT"])
    except Exception:  # a failure here must not turn the refusal into a 500
        log.exception("could not record a security event in the audit log")
    return response


def _declared(endpoint):
    return getattr(current_app.view_functions.get(endpoint), "auth", None)
