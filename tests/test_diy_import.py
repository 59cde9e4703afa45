"""`pulumi-service import-diy` on small hand-made DIY backends (the layouts the CLI's diy backend
writes): discovery in both layouts, the plan and its problems, each stack imported whole with its
history, resume, replace, verify, and bad input. (The real CLI's backends: tests/e2e.)"""
import gzip
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from app import diy
from app.cli import main
from app.state.stored import decompress

SECRET_SIG = "4dabf18193072939515e22adb298388d"


class Diy:
    """A DIY backend folder written the way the CLI writes one."""

    def __init__(self, root, layout=1):
        self.root = root
        self.layout = layout
        self.clock = 1_700_000_000_000_000_000
        (root / ".pulumi").mkdir(parents=True)
        if layout:
            (root / ".pulumi/meta.yaml").write_text("version: 1\n")

    def write(self, key, document, gz=False):
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        data = document if isinstance(document, bytes) else json.dumps(document).encode()
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    def stack_base(self, project, stack):
        return f".pulumi/stacks/{project}/{stack}" if self.layout else f".pulumi/stacks/{stack}"

    def history_dir(self, project, stack):
        return (f".pulumi/history/{project}/{stack}" if self.layout
                else f".pulumi/history/{stack}")

    def add(self, project, stack, states, gz=False, tags=None, current=None, kinds=None):
        """A stack with one history entry per state (a list of resource names) and the last one
        (or `current`) as its current state."""
        for number, names in enumerate(states, 1):
            self.clock += 1_000_000_000
            prefix = f"{self.history_dir(project, stack)}/{stack}-{self.clock}"
            ext = "json.gz" if gz else "json"
            self.write(f"{prefix}.history.{ext}", {
                "kind": (kinds or {}).get(number, "update"), "startTime": self.clock // 10**9,
                "message": f"{stack} update {number}",
                "environment": {"exec.kind": "cli"},
                "config": {f"{project}:plain": "p", f"{project}:pw": {"secure": "v1:abc"}},
                "version": 0, "result": "failed" if number == 2 else "succeeded",
                "endTime": self.clock // 10**9 + 1, "resourceChanges": {"create": len(names)},
            }, gz=gz)
            self.write(f"{prefix}.checkpoint.{ext}", checkpoint(project, stack, names, self.layout),
                       gz=gz)
        final = current if current is not None else (states[-1] if states else None)
        self.write(self.stack_base(project, stack) + (".json.gz" if gz else ".json"),
                   checkpoint(project, stack, final, self.layout), gz=gz)
        if tags:
            self.write(self.stack_base(project, stack) + ".pulumi-tags",
                       {"version": 1, "tags": tags})

    @property
    def url(self):
        return f"file://{self.root}"


def checkpoint(project, stack, names, layout=1):
    """A DIY state file: a VersionedCheckpoint whose `latest` has the stack resource, a secret
    output and a Stash per name (None: a stack never deployed)."""
    latest = None
    if names is not None:
        resources = [{"urn": f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}",
                      "custom": False, "type": "pulumi:pulumi:Stack",
                      "outputs": {"hidden": {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270",
                                             "ciphertext": "v1:xyz"}}}]
        resources += [{"urn": f"urn:pulumi:{stack}::{project}::pulumi:index:Stash::{name}",
                       "custom": True, "id": name, "type": "pulumi:index:Stash",
                       "inputs": {"input": name}, "outputs": {"input": name, "output": name}}
                      for name in names]
        latest = {"manifest": {"time": "2026-01-01T00:00:00Z", "magic": "m", "version": "v3"},
                  "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:salt"}},
                  "resources": resources}
    name = f"organization/{project}/{stack}" if layout else stack
    return {"version": 3, "checkpoint": {"stack": name, "latest": latest}}


@pytest.fixture
def acme(run):
    assert run("org", "create", "acme").exit_code == 0
    return "acme"


@pytest.fixture
def backend(tmp_path):
    return Diy(tmp_path / "state")


def rows(db, sql, *params):
    with db.cursor() as cur:
        cur.execute(sql, params)
        found = cur.fetchall()
    db.rollback()
    return found


