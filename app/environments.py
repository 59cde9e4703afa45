"""ESC environments: create, read at a revision, edit (a new immutable revision, optimistic
concurrency on the ETag), delete, list, revisions; and evaluation: check, open sessions and
reading them. The language is app/esc/; this module gives it imports from the database and the
environment's secrets key. Functions take the request's connection and never commit."""
import base64
import binascii
import datetime
import hashlib
import json
import re
import secrets as token_secrets

from . import history, secrets
from .auth import ENV_LEVELS, ENV_OPEN, ENV_READ
from .errors import ApiError
from .esc import evaluate, syntax
from .queries import queries

DEFAULT_PROJECT = "default"
PAGE_SIZE = 500
# Go duration strings as the CLI sends them (`2h0m0s`, `15m`, `1.5h`).
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_DURATION_UNITS = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
DEFAULT_SESSION_SECONDS = 2 * 3600
MAX_SESSION_SECONDS = 24 * 3600
TAG_SEP = "@"


def env_ref(org, project, name):
    return f"{org}/{project}/{name}"


def not_found(org, project, name):
    return ApiError(404, f"Not Found: environment '{env_ref(org, project, name)}' not found")


def etag_of(env_id, number, text):
    return hashlib.sha256(f"{env_id}:{number}:".encode() + text.encode("utf-8")).hexdigest()[:32]


def diagnostics_error(diags, what="the environment definition has errors"):
    return ApiError(400, f"Bad Request: {what}", extra={"diagnostics": diags})


# --- environments and revisions ---------------------------------------------------------------

def _insert(conn, keyring, org, project, name):
    """A new environment without revisions: (id, its key)."""
    key = secrets.new_environment_key(conn, keyring)
    env_id = queries.insert_environment(conn, org_name=org, project=project, name=name, **key)
    if env_id is None:
        raise ApiError(409, f"Conflict: environment '{env_ref(org, project, name)}' already exists")
    return env_id["id"], key


def create(conn, keyring, org, project, name, creator_id):
    """A new environment with revision 1, an empty definition."""
    env_id, _ = _insert(conn, keyring, org, project, name)
    queries.insert_environment_revision(conn, environment_id=env_id, yaml="",
                                        etag=etag_of(env_id, 1, ""), creator_id=creator_id)
    return env_id


def clone(conn, keyring, org, source, project, name, version=None, history=False,
          revision_tags=False, environment_tags=False):
    """A copy of environment `source` named `project/name`: its revision `version` (the
    latest when None) as revision 1, or with `history` every revision under its own number
    (and with `revision_tags` their tags); `environment_tags` copies the tags. Secrets are
    re-sealed with the copy's own key, so the copy outlives the source."""
    if version is not None:
        version = str(version)
    picked = None if history else [revision(conn, source, version)["number"]]
    rows = list(queries.environment_revision_texts(conn, environment_id=source["id"],
                                                   numbers=picked))
    env_id, key = _insert(conn, keyring, org, project, name)
    decrypt = DatabaseLoader(conn, keyring, org, source["project"], cipher(keyring, source)).decrypt
    encrypt = _encrypt_with(cipher(keyring, key))
    numbers = [row["number"] for row in rows] if history else [1]
    try:
        yamls = [syntax.seal(syntax.unseal(row["yaml"], decrypt), encrypt) for row in rows]
    except (syntax.SyntaxProblem, secrets.SecretError):
        raise ApiError(503, "Service Unavailable: a secret of the environment cannot be "
                            "decrypted with its key") from None
    queries.clone_environment_revisions(
        conn, source_id=source["id"], target_id=env_id,
        sources=[row["number"] for row in rows], numbers=numbers, yamls=yamls,
        etags=[etag_of(env_id, n, text) for n, text in zip(numbers, yamls)])
    if history and revision_tags:
        queries.clone_environment_revision_tags(conn, source_id=source["id"], target_id=env_id)
    if environment_tags:
        queries.clone_environment_tags(conn, source_id=source["id"], target_id=env_id)
    return env_id


def find(conn, org, project, name):
    row = queries.environment(conn, org_name=org, project=project, name=name)
    if row is None:
        raise not_found(org, project, name)
    return row


