"""The layout's rules, read from the source: no import cycles, index/ never imports bot/,
only bot/discord_app/ imports discord. Every import counts, also one inside a function (an
import deferred to run time still ties the two modules together), but not one for type
checkers only. No module in bot/ or index/ passes MAX_LINES, and every package there has an
`__init__.py` whose docstring says what the part owns and what it may import."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "index")
# Cycles allowed to stand (none: the Discord client loads its cogs by name since issue 20).
KNOWN_CYCLES: list[set[str]] = []
# A module past this many lines does more than one job: split it by responsibility.
MAX_LINES = 500
# Modules allowed past MAX_LINES, each with its reason (none so far).
LONG_MODULES: dict[str, str] = {}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    modules = {_module(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # Imports for type checkers only never run.
        typing_only = {
            id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
            and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
            for stmt in block.body for n in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph.setdefault(f"{name}#external", set()).update(
                    t.split(".")[0] for t in targets if t.split(".")[0] not in PACKAGES
                )
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in [m for m in graph if "#" not in m]:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_beyond_the_known_one() -> None:
    graph = {m: t for m, t in _imports().items() if "#" not in m}
    unexpected = [c for c in _cycles(graph) if not any(c <= known for known in KNOWN_CYCLES)]
    assert unexpected == []


def test_index_never_imports_bot_and_only_discord_app_imports_discord() -> None:
    graph = _imports()
    assert not [(m, t) for m, ts in graph.items() if m.startswith("index") and "#" not in m
                for t in ts if t.startswith("bot")]
    discord_users = {m.split("#")[0] for m, ts in graph.items() if "#" in m and "discord" in ts}
    assert all(m.startswith("bot.discord_app") for m in discord_users), discord_users


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_module_is_over_max_lines() -> None:
    too_long = {
        rel: _lines(p)
        for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))
        if (rel := p.relative_to(ROOT).as_posix()) not in LONG_MODULES
        and _lines(p) > MAX_LINES
    }
    assert too_long == {}, f"split these by responsibility (at most {MAX_LINES} lines each)"


def test_long_module_exceptions_are_still_needed() -> None:
    stale = [rel for rel in LONG_MODULES
             if not (ROOT / rel).exists() or _lines(ROOT / rel) <= MAX_LINES]
    assert stale == []


def test_every_package_has_an_init_with_a_docstring() -> None:
    packages = {p.parent for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    missing = []
    for package in sorted(packages):
        init = package / "__init__.py"
        if not init.exists() or not ast.get_docstring(ast.parse(init.read_text("utf-8"))):
            missing.append(package.relative_to(ROOT).as_posix())
    assert missing == []
