"""Moving a DIY backend (what `pulumi login file://...` or `s3://...` writes) into the service: reading its
layout, planning which stack goes where, and importing each stack with its whole history (every
DIY history entry becomes a version whose state is the entry's checkpoint). Functions take the
connection and never commit: the `import-diy` command commits once per stack.

The layout, as the CLI's diy backend writes it (pkg/backend/diy):
  .pulumi/meta.yaml                          "version: 1" for the project-scoped layout; absent
                                             (or 0) for the legacy one
  .pulumi/stacks/<project>/<stack>.json[.gz|.zst]        current state (legacy: stacks/<stack>...)
  .pulumi/stacks/<project>/<stack>.pulumi-tags           {"version": 1, "tags": {...}}
  .pulumi/history/<project>/<stack>/<stack>-<unix nanos>.history.json[.gz]     one UpdateInfo
  .pulumi/history/<project>/<stack>/<stack>-<unix nanos>.checkpoint.json[.gz]  its state
  .pulumi/locks/organization/<project>/<stack>/<id>.json  a running update's lock (legacy:
                                             locks/<stack>/...), {pid, username, hostname, ...}
Compression is told by the bytes (gzip or zstd magic), as the CLI does, whatever the name says.
"""
import base64
import binascii
import gzip
import hashlib
import json
import os
import re
import socket
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import blobs
from . import secrets as service_secrets
from . import stacks as stack_ops
from .queries import queries
from .schemas.common import PROJECT_NAME, STACK_NAME, TAG_NAME, MAX_TAG_VALUE
from .state import rename
from .state.stored import EMPTY_DEPLOYMENT, StoredDeployment, decompress

BOOKKEEPING = ".pulumi"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_COMPRESSED = (".gz", ".zst")
_HISTORY_FILE = re.compile(r"^(?P<stack>.+)-(?P<nanos>\d+)\.(?P<what>history|checkpoint)\.json"
                           r"(?:\.gz|\.zst)?$")
# The DIY organization is always "organization" (projectReferenceStore.ParseReference).
DIY_ORG = "organization"


class SourceError(Exception):
    """The source as a whole cannot be read (missing, not a DIY backend, unsupported)."""


class FileProblem(Exception):
    """One file of a stack cannot be used: the stack is not imported."""

    def __init__(self, key, reason):
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


# --- the source -------------------------------------------------------------------------------------

class FileSource:
    """A DIY backend in a folder (`file://PATH`): keys are '/'-separated paths under it."""

    def __init__(self, root):
        self.root = Path(root).expanduser().resolve()
        self.url = f"file://{self.root}"

    def list(self, prefix):
        """{key: (size, mtime)} of every file under the folder `prefix`, recursively."""
        base = self.root / prefix
        found = {}
        if not base.is_dir():
            return found
        for dirpath, _, files in os.walk(base):
            for name in files:
                path = Path(dirpath) / name
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue  # went away while listing (a running CLI)
                found[path.relative_to(self.root).as_posix()] = (st.st_size, st.st_mtime)
        return found

    def read(self, key):
        try:
            return (self.root / key).read_bytes()
        except OSError as err:
            raise FileProblem(key, f"cannot be read ({err.strerror or err})") from None

    def has(self, key):
        return (self.root / key).is_file()