def revision(conn, env, version=None):
    """The revision `version` names: None or "latest" the newest, digits a number, else a tag."""
    if version in (None, "", "latest"):
        number = env["latest"]
    elif version.isdigit():
        number = int(version)
    else:
        number = queries.environment_revision_tag_number(conn, environment_id=env["id"],
                                                         name=version)
    row = None
    if number is not None and 0 < number < 2**31:
        row = queries.environment_revision(conn, environment_id=env["id"], number=number)
    if row is None:
        raise ApiError(404, f"Not Found: revision '{version}' of environment "
                            f"'{env['project']}/{env['name']}' not found")
    if row["retracted_at"] is not None:
        raise _retracted(env, row)
    return row


def _retracted(env, row):
    return ApiError(410, f"Gone: revision {row['number']} of environment "
                         f"'{env['project']}/{env['name']}' was retracted (replaced by "
                         f"revision {row['replacement']})")


def retract(conn, org, project, name, version, replacement, reason, user_id):
    """Retract revision `version` (a number or a tag) of the environment: it can no longer be
    read or opened, and the tags naming it name `replacement` instead (None: the latest
    earlier revision not retracted). The latest revision cannot be retracted (save a new one
    first); the replacement must be another revision, not retracted. The environment is locked,
    so an edit cannot make the revision the latest meanwhile. Returns (number, replacement)."""
    env = queries.lock_environment(conn, org_name=org, project=project, name=name)
    if env is None:
        raise not_found(org, project, name)
    if version in ("", "latest"):
        raise ApiError(400, "Bad Request: the latest revision cannot be retracted; save a new "
                            "definition first")
    row = revision(conn, env, version)
    number = row["number"]
    if number == env["latest"]:
        raise ApiError(400, f"Bad Request: revision {number} is the latest and cannot be "
                            "retracted; save a new definition first")
    if replacement is None:
        replacement = queries.unretracted_revision_before(conn, environment_id=env["id"],
                                                          number=number)
        if replacement is None:
            raise ApiError(400, f"Bad Request: no earlier revision can replace revision "
                                f"{number}: name a replacement")
    elif replacement == number:
        raise ApiError(400, "Bad Request: a revision cannot replace itself")
    else:
        found = queries.environment_revision(conn, environment_id=env["id"], number=replacement)
        if found is None or found["retracted_at"] is not None:
            raise ApiError(400, f"Bad Request: the replacement revision {replacement} "
                                + ("does not exist" if found is None else "was retracted"))
    queries.retract_environment_revision(conn, environment_id=env["id"], number=number,
                                         replacement=replacement, reason=reason or "",
                                         user_id=user_id)
    return number, replacement


def cipher(keyring, env):
    try:
        return secrets.EnvironmentCipher(keyring, env["key_id"], env["master_key_id"],
                                         env["wrapped_key"])
    except secrets.MasterKeyError as err:
        raise ApiError(503, "Service Unavailable: this server cannot open the environment's "
                            "secrets key (its master key configuration does not match the "
                            "database)") from err


def _encrypt_with(env_cipher):
    return lambda plaintext: base64.b64encode(
        env_cipher.encrypt(plaintext.encode("utf-8"))).decode("ascii")


def _decrypt_with(env_cipher):
    def decrypt(ciphertext):
        try:
            raw = base64.b64decode(ciphertext, validate=True)
        except (binascii.Error, ValueError):
            raise secrets.SecretError("not base64") from None
        return env_cipher.decrypt(raw).decode("utf-8")
    return decrypt


