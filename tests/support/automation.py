"""Python programs run through Pulumi's official SDK (the `pulumi` package from PyPI) and its
Automation API against the service, a file:// backend or any CLI version: inline programs, which
the SDK serves from this process while it runs the real CLI with `--client`, so no Python
language host binary is needed. Run as `python -m tests.support.automation STACK_JSON`, one
`up` in a process of its own, for tests that race updates or kill one half-way.
"""
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pulumi
from pulumi import automation as auto
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

from . import REPO
from .cli import GO_RUNTIME_ENV

PROJECT = "proj"


# --- programs -------------------------------------------------------------------------------

class Tree(pulumi.ComponentResource):
    """A component whose children are components too: `depth` levels of `width` children."""

    def __init__(self, name, width, depth, opts=None):
        super().__init__("test:index:Tree", name, None, opts)
        self.children_ = [Tree(f"{name}-{i}", width, depth - 1, pulumi.ResourceOptions(parent=self))
                          for i in range(width if depth > 1 else 0)]
        self.register_outputs({"width": width, "depth": depth})

    def all(self):
        return [self] + [tree for child in self.children_ for tree in child.all()]


def tree_program(names=("a", "b"), width=2, depth=2, secret="s3cr3t", pause=None):
    """Top-level trees named `names`, a plain and a secret stack output, the stack's `greeting`
    config (if set) and its secret `password` config (if set) as outputs. Given `pause` (a
    folder), once the engine has registered every resource the program writes `registered`
    there, then waits until `release` exists there before the program ends: an update to race,
    or to kill half-way."""

    def program():
        trees = []
        for name in names:
            trees.append(Tree(name, width, depth))
        config = pulumi.Config()
        pulumi.export("plain", "hello")
        pulumi.export("hidden", pulumi.Output.secret(secret))
        if config.get("greeting") is not None:
            pulumi.export("greeting", config.get("greeting"))
        if config.get("password") is not None:
            pulumi.export("password", config.require_secret("password"))
        if pause:
            # A resource's URN resolves once the engine has run (and persisted) its step. The
            # wait is a coroutine: the SDK registers resources on its event loop, after this
            # function returns.
            every = [tree for top in trees for tree in top.all()]
            pulumi.Output.all(*(t.urn for t in every)).apply(
                lambda _: (Path(pause) / "registered").write_text("yes"))
            pulumi.export("released", pulumi.Output.from_input(
                wait_for(Path(pause) / "release")))

    return program


async def wait_for(path, seconds=300):
    deadline = time.monotonic() + seconds
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        await asyncio.sleep(0.05)
    return True


def stash_program(count):
    """`count` pulumi:index:Stash resources (the engine's built-in, v3.208 on), as the YAML
    benchmark program of tests/support/cli.stash_program."""

    def program():
        for i in range(count):
            pulumi.Stash(f"r{i}", input=i)

    return program


def reference_program(source_stack):
    """Outputs read from another stack through a StackReference."""

    def program():
        source = pulumi.StackReference(source_stack)
        pulumi.export("plain", source.get_output("plain"))
        pulumi.export("hidden", source.get_output("hidden"))

    return program


class Upper(ResourceProvider):
    def create(self, props):
        return CreateResult(id_=f"upper-{props['text']}", outs={"text": props["text"],
                                                                 "upper": props["text"].upper()})


class Shout(Resource):
    """A dynamic resource whose provider runs in Python (the pulumi-resource-pulumi-python
    plugin: `python -m pulumi.dynamic`)."""
    upper: pulumi.Output[str]

    def __init__(self, name, text, opts=None):
        super().__init__(Upper(), name, {"text": text, "upper": None}, opts)


def dynamic_program(text="hello"):
    def program():
        pulumi.export("upper", Shout("shout", text).upper)

    return program


# --- workspaces -----------------------------------------------------------------------------

def options(bin_dir, root, backend_url, token=None, env=None, work_dir=None):
    """LocalWorkspaceOptions for the CLI in `bin_dir`, a private PULUMI_HOME (root/home, as a
    tests/support/cli.Pulumi of the same root has) and work folder (root/work unless given),
    and only the environment given here (as cli.Pulumi does)."""
    root = Path(root)
    work_dir = Path(work_dir or root / "work")
    (root / "home").mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    env_vars = {
        # The folder of the CLI first: it finds the pulumi-resource-pulumi-python plugin there,
        # which runs dynamic providers with this interpreter (PULUMI_PYTHON_CMD).
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(root / "home"),
        "PULUMI_BACKEND_URL": backend_url,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_PYTHON_CMD": sys.executable,
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        **GO_RUNTIME_ENV,
    }
    if token is not None:
        env_vars["PULUMI_ACCESS_TOKEN"] = token
    env_vars.update({k: str(v) for k, v in (env or {}).items()})
    return auto.LocalWorkspaceOptions(
        work_dir=str(work_dir), pulumi_home=str(root / "home" / ".pulumi"),
        env_vars=env_vars,
        # root/bin is where PulumiCommand looks for `pulumi`; never install (no internet).
        pulumi_command=auto.PulumiCommand(root=str(Path(bin_dir).parent), skip_version_check=True))


def stack(name, program, opts, project=PROJECT):
    return auto.create_or_select_stack(stack_name=name, project_name=project, program=program,
                                       opts=opts)


# --- one `up` in a process of its own -------------------------------------------------------

def spawn_up(spec, log_path):
    """Start `python -m tests.support.automation` for one `up` described by `spec` (a dict:
    bin_dir, root, url, token, env, stack, result_file, the keyword arguments of tree_program
    as program, and optionally parallel); its own process group, so that killing it kills the CLI it runs
    too. The outcome lands in result_file as {"outcome": "succeeded" | "conflict" | "failed"}."""
    import subprocess

    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "tests.support.automation",
                                 json.dumps(spec)], cwd=REPO, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _up_in_this_process(spec):
    opts = options(spec["bin_dir"], spec["root"], spec["url"], spec["token"], spec.get("env"))
    result = {}
    try:
        target = stack(spec["stack"], tree_program(**spec.get("program", {})), opts)
        target.up(parallel=spec.get("parallel"))
        result["outcome"] = "succeeded"
    except auto.ConcurrentUpdateError:
        result["outcome"] = "conflict"
    except auto.CommandError as error:
        result["outcome"] = "failed"
        result["error"] = str(error)[-3000:]
    Path(spec["result_file"]).write_text(json.dumps(result))


if __name__ == "__main__":
    os.chdir(REPO)
    _up_in_this_process(json.loads(sys.argv[1]))
