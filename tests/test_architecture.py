"""The one direction of dependency: `groups` builds on `sequences`, never the reverse.

Checked on the source: every project module that a `sequences` module imports, directly or
through another project module (such as the shared API layer), stays clear of `groups`.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("sequences", "groups", "annotation_site")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_imports(path: Path) -> set[str]:
    """Project modules (or packages) that the file imports, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] in PROJECT_PACKAGES)
    return found


def _graph() -> dict[str, set[str]]:
    files = [p for package in PROJECT_PACKAGES for p in (ROOT / package).rglob("*.py")]
    modules = {_module_name(path): path for path in files if "migrations" not in path.parts}
    return {
        name: {imported for imported in _project_imports(path) if imported in modules}
        for name, path in modules.items()
    }


def _reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module reachable from `start`, with the module that imports it."""
    seen, stack = {start: start}, [start]
    while stack:
        current = stack.pop()
        for imported in graph[current]:
            if imported not in seen:
                seen[imported] = current
                stack.append(imported)
    return seen


def test_sequences_never_reaches_groups():
    graph = _graph()
    leaks = []
    for module in sorted(name for name in graph if name.split(".")[0] == "sequences"):
        for reached, importer in _reachable(graph, module).items():
            if reached.split(".")[0] == "groups":
                leaks.append(f"{module} reaches {reached} (imported by {importer})")
    assert leaks == []


SHARED_TEST_MODULES = ("tests.factories", "tests.support")


def test_test_modules_share_only_factories_and_support():
    """Fixtures live in conftest.py files (pytest finds them), builders in tests.factories and
    other helpers in tests.support: no test module imports from a conftest or another test."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for imported in _test_imports(path):
            if not imported.startswith(SHARED_TEST_MODULES):
                offenders.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert offenders == []


def _test_imports(path: Path) -> set[str]:
    """The modules of the test tree that the file imports from."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests.")
    }