def update(conn, keyring, org, project, name, text, expected_etag, creator_id, rights=None):
    """Save `text` as the environment's next revision: (number, etag). A stale `expected_etag`
    (another edit landed since the caller read) is 409; a definition with errors is 400 with
    its diagnostics, and nothing is saved."""
    env = queries.lock_environment(conn, org_name=org, project=project, name=name)
    if env is None:
        raise not_found(org, project, name)
    latest = revision(conn, env)
    if expected_etag and expected_etag.strip('"') != latest["etag"]:
        raise ApiError(409, f"Conflict: environment '{env_ref(org, project, name)}' was changed "
                            f"since revision you edited (now at revision {latest['number']}); "
                            "read it again and redo the edit")
    env_cipher = cipher(keyring, env)
    try:
        sealed = syntax.seal(text, _encrypt_with(env_cipher))
    except syntax.SyntaxProblem as problem:
        raise diagnostics_error([_diag(problem, f"{project}/{name}")]) from None
    loader = DatabaseLoader(conn, keyring, org, project, env_cipher, rights)
    try:
        evaluate.evaluate(f"{project}/{name}", sealed, loader)
    except evaluate.Diagnostics as err:
        raise diagnostics_error(err.diagnostics) from None
    number = queries.insert_environment_revision(
        conn, environment_id=env["id"], yaml=sealed, etag="", creator_id=creator_id)["number"]
    etag = etag_of(env["id"], number, sealed)
    queries.set_environment_revision_etag(conn, environment_id=env["id"], number=number,
                                          etag=etag)
    queries.touch_environment(conn, environment_id=env["id"])
    return number, etag


def _diag(problem, environment):
    diag = {"summary": problem.summary}
    if problem.rng:
        diag["range"] = {"environment": environment, **problem.rng}
    return diag


def definition(keyring, env, row, decrypt):
    """A revision's YAML: as stored (secrets as ciphertext), or with plaintext secrets."""
    if not decrypt:
        return row["yaml"]
    try:
        return syntax.unseal(row["yaml"], _decrypt_with(cipher(keyring, env)))
    except (syntax.SyntaxProblem, secrets.SecretError):
        # Stored by this service, so the service's fault (a restore under other keys).
        raise ApiError(503, "Service Unavailable: a secret of this revision cannot be "
                            "decrypted with the environment's key") from None


def delete(conn, org, project, name):
    """Delete an environment with its revisions; 409 while its deletion protection is on."""
    env = queries.lock_environment(conn, org_name=org, project=project, name=name)
    if env is None:
        raise not_found(org, project, name)
    if env["deletion_protected"]:
        raise ApiError(409, f"Conflict: environment '{env_ref(org, project, name)}' is "
                            "protected from deletion (deletionProtected); turn the setting off "
                            "first")
    queries.delete_environment(conn, environment_id=env["id"])


def change_settings(conn, org, project, name, deletion_protected=None):
    """Change the settings given (None: unchanged)."""
    env = queries.lock_environment(conn, org_name=org, project=project, name=name)
    if env is None:
        raise not_found(org, project, name)
    queries.set_environment_settings(conn, environment_id=env["id"],
                                     deletion_protected=deletion_protected)


def list_environments(conn, caller, org, continuation):
    """One page of the environments the caller (CallerRights.caller()) may read in `org` (None:
    every organization of theirs) and the next page's token (None on the last)."""
    after = ["", "", ""]
    if continuation:
        try:
            after = json.loads(base64.urlsafe_b64decode(continuation.encode("ascii")))
            assert isinstance(after, list) and len(after) == 3 and all(isinstance(a, str) for a in after)
        except Exception:  # noqa: BLE001 -- any malformed token is the caller's
            raise ApiError(400, "Bad Request: invalid continuationToken") from None
    rows = queries.list_environments(conn, **caller, org_name=org, after_org=after[0],
                                     after_project=after[1], after_name=after[2],
                                     page_size=PAGE_SIZE + 1)
    rows = list(rows)
    token = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        last = rows[-1]
        token = base64.urlsafe_b64encode(json.dumps(
            [last["organization"], last["project"], last["name"]]).encode()).decode("ascii")
    return rows, token


def list_revisions(conn, env, before=None, count=None):
    """Revisions newest first: below `before` (None or 0: from the latest), `count` at most."""
    rows = list(queries.list_environment_revisions(conn, environment_id=env["id"],
                                                   before=before or None,
                                                   page_size=min(count or PAGE_SIZE, PAGE_SIZE)))
    for row in rows:
        if row["number"] == env["latest"]:
            row["tags"] = ["latest", *row["tags"]]
    return rows


