"""A stack's outputs (its stack resource's outputs) and secrets provider, read from as little of
a state as possible: `pulumi stack output` and StackReference need nothing else."""
import json
import zlib

from . import is_root_stack
from .scan import BadBody, object_members, skip_whitespace


def stack_outputs(untyped):
    """(outputs, secrets providers) of a parsed UntypedDeployment: its stack resource's outputs as
    stored and the deployment's secrets provider, each None when absent."""
    deployment = untyped.get("deployment")
    deployment = deployment if isinstance(deployment, dict) else {}
    resources = deployment.get("resources")
    root = next((r for r in resources if is_root_stack(r)), None) if isinstance(
        resources, list) else None
    if root is None:
        outputs = None
    else:
        outputs = root.get("outputs") if isinstance(root.get("outputs"), dict) else {}
    providers = deployment.get("secrets_providers")
    return outputs, providers if isinstance(providers, dict) else None


def stack_outputs_of_text(text):
    """stack_outputs() of an UntypedDeployment's text, parsing its resources one at a time and
    keeping only the stack resource, so that a large state never becomes a large tree of Python
    objects. The walk stops at the stack resource once the secrets provider has been seen (the
    CLI writes it first, and the stack resource first of all resources)."""
    scan = json.JSONDecoder().scan_once
    found = {}

    def deployment_member(name, at):
        if name == "resources":
            root, end = _root_stack_of_array(text, at, scan,
                                             stop=lambda: "secrets_providers" in found)
            found["root"] = root
            return root, end
        value, end = scan(text, at)
        if name == "secrets_providers":
            found[name] = value
        return value, end

    def envelope_member(name, at):
        if name == "deployment" and text[at:at + 1] == "{":
            return object_members(text, at, deployment_member)
        return scan(text, at)

    try:
        text = text.decode("utf-8")
        object_members(text, 0, envelope_member)
    except _StackFound as stopped:
        found["root"] = stopped.root
    except (StopIteration, ValueError):
        raise BadBody("the stored state is not valid JSON") from None
    return stack_outputs({"deployment": {
        "resources": [found["root"]] if found.get("root") is not None else [],
        "secrets_providers": found.get("secrets_providers"),
    }})


def stack_outputs_of_stored(deployment_gz, head_bytes=256 * 1024):
    """stack_outputs_of_text() of a stored checkpoint, decompressing only as much of it as the
    walk needs: the stack resource is usually near the start, so most of a large state is never
    decompressed. A prefix that ends too soon is retried four times longer."""
    data = bytes(deployment_gz)
    while True:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        head = decompressor.decompress(data, head_bytes)
        try:
            return stack_outputs_of_text(head)
        except BadBody:
            if decompressor.eof or len(head) < head_bytes:
                raise  # the whole text was there
            head_bytes *= 4


class _StackFound(Exception):
    def __init__(self, root):
        super().__init__()
        self.root = root


def _root_stack_of_array(text, at, scan, stop):
    """(the stack resource or None, end) of the resources array at `at`; raises _StackFound as
    soon as it has found it if stop() says nothing more is needed."""
    if text[at:at + 1] != "[":
        value, end = scan(text, at)  # null, or not a list: no stack resource
        return None, end
    at = skip_whitespace(text, at + 1)
    root = None
    if text[at:at + 1] == "]":
        return None, at + 1
    while True:
        value, at = scan(text, at)
        if root is None and is_root_stack(value):
            root = value
            if stop():
                raise _StackFound(root)
        at = skip_whitespace(text, at)
        separator = text[at:at + 1]
        if separator == "]":
            return root, at + 1
        if separator != ",":
            raise ValueError("no comma")
        at = skip_whitespace(text, at + 1)
