"""The architecture, read from the source: every import the `rehearsal` package names, and
the rules its layers keep.

The graph holds one edge for each import a module names, wherever it is written: at module
level, inside a function or a class, under `if TYPE_CHECKING:` or `try:`; `import a.b`,
`from a import b` (to the submodule `a.b` when there is one), relative imports; and a
string that is exactly a module's dotted name (`"rehearsal.x.y"` or `"rehearsal.x.y:attr"`),
which is how the plug-in registries and `import_module` name theirs. A type-only or lazy
import still ties two modules together for a reader and for mypy, so each counts. Importing
a submodule also runs its parent packages' `__init__`; that implicit edge is left out, as
every import-cycle tool leaves it out (a package that lazily imports its own modules is no
circle).

Two checks run over that graph: no import cycle, and each layer rule below, read on the
transitive closure (an indirect path breaks a rule as a direct import does). A failure names
the path of imports, with the line naming each step. The checker is itself tested on small
fake packages written to tmp_path, one per rule, that break it.
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "rehearsal"

# module -> {module it imports: "file:line" of the first import naming it}
Graph = dict[str, dict[str, str]]


# --- reading the imports ----------------------------------------------------------------------


def module_files(root: Path) -> dict[str, Path]:
    """Every module under `root` by dotted name, packages by their `__init__.py`; a folder
    without one (a namespace package) is named too, holding no code."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    for name in list(found):
        while "." in name:
            name = name.rpartition(".")[0]
            found.setdefault(name, root.parent.joinpath(*name.split(".")))
    return found


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The module a `from ... import` reads from, a relative one resolved against `package`."""
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, node.module] if node.module else parts)


def _named(tree: ast.AST, package: str, known: dict[str, Path]) -> list[tuple[str, int]]:
    """(module name, line) for every import `tree` names, before resolving to known modules."""
    named: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                named.append((sub if sub in known else base, node.lineno))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # a registry entry or import_module argument: the whole string names a module
            target = node.value.partition(":")[0]
            if "." in target and target in known:
                named.append((target, node.lineno))
    return named


def build_graph(root: Path) -> Graph:
    known = module_files(root)
    graph: Graph = {name: {} for name in known}
    for name, path in known.items():
        if path.suffix != ".py":
            continue  # a namespace package: no code, no imports
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), filename=str(path))
        found: dict[str, int] = {}
        for target, line in _named(tree, package, known):
            while target and target not in known:
                target = target.rpartition(".")[0]  # `a.b.func` -> the module `a.b`
            if target and target != name:
                found[target] = min(line, found.get(target, line))
        where = path.relative_to(root.parent).as_posix()
        graph[name] = {target: f"{where}:{line}" for target, line in sorted(found.items())}
    return graph


# --- cycles -------------------------------------------------------------------------------------


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's components of more than one module, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(components)


def shortest_path(graph: Graph, starts: list[str], goal: set[str], within: set[str]) -> list[str]:
    """The shortest path of at least one step from one of `starts` to a module of `goal`,
    through modules of `within` only; [] if there is none."""
    queue = deque([start] for start in starts)
    seen: set[str] = set()
    while queue:
        path = queue.popleft()
        for child in graph[path[-1]]:
            if child in goal:
                return [*path, child]
            if child in within and child not in seen:
                seen.add(child)
                queue.append([*path, child])
    return []


def cycle_through(graph: Graph, component: list[str]) -> list[str]:
    """A shortest cycle (a -> ... -> a) from the first member of a strongly connected component."""
    return shortest_path(graph, [component[0]], {component[0]}, set(component))


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle through each strongly connected component."""
    return [cycle_through(graph, component) for component in strongly_connected(graph)]


def describe(graph: Graph, path: list[str]) -> str:
    """`a -> b -> c`, then where each step is imported."""
    steps = [f"      {a} -> {b}  ({graph[a][b]})" for a, b in pairwise(path)]
    return "\n".join([f"  {' -> '.join(path)}", *steps])


# --- layer rules --------------------------------------------------------------------------------