class S3Source:
    """A DIY backend in an S3 bucket (`s3://bucket/prefix`), on AWS or on any S3-compatible
    server: the endpoint comes from the URL's `endpoint` parameter (as the CLI's URL gives it)
    or from AWS_ENDPOINT_URL, credentials and region from the usual AWS environment."""

    def __init__(self, source):
        import boto3
        from botocore.config import Config as BotoConfig

        parsed = urlparse(source)
        params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        if not self.bucket:
            raise SourceError(f"{source}: no bucket in the URL")
        endpoint = (params.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL_S3")
                    or os.environ.get("AWS_ENDPOINT_URL"))
        if endpoint and "://" not in endpoint:
            endpoint = ("http://" if params.get("disableSSL") == "true" else "https://") + endpoint
        path_style = "true" in (params.get("s3ForcePathStyle"), params.get("use_path_style"))
        region = (params.get("region") or os.environ.get("AWS_REGION")
                  or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
        self.client = boto3.client("s3", endpoint_url=endpoint or None, region_name=region,
                                   config=BotoConfig(signature_version="s3v4", s3={
                                       "addressing_style": "path" if path_style else "auto"}))
        # Where the stacks came from, without the URL's parameters (recorded with each stack).
        self.url = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")

    def _key(self, key):
        return f"{self.prefix}/{key}" if self.prefix else key

    def check(self):
        """SourceError unless the bucket answers and holds a DIY backend."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            found = self.client.list_objects_v2(Bucket=self.bucket,
                                                Prefix=self._key(f"{BOOKKEEPING}/"), MaxKeys=1)
        except NoCredentialsError:
            raise SourceError(f"{self.url}: no AWS credentials (set AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)") from None
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            why = {"NoSuchBucket": "no such bucket",
                   "AccessDenied": "access denied (wrong credentials, or no s3:ListBucket)",
                   "InvalidAccessKeyId": "the access key is not known (wrong credentials)",
                   "SignatureDoesNotMatch": "the secret key is wrong (wrong credentials)",
                   }.get(code, f"{code or 'error'}: {err}")
            raise SourceError(f"{self.url}: {why}") from None
        except BotoCoreError as err:
            raise SourceError(f"{self.url}: cannot reach the S3 endpoint ({err})") from None
        if not found.get("KeyCount"):
            raise SourceError(f"{self.url}: not a DIY backend (no {BOOKKEEPING}/ in it)")

    def list(self, prefix):
        base = self._key(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        found = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                           Prefix=base):
            for item in page.get("Contents") or []:
                found[item["Key"][strip:]] = (item["Size"], item["LastModified"].timestamp())
        return found

    def read(self, key):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except (ClientError, BotoCoreError) as err:
            raise FileProblem(key, f"cannot be read ({err})") from None

    def has(self, key):
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise SourceError(f"{self.url}: {key}: {err}") from None
        return True


def open_source(source):
    """The DIY backend at `file://PATH` (or a plain path) or `s3://bucket/prefix`; SourceError
    when it cannot be read or is no DIY backend."""
    if source.startswith("s3://"):
        found = S3Source(source)
        found.check()
        return found
    if re.match(r"^[a-z][a-z0-9+.-]*://", source) and not source.startswith("file://"):
        raise SourceError(f"{source}: only file:// and s3:// sources are supported")
    path = source[len("file://"):] if source.startswith("file://") else source
    found = FileSource(path)
    if not found.root.exists():
        raise SourceError(f"{source}: no such folder")
    if not found.root.is_dir():
        raise SourceError(f"{source}: not a folder")
    if not (found.root / BOOKKEEPING).is_dir():
        raise SourceError(f"{source}: not a DIY backend (no {BOOKKEEPING}/ folder in it; give the "
                          "folder you passed to `pulumi login file://...`)")
    return found


def decode(key, data):
    """The JSON text of a file as stored (plain, gzip or zstd, told by its magic bytes)."""
    if data[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise FileProblem(key, f"corrupt gzip data ({err})") from None
    if data[:4] == ZSTD_MAGIC:
        try:
            import zstandard
        except ImportError:
            raise FileProblem(key, "zstd-compressed (PULUMI_DIY_BACKEND_ZSTD), which this "
                                   "importer cannot read: install the `zstandard` package, or "
                                   "rewrite the backend without zstd") from None
        try:
            return zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 34)
        except zstandard.ZstdError as err:
            raise FileProblem(key, f"corrupt zstd data ({err})") from None
    return data


def read_json(source, key):
    text = decode(key, source.read(key))
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise FileProblem(key, f"not valid JSON ({err})") from None


def _strip(name):
    """A file name without its compression extension."""
    for ext in _COMPRESSED:
        if name.endswith(ext):
            return name[:-len(ext)]
    return name


# --- the layout ---------------------------------------------------------------------------------------

def layout_version(source):
    """0 (legacy) or 1 (project-scoped), from .pulumi/meta.yaml as the CLI reads it."""
    key = f"{BOOKKEEPING}/meta.yaml"
    if not source.has(key):
        return 0
    text = source.read(key).decode("utf-8", "replace")
    match = re.search(r"^version:\s*(\d+)\s*$", text, re.M)
    if match is None:
        raise SourceError(f"{key}: corrupt (no version in it)")
    version = int(match.group(1))
    if version not in (0, 1):
        raise SourceError(f"{key}: layout version {version} is newer than this importer knows")
    return version


@dataclass
class HistoryEntry:
    nanos: int
    history_key: str
    checkpoint_key: str | None
    size: int


@dataclass
class SourceStack:
    """One DIY stack: where its files are, and what the plan says about it."""
    project: str          # "" for a legacy stack whose project its state does not tell
    name: str
    layout: int
    state_key: str
    tags_key: str
    history: list = field(default_factory=list)
    lock_keys: list = field(default_factory=list)
    size: int = 0
    state_mtime: float = 0.0
    # Filled in by the plan.
    target_project: str = ""
    target_stack: str = ""
    problems: list = field(default_factory=list)     # the stack is not imported
    warnings: list = field(default_factory=list)     # imported, but said
    existing_id: int | None = None
    already_imported: bool = False
    versions: int | None = None                      # counted when the history is read
    secrets_kept: str | None = None                  # why --to-service-secrets could not

    @property
    def label(self):
        return f"{self.project}/{self.name}" if self.layout else self.name

    @property
    def target(self):
        return f"{self.target_project or '?'}/{self.target_stack}"

    @property
    def lock_dir(self):
        if self.layout:
            return f"{BOOKKEEPING}/locks/{DIY_ORG}/{self.project}/{self.name}"
        return f"{BOOKKEEPING}/locks/{self.name}"

    @property
    def history_dir(self):
        if self.layout:
            return f"{BOOKKEEPING}/history/{self.project}/{self.name}"
        return f"{BOOKKEEPING}/history/{self.name}"


def discover(source):
    """(layout version, [SourceStack]) of every stack in the source, sorted by name: file
    listings only, nothing parsed."""
    layout = layout_version(source)
    stacks_dir = f"{BOOKKEEPING}/stacks/"
    files = source.list(stacks_dir)
    # Candidate state files per stack, as the CLI's ListReferences and stackPath pick them.
    candidates = {}
    for key, (size, mtime) in files.items():
        parts = key[len(stacks_dir):].split("/")
        if len(parts) != (2 if layout else 1):
            continue
        base = _strip(parts[-1])
        if not base.endswith(".json") or key.endswith(".attrs"):
            continue
        project = parts[0] if layout else ""
        candidates.setdefault((project, base[:-len(".json")]), []).append((mtime, key, size))
    history_files = source.list(f"{BOOKKEEPING}/history/")
    lock_files = source.list(f"{BOOKKEEPING}/locks/")
    found = []
    for (project, name), options in sorted(candidates.items()):
        mtime, state_key, size = max(options)  # the most recently written variant, as the CLI
        stack = SourceStack(project=project, name=name, layout=layout, state_key=state_key,
                            tags_key=state_key.rsplit("/", 1)[0] + f"/{name}.pulumi-tags",
                            size=size, state_mtime=mtime)
        stack.history = _history_of(stack, history_files)
        stack.size += sum(entry.size for entry in stack.history)
        stack.lock_keys = sorted(k for k in lock_files
                                 if k.startswith(stack.lock_dir + "/") and k.endswith(".json")
                                 and "/" not in k[len(stack.lock_dir) + 1:])
        found.append(stack)
    return layout, found


def _history_of(stack, history_files):
    prefix = stack.history_dir + "/"
    entries = {}
    for key, (size, _) in history_files.items():
        rest = key[len(prefix):] if key.startswith(prefix) else None
        if rest is None or "/" in rest:
            continue
        match = _HISTORY_FILE.match(rest)
        if match is None or match.group("stack") != stack.name:
            continue
        nanos = int(match.group("nanos"))
        entry = entries.setdefault(nanos, HistoryEntry(nanos, None, None, 0))
        entry.size += size
        if match.group("what") == "history":
            entry.history_key = key
        else:
            entry.checkpoint_key = key
    # Oldest first: file names carry the time the entry was written.
    return [e for _, e in sorted(entries.items()) if e.history_key is not None]


# --- states and history entries ----------------------------------------------------------------------

def untyped_deployment(key, document):
    """The CLI's UntypedDeployment ({version, features?, deployment}) of a DIY state file (a
    VersionedCheckpoint {version, features?, checkpoint: {stack, config, latest}}), as `pulumi
    stack export` on the DIY backend shows it; a stack never deployed has the empty one."""
    if not isinstance(document, dict) or not isinstance(document.get("checkpoint"), dict):
        raise FileProblem(key, "not a Pulumi checkpoint (no `checkpoint` object)")
    version = document.get("version")
    if version not in (3, 4):
        raise FileProblem(key, f"checkpoint version {version!r} is not supported (3 or 4; run "
                               "any command of a current CLI on the DIY backend to upgrade it)")
    latest = document["checkpoint"].get("latest")
    if latest is None:
        return dict(EMPTY_DEPLOYMENT)
    if not isinstance(latest, dict):
        raise FileProblem(key, "the checkpoint's `latest` is not an object")
    untyped = {"version": version}
    if document.get("features"):
        untyped["features"] = document["features"]
    untyped["deployment"] = latest
    return untyped


def resource_count(untyped):
    return len((untyped.get("deployment") or {}).get("resources") or [])


def project_of_state(untyped):
    """The project a state's URNs name (urn:pulumi:<stack>::<project>::...), if any."""
    for resource in (untyped.get("deployment") or {}).get("resources") or []:
        parts = str(resource.get("urn", "")).split("::")
        if len(parts) >= 4 and parts[1]:
            return parts[1]
    return None


