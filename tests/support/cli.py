"""The real Pulumi CLI (built by tests/e2e/build_pulumi_cli.sh into a cache outside the work
tree) run in a clean environment of its own, the programs it runs, and comparing its states."""
import json
import os
import signal
import subprocess
from pathlib import Path

from . import REPO


def pulumi_bin():
    """The folder of the real `pulumi` CLI: PULUMI_CLI_BIN (tests/run sets it), otherwise what
    tests/e2e/build_pulumi_cli.sh builds (a no-op when its cache is warm)."""
    bin_dir = os.environ.get("PULUMI_CLI_BIN")
    if not bin_dir:
        built = subprocess.run(["bash", str(REPO / "tests/e2e/build_pulumi_cli.sh")],
                               capture_output=True, text=True)
        if built.returncode != 0:
            raise AssertionError(f"the real Pulumi CLI could not be built:\n{built.stderr[-4000:]}")
        bin_dir = built.stdout.strip().splitlines()[-1]
    bin_dir = Path(bin_dir)
    assert (bin_dir / "pulumi").exists() and (bin_dir / "pulumi-language-yaml").exists(), bin_dir
    return bin_dir


def matrix_versions():
    """The CLI versions of the compatibility matrix (tests/e2e/cli_versions), newest first."""
    lines = (REPO / "tests/e2e/cli_versions").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# What tests/e2e/test_cli_matrix.py runs against each CLI version, in the order it runs them.
MATRIX_OPERATIONS = ("login", "stack init/ls", "secrets", "up", "preview", "refresh",
                     "export/import", "cancel", "destroy", "stack rm")


def matrix_report_folder():
    """Where the matrix run writes one JSON report per CLI version (tests/e2e/cli_matrix.py
    makes the README's table from them)."""
    default = Path.home() / ".cache/pulumi-service-e2e/matrix-report"
    return Path(os.environ.get("PULUMI_CLI_MATRIX_REPORT") or default)


def matrix_bin(version):
    """The folder of the CLI `version` of the matrix: the e2e suite's own for the newest;
    otherwise from PULUMI_CLI_MATRIX ("VERSION=FOLDER ...", tests/run sets it) or built alone by
    tests/e2e/build_pulumi_cli.sh (a no-op when its cache is warm)."""
    if version == matrix_versions()[0]:
        return pulumi_bin()
    known = dict(item.split("=", 1) for item in os.environ.get("PULUMI_CLI_MATRIX", "").split())
    if version not in known:
        built = subprocess.run(["bash", str(REPO / "tests/e2e/build_pulumi_cli.sh")],
                               capture_output=True, text=True,
                               env=dict(os.environ, PULUMI_CLI_VERSION=version,
                                        PULUMI_YAML_VERSION="none"))
        if built.returncode != 0:
            raise AssertionError(f"the Pulumi CLI {version} could not be built:\n"
                                 f"{built.stderr[-4000:]}")
        known[version] = built.stdout.strip().splitlines()[-1]
    return Path(known[version])


class Result:
    def __init__(self, args, proc):
        self.args = args
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def output(self):
        return self.stdout + self.stderr

    def __repr__(self):
        return (f"pulumi {' '.join(self.args)} -> {self.returncode}\n--- stdout\n{self.stdout}"
                f"\n--- stderr\n{self.stderr}")


# The Go runtime's collector pacing for the CLI and its language host (both Go, both reading
# GOGC): the engine allocates heavily, and a 1000-resource `up` took 32 s of CPU at Go's default
# (GOGC=100) and 22-25 s at 400, for a peak RSS of about 340 MB instead of 190 MB. The same
# binaries doing the same work; only how often their garbage is collected changes.
GO_RUNTIME_ENV = {"GOGC": "400"}


class Pulumi:
    """The real `pulumi` CLI with a private PULUMI_HOME and a clean environment: only PATH, HOME
    and the PULUMI_* variables set here, so nothing on the machine changes its behaviour."""

    def __init__(self, bin_dir, service_url, token, root):
        self.bin_dir = Path(bin_dir)
        self.service_url = service_url
        self.token = token
        self.root = Path(root)
        self.home = self.root / "home"
        self.cwd = self.root / "project"
        self.home.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        # Variables every command of this CLI gets (a persistence mode, say).
        self.extra_env = {}

    def env(self, **extra):
        env = {
            "PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "PULUMI_HOME": str(self.home / ".pulumi"),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
            **GO_RUNTIME_ENV,
        }
        if self.token is not None:
            env["PULUMI_ACCESS_TOKEN"] = self.token
        env.update(self.extra_env)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def run(self, *args, check=True, timeout=600, cwd=None, env=None, input=None):
        proc = subprocess.run(
            [str(self.bin_dir / "pulumi"), "--non-interactive", "--color", "never", *args],
            cwd=cwd or self.cwd, env=self.env(**(env or {})), capture_output=True, text=True,
            timeout=timeout, input=input,
        )
        result = Result(args, proc)
        if check and result.returncode != 0:
            raise AssertionError(f"command failed: {result!r}")
        return result

    def popen(self, *args, env=None):
        """Start a command without waiting (to kill it mid-update or race it)."""
        return subprocess.Popen(
            [str(self.bin_dir / "pulumi"), "--non-interactive", "--color", "never", *args],
            cwd=self.cwd, env=self.env(**(env or {})), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )

    def login(self):
        return self.run("login", self.service_url)

    def write_program(self, text, project="proj"):
        """A Pulumi YAML program (the engine's built-in resources need no provider plugin)."""
        (self.cwd / "Pulumi.yaml").write_text(f"name: {project}\nruntime: yaml\n{text}")


