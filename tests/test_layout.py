"""The layout of docs/design.md (Architecture), checked from the source with ``ast``: imports run
one way (streams/ -> nothing of ours above it, strategies/ -> nothing of continual/), no function
is longer than ``MAX_FUNCTION_LINES``, and continual/'s top level holds only the command-line
programs and the modules every part shares."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The hard limit on a function's length (decorators and docstring included).
MAX_FUNCTION_LINES = 80
#: Packages each package must not import, at module level or inside a function.
FORBIDDEN_IMPORTS = {"streams": {"strategies", "continual"}, "strategies": {"continual"}}
#: Modules allowed at continual/'s top level: the programs and what they all share.
TOP_LEVEL = {"__init__", "__main__", "run", "compare", "bench", "check", "tune", "config", "errors", "model"}


def sources(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def imported_packages(path: Path, root: Path = REPO) -> set[tuple[int, str]]:
    """(line, top-level package) of every import in ``path``, relative ones resolved from ``root``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    depth = len(path.relative_to(root).parts) - 1  # folders between the repository and the file
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, alias.name.split(".")[0]) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.add((node.lineno, (node.module or "").split(".")[0]))
            elif node.level <= depth:  # a relative import resolves inside the repository
                parts = path.relative_to(root).parts[: depth - node.level + 1]
                found.add((node.lineno, [*parts, *(node.module or "").split(".")][0]))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_imports_run_one_way(package):
    breaches = [f"{path.relative_to(REPO)}:{line} imports {name}"
                for path in sources(package) for line, name in sorted(imported_packages(path))
                if name in FORBIDDEN_IMPORTS[package]]
    assert not breaches, "\n".join(breaches)


@pytest.mark.parametrize("package", ["continual", "streams", "strategies"])
def test_no_function_is_longer_than_the_limit(package):
    long = []
    for path in sources(package):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = node.end_lineno - start + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} has {length} lines")
    assert not long, "\n".join(long)


def test_continual_top_level_holds_only_programs_and_shared_modules():
    modules = {p.stem for p in (REPO / "continual").glob("*.py")}
    assert modules <= TOP_LEVEL, f"move {sorted(modules - TOP_LEVEL)} into a subpackage of continual/"


def test_the_import_scan_sees_nested_and_relative_imports(tmp_path):
    """The scan itself: an import inside a function and a relative import are both resolved (a
    scan that missed them would let those breaches through)."""
    path = tmp_path / "continual" / "engine" / "fake.py"
    path.parent.mkdir(parents=True)
    path.write_text("def build():\n    import streams.base\n    from ..errors import UserError\n"
                    "    from . import loop\n")
    assert imported_packages(path, tmp_path) == {(2, "streams"), (3, "continual"), (4, "continual")}