def _imported(text):
    """The environments a definition imports at their latest revision, as (project, name)."""
    try:
        root = syntax.parse("", text)
    except syntax.SyntaxProblem:
        return set()
    node = root.value.get("imports") if root is not None and root.kind == "map" else None
    found = set()
    for item in node.value if node is not None and node.kind == "list" else ():
        ref = item.value if item.kind == "scalar" else next(iter(item.value), None) \
            if item.kind == "map" else None
        if not isinstance(ref, str):
            continue
        name, _, version = ref.partition(TAG_SEP)
        project, _, env_name = name.rpartition("/")
        if version in ("", "latest"):
            found.add((project or DEFAULT_PROJECT, env_name))
    return found


def importers(conn, org, project, name):
    """The environments whose latest revision imports `project/name` at its latest revision,
    directly or through others (up to the import depth limit), as rows {project, name,
    number}: those a new revision of it changes."""
    changed, seen, found = {(project, name)}, {(project, name)}, []
    for _ in range(evaluate.MAX_IMPORT_DEPTH):
        names = sorted({env_name for _, env_name in changed})
        rows = queries.environments_mentioning(conn, org_name=org, names=names)
        changed = set()
        for row in rows:
            key = (row["project"], row["name"])
            if key not in seen and _imported(row["yaml"]) & seen:
                seen.add(key)
                changed.add(key)
                found.append({"project": row["project"], "name": row["name"],
                              "number": row["number"]})
        if not changed:
            break
    return found


# --- evaluation -------------------------------------------------------------------------------

class DatabaseLoader(evaluate.Loader):
    """Imports from the organization's environments: `name` (in the default project),
    `project/name`, either with `@version` (a revision number or tag); and the provider
    `pulumi-stacks`. With `rights` (app/auth.py's CallerRights), everything is read with the
    caller's: an environment they may not read is not found, and the references whose secrets
    they may not see in plain text (an environment they may read but not open, a stack whose
    secrets they may not decrypt) are noted in `hidden`, shared with the inner loaders: the
    result's secrets are then shown to them as "[secret]" (see `evaluate_definition`)."""

    def __init__(self, conn, keyring, org, project, env_cipher=None, rights=None, hidden=None):
        self.conn, self.keyring, self.org, self.project = conn, keyring, org, project
        self.env_cipher = env_cipher
        self.rights = rights
        self.hidden = [] if hidden is None else hidden

    def context(self):
        """`${context.pulumi.user.login}` and `${context.pulumi.organization.login}`: the
        caller's login (an organization or team token's organization) and the organization."""
        if self.rights is None:
            return None
        return {"pulumi": {"user": {"login": self.rights.login},
                           "organization": {"login": self.org}}}

    def open(self, provider, inputs):
        if provider != "pulumi-stacks" or self.rights is None:
            return None
        return pulumi_stacks(self.conn, self.keyring, self.org, inputs, self.rights,
                             self.hidden)

    def _permission(self, project, name):
        """The caller's permission on an environment of the organization (admin without
        `rights`: the service's own evaluations, such as a clone's)."""
        if self.rights is None:
            return len(ENV_LEVELS) - 1
        return self.rights.environment_permission(self.conn, self.org, project, name)

    def load(self, ref):
        name, _, version = ref.partition(TAG_SEP)
        project, _, env_name = name.rpartition("/")
        project = project or DEFAULT_PROJECT
        if "/" in project or not env_name:
            return None
        permission = self._permission(project, env_name)
        if permission < ENV_READ:
            return None
        env = queries.environment(self.conn, org_name=self.org, project=project, name=env_name)
        if env is None:
            return None
        try:
            row = revision(self.conn, env, version or None)
        except ApiError:
            return None
        if permission < ENV_OPEN:
            self.hidden.append(f"{project}/{env_name}")
        inner = DatabaseLoader(self.conn, self.keyring, self.org, project,
                               cipher(self.keyring, env), self.rights, self.hidden)
        return f"{project}/{env_name}", row["yaml"], inner

    def decrypt(self, ciphertext):
        """With the key the ciphertext names: this environment's, or another environment's of
        the same organization (definitions are copied between environments, and `env get`
        checks a stored definition as an anonymous document) that the caller may read (and
        open, or its secrets are hidden)."""
        try:
            raw = base64.b64decode(ciphertext, validate=True)
        except (binascii.Error, ValueError):
            raise secrets.SecretError("not base64") from None
        key_id = raw[len(secrets.VERSION):secrets.HEADER_BYTES]
        env_cipher = self.env_cipher
        if env_cipher is None or env_cipher.key_id != key_id:
            row = queries.environment_key_by_key_id(self.conn, org_name=self.org, key_id=key_id)
            permission = row and self._permission(row["project"], row["name"])
            if not permission:
                raise secrets.SecretError("no environment of this organization made it")
            if permission < ENV_OPEN:
                self.hidden.append(f"{row['project']}/{row['name']}")
                return evaluate.SECRET_SHOWN
            env_cipher = cipher(self.keyring, row)
        return env_cipher.decrypt(raw).decode("utf-8")


