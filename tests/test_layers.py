"""The layers stay apart (CONTRIBUTING.md, "Code map"): routes never import each other, and the
domain modules (app/stacks.py, app/updates.py, app/history.py, app/checkpoints.py, app/diy.py,
app/oidc.py, app/oidc_keys.py, app/blobs.py, app/state/) take the caller's connection without
committing it and know nothing of the HTTP request. (app/secrets.py is domain too, but its
start-up check commits the canary of a new database, outside any request.)"""
import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"
ROUTES = sorted((APP / "routes").glob("*.py"))
DOMAIN = [APP / "stacks.py", APP / "updates.py", APP / "history.py", APP / "checkpoints.py",
          APP / "diy.py", APP / "oidc.py", APP / "oidc_keys.py", APP / "blobs.py",
          *sorted((APP / "state").glob("*.py"))]


def module_name(path):
    return ".".join(path.relative_to(APP.parent).with_suffix("").parts).removesuffix(".__init__")


def imported_modules(path, source=None):
    """Every module `path` imports (or `source`, as if it stood at `path`), as absolute names
    (`from . import x` counts as `pkg.x`)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def names_used(path):
    return {node.attr if isinstance(node, ast.Attribute) else node.id
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.Attribute, ast.Name))}


@pytest.mark.parametrize("path", ROUTES, ids=lambda p: p.name)
def test_a_route_module_imports_no_other_route_module(path):
    routes = {module_name(p) for p in ROUTES} - {module_name(path), "app.routes"}
    assert not imported_modules(path) & routes


@pytest.mark.parametrize("path", DOMAIN, ids=lambda p: module_name(p))
def test_a_domain_module_neither_commits_nor_reads_the_request(path):
    assert not names_used(path) & {"commit", "transaction"}
    assert not imported_modules(path) & {"flask.request", "flask.g", "flask.jsonify"}
    assert not any(name.startswith("app.routes") for name in imported_modules(path))


def test_the_check_sees_a_route_module_importing_another():
    module = APP / "routes" / "stacks.py"
    assert {"app.stacks", "app.api.STACK"} <= imported_modules(module)
    bad = "from .updates import UPDATE\nfrom app.routes import history\n"
    assert {"app.routes.updates", "app.routes.history"} <= imported_modules(module, bad)
