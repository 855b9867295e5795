"""Imports flow one way: errors -> engine -> io -> preflight, control,
render -> live -> the command line and the package's public names.

The engine (statistics, rules, findings, report, session) never imports
keras, tensorflow, the renderers or the live callback, so `analyze()` on a
CSV file starts fast and the rules can be tested in milliseconds.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keras_curvewatch"
ROOT = "keras_curvewatch"

# Rank of each layer: a module may import, at module level, only from its
# own layer or lower ones.
LAYERS = {"errors": 0, "engine": 1, "io": 2, "preflight": 3, "control": 3,
          "render": 3, "live": 4, "cli": 5, "demo": 5, "__init__": 5,
          "__main__": 5}
# Never imported by the engine, not even inside a function.
ENGINE_FORBIDDEN = ("keras", "tensorflow", f"{ROOT}.live")
# Imported by the engine only inside the method that needs it
# (`str(report)`, `report.plot()`), never when the engine is imported.
ENGINE_LAZY_ONLY = (f"{ROOT}.render",)


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield ".".join(parts), path


def _imports(path):
    """[(imported module, at module level?)] of one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set(map(id, tree.body))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}"
                                     for alias in node.names]
        else:
            continue
        out.extend((name, id(node) in top) for name in names)
    return out


def _layer(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _known(name, modules):
    return name if name in modules else None


MODULES = dict(_modules())


@pytest.mark.parametrize("module", sorted(m for m in MODULES
                                          if _layer(m) == "engine"))
def test_engine_never_imports_keras_render_or_live(module):
    for name, top in _imports(MODULES[module]):
        forbidden = ENGINE_FORBIDDEN + (ENGINE_LAZY_ONLY if top else ())
        assert not any(name == bad or name.startswith(bad + ".")
                       for bad in forbidden), (module, name)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_level_imports_flow_one_way(module):
    rank = LAYERS[_layer(module)]
    for name, top in _imports(MODULES[module]):
        if not top or not name.startswith(ROOT + "."):
            continue
        target = _layer(name)
        assert LAYERS[target] <= rank, (
            f"{module} ({_layer(module)}) imports {name} ({target}) at "
            "module level: imports must flow from lower layers up")


def test_no_import_cycles_even_inside_functions():
    graph = {m: set() for m in MODULES if not m.endswith("__init__")}
    for module in graph:
        for name, _ in _imports(MODULES[module]):
            if name in graph and name != module:
                graph[module].add(name)
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])


def test_formatting_lives_in_one_module():
    """The lint modules format numbers with engine.format, not the rules'
    helpers."""
    for module in MODULES:
        if _layer(module) != "preflight":
            continue
        for name, _ in _imports(MODULES[module]):
            assert not name.startswith(f"{ROOT}.engine.rules.base"), (
                module, name)


def test_importing_the_engine_loads_no_keras_render_or_live():
    code = (
        "import sys, importlib, pkgutil\n"
        "import keras_curvewatch.engine as e\n"
        "for m in pkgutil.walk_packages(e.__path__,\n"
        "                               'keras_curvewatch.engine.'):\n"
        "    importlib.import_module(m.name)\n"
        "from keras_curvewatch.engine.analysis import analyze\n"
        "str(analyze({'loss': [1.0, 0.5, 0.4]}).to_json())\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in "
        f"('keras', 'tensorflow') or m.startswith('{ROOT}.render')]\n"
        "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code],
                            cwd=PACKAGE.parent, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