def service_config(diy_config):
    """A DIY history entry's config (config.Map: plain strings, {"secure": ciphertext}, objects)
    as the service's history carries it (apitype.ConfigValue: {string, secret, object})."""
    converted = {}
    for name, value in (diy_config or {}).items():
        if isinstance(value, str):
            converted[name] = {"string": value, "secret": False, "object": False}
        elif isinstance(value, dict) and set(value) == {"secure"}:
            converted[name] = {"string": value["secure"], "secret": True, "object": False}
        elif isinstance(value, (dict, list)):
            text = json.dumps(value, separators=(",", ":"))
            converted[name] = {"string": text, "secret": '"secure"' in text, "object": True}
        else:
            converted[name] = {"string": json.dumps(value), "secret": False, "object": False}
    return converted


def _status(result):
    return "succeeded" if result == "succeeded" else "failed"


@dataclass
class Version:
    """One version the stack will have in the service."""
    number: int
    kind: str
    status: str
    message: str
    environment: dict
    config: dict
    start_time: float
    end_time: float
    resource_changes: dict | None
    untyped: dict
    source_key: str


def versions_of(source, stack, org=None):
    """The stack's versions, oldest first, each with its state (parsed one at a time, so a long
    history of large states is never in memory at once). The states are rewritten for the target
    names when they differ from the source's. Raises FileProblem for a file that cannot be used."""
    previous = None
    number = 0
    for entry in stack.history:
        info = read_json(source, entry.history_key)
        if not isinstance(info, dict) or not isinstance(info.get("kind"), str):
            raise FileProblem(entry.history_key, "not a history entry (no `kind`)")
        if entry.checkpoint_key is not None:
            untyped = _renamed(stack, org, untyped_deployment(
                entry.checkpoint_key, read_json(source, entry.checkpoint_key)))
            key = entry.checkpoint_key
        else:
            # Written between the entry and its checkpoint copy: the state did not change.
            untyped = previous if previous is not None else dict(EMPTY_DEPLOYMENT)
            key = entry.history_key
        number += 1
        yield Version(
            number=number, kind=info["kind"], status=_status(info.get("result")),
            message=str(info.get("message") or ""),
            environment={k: str(v) for k, v in (info.get("environment") or {}).items()},
            config=service_config(info.get("config")),
            start_time=_seconds(info.get("startTime"), entry.nanos),
            end_time=_seconds(info.get("endTime"), entry.nanos),
            resource_changes=info.get("resourceChanges") or None, untyped=untyped, source_key=key,
        )
        previous = untyped
    current = _renamed(stack, org, untyped_deployment(stack.state_key,
                                                      read_json(source, stack.state_key)))
    if current != (previous if previous is not None else EMPTY_DEPLOYMENT):
        # The state changed after the last recorded update (`pulumi stack import`, a `pulumi
        # state` edit, or an update that never finished): one more version with it.
        why = ("left by an update that never finished" if stack.lock_keys
               else "changed after its last recorded update")
        number += 1
        yield Version(
            number=number, kind="import", status="succeeded",
            message=f"Imported from the DIY backend: its current state ({why})",
            environment={}, config={}, start_time=stack.state_mtime, end_time=stack.state_mtime,
            resource_changes=None, untyped=current, source_key=stack.state_key,
        )


