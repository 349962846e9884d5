"""The import rule of docs/architecture.md, checked on every run.

    forms/        layer 0  the form engine: no Kivy, HTTP or SQL
    sync_core/    layer 1  what tablet and server agree on: imports forms only
    fieldapp/     layer 2  the tablet         } never import each other;
    sync_server/  layer 2  the server         } both import sync_core and forms

Every import in every module counts, including the ones inside functions (a lazy import
is still a dependency). New subpackages such as `sync_core/dedup/` or
`sync_server/workspace/` fall under their package's rule without a change here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = ("forms", "sync_core", "fieldapp", "sync_server", "tests", "benchmarks")

# package -> the packages (ours, and libraries that would break the layering) it must not import
FORBIDDEN: dict[str, set[str]] = {
    "forms": {
        "sync_core",
        "fieldapp",
        "sync_server",
        "kivy",
        "fastapi",
        "starlette",
        "uvicorn",
        "requests",
        "httpx",
        "sqlite3",
        "sqlite_utils",
    },
    "sync_core": {"fieldapp", "sync_server", "kivy", "fastapi", "starlette", "uvicorn"},
    "fieldapp": {"sync_server", "fastapi", "starlette", "uvicorn", "tests", "benchmarks"},
    "sync_server": {"fieldapp", "kivy", "tests", "benchmarks"},
    # Benchmarks use the packages' testing helpers (fieldapp.testing, sync_server.testing).
    "benchmarks": {"tests"},
    # ...and so do the tests: code both need (the load test's tablets) lives in the package.
    "tests": {"benchmarks"},
}


def imports_of(source: str) -> list[tuple[int, str]]:
    """(line, top-level package) for every import in a module's source, lazy ones too."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def violations(package: str, files: dict[str, str]) -> list[str]:
    """Broken rules in `files` (path -> source) of `package`, as 'path:line imports x'."""
    forbidden = FORBIDDEN.get(package, set())
    return [
        f"{path}:{line} imports {imported} ({package} must not import {imported})"
        for path, source in sorted(files.items())
        for line, imported in imports_of(source)
        if imported in forbidden
    ]


def sources(package: str) -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for path in sorted((ROOT / package).rglob("*.py"))
    }


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_package_imports_only_what_its_layer_allows(package):
    assert sources(package), f"{package}/ has no modules: is the layout out of date?"
    assert violations(package, sources(package)) == []


def test_the_rule_catches_the_server_importing_the_tablet_app():
    # The check itself must be able to fail: a server module importing the tablet app,
    # at the top or lazily inside a function, is reported with its file and line.
    module = "import json\nfrom fieldapp.sync_client import Transport\n"
    lazy = "def forward():\n    import fieldapp.store\n"
    assert violations("sync_server", {"sync_server/x.py": module, "sync_server/y.py": lazy}) == [
        "sync_server/x.py:2 imports fieldapp (sync_server must not import fieldapp)",
        "sync_server/y.py:2 imports fieldapp (sync_server must not import fieldapp)",
    ]
    assert violations("sync_server", {"sync_server/x.py": "from sync_core import hlc\n"}) == []


def module_graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (submodules, not __init__)."""
    modules = {
        ".".join(Path(path).with_suffix("").parts): source
        for path, source in sources(package).items()
    }
    graph: dict[str, set[str]] = {}
    for name, source in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name and "__init__" not in t}
    return graph


@pytest.mark.parametrize("package", ["forms", "sync_core"])
def test_no_module_imports_itself_through_others(package):
    graph = module_graph(package)
    cycles = []
    for start in sorted(graph):
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            name, trail = stack.pop()
            for target in sorted(graph[name]):
                if target == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, [*trail, target]))
    assert cycles == []
