"""Definitions scale (brief §6.4): building the Dagster definitions of a store of 2,000 stages
costs at most 3x what Dagster needs for the same graph of plain asset specs, and resolving every
job costs at most 2 s more.

A script, not a test, and no Spark: stages are `StageSpec`s with plain Python impls (never
called). Contenders, timed side by side in one process (alternating, best and median of
`--repeat` rounds, one contender's objects alive at a time):
- ff_assets: `build_definitions([store])` (it plans the store, then builds the store's one
  multi-asset of specs and check specs, the scoring assets, the jobs per store and variant, the
  schedule, the sensors and the resources) and then `defs.resolve_asset_graph()`;
- dagster:   `Definitions(assets=[AssetSpec(key, deps=...) ...])` with exactly the keys and
  dependencies of ff_assets' resolved asset graph (read from it once, untimed), then
  `defs.resolve_asset_graph()`.
`store.plan()` alone is timed too (it is part of the ff_assets column), and, for information,
`defs.get_repository_def()` on both (what loading a code location also resolves: every job).

    PYTHONPATH=. python benchmarks/definitions_scale.py [--stages 2000] [--repeat 3]
                                                        [--profile FILE]

The store has the `wide` shape of `planner_scale.py`: independent pipelines source -> split ->
two transforms -> fitted -> model, every fourth with a second producer of the model's input
(two variants).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetSpec,
    Definitions,
    asset_check,
    multi_asset,
)

from ff_assets.core import FeatureStore, Runtime, StageKind, StageSpec
from ff_assets.orchestration import build_definitions

GOAL = 3.0  # ff_assets / plain specs, build + resolve
JOBS_GOAL_S = 2.0  # every job resolved in at most this much more than plain specs' jobs


def _impl(frame: Any) -> Any:
    return frame


def _source(spark: Any, data_dir: Any) -> Any:
    return None


def wide_store(n: int) -> FeatureStore:
    """Independent pipelines of 6 stages (7 with an alternative producer) until n stages."""
    store = FeatureStore(name="wide", max_variants=n)
    count = 0

    def add(name: str, kind: StageKind, inputs: list[str], outputs: list[str], **extra) -> None:
        nonlocal count
        impl = _source if kind is StageKind.SOURCE else _impl
        # Definitions only, never run: the transforms stand for Spark ML stages (a Python
        # function could not sit in a registered model's inference pipeline).
        if kind is StageKind.TRANSFORM:
            extra.setdefault("runtime", Runtime.SPARK_ML)
        store.add(
            StageSpec(
                name=name,
                kind=kind,
                inputs=tuple(inputs),
                outputs=tuple(outputs),
                impl=impl,
                **extra,
            )
        )
        count += 1

    i = 0
    while count < n:
        p = f"p{i}"
        carried = [f"{p}_a", f"{p}_b", f"{p}_y"]
        add(f"{p}_src", StageKind.SOURCE, [], carried, entity_key="id")
        store.split(name=f"{p}_split", inputs=carried)
        count += 1
        add(f"{p}_t1", StageKind.TRANSFORM, [f"{p}_a"], [f"{p}_c"])
        add(f"{p}_t2", StageKind.TRANSFORM, [f"{p}_c", f"{p}_b"], [f"{p}_d"])
        if i % 4 == 0:
            add(f"{p}_alt", StageKind.FITTED, [f"{p}_c"], [f"{p}_v"])
        add(f"{p}_fit", StageKind.FITTED, [f"{p}_d"], [f"{p}_v"])
        add(f"{p}_model", StageKind.MODEL, [f"{p}_v", f"{p}_b"], [f"{p}_pred"], label=f"{p}_y")
        i += 1
    return store


def plain_specs(defs: Definitions) -> tuple[list[AssetSpec], list[AssetCheckKey]]:
    """The asset graph of `defs` as plain specs (the same keys, the same dependencies), and
    its check keys."""
    graph = defs.resolve_asset_graph()
    specs = [
        AssetSpec(key, deps=sorted(graph.get(key).parent_keys))
        for key in sorted(graph.get_all_asset_keys())
    ]
    return specs, sorted(graph.asset_check_keys, key=lambda k: (k.asset_key, k.name))


def executable_defs(specs: list[AssetSpec], checks: list[AssetCheckKey]) -> Definitions:
    """Dagster's own executable equivalent (information): one no-op `@multi_asset` per asset
    and one no-op blocking `@asset_check` per check of ff_assets' graph, no jobs."""
    assets = []
    for i, spec in enumerate(specs):

        @multi_asset(name=f"asset_{i}", specs=[spec])
        def compute() -> None: ...

        assets.append(compute)
    asset_checks = []
    for i, key in enumerate(checks):

        @asset_check(asset=key.asset_key, name=key.name, blocking=True)
        def check() -> AssetCheckResult:
            return AssetCheckResult(passed=True)

        check.__name__ = f"check_{i}"
        asset_checks.append(check)
    return Definitions(assets=assets, asset_checks=asset_checks)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", "--rows", type=int, default=2_000, dest="stages")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", metavar="FILE", help="cProfile one ff_assets build into FILE")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON here")
    args = parser.parse_args()

    store = wide_store(args.stages)
    plan = store.plan()
    reference = build_definitions([store])
    specs, checks = plain_specs(reference)
    n_deps = sum(len(s.deps) for s in specs)
    n_jobs = len(reference.resolve_all_job_defs())
    del reference
    print(
        f"definitions scale: {len(store.stages):,} stages -> {len(plan.variants):,} variants, "
        f"{len(specs):,} assets, {n_deps:,} dependencies, {len(checks):,} checks, "
        f"{n_jobs:,} jobs; best and median of {args.repeat} rounds"
    )

    contenders: dict[str, Callable[[], Definitions]] = {
        "ff_assets": lambda: build_definitions([store]),
        "dagster specs": lambda: Definitions(assets=list(specs)),
        "dagster exec": lambda: executable_defs(specs, checks),
    }
    rows: dict[str, dict[str, list[float]]] = {
        name: {"build": [], "resolve": [], "total": [], "jobs": []} for name in contenders
    }
    plans: list[float] = []
    for _ in range(args.repeat):
        gc.collect()
        plans.append(timed(store.plan)[0])
        for name, build in contenders.items():
            gc.collect()
            row = rows[name]
            built, defs = timed(build)
            resolved = timed(defs.resolve_asset_graph)[0]
            row["build"].append(built)
            row["resolve"].append(resolved)
            row["total"].append(built + resolved)
            row["jobs"].append(timed(defs.resolve_all_job_defs)[0])
            del defs

    def cell(values: list[float]) -> str:
        return f"{min(values):>7.3f} / {statistics.median(values):>7.3f}"

    columns = ("build defs s", "resolve graph s", "build+resolve s", "all jobs s (info)")
    header = f"{'contender':<13} | " + " | ".join(f"{c:>17}" for c in columns)
    print(header)
    print(f"{'':<13} | " + " | ".join(f"{'best / median':>17}" for _ in columns))
    print("-" * len(header))
    for name, row in rows.items():
        print(
            f"{name:<13} | "
            + " | ".join(cell(row[k]) for k in ("build", "resolve", "total", "jobs"))
        )
    print(f"store.plan() alone (inside ff_assets' build): {cell(plans)} s")

    def ratio(a: str, b: str) -> tuple[float, float]:
        best = min(rows[a]["total"]) / min(rows[b]["total"])
        per_round = statistics.median(
            x / y for x, y in zip(rows[a]["total"], rows[b]["total"], strict=True)
        )
        return best, per_round

    best, per_round = ratio("ff_assets", "dagster specs")
    verdict = "ok" if best <= GOAL else "MISSED"
    print(
        f"ff_assets / dagster specs (build + resolve) = {best:.2f} (median of rounds "
        f"{per_round:.2f}); goal <= {GOAL:g}: {verdict}"
    )
    best_x, per_round_x = ratio("ff_assets", "dagster exec")
    print(
        f"ff_assets / dagster exec  (build + resolve) = {best_x:.2f} (median of rounds "
        f"{per_round_x:.2f}): information, Dagster's own cost of the executable graph"
    )
    jobs_more = statistics.median(rows["ff_assets"]["jobs"]) - statistics.median(
        rows["dagster specs"]["jobs"]
    )
    jobs_ok = jobs_more <= JOBS_GOAL_S
    print(
        f"all jobs resolved: ff_assets {jobs_more:+.2f} s against dagster specs (median); "
        f"goal <= +{JOBS_GOAL_S:g} s: {'ok' if jobs_ok else 'MISSED'}"
    )
    if args.json:
        payload = {
            "benchmark": "definitions_scale", "stages": args.stages, "repeat": args.repeat,
            "median_s": {n: {k: round(statistics.median(v), 3) for k, v in row.items()}
                         for n, row in rows.items()},
            "ratio_build_resolve": round(best, 3), "jobs_more_s": round(jobs_more, 3),
        }  # fmt: skip
        from _spark_bench import stamp

        Path(args.json).write_text(json.dumps(stamp(payload), indent=2) + "\n")
    if args.profile:
        cProfile.runctx(
            "build_definitions([store]).resolve_asset_graph()",
            globals(),
            {"store": store},
            args.profile,
        )
        print(f"profile of one ff_assets build + resolve written to {args.profile}")
    return 0 if best <= GOAL and jobs_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
