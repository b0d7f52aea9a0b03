"""The core imports (and plans) without dagster, pyspark, mlflow or Delta Lake in the process.

Each check runs in a fresh interpreter (`sys.executable -c`): this test process may already
have imported anything, so sys.modules here proves nothing.
"""

from __future__ import annotations

import ast
import graphlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("dagster", "pyspark", "mlflow", "delta", "py4j")

# Plans a small store, so the check covers planning, lineage and refusals, not only imports.
PLAN_SOMETHING = """
from ff_assets.core import FeatureStore, StageKind as K, StageSpec as S, TestLeakageError
store = FeatureStore(name="reviews")
store.add(S(name="src", kind=K.SOURCE, outputs=("text", "y"), entity_key="id"))
store.split(inputs=["text", "y"])
store.add(S(name="tok", kind=K.TRANSFORM, inputs=("text",), outputs=("tokens",)))
store.add(S(name="tfidf", kind=K.FITTED, inputs=("tokens",), outputs=("vec",)))
store.add(S(name="w2v", kind=K.FITTED, inputs=("tokens",), outputs=("vec",)))
store.add(S(name="m", kind=K.MODEL, inputs=("vec",), outputs=("p",), label="y"))
plan = store.plan()
assert [v.name for v in plan.variants] == ["p[tfidf]", "p[w2v]"], plan.variants
assert list(plan.lineage("p[tfidf]").walk())
"""

REPORT_LOADED = f"""
import sys
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
assert not heavy, f"the core pulled in {{heavy}}"
print("ok")
"""

BLOCK_HEAVY = f"""
import importlib.abc, sys

class Unimportable(importlib.abc.MetaPathFinder):
    # As if these packages were not installed at all.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None

sys.meta_path.insert(0, Unimportable())
for name in {HEAVY!r}:
    try:
        __import__(name)
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError(f"{{name}} is still importable: the block does not work")
"""


def _run(code: str, *flags: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, *flags, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_core_loads_no_heavy_package():
    assert _run("import ff_assets.core\n" + REPORT_LOADED).strip() == "ok"


def test_the_spark_adapter_is_registered_without_loading_pyspark():
    code = (
        "import ff_assets.core\n"
        "from ff_assets.core.adapters import adapter_names\n"
        "assert adapter_names() == ('spark_ml',), adapter_names()\n"
    )
    assert _run(code + REPORT_LOADED).strip() == "ok"


def test_planning_loads_no_heavy_package():
    assert _run(PLAN_SOMETHING + REPORT_LOADED).strip() == "ok"


def test_the_core_imports_and_plans_when_heavy_packages_are_unimportable():
    code = BLOCK_HEAVY + "import ff_assets, ff_assets.core\n" + PLAN_SOMETHING + REPORT_LOADED
    assert _run(code).strip() == "ok"


def test_the_core_needs_nothing_but_the_standard_library():
    # -S: no site-packages on the path at all, so only the stdlib and the project can load.
    code = (
        "import sys\n"
        "assert not any('site-packages' in p for p in sys.path), sys.path\n"
        + PLAN_SOMETHING
        + "outside = sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)"
        " - set(sys.builtin_module_names) - {'ff_assets', '__main__'})\n"
        "print(outside)\n"
    )
    assert _run(code, "-S").strip() == "[]"


# -- the arrows between modules, read from the source (lazy imports inside functions too) ------
CORE = ROOT / "ff_assets" / "core"
DYNAMIC = {"import_module", "__import__", "find_spec", "load_module"}


def _imports(path: Path) -> list[str]:
    """Every module `path` imports, at the top or inside a function, resolved to absolute."""
    package = ["ff_assets", "core"]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names if node.level]
    return found


def _dynamic_imports(path: Path) -> list[str]:
    """Calls that import by name (`importlib.import_module(...)`, `__import__(...)`)."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in DYNAMIC:
                calls.append(f"{path.name}:{node.lineno} {name}(...)")
    return calls


def _core_graph() -> dict[str, set[str]]:
    """Core module -> the core modules it imports."""
    modules = {p.stem: p for p in CORE.glob("*.py") if p.stem != "__init__"}
    return {
        name: {
            m.split(".")[2]
            for m in _imports(path)
            if m.startswith("ff_assets.core.") and m.split(".")[2] in modules
        }
        for name, path in modules.items()
    }


def test_the_import_reader_sees_lazy_and_relative_imports(tmp_path):
    # The checks below only prove something if the reader finds what they look for.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import json\n"
        "from . import plan\n"
        "def later():\n"
        "    from ff_assets.spark.introspect import stage_from_spark\n"
        "    import importlib; importlib.import_module('pyspark')\n"
    )
    assert _imports(sample) == [
        "json",
        "ff_assets.core",
        "ff_assets.core.plan",
        "ff_assets.spark.introspect",
        "importlib",
    ]
    assert _dynamic_imports(sample) == ["sample.py:5 import_module(...)"]


def test_no_core_module_imports_outside_the_core_or_the_standard_library():
    outside = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted(CORE.glob("*.py"))
        for module in _imports(path)
        if module.split(".")[0] not in sys.stdlib_module_names
        and module != "ff_assets.core"
        and not module.startswith("ff_assets.core.")
    ]
    assert not outside, "the core must import only itself and the standard library:\n" + "\n".join(
        outside
    )


def test_no_core_module_imports_by_name():
    calls = [c for path in sorted(CORE.glob("*.py")) for c in _dynamic_imports(path)]
    assert not calls, f"the core must not import modules by name: {calls}"


def test_the_core_imports_form_no_cycle():
    graph = _core_graph()
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        raise AssertionError(f"core modules import each other: {error.args[1]}") from None


def test_the_planner_never_reaches_the_store():
    # The planner plans a frozen `Declarations` value; the store is the declaring API above it.
    graph = _core_graph()
    reached, stack = set(), ["planner"]
    while stack:
        for module in graph[stack.pop()] - reached:
            reached.add(module)
            stack.append(module)
    assert "store" not in reached, f"planner reaches store through {sorted(reached)}"
    assert "planner" in graph["store"]  # the one arrow between them runs store -> planner