def _seconds(value, nanos):
    return float(value) if isinstance(value, (int, float)) and value > 0 else nanos / 1e9


def _renamed(stack, org, untyped):
    if org is None or (stack.target_project, stack.target_stack) == (stack.project, stack.name):
        return untyped
    old_project = stack.project or project_of_state(untyped) or stack.target_project
    return rename.rename_stack_in(untyped, (DIY_ORG, old_project, stack.name),
                                  (org, stack.target_project, stack.target_stack))


def read_tags(source, stack):
    """The stack's tags (invalid ones dropped with a warning on the stack)."""
    if not source.has(stack.tags_key):
        return {}
    document = read_json(source, stack.tags_key)
    if not isinstance(document, dict) or document.get("version") != 1 or \
            not isinstance(document.get("tags") or {}, dict):
        raise FileProblem(stack.tags_key, "not a version-1 stack tags file")
    tags = {}
    for name, value in (document.get("tags") or {}).items():
        if not TAG_NAME.match(name) or not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            stack.warnings.append(f"tag {name!r} is not valid here and is left out")
            continue
        tags[name] = value
    return tags


def read_locks(source, stack):
    """Warnings or problems for the stack's lock files: one held by a CLI still running (or on
    another machine) stops the import; one whose CLI is gone from this machine does not."""
    for key in stack.lock_keys:
        try:
            lock = read_json(source, key)
        except FileProblem as problem:
            stack.problems.append(f"locked ({problem})")
            continue
        who = (f"{lock.get('username', '?')}@{lock.get('hostname', '?')} (pid "
               f"{lock.get('pid', '?')}) at {lock.get('timestamp', '?')}")
        if _lock_is_stale(lock):
            stack.warnings.append(f"left locked by an update that is no longer running: {who}")
        else:
            stack.problems.append(f"locked by a running update: {who}; wait for it, or "
                                  "`pulumi cancel` it on the DIY backend, or pass --ignore-locks")


