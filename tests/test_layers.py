"""The layers DESIGN.md draws, held by reading every module's imports (no module is imported).

- ``servers/`` imports nothing from ``lab/`` or ``tools/``; ``lab/`` nothing from ``tools/``.
- The codecs (``servers/sse.py`` and every module of ``servers/rfc6455/`` but the asyncio
  server and the package's ``__init__``) import no I/O: no event loop, socket, HTTP client or
  server, process or thread, and no project module that is not a codec itself.
- No package (``servers``, ``lab``, ``tools``) has an import cycle among its modules, counting
  imports inside functions too (a local import hides a cycle; it does not remove it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("servers", "lab", "tools")

MAY_NOT_IMPORT = {"servers": {"lab", "tools"}, "lab": {"tools"}, "tools": set()}
"""Who may not import whom: arrows point one way (servers <- lab <- tools)."""

IO_MODULES = {
    "asyncio", "socket", "ssl", "select", "selectors", "subprocess", "threading",
    "multiprocessing", "concurrent", "http", "urllib", "socketserver", "aiohttp", "httpx",
    "websockets", "hypercorn", "redis", "playwright", "requests",
}  # fmt: skip
"""Top-level modules a codec may not import."""

NOT_CODECS = {"servers.rfc6455", "servers.rfc6455.server"}
"""The modules of ``servers/rfc6455/`` that do I/O: the package (it re-exports the server)
and the asyncio server."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {
    module_name(path): path
    for package in PACKAGES
    for path in sorted((ROOT / package).rglob("*.py"))
}
CODECS = {"servers.sse"} | {
    name for name in MODULES if name.startswith("servers.rfc6455.") and name not in NOT_CODECS
}


def imports(name: str) -> list[tuple[int, str]]:
    """``(line, module)`` for every import in module ``name``, at any depth, resolved: a
    ``from package import submodule`` names the submodule, relative imports are made absolute,
    and a ``tools/`` script's import of a sibling (``import nbtools``) names ``tools.nbtools``."""
    path = MODULES[name]
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, _sibling(name, alias.name)) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join(parent + ([base] if base else []))
            base = _sibling(name, base)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if candidate in MODULES else base))
    return found


def _sibling(importer: str, target: str) -> str:
    if importer.startswith("tools.") and f"tools.{target}" in MODULES:
        return f"tools.{target}"
    return target


def where(name: str, line: int) -> str:
    return f"{MODULES[name].relative_to(ROOT)}:{line}"


def test_the_tree_has_the_modules_this_test_reads():
    assert {"servers.runtime", "servers.sse", "servers.rfc6455.codec", "lab.clients"} <= set(
        MODULES
    )
    assert {"servers.sse", "servers.rfc6455.codec", "servers.rfc6455.connection"} <= CODECS


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way_servers_then_lab_then_tools(package):
    wrong = [
        f"{where(name, line)}: {name} imports {target}"
        for name in MODULES
        if name.split(".")[0] == package
        for line, target in imports(name)
        if target.split(".")[0] in MAY_NOT_IMPORT[package]
    ]
    assert not wrong, (
        f"{package}/ may not import {' or '.join(sorted(MAY_NOT_IMPORT[package]))} "
        "(DESIGN.md, 'The packages, and who may import whom'):\n" + "\n".join(wrong)
    )


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_codecs_import_no_io(codec):
    wrong = [
        f"{where(codec, line)}: {target}"
        for line, target in imports(codec)
        if target.split(".")[0] in IO_MODULES
        or (target.split(".")[0] in PACKAGES and target not in CODECS)
    ]
    assert not wrong, (
        f"{codec} is a Sans-I/O codec: bytes in, events and bytes out; it may not import I/O "
        "or a project module that is not a codec:\n" + "\n".join(wrong)
    )


def cycles(package: str) -> list[list[str]]:
    """The import cycles among ``package``'s modules (Tarjan's strongly connected components
    of two or more modules, or a module importing itself)."""
    graph = {
        name: {t for _, t in imports(name) if t in MODULES and t.split(".")[0] == package}
        for name in MODULES
        if name.split(".")[0] == package
    }
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_no_package_has_an_import_cycle_even_through_imports_inside_functions(package):
    found = cycles(package)
    assert not found, f"import cycles in {package}/:\n" + "\n".join(
        " <-> ".join(cycle) for cycle in found
    )


# --- the rules catch what they are for (mutants in a temporary folder) -------------------------


@pytest.fixture
def mutant(tmp_path, monkeypatch):
    """``mutant(name, code)`` adds a module ``name`` with ``code`` to the tree this test reads."""

    def add(name: str, code: str, *, codec: bool = False) -> None:
        path = tmp_path / f"{name}.py"
        path.write_text(code)
        monkeypatch.setitem(MODULES, name, path)
        if codec:
            monkeypatch.setattr(f"{__name__}.CODECS", CODECS | {name})

    monkeypatch.setattr(f"{__name__}.where", lambda name, line: f"{name}:{line}")
    return add


def test_an_import_from_servers_to_lab_fails_naming_the_line(mutant):
    mutant("servers.mutant", "import os\n\ndef f():\n    from lab.timing import scaled\n")
    with pytest.raises(AssertionError, match="servers.mutant:4: servers.mutant imports lab.timing"):
        test_imports_point_one_way_servers_then_lab_then_tools("servers")


def test_an_import_from_lab_to_tools_fails(mutant):
    mutant("lab.mutant", "from tools import bench\n")
    with pytest.raises(AssertionError, match="lab.mutant imports tools"):
        test_imports_point_one_way_servers_then_lab_then_tools("lab")


@pytest.mark.parametrize(
    "code", ["import asyncio\n", "from socket import socket\n", "from servers import runtime\n"]
)
def test_a_codec_that_imports_io_fails(mutant, code):
    mutant("servers.rfc6455.mutant", code, codec=True)
    with pytest.raises(AssertionError, match="servers.rfc6455.mutant is a Sans-I/O codec"):
        test_codecs_import_no_io("servers.rfc6455.mutant")


def test_a_cycle_through_an_import_inside_a_function_fails(mutant):
    mutant("lab.mutant_a", "from lab import mutant_b\n")
    mutant("lab.mutant_b", "def later():\n    from lab.mutant_a import x\n")
    with pytest.raises(AssertionError, match="lab.mutant_a <-> lab.mutant_b"):
        test_no_package_has_an_import_cycle_even_through_imports_inside_functions("lab")
