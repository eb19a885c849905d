"""The package's shape stays as ARCHITECTURE.md declares it: every import of every module
(top-level or inside a function) points to the same layer or a lower one, and no two modules
import each other, directly or through others."""

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "suite"

# Lowest first; a module may import from its own layer and those before it.
LAYERS = ["foundation", "store", "analysis", "training", "tasks", "figures", "study",
          "plugins", "running", "report", "publish", "api", "cli"]
FOUNDATION = {"suite", "suite.errors", "suite.seeding", "suite.identity", "suite.numerics",
              "suite.parent_watch"}
# `import suite` is light: its PEP 562 `__getattr__` imports the notebook calls (suite.api)
# on first use. That facade is the one import allowed to point up.
FACADES = {("suite", "suite.api")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(module imported, line) for every import in the file, resolved to a module of the
    package: `from x import y` counts as x.y when x.y is a module, else x."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(n) for block in ast.walk(tree) if _type_checking(block)
                   for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and (name, target) not in FACADES:
                found.append((target, node.lineno))
    return found


def _type_checking(node) -> bool:
    """An `if TYPE_CHECKING:` block: imports for annotations only, never run."""
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING")


def layer(name: str) -> str:
    if name in FOUNDATION:
        return "foundation"
    if name == "suite.__main__":
        return "cli"
    return name.split(".")[1]


@functools.cache
def graph() -> dict[str, list[tuple[str, int]]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def test_every_module_belongs_to_a_declared_layer():
    assert [m for m in modules() if layer(m) not in LAYERS] == []  # a new package: declare it


def test_no_import_points_up_a_layer():
    upward = [f"{name} (line {line}) imports {target}: {layer(name)} may not import "
              f"{layer(target)}, which sits above it"
              for name, targets in graph().items() for target, line in targets
              if LAYERS.index(layer(target)) > LAYERS.index(layer(name))]
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    edges = {name: sorted({t for t, _ in targets}) for name, targets in graph().items()}
    cycles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in edges[node]:
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in edges:
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