def _lock_is_stale(lock):
    pid = lock.get("pid")
    if lock.get("hostname") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# --- the plan ------------------------------------------------------------------------------------------

def parse_project_map(pairs):
    """{source: target} from SRC=DEST items; SRC is a project, "project/stack", or "/stack" for a
    legacy stack whose project cannot be read from its state."""
    mapping = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not target:
            raise SourceError(f"--project-map {pair!r}: expected SRC=DEST")
        mapping[source] = target
    return mapping


def plan(conn, source, org, stacks, project_map, *, replace=False, resume=False,
         ignore_locks=False, deep=False):
    """Fill in each stack's target, problems and warnings. `deep` also parses every file (the
    dry run), so that unparseable files show up before anything is imported."""
    existing = {(r["project_name"], r["stack_name"]): r
                for r in queries.diy_target_stacks(conn, org_name=org)}
    targets = {}
    for stack in stacks:
        stack.problems, stack.warnings = [], []
        if not stack.layout:
            # The legacy layout has no project in its paths: the state's URNs tell it.
            try:
                stack.project = project_of_state(untyped_deployment(
                    stack.state_key, read_json(source, stack.state_key))) or ""
            except FileProblem as problem:
                stack.problems.append(str(problem))
        project = stack.project
        stack.target_project = (project_map.get(f"{project}/{stack.name}")
                                or (project_map.get(f"/{stack.name}") if not stack.layout
                                    else None)
                                or (project_map.get(project) if project else None) or project)
        stack.target_stack = stack.name
        if not stack.target_project:
            stack.problems.append("its project is unknown (legacy layout and no resources): "
                                  f"give it with --project-map /{stack.name}=PROJECT")
        elif not PROJECT_NAME.match(stack.target_project):
            stack.problems.append(f"project name {stack.target_project!r} is not valid here "
                                  "(letters, digits, '-', '_', '.'; at most 100): rename it with "
                                  "--project-map")
        if not STACK_NAME.match(stack.target_stack):
            stack.problems.append(f"stack name {stack.target_stack!r} is not valid here")
        key = (stack.target_project, stack.target_stack)
        if key in targets:
            stack.problems.append(f"{org}/{stack.target} is also the target of "
                                  f"{targets[key].label}")
        targets[key] = stack
        found = existing.get(key)
        stack.existing_id = found["id"] if found else None
        stack.already_imported = bool(
            found and found["source"] == source.url and found["source_stack"] == stack.label)
        if found and not replace and not (resume and stack.already_imported):
            how = " (imported by an earlier run: --resume skips it)" if stack.already_imported \
                else ""
            stack.problems.append(f"{org}/{stack.target} already exists in the service{how}; "
                                  "pass --replace to overwrite it")
        if stack.lock_keys:
            before = len(stack.problems)
            read_locks(source, stack)
            if ignore_locks and len(stack.problems) > before:
                stack.warnings += [p + " (ignored)" for p in stack.problems[before:]]
                del stack.problems[before:]
        try:
            read_tags(source, stack)
        except FileProblem as problem:
            stack.problems.append(str(problem))
        if deep and not stack.problems:
            try:
                stack.versions = sum(1 for _ in versions_of(source, stack, org))
            except FileProblem as problem:
                stack.problems.append(str(problem))
    return stacks