# How the engine marks a secret in a state (its signature key and value).
SECRET_SIG, SECRET_KIND = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
READ = 101  # Pulumi's stack permission to read a stack


def pulumi_stacks(conn, keyring, org, inputs, rights, hidden):
    """`fn::open::pulumi-stacks: {stacks: {key: {stack: project/stack}}}`: each stack's outputs
    under its key, read with the caller's `rights` (a stack they may not read is not found, as
    on the stack routes); secret outputs stay secret (decrypted when the stack uses this
    service's secrets, else secret and unknown), and a stack whose secrets the caller may not
    decrypt is noted in `hidden`."""
    stacks = inputs.get("stacks") if isinstance(inputs, dict) else None
    if not isinstance(stacks, dict):
        raise evaluate.ProviderError("the inputs must be {stacks: {name: {stack: project/stack}}}")
    result = {}
    for key, ref in stacks.items():
        name = ref.get("stack") if isinstance(ref, dict) else None
        parts = name.split("/") if isinstance(name, str) else []
        if len(parts) == 2:
            parts = [org, *parts]
        if len(parts) != 3 or not all(parts):
            raise evaluate.ProviderError(f"stacks.{key}.stack must name a stack as project/stack")
        row = None
        permission = rights.stack_permission(conn, *parts)
        if permission >= READ:
            row = queries.get_stack(conn, org_name=parts[0], project_name=parts[1],
                                    stack_name=parts[2])
        if row is None:
            raise evaluate.ProviderError(f'stack "{name}" not found')
        if not rights.may_decrypt_stack(permission):
            hidden.append("/".join(parts))
        outputs, _ = history.stack_outputs(conn, row["id"])
        stack_cipher = secrets.stack_cipher(conn, keyring, *parts, create=False)
        result[key] = _stack_output(outputs or {}, stack_cipher)
    return result


