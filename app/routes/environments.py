"""ESC environments (`pulumi env`, `environment:` imports of stacks, pulumi-esc-sdk): the
definitions and their revisions, and evaluation (check, open, read). By Pulumi's environment
permissions (app/auth.py): read to read and open (secrets shown as "[secret]"), open to see
secrets in plain text, write to edit, admin to delete."""
from flask import Blueprint, Response, current_app, g, jsonify, request

from .. import audit, environments, secrets, webhooks
from ..api import actor, parse_body, parse_query
from ..auth import ENV_OPEN, CallerRights, authenticated, requires_role
from ..db import reading, transaction
from ..errors import ApiError
from ..openapi import documented
from ..schemas import environments as schemas

bp = Blueprint("environments", __name__, url_prefix="/api/esc/environments")

ENV = "/<org>/<project>/<env>"
DIAGNOSTICS = "Bad Request: the definition has errors (body: diagnostics with ranges)"
REVISION_HEADER = "Pulumi-ESC-Revision"


def _keyring():
    return secrets.keyring_of(current_app)


def _may_open():
    """Whether the caller may see the secrets of the URL's environment in plain text."""
    return g.env_permission >= ENV_OPEN


def _hidden_error(hidden):
    return ApiError(403, "Forbidden: plaintext secrets need the 'open' permission on "
                         + ", ".join(sorted(set(hidden))) + " (or, for a stack's outputs, the "
                         "right to decrypt its secrets)")


