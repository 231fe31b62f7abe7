"""The helpers package's import graph has no circles, counting imports inside functions too.

Read from the source with ``ast`` (nothing is imported), so it covers every ``helpers/*.py``
that exists, generated modules included.
"""

import ast
from pathlib import Path

HELPERS = Path(__file__).resolve().parent.parent / "helpers"


def module_name(path: Path) -> str:
    """``helpers`` for the package's ``__init__.py``, ``helpers.X`` for ``X.py``."""
    return "helpers" if path.stem == "__init__" else f"helpers.{path.stem}"


def helpers_imports(path: Path, modules: set) -> set:
    """The helpers modules that ``path`` imports anywhere in it: module level, functions, methods.

    ``from helpers import X`` counts as importing ``helpers.X`` when ``X`` is a module,
    else as importing the package itself (``from helpers import CLASSES``). Relative
    imports are resolved against the package.
    """
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name == "helpers" or a.name.startswith("helpers."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = "helpers" + (f".{node.module}" if node.module else "")
            elif node.module == "helpers" or (node.module or "").startswith("helpers."):
                base = node.module
            else:
                continue
            if base == "helpers":
                found.update(f"helpers.{a.name}" if f"helpers.{a.name}" in modules else "helpers" for a in node.names)
            else:
                found.add(base)
    return found


def import_graph(folder: Path = HELPERS) -> dict:
    """``{module: set of helpers modules it imports}`` for every ``*.py`` in ``folder``."""
    paths = sorted(folder.glob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): helpers_imports(p, modules) for p in paths}


def find_cycle(graph: dict) -> list | None:
    """One import circle as ``[a, b, ..., a]``, or ``None`` (depth-first search, three colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_circles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_the_parser_sees_function_level_and_package_imports(tmp_path):
    (tmp_path / "__init__.py").write_text("CLASSES = ()\n")
    (tmp_path / "x.py").write_text("from helpers import CLASSES, y\n\n\ndef f():\n    from helpers.z import g\n")
    (tmp_path / "y.py").write_text("import helpers.x\nfrom . import z\n")
    (tmp_path / "z.py").write_text("import numpy\nfrom .x import f\n")
    graph = import_graph(tmp_path)
    assert graph == {"helpers": set(), "helpers.x": {"helpers", "helpers.y", "helpers.z"},
                     "helpers.y": {"helpers.x", "helpers.z"}, "helpers.z": {"helpers.x"}}
    assert find_cycle(graph) == ["helpers.x", "helpers.y", "helpers.x"]


def test_helpers_has_no_import_cycle():
    graph = import_graph()
    assert {"helpers", "helpers.data", "helpers.evaluate", "helpers.metrics"} <= set(graph)
    assert "helpers.metrics" in graph["helpers.evaluate"]  # the parser does see real edges
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_module_roles():
    """Data reading does not depend on the cache; the classifier does not depend on evaluation."""
    graph = import_graph()
    assert "helpers.preprocess" not in graph["helpers.data"]
    assert graph["helpers.classifier"] <= {"helpers"}
    assert graph["helpers.metrics"] <= {"helpers"}  # pure scores
