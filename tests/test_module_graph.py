"""The helpers package's import graph has no circles, counting imports inside functions too; no module is long.

Read from the source with ``ast`` (nothing is imported), so it covers every ``helpers/**/*.py``
that exists, sub-packages and generated modules included.
"""

import ast
from pathlib import Path

HELPERS = Path(__file__).resolve().parent.parent / "helpers"
#: No helpers module longer than this many lines: one role per module.
MAX_LINES = 600


def module_name(path: Path, folder: Path = HELPERS) -> str:
    """``helpers`` for the package's ``__init__.py``, ``helpers.X`` for ``X.py``, ``helpers.X.Y`` for ``X/Y.py``."""
    parts = list(path.relative_to(folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["helpers", *parts])


def helpers_imports(path: Path, modules: set, folder: Path = HELPERS) -> set:
    """The helpers modules that ``path`` imports anywhere in it: module level, functions, methods.

    ``from P import X`` counts as importing ``P.X`` when that is a module, else as importing
    ``P`` itself (``from helpers import CLASSES``, ``from helpers.data import load_nih``).
    Relative imports are resolved against the package that holds ``path``.
    """
    name = module_name(path, folder)
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name == "helpers" or a.name.startswith("helpers."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                base += f".{node.module}" if node.module else ""
            elif node.module == "helpers" or (node.module or "").startswith("helpers."):
                base = node.module
            else:
                continue
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
    return found


def helpers_files(folder: Path = HELPERS) -> list:
    """Every ``*.py`` of the package, sub-packages included."""
    return sorted(folder.rglob("*.py"))


def import_graph(folder: Path = HELPERS) -> dict:
    """``{module: set of helpers modules it imports}`` for every ``*.py`` under ``folder``."""
    paths = helpers_files(folder)
    modules = {module_name(p, folder) for p in paths}
    return {module_name(p, folder): helpers_imports(p, modules, folder) for p in paths}


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


def test_the_parser_sees_sub_packages(tmp_path):
    (tmp_path / "__init__.py").write_text("CLASSES = ()\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "__init__.py").write_text("from helpers.d.a import f\nfrom .b import g\n")
    (tmp_path / "d" / "a.py").write_text("from helpers import CLASSES\nfrom . import b\nfrom .. import e\n")
    (tmp_path / "d" / "b.py").write_text("from helpers.d import f\n")  # the package itself: a circle
    (tmp_path / "e.py").write_text("from helpers.d import a, f\n")
    graph = import_graph(tmp_path)
    assert graph == {"helpers": set(), "helpers.d": {"helpers.d.a", "helpers.d.b"},
                     "helpers.d.a": {"helpers", "helpers.d.b", "helpers.e"}, "helpers.d.b": {"helpers.d"},
                     "helpers.e": {"helpers.d", "helpers.d.a"}}
    assert find_cycle(graph) == ["helpers.d", "helpers.d.a", "helpers.d.b", "helpers.d"]


def test_helpers_has_no_import_cycle():
    graph = import_graph()
    assert {"helpers", "helpers.data", "helpers.data.nih", "helpers.evaluate", "helpers.metrics"} <= set(graph)
    assert "helpers.metrics" in graph["helpers.evaluate"]  # the parser does see real edges
    assert "helpers.data.nih" in graph["helpers.data"]
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_no_helpers_module_is_longer_than_600_lines():
    lengths = {module_name(p): len(p.read_text().splitlines()) for p in helpers_files()}
    assert len(lengths) > 20  # the sub-package is counted too
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert not too_long, f"split these by role (at most {MAX_LINES} lines each): {too_long}"


def test_module_roles():
    """Data reading depends on no other helpers module; the classifier does not depend on evaluation."""
    graph = import_graph()
    data_modules = [name for name in graph if name == "helpers.data" or name.startswith("helpers.data.")]
    assert len(data_modules) > 5
    for name in data_modules:  # reading data needs neither the cache, nor phantoms, nor models
        assert graph[name] <= {"helpers", *data_modules}, (name, graph[name])
        assert name == "helpers.data" or "helpers.data" not in graph[name]  # submodules import each other directly
    assert "helpers.phantoms" not in graph["helpers.generate"]  # the shared NIH-layout writer is in helpers.data.nih
    assert "helpers.utility" not in graph["helpers.evaluate"]
    assert graph["helpers.classifier"] <= {"helpers"}
    assert graph["helpers.metrics"] <= {"helpers"}  # pure scores