def skipped_as_done(stack, resume, replace):
    """A stack an earlier run imported whole, which a resume leaves alone."""
    return resume and stack.already_imported and not replace


# --- secrets: passphrase to the service's keys ------------------------------------------------------

SECRET_SIG, SECRET_KIND = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


class ConversionError(Exception):
    """A stack's secrets cannot move to the service's keys (it is imported as it is)."""


class _Passphrase:
    """The passphrase secrets provider's crypter (sdk resource/config crypt.go): AES-256-GCM with
    a key from PBKDF2-SHA256 (1 000 000 rounds) of the passphrase and the stack's salt; values
    "v1:<nonce>:<ciphertext>" in base64. The salt state "v1:<salt>:<'pulumi' encrypted>" lets a
    wrong passphrase be told at once."""

    def __init__(self, passphrase, salt_state):
        parts = str(salt_state).split(":")
        if len(parts) != 5 or parts[0] != "v1":
            raise ConversionError("its passphrase salt is not one this importer reads")
        try:
            salt = base64.b64decode(parts[1], validate=True)
        except binascii.Error:
            raise ConversionError("its passphrase salt is not base64") from None
        key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, 1_000_000, 32)
        self.aead = AESGCM(key)
        if self.decrypt(":".join(parts[2:])) != "pulumi":
            raise ConversionError("the passphrase given does not open its secrets")

    def decrypt(self, value):
        parts = str(value).split(":")
        if len(parts) != 3 or parts[0] != "v1":
            raise ConversionError("a secret is not a passphrase ciphertext")
        try:
            plain = self.aead.decrypt(base64.b64decode(parts[1]), base64.b64decode(parts[2]), None)
        except InvalidTag:
            raise ConversionError("the passphrase given does not open its secrets") from None
        except (binascii.Error, ValueError):
            raise ConversionError("a secret is not a passphrase ciphertext") from None
        return plain.decode("utf-8")


