"""The core imports (and plans) without dagster, pyspark, mlflow or Delta Lake in the process.

Each check runs in a fresh interpreter (`sys.executable -c`): this test process may already
have imported anything, so sys.modules here proves nothing.
"""

from __future__ import annotations

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
