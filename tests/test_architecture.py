"""The architecture, checked: layers only point down, no import cycles, no reaching into another
module's private names, argparse only in the CLI, a one-line docstring on every module.

Every import counts, module-level and inside functions (a function-level import hides a cycle
from Python, not from this test). Layers, from the top:

    cli        __main__, cli, options, outcome   the entry; argv -> Options; one outcome rendered
    commands   commands.*                        one module per user command
    tasks      tasks.*                           one task's life, shared by runs and batches
    io         net.*, upload.*, store.*          network, uploads, what lasts on disk
    settings   config, request_text              what the user configured and asked for, read safely
    domain     catalog, modes, payload, validate, media, probe
    support    console, context, errors, hints, shell, updates, safe_json

A module may import its own layer or any layer below it, never one above (options and outcome
are records the CLI fills and every command returns, so commands and tasks may read them).
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

PACKAGE = Path(__file__).resolve().parent.parent / "scripts" / "qianwen_video"
NAME = "qianwen_video"

LAYERS = ["cli", "commands", "tasks", "io", "settings", "domain", "support"]
NAMEDTUPLE_API = {"_fields", "_replace", "_asdict", "_make", "_field_defaults"}  # public, despite the "_"
RECORDS = {"qianwen_video.options", "qianwen_video.outcome"}  # read by every layer that runs a command


def layer_of(module: str) -> str:
    parts = module.split(".")[1:]
    head = parts[0] if parts else ""
    if head in ("__main__", "cli", "options", "outcome"):
        return "cli"
    if head in ("commands", "tasks"):
        return head
    if head in ("net", "upload", "store"):
        return "io"
    if head in ("catalog", "modes", "payload", "validate", "media", "probe"):
        return "domain"
    if head in ("config", "request_text"):
        return "settings"
    if head in ("console", "context", "errors", "hints", "shell", "updates", "safe_json", ""):
        return "support"
    raise AssertionError("place %s in a layer (tests/test_architecture.py)" % module)


def modules() -> Dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(module: str, path: Path, known: Set[str]) -> List[Tuple[str, int, List[str]]]:
    """(imported module, line, names taken from it) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append((alias.name, node.lineno, []))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [alias.name for alias in node.names]
            submodules = ["%s.%s" % (target, n) for n in names if "%s.%s" % (target, n) in known]
            if submodules:
                out += [(sub, node.lineno, []) for sub in submodules]
                rest = [n for n in names if "%s.%s" % (target, n) not in known]
                if rest:
                    out.append((target, node.lineno, rest))
            else:
                out.append((target, node.lineno, names))
    return [(target, line, names) for target, line, names in out]


def graph() -> Dict[str, List[Tuple[str, int, List[str]]]]:
    found = modules()
    known = set(found)
    return {m: [(t, line, names) for t, line, names in imports(m, p, known) if t == NAME or t.startswith(NAME + ".")]
            for m, p in found.items()}


def test_no_import_cycles():
    edges = {m: {t for t, _, _ in targets if t != m} for m, targets in graph().items()}
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt in edges and not state.get(nxt):
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if not state.get(node):
            visit(node)


def test_layers_only_point_down():
    upward = []
    for module, targets in graph().items():
        here = LAYERS.index(layer_of(module))
        for target, line, _ in targets:
            if target in RECORDS or target == NAME:
                continue
            there = LAYERS.index(layer_of(target))
            if there < here:
                upward.append("%s:%d imports %s (%s above %s)" % (module, line, target, LAYERS[there], LAYERS[here]))
    assert not upward, "\n".join(upward)


def test_nothing_imports_the_cli_and_only_the_cli_uses_argparse():
    for module, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        uses_argparse = any(isinstance(n, ast.Import) and any(a.name == "argparse" for a in n.names)
                            or isinstance(n, ast.ImportFrom) and n.module == "argparse" for n in ast.walk(tree))
        if module != NAME + ".cli":
            assert not uses_argparse, "%s imports argparse: only the CLI parses argv" % module
    importers = [m for m, targets in graph().items() if any(t == NAME + ".cli" for t, _, _ in targets)]
    assert importers == [NAME + ".__main__"], "only the entry imports the CLI: %s" % importers


def test_no_module_reads_another_modules_private_names():
    found = modules()
    offences = []
    for module, path in found.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: Dict[str, str] = {}  # local name -> package module it stands for
        for target, line, names in imports(module, path, set(found)):
            if target.startswith(NAME):
                for name in names:
                    if name.startswith("_") and not name.startswith("__") and target != module:
                        offences.append("%s:%d takes %s from %s" % (module, line, name, target))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    aliases[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr.startswith("_")
                    and not node.attr.startswith("__") and node.value.id in aliases
                    and node.attr not in NAMEDTUPLE_API
                    and node.value.id not in ("self", "cls")):
                offences.append("%s:%d reads %s.%s" % (module, node.lineno, node.value.id, node.attr))
    assert not offences, "\n".join(offences)


def test_every_module_says_why_it_exists_in_one_line():
    missing = []
    for module, path in modules().items():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        if not doc or not doc.splitlines()[0].strip().endswith((".", ":")):
            missing.append("%s: %r" % (module, (doc or "").splitlines()[:1]))
    assert not missing, "each module opens with a one-line docstring (a sentence):\n" + "\n".join(missing)


def test_the_checks_see_a_planted_violation(tmp_path, monkeypatch):
    """The graph is real: a planted upward import and a planted cycle are found."""
    store = tmp_path / "qianwen_video" / "store"
    store.mkdir(parents=True)
    (tmp_path / "qianwen_video" / "__init__.py").write_text('"""P."""\n')
    (store / "__init__.py").write_text('"""S."""\n')
    (store / "a.py").write_text('"""A."""\ndef f():\n    from ..commands import b\n')
    commands = tmp_path / "qianwen_video" / "commands"
    commands.mkdir()
    (commands / "__init__.py").write_text('"""C."""\n')
    (commands / "b.py").write_text('"""B."""\nfrom ..store import a\n')
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "qianwen_video")
    import pytest

    with pytest.raises(AssertionError, match="store.a:3 imports qianwen_video.commands.b"):
        test_layers_only_point_down()
    with pytest.raises(AssertionError, match="import cycle"):
        test_no_import_cycles()