class SecretsConverter:
    """Re-encrypts one stack's passphrase secrets (every version's state and its history's
    config) with the service's key for the stack, and names the service as the state's secrets
    provider (with the URL the CLI logs in with, which it uses to reach the service)."""

    def __init__(self, passphrase, keyring, service_url):
        self.passphrase = passphrase
        self.keyring = keyring
        self.service_url = service_url.rstrip("/")
        self._crypters = {}
        self.cipher = None
        self.provider = None

    def start(self, conn, org, project, stack):
        self.cipher = service_secrets.stack_cipher(conn, self.keyring, org, project, stack,
                                                   create=True)
        self.provider = {"type": "service", "state": {
            "url": self.service_url, "owner": org, "project": project, "stack": stack}}
        self.crypter = None

    def _crypter(self, provider):
        kind = (provider or {}).get("type")
        if kind != "passphrase":
            raise ConversionError(f"its secrets provider is {kind!r}; only passphrase stacks "
                                  "convert")
        salt = (provider.get("state") or {}).get("salt")
        if salt not in self._crypters:
            self._crypters[salt] = _Passphrase(self.passphrase, salt)
        self.crypter = self._crypters[salt]
        return self.crypter

    def _encrypt(self, plaintext):
        return base64.b64encode(self.cipher.encrypt(plaintext.encode("utf-8"))).decode("ascii")

    def state(self, untyped):
        deployment = untyped.get("deployment") or {}
        provider = deployment.get("secrets_providers")
        if provider is None and not _has_secrets(deployment):
            return untyped  # nothing secret and no provider: nothing to convert
        crypter = self._crypter(provider)

        def convert(value):
            if isinstance(value, dict):
                if value.get(SECRET_SIG) == SECRET_KIND and "ciphertext" in value:
                    return {**value, "ciphertext": self._encrypt(
                        crypter.decrypt(value["ciphertext"]))}
                return {k: convert(v) for k, v in value.items()}
            if isinstance(value, list):
                return [convert(v) for v in value]
            return value

        converted = {k: convert(v) for k, v in deployment.items() if k != "secrets_providers"}
        converted["secrets_providers"] = self.provider
        return {**untyped, "deployment": converted}

    def config(self, config):
        converted = {}
        for name, value in config.items():
            if value.get("secret") and not value.get("object"):
                crypter = self.crypter or self._crypter(None)
                value = {**value, "string": self._encrypt(crypter.decrypt(value["string"]))}
            elif value.get("secret"):
                crypter = self.crypter or self._crypter(None)

                def convert(item):
                    if isinstance(item, dict):
                        if set(item) == {"secure"}:
                            return {"secure": self._encrypt(crypter.decrypt(item["secure"]))}
                        return {k: convert(v) for k, v in item.items()}
                    if isinstance(item, list):
                        return [convert(v) for v in item]
                    return item

                value = {**value, "string": json.dumps(convert(json.loads(value["string"])),
                                                       separators=(",", ":"))}
            converted[name] = value
        return converted


