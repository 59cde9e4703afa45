"""The compatibility subset against the older CLI versions of tests/e2e/cli_versions (the whole
e2e suite runs the newest): login, stack init/ls/rm, secrets, up/preview/refresh/destroy (Python
inline programs through the Automation API: older CLIs have no YAML host that builds here, and
the `pulumi:index:Stash` resource is v3.208 on), export/import and cancel of an update killed
half-way, each in the persistence mode that version uses by default.

Each run writes what passed to PULUMI_CLI_MATRIX_REPORT (a folder; by default one in the CLI
cache), from which `python tests/e2e/cli_matrix.py` makes the README's compatibility table."""
import json
import time
from contextlib import contextmanager

import pytest

from tests.support import unique
from tests.support import automation as pa
from tests.support.cli import (
    Pulumi, kill_group, matrix_bin, matrix_report_folder, matrix_versions, persisted_as,
)

class Report:
    """Which operations passed against one CLI version, written as the test goes."""

    def __init__(self, version):
        self.path = matrix_report_folder() / f"{version}.json"
        self.data = {"version": version, "mode": None, "operations": {},
                     "when": time.strftime("%Y-%m-%d")}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.write()

    def write(self):
        self.path.write_text(json.dumps(self.data, indent=1))

    @contextmanager
    def step(self, name):
        try:
            yield
        except BaseException:
            self.data["operations"][name] = "failed"
            self.write()
            raise
        self.data["operations"][name] = "passed"
        self.write()


def mode_of_first_update(service, stack_id):
    [row] = service.query(
        "SELECT u.journal_version, u.checkpoint_sequence,"
        " (SELECT count(*) FROM journal_entries j WHERE j.update_id = u.id) FROM updates u"
        " JOIN stacks s ON s.id = u.stack_id JOIN projects p ON p.id = s.project_id"
        " JOIN organizations o ON o.id = p.org_id"
        " WHERE o.name || '/' || p.name || '/' || s.name = %s AND u.version = 1", (stack_id,))
    return persisted_as(*row)


# Older CLIs (v3.60.0 among them) send --parallel's default as 2147483647, which the SDK's
# inline-program server multiplies by 4 into a protobuf int32 ("Value out of range"): say it.
PARALLEL = 8
# The SDK runs refresh and destroy of an inline program only with CLIs that take --client for
# them (v3.181 on); older ones refresh and destroy without running the program, so the CLI runs
# them itself.
INLINE_REFRESH = (3, 181)


def refresh_and_destroy_inline(version):
    return tuple(int(part) for part in version.lstrip("v").split(".")[:2]) >= INLINE_REFRESH


def trees(stack):
    return sorted(r["urn"].rsplit("::", 1)[1] for r in
                  stack.export_stack().deployment.get("resources") or []
                  if r["type"] == "test:index:Tree")


# The newest runs the whole e2e suite, these operations among them (test_python_automation.py).
@pytest.mark.parametrize("version", matrix_versions()[1:])
def test_compatibility_subset(version, service, tmp_path):
    bin_dir = matrix_bin(version)
    report = Report(version)
    login = unique("u")
    token = service.user(login)
    stack_id = f"{login}/proj/dev"
    cli = Pulumi(bin_dir, service.url, token, tmp_path / "cli")

    with report.step("login"):
        cli.login()
        assert cli.run("whoami").stdout.strip() == login
    with report.step("stack init/ls"):
        (cli.cwd / "Pulumi.yaml").write_text("name: proj\nruntime: python\n")
        cli.run("stack", "init", "dev")
        assert "dev" in cli.run("stack", "ls").stdout
    with report.step("secrets"):
        cli.run("config", "set", "--secret", "password", "pa55word")
        assert "pa55word" not in (cli.cwd / "Pulumi.dev.yaml").read_text()
        assert cli.run("config", "get", "password").stdout.strip() == "pa55word"

    # The Automation API in the same project folder and PULUMI_HOME as the CLI above.
    opts = pa.options(bin_dir, tmp_path / "cli", service.url, token, work_dir=cli.cwd)
    with report.step("up"):
        stack = pa.stack(stack_id, pa.tree_program(names=("a",)), opts)
        assert stack.up(parallel=PARALLEL).summary.result == "succeeded"
        outputs = stack.outputs()
        assert {k: (v.value, v.secret) for k, v in outputs.items()} == {
            "plain": ("hello", False), "hidden": ("s3cr3t", True),
            "password": ("pa55word", True)}
        assert trees(stack) == ["a", "a-0", "a-1"]
        report.data["mode"] = mode_of_first_update(service, stack_id)
    with report.step("preview"):
        assert set(stack.preview(parallel=PARALLEL).change_summary) == {"same"}
    inline = refresh_and_destroy_inline(version)
    with report.step("refresh"):
        if inline:
            assert stack.refresh(parallel=PARALLEL).summary.result == "succeeded"
        else:
            assert "4 unchanged" in cli.run("refresh", "--yes", "--skip-preview").stdout
    with report.step("export/import"):
        exported = tmp_path / "state.json"
        cli.run("stack", "export", "--file", str(exported))
        text = exported.read_text()
        assert "ciphertext" in text and "s3cr3t" not in text
        cli.run("stack", "import", "--file", str(exported))
        assert trees(stack) == ["a", "a-0", "a-1"]
    with report.step("cancel"):
        pause = tmp_path / "pause"
        pause.mkdir()
        result = tmp_path / "killed.json"
        proc = pa.spawn_up({"bin_dir": str(bin_dir), "root": str(tmp_path / "killed"),
                            "url": service.url, "token": token, "stack": stack_id,
                            "result_file": str(result), "parallel": PARALLEL,
                            "program": {"names": ["a", "b"], "pause": str(pause)}},
                           tmp_path / "killed.log")
        try:
            deadline = time.monotonic() + 180
            while not (pause / "registered").exists():
                assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the killed update never registered"
                time.sleep(0.05)
        finally:
            kill_group(proc)
        cli.run("cancel", "--yes")
        assert trees(stack) == ["a", "a-0", "a-1", "b", "b-0", "b-1"]
        assert stack.up(parallel=PARALLEL).summary.result == "succeeded"
        assert trees(stack) == ["a", "a-0", "a-1"]
    with report.step("destroy"):
        if inline:
            assert stack.destroy(parallel=PARALLEL).summary.result == "succeeded"
        else:
            cli.run("destroy", "--yes", "--skip-preview")
        assert trees(stack) == []
    with report.step("stack rm"):
        cli.run("stack", "rm", "--yes", "dev")
        assert "dev" not in cli.run("stack", "ls").stdout