def _stack_output(value, stack_cipher):
    if isinstance(value, list):
        return [_stack_output(v, stack_cipher) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get(SECRET_SIG) != SECRET_KIND:
        return {k: _stack_output(v, stack_cipher) for k, v in value.items()}
    try:
        if "plaintext" in value:
            inner = json.loads(value["plaintext"])
        else:
            raw = base64.b64decode(value.get("ciphertext") or "", validate=True)
            inner = json.loads(stack_cipher.decrypt(raw))
    except (ValueError, TypeError, binascii.Error, secrets.SecretError):
        return evaluate.Secret(None)  # another secrets provider's ciphertext
    return evaluate.Secret(_stack_output(inner, stack_cipher))


def evaluate_definition(conn, keyring, org, name, text, env=None, rights=None):
    """(the opened properties of a definition: `env`'s, or an anonymous one when None; the
    references whose secrets the caller may not see in plain text, empty when they may see
    all); raises ApiError 400 with the diagnostics. Imports, ciphertexts of other environments
    and `fn::open::pulumi-stacks` are read with the caller's `rights` (see DatabaseLoader)."""
    project = env["project"] if env is not None else DEFAULT_PROJECT
    loader = DatabaseLoader(conn, keyring, org, project,
                            cipher(keyring, env) if env is not None else None, rights)
    try:
        return evaluate.evaluate(name, text, loader), loader.hidden
    except evaluate.Diagnostics as err:
        raise diagnostics_error(err.diagnostics) from None


def parse_duration(text):
    """Seconds of a Go duration string (default 2h, at most 24h); 400 when malformed."""
    if not text:
        return DEFAULT_SESSION_SECONDS
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ApiError(400, f"Bad Request: invalid duration {text!r} (a Go duration such as 2h0m0s)")
    return min(total, MAX_SESSION_SECONDS) if total > 0 else DEFAULT_SESSION_SECONDS


def open_session(conn, keyring, org, env_id, properties, seconds, hide_secrets=False):
    """Store an opened environment for `seconds` (with `hide_secrets`, its secrets as
    "[secret]": what its opener may see); its session id."""
    queries.delete_expired_environment_sessions(conn)
    session_id = token_secrets.token_hex(16)
    opened = evaluate.environment_to_wire(properties)
    if hide_secrets:
        opened = redact(opened)
    wire = json.dumps(opened).encode("utf-8")
    master_key_id, sealed = secrets.seal_session(keyring, session_id, wire)
    queries.insert_environment_session(conn, id=session_id, org_name=org, environment_id=env_id,
                                       master_key_id=master_key_id, sealed=sealed,
                                       seconds=seconds)
    return session_id


def read_session(conn, keyring, org, env_id, session_id, prop=None):
    """The opened environment of a live session, or the Value at property path `prop`."""
    row = queries.environment_session(conn, id=session_id, org_name=org, environment_id=env_id)
    plain = row and secrets.open_session(keyring, session_id, row["master_key_id"], row["sealed"])
    if not plain:
        raise ApiError(404, f"Not Found: open session '{session_id}' not found or expired")
    opened = json.loads(plain)
    if not prop:
        return opened
    try:
        path = evaluate.parse_path(prop)
    except ValueError as err:
        raise ApiError(400, f"Bad Request: {err}") from None
    value = {"value": opened["properties"]}
    for step in path:
        inner = value.get("value")
        if isinstance(step, str) and isinstance(inner, dict) and step in inner:
            value = inner[step]
        elif isinstance(step, int) and isinstance(inner, list) and step < len(inner):
            value = inner[step]
        else:
            raise ApiError(404, f"Not Found: property '{prop}' not found")
    return value


def redact(opened):
    """An opened environment (wire JSON) with secret values shown as "[secret]"."""
    def walk(value):
        inner = value.get("value")
        if isinstance(inner, dict):
            return {**value, "value": {k: walk(v) for k, v in inner.items()}}
        if isinstance(inner, list):
            return {**value, "value": [walk(v) for v in inner]}
        if value.get("secret"):
            return {**value, "value": evaluate.SECRET_SHOWN}
        return value
    if "properties" in opened:
        return {**opened, "properties": {k: walk(v) for k, v in opened["properties"].items()}}
    return walk(opened)


def utc(ts):
    return ts.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


# --- revision tags ------------------------------------------------------------------------------
# `latest` is not stored: it is always the newest revision, and cannot be set or deleted.

def _latest_tag(env):
    return {"name": "latest", "revision": env["latest"], "created_at": env["created_at"],
            "modified_at": env["modified_at"], "editor_login": "", "editor_name": ""}


def _tag_revision(conn, env, number):
    """The revision a tag is to name: `number`, or the latest; 400 for one that does not exist
    or was retracted."""
    number = env["latest"] if number is None else number
    row = queries.environment_revision(conn, environment_id=env["id"], number=number)
    if row is None:
        raise ApiError(400, f"Bad Request: revision {number} does not exist")
    if row["retracted_at"] is not None:
        raise ApiError(400, f"Bad Request: revision {number} was retracted")
    return number


def _not_latest(name):
    if name == "latest":
        raise ApiError(400, "Bad Request: the 'latest' tag always names the newest revision "
                            "and cannot be changed")


def list_revision_tags(conn, env, after=""):
    rows = list(queries.list_environment_revision_tags(conn, environment_id=env["id"],
                                                       after=after or "", page_size=PAGE_SIZE))
    return ([_latest_tag(env)] if not after else []) + rows


def get_revision_tag(conn, env, name):
    if name == "latest":
        return _latest_tag(env)
    row = queries.environment_revision_tag(conn, environment_id=env["id"], name=name)
    if row is None:
        raise ApiError(404, f"Not Found: revision tag '{name}' not found")
    return row


def create_revision_tag(conn, env, name, number, editor_id):
    _not_latest(name)
    number = _tag_revision(conn, env, number)
    if queries.insert_environment_revision_tag(conn, environment_id=env["id"], name=name,
                                               revision=number, editor_id=editor_id) is None:
        raise ApiError(409, f"Conflict: revision tag '{name}' already exists")
    return number


def update_revision_tag(conn, env, name, number, editor_id):
    _not_latest(name)
    number = _tag_revision(conn, env, number)
    if queries.update_environment_revision_tag(conn, environment_id=env["id"], name=name,
                                               revision=number, editor_id=editor_id) is None:
        raise ApiError(404, f"Not Found: revision tag '{name}' not found")
    return number


def delete_revision_tag(conn, env, name):
    """Delete the tag; returns the revision it named."""
    _not_latest(name)
    deleted = queries.delete_environment_revision_tag(conn, environment_id=env["id"], name=name)
    if deleted is None:
        raise ApiError(404, f"Not Found: revision tag '{name}' not found")
    return deleted["revision"]


# --- environment tags -------------------------------------------------------------------------

# The ESC CLI stops listing tags at the token "0"; other tokens are the last name sent, encoded
# (so that no tag name can read as the end).
LAST_PAGE = "0"


def list_tags(conn, env, after="", count=None):
    """One page of the environment's tags by name after the token `after`, and the next page's
    token (LAST_PAGE on the last)."""
    size = min(count or PAGE_SIZE, PAGE_SIZE)
    try:
        name = base64.b64decode(after, altchars=b"-_", validate=True).decode() if after else ""
    except (ValueError, UnicodeError, binascii.Error):
        raise ApiError(400, "Bad Request: invalid 'after' token") from None
    rows = list(queries.list_environment_tags(conn, environment_id=env["id"], after=name,
                                              page_size=size + 1))
    if len(rows) > size:
        last = rows[size - 1]["name"]
        return rows[:size], base64.urlsafe_b64encode(last.encode("utf-8")).decode("ascii")
    return rows, LAST_PAGE


def get_tag(conn, env, name):
    row = queries.environment_tag(conn, environment_id=env["id"], name=name)
    if row is None:
        raise ApiError(404, f"Not Found: tag '{name}' not found")
    return row


def create_tag(conn, env, name, value, editor_id):
    if queries.insert_environment_tag(conn, environment_id=env["id"], name=name, value=value,
                                      editor_id=editor_id) is None:
        raise ApiError(409, f"Conflict: tag '{name}' already exists")
    return get_tag(conn, env, name)


def update_tag(conn, env, name, current_value, new_name, new_value, editor_id):
    """Rename and/or revalue tag `name` (an empty new name or value keeps it, as the CLI sends);
    with `current_value`, only if it still has that value (409 otherwise: someone changed it
    since the caller read it)."""
    row = get_tag(conn, env, name)
    if current_value and current_value != row["value"]:
        raise ApiError(409, f"Conflict: tag '{name}' has changed since it was read")
    new_name = new_name or name
    if new_name != name and queries.environment_tag(conn, environment_id=env["id"],
                                                    name=new_name) is not None:
        raise ApiError(409, f"Conflict: tag '{new_name}' already exists")
    queries.update_environment_tag(conn, environment_id=env["id"], name=name, new_name=new_name,
                                   value=new_value or row["value"],
                                   editor_id=editor_id)
    return get_tag(conn, env, new_name)


def delete_tag(conn, env, name):
    if queries.delete_environment_tag(conn, environment_id=env["id"], name=name) is None:
        raise ApiError(404, f"Not Found: tag '{name}' not found")