def _has_secrets(value):
    if isinstance(value, dict):
        return value.get(SECRET_SIG) == SECRET_KIND or any(_has_secrets(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secrets(v) for v in value)
    return False


def revealed(untyped, decrypt):
    """A state with every secret's ciphertext replaced by its plaintext and no secrets provider,
    to compare two states whose secrets were encrypted by different providers."""
    def reveal(value):
        if isinstance(value, dict):
            if value.get(SECRET_SIG) == SECRET_KIND and "ciphertext" in value:
                return {SECRET_SIG: SECRET_KIND, "plaintext": decrypt(value["ciphertext"])}
            return {k: reveal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [reveal(v) for v in value]
        return value

    deployment = {k: v for k, v in (untyped.get("deployment") or {}).items()
                  if k != "secrets_providers"}
    return {**untyped, "deployment": reveal(deployment)}


# --- import and verify ---------------------------------------------------------------------------------

def import_stack(conn, source, org, stack, converter=None, on_version=None):
    """Create the service's stack with the DIY stack's tags and every version (its history, then
    its current state if that changed since), and mark it imported; an existing stack of that
    name goes first (the plan has decided it may). With a SecretsConverter, the secrets move to
    the service's key for the stack, or, when they cannot, the stack is imported as it is and
    `stack.secrets_kept` says why. Never commits: the caller's transaction holds the whole stack,
    so a failure leaves nothing. Returns the number of versions; raises FileProblem for a file
    that cannot be used, ApiError for a stack to replace that an update is running on."""
    tags = read_tags(source, stack)
    if stack.existing_id is not None:
        # Through the stack lifecycle: refused (409) while an update runs on the stack.
        stack_ops.delete_stack(conn, org, stack.target_project, stack.target_stack, force=True)
    stack_id = stack_ops.create_stack(conn, org, stack.target_project, stack.target_stack,
                                      tags)["id"]
    stack.secrets_kept = None
    if converter is not None:
        queries.diy_savepoint(conn)
        try:
            converter.start(conn, org, stack.target_project, stack.target_stack)
            count, last_update = _store_versions(conn, source, org, stack, stack_id, converter,
                                                 on_version)
        except ConversionError as err:
            queries.diy_rollback_to_savepoint(conn)
            stack.secrets_kept = str(err)
            converter = None
    if converter is None:
        count, last_update = _store_versions(conn, source, org, stack, stack_id, None, on_version)
    queries.finish_diy_import(conn, stack_id=stack_id, version=count, update_id=last_update,
                              source=source.url, source_stack=stack.label,
                              source_bytes=stack.size)
    stack.versions = count
    return count


def _store_versions(conn, source, org, stack, stack_id, converter, on_version):
    count, last_update = 0, None
    for version in versions_of(source, stack, org):
        update_id = str(uuid.uuid4())
        untyped, config = version.untyped, version.config
        if converter is not None:
            untyped, config = converter.state(untyped), converter.config(config)
        stored = StoredDeployment.from_untyped(untyped)
        queries.insert_diy_update(
            conn, update_id=update_id, stack_id=stack_id, kind=version.kind,
            status=version.status, version=version.number, message=version.message,
            environment=json.dumps(version.environment), config=json.dumps(config),
            start_time=version.start_time, end_time=version.end_time,
            resource_changes=(json.dumps(version.resource_changes)
                              if version.resource_changes is not None else None),
            resource_count=stored.resource_count,
        )
        stack_ops.put_version_state(conn, stack_id, version.number, update_id, stored)
        count, last_update = version.number, update_id
        if on_version is not None:
            on_version(version)
    return count, last_update


def verify_stack(conn, source, org, stack, converter=None):
    """Differences between the imported stack and its source: every version's state (JSON
    equality), resource count, kind, result and message. [] when they agree."""
    found = queries.get_stack(conn, org_name=org, project_name=stack.target_project,
                              stack_name=stack.target_stack)
    if found is None:
        return [f"{org}/{stack.target} is not in the service"]
    history = {row["version"]: row for row in
               queries.diy_imported_history(conn, stack_id=found["id"])}
    if converter is not None:
        converter.start(conn, org, stack.target_project, stack.target_stack)
    differences = []
    expected = 0
    for version in versions_of(source, stack, org):
        expected = version.number
        row = history.get(version.number)
        if row is None:
            differences.append(f"version {version.number}: missing")
            continue
        for what, ours, theirs in (("kind", row["kind"], version.kind),
                                   ("result", row["status"], version.status),
                                   ("message", row["message"], version.message)):
            if ours != theirs:
                differences.append(f"version {version.number}: {what} {ours!r} != {theirs!r}")
        stored = queries.checkpoint_at_version(conn, stack_id=found["id"], version=version.number)
        if stored is None:
            differences.append(f"version {version.number}: no state")
            continue
        state = json.loads(decompress(blobs.gz_of(stored)))
        provider = (state.get("deployment") or {}).get("secrets_providers") or {}
        source_provider = (version.untyped.get("deployment") or {}).get("secrets_providers")
        if provider.get("type") == "service" and (source_provider or {}).get("type") != "service":
            # Converted secrets: the same plaintexts under the service's key.
            if converter is None:
                differences.append(f"version {version.number}: its secrets were converted; "
                                   "verify with --to-service-secrets and the passphrase")
                continue
            try:
                ours = revealed(state, lambda c: converter.cipher.decrypt(
                    base64.b64decode(c)).decode("utf-8"))
                theirs = revealed(version.untyped, converter._crypter(source_provider).decrypt)
            except (ConversionError, service_secrets.SecretError, binascii.Error) as err:
                differences.append(f"version {version.number}: its secrets do not decrypt "
                                   f"({err})")
                continue
            same = ours == theirs
        else:
            same = state == version.untyped
        if not same:
            differences.append(f"version {version.number}: the state differs from "
                               f"{version.source_key}")
        count = resource_count(version.untyped)
        for ours in sorted({resource_count(state), stored["resource_count"],
                            row["resource_count"]} - {count}):
            differences.append(f"version {version.number}: {ours} resources, the source has "
                               f"{count}")
    extra = sorted(v for v in history if v > expected)
    if extra:
        differences.append(f"versions {extra} are not in the source")
    return differences