def inside(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


@dataclass(frozen=True)
class Rule:
    name: str
    sources: tuple[str, ...]  # the packages the rule binds
    forbidden: tuple[str, ...]  # what nothing of theirs may reach, directly or not
    why: str


RULES = [
    Rule(
        "simulator-imports-no-provider",
        ("rehearsal.simulator",),
        # rehearsal.signatures: where the signatures lived before they moved to providers/
        ("rehearsal.providers", "rehearsal.signatures"),
        "the simulator is written from the providers' documentation, not from our adapters "
        "or our signature code, so the two halves check each other",
    ),
    Rule(
        "providers-import-no-simulator",
        ("rehearsal.providers",),
        ("rehearsal.simulator",),
        "the adapters are written against the providers, never against our simulator",
    ),
    Rule(
        "providers-import-no-upper-layer",
        ("rehearsal.providers",),
        (
            "rehearsal.cli",
            "rehearsal.commands",
            "rehearsal.engine",
            "rehearsal.session",
            "rehearsal.reports",
        ),
        "a provider adapter talks to one provider; the layers that drive a run sit above it",
    ),
    Rule(
        "receiver-imports-no-engine",
        ("rehearsal.receiver",),
        ("rehearsal.engine",),
        "the receiver verifies and stores events; the engine waits for them, not the reverse",
    ),
    Rule(
        "reports-import-no-engine",
        ("rehearsal.reports",),
        ("rehearsal.engine",),
        "reports render a finished run's results, never run or reach into the engine",
    ),
    Rule(
        "net-imports-no-cli",
        ("rehearsal.net",),
        ("rehearsal.cli",),
        "networking is a library for every layer; the entry point sits on top of it",
    ),
    # The rest of docs/layout.md's table: each package reaches only what sits below it.
    Rule(
        "net-imports-nothing-above",
        ("rehearsal.net",),
        tuple(
            f"rehearsal.{p}"
            for p in [
                "commands",
                "session",
                "plan",
                "engine",
                "ledger",
                "receiver",
                "providers",
                "audit",
                "tunnels",
                "ui",
                "reports",
                "simulator",
            ]
        ),
        "the wire is the bottom layer: a server thread, a loopback client, a TLS context",
    ),
    Rule(
        "commands-import-no-cli",
        ("rehearsal.commands",),
        ("rehearsal.cli",),
        "a command returns an exit code to the CLI; it never reaches back into it",
    ),
    Rule(
        "session-imports-no-command",
        ("rehearsal.session",),
        ("rehearsal.cli", "rehearsal.commands"),
        "the run session serves every command; a command is not a library",
    ),
    Rule(
        "engine-imports-no-session",
        ("rehearsal.engine",),
        ("rehearsal.cli", "rehearsal.commands", "rehearsal.session"),
        "the engine runs the steps it is handed; who opened the run is not its business",
    ),
    Rule(
        "ledger-imports-no-engine",
        ("rehearsal.ledger",),
        ("rehearsal.engine", "rehearsal.cli", "rehearsal.commands", "rehearsal.session"),
        "the ledger and the settle engine are judged by the provider's books, not by the run",
    ),
    Rule(
        "plan-imports-no-engine",
        ("rehearsal.plan",),
        ("rehearsal.engine", "rehearsal.ledger", "rehearsal.session", "rehearsal.cli"),
        "a plan is data, validated before anything runs",
    ),
    Rule(
        "views-and-paths-import-no-engine",
        ("rehearsal.ui", "rehearsal.tunnels", "rehearsal.receiver", "rehearsal.reports"),
        ("rehearsal.engine", "rehearsal.session", "rehearsal.cli", "rehearsal.commands"),
        "views consume events, tunnels and the receiver carry them, reports read the ledger",
    ),
    Rule(
        "audit-imports-no-simulator",
        ("rehearsal.audit",),
        ("rehearsal.simulator",),
        "the audit plays the provider with the adapters' own signing, never the simulator's",
    ),
    Rule(
        "simulator-stands-apart",
        ("rehearsal.simulator",),
        tuple(
            f"rehearsal.{p}"
            for p in [
                "cli",
                "commands",
                "session",
                "plan",
                "engine",
                "ledger",
                "receiver",
                "audit",
                "tunnels",
                "ui",
                "reports",
            ]
        ),
        "the simulator is a stand-in provider: it shares only the wire and the error types",
    ),
]


def violations(graph: Graph, rule: Rule) -> list[list[str]]:
    """For each forbidden module reached from the rule's packages, the shortest path to it;
    the search stops at the first forbidden module of each path (where the rule breaks)."""
    starts = sorted(m for m in graph if inside(m, rule.sources))
    bad = {m for m in graph if inside(m, rule.forbidden)}
    allowed = set(graph) - bad
    paths = []
    for target in sorted(bad):
        within = allowed | {target}
        if path := shortest_path(graph, starts, {target}, within):
            paths.append(path)
    return paths


def report(graph: Graph, rule: Rule, paths: list[list[str]]) -> str:
    head = (
        f"{', '.join(rule.sources)} must import nothing of {', '.join(rule.forbidden)} "
        f"({rule.why}); {len(paths)} path(s) break it:"
    )
    return "\n".join([head, *(describe(graph, p) for p in paths)])


# --- the package as it is -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph(ROOT)


def test_the_package_has_no_import_cycle(graph: Graph) -> None:
    found = strongly_connected(graph)
    lines = [
        f"{len(members)} modules import each other: {', '.join(members)}\n"
        f"  one cycle among them:\n{describe(graph, cycle_through(graph, members))}"
        for members in found
    ]
    assert not found, "import cycle(s), counting every import the code names:\n" + "\n".join(lines)


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_the_layer_rule_holds(graph: Graph, rule: Rule) -> None:
    for package in rule.sources:
        assert package in graph, f"{package} is gone: move the rule {rule.name} with it"
    assert any(inside(m, rule.forbidden) for m in graph), f"{rule.name} forbids nothing real"
    paths = violations(graph, rule)
    assert not paths, report(graph, rule, paths)


def test_the_graph_reads_the_registries(graph: Graph) -> None:
    """The plug-ins are named by strings; without those edges a rule could miss a path."""
    reached = {target for imports in graph.values() for target in imports}
    for name in ("mintcash", "paymongo", "stripe"):
        assert f"rehearsal.providers.{name}" in reached
        assert f"rehearsal.simulator.{name}.dialect" in reached
    for name in ("mintcash", "paymongo"):
        assert f"rehearsal.audit.dialects.{name}" in reached


# --- the checker breaks on purpose ------------------------------------------------------------


def write_package(root: Path, files: dict[str, str]) -> Path:
    """Files (dotted module name -> source) under root/rehearsal; returns that package."""
    for name, text in {"rehearsal": "", **files}.items():
        parts = name.split(".")
        path = root.joinpath(*parts[:-1], parts[-1] + ".py")
        if any(n.startswith(name + ".") for n in files) or name == "rehearsal":
            path = root.joinpath(*parts, "__init__.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "rehearsal"


SPELLINGS = {
    "import": "import rehearsal.b.c\n",
    "import-as": "import rehearsal.b.c as c\n",
    "from-module": "from rehearsal.b.c import thing\n",
    "from-package-submodule": "from rehearsal.b import c\n",
    "relative": "from ..b import c\n",
    "relative-module": "from ..b.c import thing\n",
    "function-local": "def f() -> None:\n    from rehearsal.b import c\n",
    "method-local": "class K:\n    def m(self) -> None:\n        import rehearsal.b.c\n",
    "type-checking": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from rehearsal.b.c import T\n"
    ),
    "try-import": "try:\n    import rehearsal.b.c\nexcept ImportError:\n    pass\n",
    "import-module": "from importlib import import_module\nM = import_module('rehearsal.b.c')\n",
    "registry-entry": "REGISTRY = {'c': 'rehearsal.b.c:make'}\n",
}


@pytest.mark.parametrize("text", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_the_reader_sees_every_spelling(tmp_path: Path, text: str) -> None:
    root = write_package(tmp_path, {"rehearsal.a.probe": text, "rehearsal.b.c": "thing = 1\n"})
    assert "rehearsal.b.c" in build_graph(root)["rehearsal.a.probe"]


def test_the_reader_ignores_what_names_no_module(tmp_path: Path) -> None:
    text = (
        '"""Mentions rehearsal.b.c in prose."""\n'
        "import json\n"
        "NAME = f'rehearsal.b.{json.__name__}'\n"
        "FILE = 'rehearsal.b.sqlite'\n"
    )
    root = write_package(tmp_path, {"rehearsal.a.probe": text, "rehearsal.b.c": ""})
    assert build_graph(root)["rehearsal.a.probe"] == {}


def test_each_cycle_is_found_with_its_members(tmp_path: Path) -> None:
    """x -> y -> z -> x by a function-local, a relative and a registry import; p <-> q.b by
    TYPE_CHECKING imports; w reaches the first cycle without being part of it."""
    type_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    {}\n"
    root = write_package(
        tmp_path,
        {
            "rehearsal.x": "def f() -> None:\n    from rehearsal import y\n",
            "rehearsal.y": "from .z import thing\n",
            "rehearsal.z": "thing = {'x': 'rehearsal.x'}\n",
            "rehearsal.w": "import rehearsal.x\n",
            "rehearsal.p": type_only.format("from rehearsal.q import b"),
            "rehearsal.q.b": type_only.format("import rehearsal.p"),
        },
    )
    graph = build_graph(root)
    assert strongly_connected(graph) == [
        ["rehearsal.p", "rehearsal.q.b"],
        ["rehearsal.x", "rehearsal.y", "rehearsal.z"],
    ]
    assert cycles(graph) == [
        ["rehearsal.p", "rehearsal.q.b", "rehearsal.p"],
        ["rehearsal.x", "rehearsal.y", "rehearsal.z", "rehearsal.x"],
    ]
    assert "rehearsal.z -> rehearsal.x  (rehearsal/z.py:1)" in describe(graph, cycles(graph)[1])
    (root / "z.py").write_text("thing = 1\n")
    (root / "p.py").write_text("")
    assert cycles(build_graph(root)) == []


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_each_rule_fails_when_broken(tmp_path: Path, rule: Rule) -> None:
    """A module of the rule's package reaches a forbidden one through a neutral module, by a
    function-local import then a TYPE_CHECKING one: the checker names that path."""
    source, forbidden = f"{rule.sources[0]}.probe", f"{rule.forbidden[0]}.target"
    package, _, leaf = forbidden.rpartition(".")
    files = {
        source: "def f() -> None:\n    import rehearsal.neutral\n",
        "rehearsal.neutral": f"from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        f"    from {package} import {leaf}\n",
        forbidden: "",
    }
    graph = build_graph(write_package(tmp_path, files))
    assert violations(graph, rule) == [[source, "rehearsal.neutral", forbidden]]
    message = report(graph, rule, violations(graph, rule))
    assert f"{source} -> rehearsal.neutral -> {forbidden}" in message
    assert "rehearsal/neutral.py:3" in message

    (tmp_path / "rehearsal" / "neutral.py").write_text("import json\n")
    assert violations(build_graph(tmp_path / "rehearsal"), rule) == []


@pytest.mark.parametrize(
    "text",
    [
        "from rehearsal.providers import signatures\n",
        "from ...providers.signatures import verify\n",
        "import rehearsal.signatures\n",
    ],
    ids=["signatures", "relative-signatures", "old-signatures"],
)
def test_the_simulator_may_not_reach_the_signatures(tmp_path: Path, text: str) -> None:
    files = {
        "rehearsal.simulator.stripe.webhooks": text,
        "rehearsal.providers.signatures": "def verify() -> None: ...\n",
        "rehearsal.signatures": "",
    }
    graph = build_graph(write_package(tmp_path, files))
    (paths,) = [violations(graph, r) for r in RULES if r.name == "simulator-imports-no-provider"]
    assert len(paths) == 1
    assert paths[0][0] == "rehearsal.simulator.stripe.webhooks"
    assert paths[0][-1] in {"rehearsal.providers.signatures", "rehearsal.signatures"}
