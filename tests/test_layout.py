"""The layout docs/architecture.md describes, as the source says it: no import circle, each package imports only
the packages below it, the plain-Python packages do not import Dagster, and only tests, benchmarks and the demo
import the sandbox."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "common",
    "ingest",
    "writeback",
    "health",
    "analytics",
    "orchestration",
    "sandbox",
    "benchmarks",
    "tests",
)
# What each package may import of the others (``ingest`` alone is the package's __init__, which every module of
# ingest.clients and ingest.extract runs first).
MAY_IMPORT = {
    "common": set(),
    "ingest": {"common"},
    "ingest.clients": {"common", "ingest"},
    "ingest.extract": {"common", "ingest", "ingest.clients"},
    "writeback": {"common", "ingest", "ingest.clients"},
    "health": {"common", "ingest", "ingest.clients", "ingest.extract"},
    "analytics": {"common"},
    "orchestration": {
        "common",
        "ingest",
        "ingest.clients",
        "ingest.extract",
        "writeback",
        "health",
        "analytics",
    },
    "sandbox": set(),
}
PLAIN_PYTHON = ("common", "ingest", "writeback", "health", "analytics")
# The sync configuration accepts exactly the crons Dagster's schedules accept, by asking Dagster's own validator.
DAGSTER_IN_PLAIN_PYTHON = {"common.sync_config": {"dagster._utils.schedules"}}
SANDBOX_USERS = ("tests", "benchmarks", "orchestration.demo")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported_names(module: str, path: Path) -> Iterator[str]:
    """Every module name an import in ``path`` names, at any depth (a function's import is a dependency too)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[
                    : len(module.split(".")) - node.level + (path.name == "__init__.py")
                ]
                base = ".".join([*package, *([node.module] if node.module else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def first_party_graph() -> dict[str, set[str]]:
    """Module → the first-party modules importing it runs (each named module and the packages above it)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        deps = set()
        for name in imported_names(module, path):
            parts = name.split(".")
            deps |= {".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in known}
        graph[module] = deps - {module}
    return graph


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "ingest" and len(parts) > 1 else parts[0]


def test_no_import_circle() -> None:
    try:
        TopologicalSorter(first_party_graph()).prepare()
    except CycleError as e:
        raise AssertionError(f"import circle: {' -> '.join(e.args[1])}") from None


def test_each_package_imports_only_the_packages_below_it() -> None:
    wrong = sorted(
        f"{module} imports {dep}"
        for module, deps in first_party_graph().items()
        for dep in deps
        if package_of(module) in MAY_IMPORT
        and package_of(dep) not in {package_of(module), *MAY_IMPORT[package_of(module)]}
        and not (package_of(dep) == "sandbox" and module.startswith(SANDBOX_USERS))
    )
    assert not wrong, wrong


def test_the_plain_python_packages_do_not_import_dagster() -> None:
    wrong = sorted(
        f"{module} imports {name}"
        for module, path in modules().items()
        if module.startswith(PLAIN_PYTHON)
        for name in set(imported_names(module, path))
        if name.split(".")[0].startswith("dagster")
        and not any(name.startswith(allowed) for allowed in DAGSTER_IN_PLAIN_PYTHON.get(module, ()))
    )
    assert not wrong, wrong


def test_only_tests_benchmarks_and_the_demo_import_the_sandbox() -> None:
    users = {
        module
        for module, deps in first_party_graph().items()
        if package_of(module) != "sandbox" and any(package_of(d) == "sandbox" for d in deps)
    }
    assert all(u.startswith(SANDBOX_USERS) for u in users), sorted(users)