def history(db, ref):
    return rows(db, "SELECT u.version, u.kind, u.status, u.message, u.resource_count,"
                    " extract(epoch FROM u.start_time)::bigint AS start, u.config"
                    " FROM updates u JOIN stacks s ON s.id = u.stack_id"
                    " JOIN projects p ON p.id = s.project_id"
                    " WHERE p.name || '/' || s.name = %s AND s.deleted_at IS NULL"
                    " ORDER BY u.version", ref)


def state(db, ref, version):
    found = rows(db, "SELECT c.deployment_gz FROM checkpoints c JOIN stacks s ON s.id = c.stack_id"
                     " JOIN projects p ON p.id = s.project_id"
                     " WHERE p.name || '/' || s.name = %s AND c.version = %s"
                     " AND s.deleted_at IS NULL", ref, version)
    return json.loads(decompress(found[0]["deployment_gz"])) if found else None


def stash_names(untyped):
    return [r["urn"].rsplit("::", 1)[1] for r in untyped["deployment"]["resources"]
            if r["type"] == "pulumi:index:Stash"]


# --- discovery -------------------------------------------------------------------------------------

def test_discovery_finds_every_stack_of_the_project_layout_compressed_or_not(backend):
    backend.add("web", "dev", [["a"], ["a", "b"]])
    backend.add("web", "prod", [["a"]], gz=True)
    backend.add("api", "dev", [])
    backend.write(".pulumi/stacks/web/dev.json.bak", b"old")          # backups are not stacks
    backend.write(".pulumi/stacks/web/dev.json.attrs", b"{}")         # nor the blob's attributes
    layout, found = diy.discover(diy.open_source(backend.url))
    assert layout == 1
    assert [(s.label, len(s.history)) for s in found] == [("api/dev", 0), ("web/dev", 2),
                                                          ("web/prod", 1)]
    assert found[2].state_key.endswith("prod.json.gz")


def test_the_newest_of_a_plain_and_a_gzip_state_file_is_the_current_one(backend):
    backend.add("web", "dev", [["a"]])
    newer = backend.write(".pulumi/stacks/web/dev.json.gz", checkpoint("web", "dev", ["b"]),
                          gz=True)
    os.utime(newer, (2_000_000_000, 2_000_000_000))
    _, found = diy.discover(diy.open_source(backend.url))
    assert found[0].state_key.endswith("dev.json.gz")


def test_the_legacy_layout_takes_the_project_from_the_states_urns(tmp_path, run, acme):
    legacy = Diy(tmp_path / "legacy", layout=0)
    legacy.add("shop", "dev", [["a"], ["a", "b"]])
    legacy.add("", "empty", [])
    result = run("import-diy", legacy.url, "--org", acme, "--dry-run")
    assert "legacy layout, 2 stack(s)" in result.output
    assert "dev" in result.output and "acme/shop/dev" in result.output
    assert "problem: empty: its project is unknown" in result.output
    assert "--project-map /empty=PROJECT" in result.output
    assert result.exit_code == 1
    mapped = run("import-diy", legacy.url, "--org", acme, "--project-map", "/empty=shop")
    assert mapped.exit_code == 0, mapped.output
    assert "acme/shop/empty" in mapped.output


def test_config_values_become_the_services_config_values():
    assert diy.service_config({"p:a": "x", "p:s": {"secure": "v1:c"}, "p:o": {"k": [1]}}) == {
        "p:a": {"string": "x", "secret": False, "object": False},
        "p:s": {"string": "v1:c", "secret": True, "object": False},
        "p:o": {"string": '{"k":[1]}', "secret": False, "object": True},
    }


# --- the plan ----------------------------------------------------------------------------------------