def logged_in(service, bin_dir, root, login, orgs=None):
    """A new user of `service` (with roles in `orgs`), logged in with the real CLI in a folder
    of its own below `root`."""
    token = service.user(login, orgs)
    pulumi = Pulumi(bin_dir, service.url, token, Path(root) / login)
    pulumi.login()
    pulumi.login_name = login
    return pulumi


# The three ways the CLI persists an update's state, chosen by its environment: journal entries
# (its default), delta checkpoints (journaling off) and full checkpoints (both off).
PERSISTENCE_MODES = {
    "journal": {},
    "delta": {"PULUMI_DISABLE_JOURNALING": "true"},
    "full": {"PULUMI_DISABLE_JOURNALING": "true", "PULUMI_OPTIMIZED_CHECKPOINT_PATCH": "false"},
}


def persisted_as(journal_version, checkpoint_sequence, journal_entries):
    """The persistence mode an update's row shows (updates.journal_version,
    updates.checkpoint_sequence, and how many journal entries it stored)."""
    if journal_version == 1 and journal_entries > 0 and checkpoint_sequence == 0:
        return "journal"
    if journal_version == 0 and journal_entries == 0 and checkpoint_sequence > 0:
        return "delta"
    if journal_version == 0 and journal_entries == 0 and checkpoint_sequence == 0:
        return "full"
    return f"mixed ({journal_version}, {checkpoint_sequence}, {journal_entries})"


def kill_group(proc):
    """SIGKILL a CLI and its language host at once, as a lost machine would."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return proc.communicate()


# A secret value in a state: {SECRET_SIG: SECRET_KIND, "ciphertext": ...}.
SECRET_SIG, SECRET_KIND = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def normalised(untyped, stack=None):
    """A state, comparable with another run's or another backend's state of the same program:
    resources sorted by URN (parallel steps finish in any order), and their dependencies; what
    differs from run to run or backend to backend dropped (times, ids, the default provider's id
    in references, ciphertexts); and, given `stack`, the stack's name replaced (to compare two
    stacks)."""
    deployment = untyped["deployment"]

    def clean(value):
        if isinstance(value, dict):
            if value.get(SECRET_SIG) == SECRET_KIND:
                return "<secret>"
            return {k: clean(v) for k, v in value.items() if k not in ("created", "modified", "id")}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str) and stack is not None:
            return value.replace(stack, "<stack>")
        return value

    resources = []
    for resource in deployment.get("resources") or []:
        resource = clean(resource)
        if "provider" in resource:
            resource["provider"] = resource["provider"].rsplit("::", 1)[0]
        if "dependencies" in resource:  # the YAML host lists `dependsOn` in any order
            resource["dependencies"] = sorted(resource["dependencies"])
        resources.append(resource)
    return {"resources": sorted(resources, key=lambda r: r["urn"]),
            "pending_operations": clean(deployment.get("pending_operations") or [])}


def stash_program(resources, outputs=None):
    """YAML for `pulumi:index:Stash` resources: {name: input value or dict of properties/options}."""
    lines = ["resources:"]
    for name, spec in resources.items():
        if not isinstance(spec, dict):
            spec = {"input": spec}
        lines += [f"  {name}:", "    type: pulumi:index:Stash", "    properties:",
                  f"      input: {json_scalar(spec['input'])}"]
        options = {k: v for k, v in spec.items() if k != "input"}
        if options:
            lines.append("    options:")
            for key, value in options.items():
                lines.append(f"      {key}: {json_scalar(value)}")
    if outputs:
        lines.append("outputs:")
        for name, value in outputs.items():
            lines.append(f"  {name}: {json_scalar(value)}")
    return "\n".join(lines) + "\n"


def json_scalar(value):
    return json.dumps(value)