def _yaml_body():
    """The request's definition (the CLI sends YAML labelled application/json)."""
    raw = request.get_data(cache=True)
    limit = current_app.config["ESC_MAX_DEFINITION_BYTES"]
    if len(raw) > limit:
        raise ApiError(413, f"Request Entity Too Large: definitions are limited to {limit} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "Bad Request: the definition is not UTF-8 text") from None


def _event(conn, org, project, env, event, **fields):
    """An `environments` webhook event of the change, queued in its transaction."""
    webhooks.environment_changed(conn, org, project, env, event, g.user["login"], **fields)


def _revision_saved(conn, org, project, env, number):
    """The events of a new revision: its own, and one for each environment importing it."""
    _event(conn, org, project, env, "environment_revision_created", revision=number)
    for importer in environments.importers(conn, org, project, env):
        webhooks.imported_environment_changed(conn, org, importer, project, env, number,
                                              g.user["login"])


def _definition_response(env, row, decrypt):
    text = environments.definition(_keyring(), env, row, decrypt)
    response = Response(text, mimetype="application/x-yaml")
    response.headers["ETag"] = row["etag"]
    response.headers[REVISION_HEADER] = str(row["number"])
    return response


# --- environments -------------------------------------------------------------------------------

@bp.post("/<org>")
@requires_role("member")
@documented(body=schemas.create_environment, response=schemas.update_result,
            responses={409: "Conflict: the environment already exists"})
def create_environment(org):
    """Create an environment (revision 1, an empty definition)."""
    body = parse_body(schemas.create_environment)
    project, name = body["project"], body["name"]
    with transaction() as conn:
        environments.create(conn, _keyring(), org, project, name, g.user["id"])
        _event(conn, org, project, name, "environment_created")
        audit.record(conn, actor(), org, "environment.created",
                     environments.env_ref(org, project, name),
                     f"created environment {environments.env_ref(org, project, name)}")
    return jsonify({})


@bp.get("")
@authenticated
@documented(query=schemas.list_query, response=schemas.environment_list)
def list_all_environments():
    """The environments of every organization the caller belongs to."""
    return _list(None)


@bp.get("/<org>")
@requires_role("viewer")
@documented(query=schemas.list_query, response=schemas.environment_list)
def list_environments(org):
    """The organization's environments."""
    return _list(org)


def _list(org):
    token = parse_query(schemas.list_query)["continuation_token"]
    with reading() as conn:
        rows, next_token = environments.list_environments(conn, CallerRights().caller(), org,
                                                          token)
    body = {"environments": [
        {"organization": r["organization"], "project": r["project"], "name": r["name"],
         "created": environments.utc(r["created_at"]),
         "modified": environments.utc(r["modified_at"])} for r in rows]}
    if next_token:
        body["next_token"] = next_token
    return jsonify(schemas.environment_list.dump(body))


@bp.get(ENV)
@requires_role("viewer")
@documented(response=schemas.YAML_BODY, content_type="application/x-yaml")
def get_environment(org, project, env):
    """The latest definition (secrets as ciphertext), with ETag and Pulumi-ESC-Revision."""
    return _get(org, project, env, None, decrypt=False)


@bp.get(ENV + "/versions/<version>")
@requires_role("viewer")
@documented(response=schemas.YAML_BODY, content_type="application/x-yaml")
def get_environment_at(org, project, env, version):
    """The definition at a revision number or tag."""
    return _get(org, project, env, version, decrypt=False)


@bp.get(ENV + "/decrypt")
@requires_role("viewer", env_permission="open")
@documented(response=schemas.YAML_BODY, content_type="application/x-yaml",
            responses={403: "Forbidden: plaintext secrets need the 'open' permission"})
def get_environment_decrypted(org, project, env):
    """The latest definition with plaintext secrets (`env get --show-secrets`)."""
    return _get(org, project, env, None, decrypt=True)


@bp.get(ENV + "/versions/<version>/decrypt")
@requires_role("viewer", env_permission="open")
@documented(response=schemas.YAML_BODY, content_type="application/x-yaml",
            responses={403: "Forbidden: plaintext secrets need the 'open' permission"})
def get_environment_at_decrypted(org, project, env, version):
    """The definition at a revision with plaintext secrets."""
    return _get(org, project, env, version, decrypt=True)


# Declared for the authorization matrix: plaintexts need this role unless the setting says
# (what the 'open' permission comes down to for callers without team grants).
get_environment_decrypted.plaintext_role = ("member", "SECRETS_VIEWERS_CAN_DECRYPT")
get_environment_at_decrypted.plaintext_role = ("member", "SECRETS_VIEWERS_CAN_DECRYPT")


def _get(org, project, env, version, decrypt):
    with reading() as conn:
        found = environments.find(conn, org, project, env)
        row = environments.revision(conn, found, version)
    return _definition_response(found, row, decrypt)


@bp.patch(ENV)
@requires_role("member")
@documented(body=schemas.YAML_BODY, response=schemas.update_result, responses={
    400: DIAGNOSTICS, 409: "Conflict: the environment changed since the ETag sent",
    413: "Request Entity Too Large: over ESC_MAX_DEFINITION_BYTES"})
def update_environment(org, project, env):
    """Save a new definition as the next revision (If-Match, or the ESC CLI's ETag header,
    names the revision edited: a stale one is 409)."""
    text = _yaml_body()
    expected = request.headers.get("If-Match") or request.headers.get("ETag")
    with transaction() as conn:
        number, etag = environments.update(conn, _keyring(), org, project, env, text, expected,
                                           g.user["id"], CallerRights())
        _revision_saved(conn, org, project, env, number)
        audit.record(conn, actor(), org, "environment.updated",
                     environments.env_ref(org, project, env),
                     f"saved revision {number} of environment "
                     f"{environments.env_ref(org, project, env)}")
    response = jsonify({})
    response.headers["ETag"] = etag
    response.headers[REVISION_HEADER] = str(number)
    return response


@bp.delete(ENV)
@requires_role("admin")
@documented(response=schemas.update_result,
            responses={409: "Conflict: the environment's deletion protection is on"})
def delete_environment(org, project, env):
    """Delete an environment with its revisions (not while its deletion protection is on)."""
    with transaction() as conn:
        environments.delete(conn, org, project, env)
        _event(conn, org, project, env, "environment_deleted")
        audit.record(conn, actor(), org, "environment.deleted",
                     environments.env_ref(org, project, env),
                     f"deleted environment {environments.env_ref(org, project, env)}")
    return jsonify({})


@bp.get(ENV + "/settings")
@requires_role("viewer")
@documented(response=schemas.environment_settings)
def get_environment_settings(org, project, env):
    """The environment's settings (`pulumi env settings get`)."""
    with reading() as conn:
        found = environments.find(conn, org, project, env)
    return jsonify(schemas.environment_settings.dump(found))


@bp.patch(ENV + "/settings")
@requires_role("admin")
@documented(body=schemas.environment_settings, status=204)
def change_environment_settings(org, project, env):
    """Change the settings given (`pulumi env settings set ... deletion-protected true`)."""
    body = parse_body(schemas.environment_settings)
    with transaction() as conn:
        environments.change_settings(conn, org, project, env, body["deletion_protected"])
        if body["deletion_protected"] is not None:
            ref = environments.env_ref(org, project, env)
            state = "on" if body["deletion_protected"] else "off"
            audit.record(conn, actor(), org, "environment.settings_changed", ref,
                         f"turned deletion protection {state} for environment {ref}")
    return "", 204


@bp.post(ENV + "/clone")
@requires_role("member", env_permission="open")
@documented(body=schemas.clone_environment, response=schemas.update_result, responses={
    404: "Not Found: no such environment or revision",
    409: "Conflict: the new environment exists"})
def clone_environment(org, project, env):
    """Copy an environment (its latest or `version`, or with preserveHistory every revision;
    tags as asked) into a new one; secrets are re-sealed with the copy's key. Needs the
    'member' role (it creates an environment) and the 'open' permission on the source (the
    copy's secrets are its secrets)."""
    body = parse_body(schemas.clone_environment)
    target_project = body["project"] or project
    target = environments.env_ref(org, target_project, body["name"])
    with transaction() as conn:
        source = environments.find(conn, org, project, env)
        environments.clone(conn, _keyring(), org, source, target_project, body["name"],
                           version=body["version"] or None,
                           history=body["preserve_history"],
                           revision_tags=body["preserve_revision_tags"],
                           environment_tags=body["preserve_environment_tags"])
        _event(conn, org, target_project, body["name"], "environment_created")
        audit.record(conn, actor(), org, "environment.created", target,
                     f"cloned environment {environments.env_ref(org, project, env)} "
                     f"into {target}")
    return jsonify({})


@bp.get(ENV + "/versions")
@requires_role("viewer")
@documented(query=schemas.revisions_query, response=schemas.revisions)
def list_revisions(org, project, env):
    """The revisions, newest first, with the tags naming each."""
    query = parse_query(schemas.revisions_query)
    with reading() as conn:
        found = environments.find(conn, org, project, env)
        rows = environments.list_revisions(conn, found, query["before"], query["count"])
    return jsonify(schemas.revisions.dump([_revision_body(r) for r in rows]))


def _revision_body(row):
    body = {**row, "created": environments.utc(row["created_at"])}
    if row["retracted_at"] is not None:
        body["retracted"] = {"replacement": row["replacement"],
                             "at": environments.utc(row["retracted_at"]),
                             "by_login": row["retracted_by_login"],
                             "by_name": row["retracted_by_name"],
                             "reason": row["retraction_reason"]}
    return body


@bp.post(ENV + "/versions/<version>/retract")
@requires_role("member")
@documented(body=schemas.retract_revision, status=204, responses={
    400: "Bad Request: the latest revision, or a replacement that is not another revision "
         "still readable",
    404: "Not Found: no such environment or revision",
    410: "Gone: the revision was retracted already"})
def retract_revision(org, project, env, version):
    """Retract a revision (`pulumi env version retract`): it can no longer be read or opened,
    and its tags name the replacement (given, or the latest earlier revision) instead."""
    body = parse_body(schemas.retract_revision)
    with transaction() as conn:
        number, replacement = environments.retract(
            conn, org, project, env, version, body["replacement"], body["reason"] or "",
            g.user["id"])
        _event(conn, org, project, env, "environment_revision_retracted", revision=number)
        ref = environments.env_ref(org, project, env)
        audit.record(conn, actor(), org, "environment.revision_retracted", ref,
                     f"retracted revision {number} of environment {ref} (replaced by revision "
                     f"{replacement})" + (f": {body['reason']}" if body["reason"] else ""))
    return "", 204


# --- evaluation ---------------------------------------------------------------------------------

@bp.post(ENV + "/open")
@requires_role("viewer")
@documented(query=schemas.open_query, response=schemas.open_session, responses={400: DIAGNOSTICS})
def open_environment(org, project, env):
    """Evaluate the latest revision and keep the result for `duration`: the session id."""
    return _open(org, project, env, None)


@bp.post(ENV + "/versions/<version>/open")
@requires_role("viewer")
@documented(query=schemas.open_query, response=schemas.open_session, responses={400: DIAGNOSTICS})
def open_environment_at(org, project, env, version):
    """Evaluate a revision and keep the result for `duration`: the session id."""
    return _open(org, project, env, version)


def _open(org, project, env, version):
    seconds = environments.parse_duration(parse_query(schemas.open_query)["duration"])
    with transaction() as conn:
        found = environments.find(conn, org, project, env)
        row = environments.revision(conn, found, version)
        properties, hidden = environments.evaluate_definition(
            conn, _keyring(), org, f"{project}/{env}", row["yaml"], found, CallerRights())
        session = environments.open_session(conn, _keyring(), org, found["id"], properties,
                                            seconds, hide_secrets=bool(hidden) or not _may_open())
    return jsonify({"id": session})


@bp.get(ENV + "/open/<open_id>")
@requires_role("viewer")
@documented(query=schemas.read_query, response=schemas.OPENED)
def read_open_environment(org, project, env, open_id):
    """An open session's environment, or the Value at `property`."""
    with reading() as conn:
        found = environments.find(conn, org, project, env)
        opened = environments.read_session(conn, _keyring(), org, found["id"], open_id,
                                           parse_query(schemas.read_query)["property"])
    return jsonify(opened if _may_open() else environments.redact(opened))


@bp.post("/<org>/yaml/check")
@requires_role("viewer")
@documented(query=schemas.check_query, body=schemas.YAML_BODY, response=schemas.OPENED,
            responses={400: DIAGNOSTICS, 413: "Request Entity Too Large"})
def check_yaml(org):
    """Evaluate an anonymous definition (secrets as "[secret]" unless showSecrets, which needs
    the right to see each imported secret in plain text)."""
    show = parse_query(schemas.check_query)["show_secrets"]
    text = _yaml_body()
    with transaction() as conn:
        properties, hidden = environments.evaluate_definition(conn, _keyring(), org, "<yaml>",
                                                              text, rights=CallerRights())
    if show and hidden:
        raise _hidden_error(hidden)
    return jsonify(environments.evaluate.environment_to_wire(properties, show_secrets=show))


@bp.post("/<org>/yaml/open")
@requires_role("viewer")
@documented(query=schemas.open_query, body=schemas.YAML_BODY, response=schemas.open_session,
            responses={400: DIAGNOSTICS, 413: "Request Entity Too Large"})
def open_yaml(org):
    """Evaluate an anonymous definition (a stack's `environment:` block) and keep the result
    (secrets the caller may not see in plain text as "[secret]")."""
    seconds = environments.parse_duration(parse_query(schemas.open_query)["duration"])
    text = _yaml_body()
    with transaction() as conn:
        properties, hidden = environments.evaluate_definition(conn, _keyring(), org, "<yaml>",
                                                              text, rights=CallerRights())
        session = environments.open_session(conn, _keyring(), org, None, properties, seconds,
                                            hide_secrets=bool(hidden))
    return jsonify({"id": session})


@bp.get("/<org>/yaml/open/<yaml_open_id>")
@requires_role("viewer")
@documented(query=schemas.read_query, response=schemas.OPENED)
def read_open_yaml(org, yaml_open_id):
    """An anonymous open session's environment, or the Value at `property` (as its opener may
    see it)."""
    with reading() as conn:
        opened = environments.read_session(conn, _keyring(), org, None, yaml_open_id,
                                           parse_query(schemas.read_query)["property"])
    return jsonify(opened)


# --- revision tags ------------------------------------------------------------------------------

def _tag_body(row):
    return schemas.revision_tag.dump({
        **row, "created": environments.utc(row["created_at"]),
        "modified": environments.utc(row["modified_at"])})


@bp.get(ENV + "/versions/tags")
@requires_role("viewer")
@documented(query=schemas.revision_tags_query, response=schemas.revision_tag_list)
def list_revision_tags(org, project, env):
    """The revision tags (`latest` first), by name, after `after`."""
    after = parse_query(schemas.revision_tags_query)["after"]
    with reading() as conn:
        found = environments.find(conn, org, project, env)
        rows = environments.list_revision_tags(conn, found, after)
    return jsonify({"tags": [_tag_body(r) for r in rows]})


@bp.get(ENV + "/versions/tags/<revision_tag>")
@requires_role("viewer")
@documented(response=schemas.revision_tag)
def get_revision_tag(org, project, env, revision_tag):
    """The revision a tag names (how the CLI resolves `env@tag`)."""
    with reading() as conn:
        found = environments.find(conn, org, project, env)
        row = environments.get_revision_tag(conn, found, revision_tag)
    return jsonify(_tag_body(row))


@bp.post(ENV + "/versions/tags")
@requires_role("member")
@documented(body=schemas.create_revision_tag, response=schemas.update_result, responses={
    400: "Bad Request: no such revision, or the tag 'latest'",
    409: "Conflict: the tag exists"})
def create_revision_tag(org, project, env):
    """Tag a revision (the latest when none is given)."""
    body = parse_body(schemas.create_revision_tag)
    with transaction() as conn:
        found = environments.find(conn, org, project, env)
        number = environments.create_revision_tag(conn, found, body["name"], body["revision"],
                                                  g.user["id"])
        _event(conn, org, project, env, "environment_revision_tag_created", revision=number,
               tag=body["name"])
        _audit_tag(conn, org, project, env, f"tagged revision {number} '{body['name']}'")
    return jsonify({})


@bp.patch(ENV + "/versions/tags/<revision_tag>")
@requires_role("member")
@documented(body=schemas.update_revision_tag, response=schemas.update_result, responses={
    400: "Bad Request: no such revision, or the tag 'latest'"})
def update_revision_tag(org, project, env, revision_tag):
    """Move a tag to another revision (the latest when none is given)."""
    body = parse_body(schemas.update_revision_tag, default={"revision": None})
    with transaction() as conn:
        found = environments.find(conn, org, project, env)
        number = environments.update_revision_tag(conn, found, revision_tag, body["revision"],
                                                  g.user["id"])
        _event(conn, org, project, env, "environment_revision_tag_updated", revision=number,
               tag=revision_tag)
        _audit_tag(conn, org, project, env, f"moved tag '{revision_tag}' to revision {number}")
    return jsonify({})


@bp.delete(ENV + "/versions/tags/<revision_tag>")
@requires_role("member")
@documented(response=schemas.update_result, responses={
    400: "Bad Request: the tag 'latest' cannot be deleted"})
def delete_revision_tag(org, project, env, revision_tag):
    """Delete a revision tag (the revision stays)."""
    with transaction() as conn:
        found = environments.find(conn, org, project, env)
        number = environments.delete_revision_tag(conn, found, revision_tag)
        _event(conn, org, project, env, "environment_revision_tag_deleted", revision=number,
               tag=revision_tag)
        _audit_tag(conn, org, project, env, f"deleted tag '{revision_tag}'")
    return jsonify({})


def _audit_tag(conn, org, project, env, what):
    ref = environments.env_ref(org, project, env)
    audit.record(conn, actor(), org, "environment.revision_tag_changed", ref,
                 f"{what} of environment {ref}")


# --- environment tags ---------------------------------------------------------------------------

def _env_tag_body(row):
    return schemas.environment_tag.dump({
        **row, "created": environments.utc(row["created_at"]),
        "modified": environments.utc(row["modified_at"])})


@bp.get(ENV + "/tags")
@requires_role("viewer")
@documented(query=schemas.environment_tags_query, response=schemas.environment_tag_list)
def list_environment_tags(org, project, env):
    """The environment's tags by name (`count` of them after the token `after`; nextToken "0"
    on the last page, as the ESC CLI expects)."""
    query = parse_query(schemas.environment_tags_query)
    with reading() as conn:
        found = environments.find(conn, org, project, env)
        rows, next_token = environments.list_tags(conn, found, query["after"], query["count"])
    return jsonify({"tags": {r["name"]: _env_tag_body(r) for r in rows}, "nextToken": next_token})


@bp.get(ENV + "/tags/<env_tag>")
@requires_role("viewer")
@documented(response=schemas.environment_tag)
def get_environment_tag(org, project, env, env_tag):
    """One tag of the environment."""
    with reading() as conn:
        found = environments.find(conn, org, project, env)
        row = environments.get_tag(conn, found, env_tag)
    return jsonify(_env_tag_body(row))


@bp.post(ENV + "/tags")
@requires_role("member")
@documented(body=schemas.create_environment_tag, response=schemas.environment_tag,
            responses={409: "Conflict: the tag exists"})
def create_environment_tag(org, project, env):
    """Tag the environment with a name and a value."""
    body = parse_body(schemas.create_environment_tag)
    with transaction() as conn:
        found = environments.find(conn, org, project, env)
        row = environments.create_tag(conn, found, body["name"], body["value"], g.user["id"])
        _event(conn, org, project, env, "environment_tag_created", tag=row["name"])
        _audit_env_tag(conn, org, project, env, f"set tag '{body['name']}'")
    return jsonify(_env_tag_body(row))


@bp.patch(ENV + "/tags/<env_tag>")
@requires_role("member")
@documented(body=schemas.update_environment_tag, response=schemas.environment_tag, responses={
    409: "Conflict: the tag changed since read (currentTag.value), or the new name exists"})
def update_environment_tag(org, project, env, env_tag):
    """Rename a tag and/or change its value (empty newTag fields keep them)."""
    body = parse_body(schemas.update_environment_tag)
    new = body["new_tag"]
    with transaction() as conn:
        found = environments.find(conn, org, project, env)
        row = environments.update_tag(conn, found, env_tag, body["current_tag"].get("value"),
                                      new.get("name"), new.get("value"), g.user["id"])
        _event(conn, org, project, env, "environment_tag_updated", tag=row["name"])
        _audit_env_tag(conn, org, project, env, f"changed tag '{env_tag}'")
    return jsonify(_env_tag_body(row))


@bp.delete(ENV + "/tags/<env_tag>")
@requires_role("member")
@documented(response=schemas.update_result)
def delete_environment_tag(org, project, env, env_tag):
    """Remove a tag from the environment."""
    with transaction() as conn:
        found = environments.find(conn, org, project, env)
        environments.delete_tag(conn, found, env_tag)
        _event(conn, org, project, env, "environment_tag_deleted", tag=env_tag)
        _audit_env_tag(conn, org, project, env, f"deleted tag '{env_tag}'")
    return jsonify({})


def _audit_env_tag(conn, org, project, env, what):
    ref = environments.env_ref(org, project, env)
    audit.record(conn, actor(), org, "environment.tag_changed", ref, f"{what} of environment {ref}")