def test_the_dry_run_lists_stacks_versions_sizes_and_imports_nothing(backend, run, acme, db):
    backend.add("web", "dev", [["a"], ["a", "b"], ["b"]])
    backend.add("web", "prod", [["a"]], gz=True)
    result = run("import-diy", backend.url, "--org", acme, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "project-scoped layout, 2 stack(s)" in result.output
    assert "web/dev" in result.output and "acme/web/dev" in result.output
    line = next(l for l in result.output.splitlines() if "web/prod" in l)
    assert " 1 " in line and "import" in line
    assert rows(db, "SELECT count(*) AS n FROM stacks")[0]["n"] == 0


def test_the_dry_run_names_a_corrupt_gzip_file_and_exits_non_zero(backend, run, acme):
    backend.add("web", "dev", [["a"], ["b"]], gz=True)
    history = sorted((backend.root / ".pulumi/history/web/dev").glob("*.checkpoint.json.gz"))
    history[0].write_bytes(history[0].read_bytes()[:20])
    backend.add("web", "ok", [["a"]])
    result = run("import-diy", backend.url, "--org", acme, "--dry-run")
    assert result.exit_code == 1
    assert f"problem: web/dev: {history[0].relative_to(backend.root)}: corrupt gzip data" \
        in result.output


def test_names_not_valid_here_and_clashes_are_problems(backend, run, acme):
    backend.add("web", "dev", [["a"]])
    backend.add("api", "dev", [["a"]])
    result = run("import-diy", backend.url, "--org", acme, "--dry-run",
                 "--project-map", "web=bad name", "--project-map", "api/dev=shared")
    assert "problem: web/dev: project name 'bad name' is not valid here" in result.output
    clash = run("import-diy", backend.url, "--org", acme, "--dry-run",
                "--project-map", "web=shared", "--project-map", "api=shared")
    assert "acme/shared/dev is also the target of api/dev" in clash.output
    assert clash.exit_code == 1


def test_a_stack_locked_by_a_live_update_is_not_imported_but_a_stale_lock_is_said(
        backend, run, acme, db):
    import socket

    backend.add("web", "live", [["a"]])
    backend.add("web", "dead", [["a"]], current=["a", "b"])
    host = socket.gethostname()
    backend.write(".pulumi/locks/organization/web/live/l1.json",
                  {"pid": os.getpid(), "username": "ann", "hostname": host,
                   "timestamp": "2026-01-01T00:00:00Z"})
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    backend.write(".pulumi/locks/organization/web/dead/l2.json",
                  {"pid": gone.pid, "username": "bob", "hostname": host,
                   "timestamp": "2026-01-01T00:00:00Z"})
    result = run("import-diy", backend.url, "--org", acme)
    assert result.exit_code == 1
    assert f"problem: web/live: locked by a running update: ann@{host} (pid {os.getpid()})" \
        in result.output
    assert "warning: web/dead: left locked by an update that is no longer running" in result.output
    assert [h["kind"] for h in history(db, "web/dead")] == ["update", "import"]
    assert "never finished" in history(db, "web/dead")[1]["message"]
    assert history(db, "web/live") == []
    forced = run("import-diy", backend.url, "--org", acme, "--resume", "--ignore-locks")
    assert forced.exit_code == 0, forced.output
    assert len(history(db, "web/live")) == 1


# --- import --------------------------------------------------------------------------------------------

def test_every_history_entry_becomes_a_version_with_its_state(backend, run, acme, db):
    backend.add("web", "dev", [["a"], ["a", "b"], ["b"]], gz=True, tags={"team": "blue"},
                kinds={3: "refresh"})
    result = run("import-diy", backend.url, "--org", acme)
    assert result.exit_code == 0, result.output
    found = history(db, "web/dev")
    assert [(h["version"], h["kind"], h["status"], h["message"], h["resource_count"])
            for h in found] == [
        (1, "update", "succeeded", "dev update 1", 2),
        (2, "update", "failed", "dev update 2", 3),
        (3, "refresh", "succeeded", "dev update 3", 2),
    ]
    assert found[0]["start"] == 1_700_000_001
    assert found[0]["config"]["web:pw"] == {"string": "v1:abc", "secret": True, "object": False}
    assert [stash_names(state(db, "web/dev", v)) for v in (1, 2, 3)] == [["a"], ["a", "b"], ["b"]]
    assert state(db, "web/dev", 1)["deployment"]["secrets_providers"]["type"] == "passphrase"
    tags = rows(db, "SELECT tags, version FROM stacks WHERE name = 'dev'")[0]
    assert tags["tags"] == {"team": "blue"} and tags["version"] == 3


def test_a_state_changed_after_the_last_update_is_one_more_version(backend, run, acme, db):
    backend.add("web", "dev", [["a"]], current=["a", "z"])
    assert run("import-diy", backend.url, "--org", acme).exit_code == 0
    found = history(db, "web/dev")
    assert [h["kind"] for h in found] == ["update", "import"]
    assert stash_names(state(db, "web/dev", 2)) == ["a", "z"]


def test_a_stack_never_deployed_is_created_without_versions(backend, run, acme, db):
    backend.add("web", "new", [])
    assert run("import-diy", backend.url, "--org", acme).exit_code == 0
    assert rows(db, "SELECT version FROM stacks WHERE name = 'new'")[0]["version"] == 0


def test_a_project_map_renames_the_urns_of_every_version(backend, run, acme, db):
    backend.add("web", "dev", [["a"], ["a", "b"]])
    result = run("import-diy", backend.url, "--org", acme, "--project-map", "web=site",
                 "--verify")
    assert result.exit_code == 0, result.output
    urns = [r["urn"] for r in state(db, "site/dev", 2)["deployment"]["resources"]]
    assert all("::site::" in urn for urn in urns) and urns[0].endswith("::site-dev")


def test_a_corrupt_file_found_while_importing_leaves_nothing_of_its_stack(backend, run, acme, db):
    backend.add("web", "bad", [["a"], ["b"]])
    backend.add("web", "good", [["a"]])
    last = sorted((backend.root / ".pulumi/history/web/bad").glob("*.checkpoint.json"))[-1]
    last.write_text('{"version": 3, "checkpoint": ')
    result = run("import-diy", backend.url, "--org", acme)
    assert result.exit_code == 1
    assert "web/bad: not imported:" in result.output and "not valid JSON" in result.output
    assert rows(db, "SELECT name FROM stacks ORDER BY name") == [{"name": "good"}]
    assert rows(db, "SELECT count(*) AS n FROM updates")[0]["n"] == 1


def test_an_existing_stack_is_skipped_unless_replace(backend, run, acme, db):
    backend.add("web", "dev", [["a"], ["b"]])
    assert run("import-diy", backend.url, "--org", acme).exit_code == 0
    again = run("import-diy", backend.url, "--org", acme)
    assert again.exit_code == 1
    assert "acme/web/dev already exists in the service (imported by an earlier run: --resume " \
           "skips it); pass --replace" in again.output
    backend.add("web", "dev", [["a"], ["b"], ["c"]])
    replaced = run("import-diy", backend.url, "--org", acme, "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert [h["version"] for h in history(db, "web/dev")] == [1, 2, 3, 4, 5]


def test_replace_leaves_a_stack_alone_while_an_update_runs_on_it(backend, run, acme, db):
    backend.add("web", "dev", [["a"]])
    assert run("import-diy", backend.url, "--org", acme).exit_code == 0
    with db, db.cursor() as cur:
        cur.execute("UPDATE updates SET status = 'running' WHERE kind = 'update'")
    replaced = run("import-diy", backend.url, "--org", acme, "--replace")
    assert replaced.exit_code == 1
    assert "an update is in progress on this stack" in replaced.output
    assert len(history(db, "web/dev")) == 1


def test_resume_skips_the_stacks_already_imported(backend, run, acme, db):
    backend.add("web", "one", [["a"]])
    assert run("import-diy", backend.url, "--org", acme).exit_code == 0
    backend.add("web", "two", [["a"], ["b"]])
    resumed = run("import-diy", backend.url, "--org", acme, "--resume", "--verify")
    assert resumed.exit_code == 0, resumed.output
    assert "already imported, verified" in resumed.output
    assert "imported, verified" in resumed.output
    assert len(history(db, "web/one")) == 1 and len(history(db, "web/two")) == 2
    with db.cursor() as cur:  # each import in the audit log, once
        cur.execute("SELECT target FROM audit_log WHERE event = 'stack.imported' ORDER BY seq")
        assert [r["target"] for r in cur.fetchall()] == [f"{acme}/web/one", f"{acme}/web/two"]


def test_resume_does_not_skip_a_stack_made_in_the_service(backend, run, acme, db):
    backend.add("web", "dev", [["a"]])
    with db.cursor() as cur:
        cur.execute("INSERT INTO projects (org_id, name) SELECT id, 'web' FROM organizations")
        cur.execute("INSERT INTO stacks (project_id, name) SELECT id, 'dev' FROM projects")
    db.commit()
    result = run("import-diy", backend.url, "--org", acme, "--resume")
    assert result.exit_code == 1
    assert "acme/web/dev already exists in the service; pass --replace" in result.output


def test_verify_reports_a_version_that_differs_from_its_source(backend, run, acme, db):
    backend.add("web", "dev", [["a"], ["a", "b"]])
    assert run("import-diy", backend.url, "--org", acme).exit_code == 0
    with db.cursor() as cur:
        cur.execute("UPDATE checkpoints SET deployment_gz = (SELECT deployment_gz FROM checkpoints"
                    " WHERE version = 1) WHERE version = 2")
        cur.execute("UPDATE updates SET message = 'edited' WHERE version = 1")
    db.commit()
    result = run("import-diy", backend.url, "--org", acme, "--resume", "--verify")
    assert result.exit_code == 1
    assert "DIFFERS: web/dev: version 1: message 'edited' != 'dev update 1'" in result.output
    assert "DIFFERS: web/dev: version 2: the state differs" in result.output
    assert "version 2: 2 resources, the source has 3" in result.output


def test_plain_progress_lines_in_a_pipe(backend, run, acme):
    for name in ("a", "b", "c"):
        backend.add("web", name, [["x"]])
    result = run("import-diy", backend.url, "--org", acme)
    lines = [l for l in result.output.splitlines() if l.startswith("[")]
    assert [l.split("]")[0] for l in lines] == ["[1/3", "[2/3", "[3/3"]
    assert "stacks/s" in lines[-1] and "/s, ETA" in lines[-1]
    assert "Summary" in result.output


# --- bad input -----------------------------------------------------------------------------------------

def test_a_missing_source_is_a_clear_error(tmp_path, run, acme):
    result = run("import-diy", f"file://{tmp_path}/nowhere", "--org", acme)
    assert result.exit_code != 0 and "no such folder" in result.output
    (tmp_path / "plain").mkdir()
    result = run("import-diy", str(tmp_path / "plain"), "--org", acme)
    assert result.exit_code != 0 and "not a DIY backend" in result.output


def test_a_missing_organization_is_a_clear_error(backend, run):
    backend.add("web", "dev", [["a"]])
    result = run("import-diy", backend.url, "--org", "nobody")
    assert result.exit_code != 0 and "no organization 'nobody'" in result.output


def test_other_sources_are_refused_clearly(run, acme):
    result = run("import-diy", "gs://bucket/prefix", "--org", acme)
    assert result.exit_code != 0 and "only file:// and s3:// sources" in result.output


def test_an_s3_source_without_credentials_is_a_clear_error(acme, database_url):
    result = CliRunner().invoke(main, ["import-diy", "s3://bucket/prefix", "--org", acme],
                                env={"DATABASE_URL": database_url, "AWS_ACCESS_KEY_ID": None,
                                     "AWS_SECRET_ACCESS_KEY": None, "AWS_PROFILE": None,
                                     "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                                     "AWS_CONFIG_FILE": "/nonexistent",
                                     "AWS_EC2_METADATA_DISABLED": "true",
                                     "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.exit_code != 0
    assert "s3://bucket/prefix: no AWS credentials" in result.output


def test_a_corrupt_meta_file_is_a_clear_error(backend, run, acme):
    backend.write(".pulumi/meta.yaml", b"nonsense: [")
    result = run("import-diy", backend.url, "--org", acme)
    assert result.exit_code != 0 and "meta.yaml: corrupt" in result.output


def test_a_progress_bar_on_a_terminal(backend, acme, database_url):
    import pty
    import select

    for name in ("a", "b"):
        backend.add("web", name, [["x"], ["y"]])
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "import-diy", backend.url,
                             "--org", acme], stdout=follower, stderr=follower, close_fds=True,
                            env=dict(os.environ, DATABASE_URL=database_url, TERM="xterm",
                                     COLUMNS="120"))
    os.close(follower)
    output = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        try:
            chunk = os.read(leader, 65536) if ready else b""
        except OSError:  # the terminal closed with the process
            chunk = b""
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert proc.wait(60) == 0, output.decode(errors="replace")
    text = output.decode(errors="replace")
    assert "stacks 2/2" in text and "/s" in text       # the bar: stacks, bytes, rate
    assert "[1/2]" not in text                          # not the pipe's lines
    assert "web/a -> acme/web/a: 2 version(s)" in text


# --- secrets to the service's keys ---------------------------------------------------------------------

def passphrase_encrypt(key, text):
    import base64

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, text.encode(), None)
    return f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"


def with_passphrase(backend, passphrase):
    """Give every state and history entry of the backend real passphrase ciphertexts (the secret
    output "s3cr3t", the config value "hunter2"), as the passphrase provider makes them."""
    import base64
    import hashlib

    salt = os.urandom(8)
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, 1_000_000, 32)
    salt_state = f"v1:{base64.b64encode(salt).decode()}:{passphrase_encrypt(key, 'pulumi')}"
    # One ciphertext per value, as the CLI's copy of a state into its history keeps them.
    values = {'"v1:salt"': salt_state, '"v1:xyz"': passphrase_encrypt(key, '"s3cr3t"'),
              '"v1:abc"': passphrase_encrypt(key, "hunter2")}
    for path in backend.root.rglob("*.json"):
        text = path.read_text()
        for placeholder, value in values.items():
            text = text.replace(placeholder, json.dumps(value))
        path.write_text(text)


@pytest.fixture
def run_with(database_url):
    from tests.support import MASTER_KEY

    def invoke(*args, **env):
        return CliRunner().invoke(main, list(args), catch_exceptions=False, env={
            "DATABASE_URL": database_url, "SECRETS_MASTER_KEY": MASTER_KEY,
            "SECRETS_MASTER_KEY_FILE": "", **env})

    return invoke


def test_to_service_secrets_re_encrypts_every_version_with_the_stacks_key(
        backend, run_with, acme, db):
    import base64

    from app import secrets
    from tests.support import MASTER_KEY

    backend.add("web", "dev", [["a"], ["b"]])
    with_passphrase(backend, "open sesame")
    result = run_with("import-diy", backend.url, "--org", acme, "--to-service-secrets",
                      "--service-url", "https://pulumi.example/", "--verify",
                      PULUMI_CONFIG_PASSPHRASE="open sesame")
    assert result.exit_code == 0, result.output
    assert "web/dev -> acme/web/dev: 2 version(s)" in result.output
    assert "secrets now the service's" in result.output and "imported, verified" in result.output
    keyring = secrets.Keyring.from_settings({"SECRETS_MASTER_KEY": MASTER_KEY,
                                             "SECRETS_MASTER_KEY_FILE": "",
                                             "SECRETS_PREVIOUS_MASTER_KEYS": ""})
    cipher = secrets.stack_cipher(db, keyring, acme, "web", "dev", create=False)
    for version in (1, 2):
        deployment = state(db, "web/dev", version)["deployment"]
        assert deployment["secrets_providers"] == {"type": "service", "state": {
            "url": "https://pulumi.example", "owner": "acme", "project": "web", "stack": "dev"}}
        hidden = deployment["resources"][0]["outputs"]["hidden"]
        assert cipher.decrypt(base64.b64decode(hidden["ciphertext"])) == b'"s3cr3t"'
    config = history(db, "web/dev")[0]["config"]["web:pw"]
    assert config["secret"] and cipher.decrypt(base64.b64decode(config["string"])) == b"hunter2"


def test_stacks_whose_secrets_cannot_convert_keep_their_provider_and_are_listed(
        backend, run_with, acme, db):
    backend.add("web", "dev", [["a"]])
    with_passphrase(backend, "open sesame")
    result = run_with("import-diy", backend.url, "--org", acme, "--to-service-secrets",
                      "--service-url", "https://pulumi.example", "--verify",
                      PULUMI_CONFIG_PASSPHRASE="wrong")
    assert result.exit_code == 0, result.output
    assert "secrets not converted (1 stack(s); they keep their provider):" in result.output
    assert "  web/dev: the passphrase given does not open its secrets" in result.output
    assert state(db, "web/dev", 1)["deployment"]["secrets_providers"]["type"] == "passphrase"
    assert rows(db, "SELECT count(*) AS n FROM stack_secret_keys")[0]["n"] == 0


def test_to_service_secrets_needs_the_passphrase_and_the_url(backend, run_with, acme):
    backend.add("web", "dev", [["a"]])
    result = run_with("import-diy", backend.url, "--org", acme, "--to-service-secrets",
                      PULUMI_CONFIG_PASSPHRASE="x")
    assert result.exit_code != 0 and "needs --service-url" in result.output
