"""Definitions scale (brief §6.3, second half): building the Dagster definitions of a store of
2,000 stages costs at most 2x what Dagster needs for the same graph of plain asset specs.

A script, not a test, and no Spark: stages are `StageSpec`s with plain Python impls (never
called). Contenders, timed side by side in one process (alternating, best and median of
`--repeat` rounds, one contender's objects alive at a time):
- ff_assets: `build_definitions([store])` (it plans the store, then builds the multi-assets,
  the fit assets, the registered-model and comparison assets, the blocking checks, the jobs per
  store and variant, the schedule, the sensors and the resources) and then
  `defs.resolve_asset_graph()`;
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
import statistics
import time
from collections.abc import Callable
from typing import Any

from dagster import AssetSpec, Definitions

from ff_assets.core import FeatureStore, StageKind, StageSpec
from ff_assets.orchestration import build_definitions

GOAL = 2.0


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
        store.add(StageSpec(name=name, kind=kind, inputs=tuple(inputs), outputs=tuple(outputs),
                            impl=impl, **extra))  # fmt: skip
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


def plain_specs(defs: Definitions) -> list[AssetSpec]:
    """The asset graph of `defs` as plain specs: the same keys, the same dependencies."""
    graph = defs.resolve_asset_graph()
    return [
        AssetSpec(key, deps=sorted(graph.get(key).parent_keys))
        for key in sorted(graph.get_all_asset_keys())
    ]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", "--rows", type=int, default=2_000, dest="stages")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", metavar="FILE", help="cProfile one ff_assets build into FILE")
    args = parser.parse_args()

    store = wide_store(args.stages)
    plan = store.plan()
    reference = build_definitions([store])
    specs = plain_specs(reference)
    graph = reference.resolve_asset_graph()
    n_assets = len(specs)
    n_deps = sum(len(s.deps) for s in specs)
    n_checks = len(list(graph.asset_check_keys))
    n_jobs = len(reference.resolve_all_job_defs())
    del reference, graph
    print(f"definitions scale: {len(store.stages):,} stages -> {len(plan.variants):,} variants, "
          f"{n_assets:,} assets, {n_deps:,} dependencies, {n_checks:,} checks, {n_jobs:,} jobs; "
          f"best and median of {args.repeat} rounds")  # fmt: skip

    rows: dict[str, dict[str, list[float]]] = {
        "ff_assets": {"plan": [], "build": [], "resolve": [], "repository": []},
        "dagster": {"build": [], "resolve": [], "repository": []},
    }
    for _ in range(args.repeat):
        for contender in ("ff_assets", "dagster"):
            gc.collect()
            row = rows[contender]
            if contender == "ff_assets":
                row["plan"].append(timed(store.plan)[0])
                seconds, defs = timed(lambda: build_definitions([store]))
            else:
                seconds, defs = timed(lambda: Definitions(assets=list(specs)))
            row["build"].append(seconds)
            row["resolve"].append(timed(defs.resolve_asset_graph)[0])
            row["repository"].append(timed(defs.get_repository_def)[0])
            del defs

    def best(contender: str, what: str) -> float:
        return min(rows[contender][what])

    def median(contender: str, what: str) -> float:
        return statistics.median(rows[contender][what])

    header = (
        f"{'contender':<10} | {'plan s':>15} | {'build defs s':>15} | {'resolve graph s':>15} | "
        f"{'build+resolve s':>15} | {'repository s':>15}"
    )
    print(header)
    print(f"{'':<10} | {'best / median':>15} | " + " | ".join(f"{'best / median':>15}" for _ in range(4)))
    print("-" * len(header))
    totals: dict[str, list[float]] = {}
    for contender, row in rows.items():
        totals[contender] = [b + r for b, r in zip(row["build"], row["resolve"], strict=True)]
        plan_cell = (
            f"{best(contender, 'plan'):>6.3f} / {median(contender, 'plan'):>6.3f}"
            if row.get("plan")
            else f"{'-':>15}"
        )
        cells = [
            f"{min(v):>6.3f} / {statistics.median(v):>6.3f}"
            for v in (row["build"], row["resolve"], totals[contender], row["repository"])
        ]
        print(f"{contender:<10} | {plan_cell} | " + " | ".join(cells))
    ratio_best = min(totals["ff_assets"]) / min(totals["dagster"])
    ratio_median = statistics.median(
        f / d for f, d in zip(totals["ff_assets"], totals["dagster"], strict=True)
    )
    verdict = "ok" if ratio_best <= GOAL else "MISSED"
    print(f"ff_assets / dagster (build definitions + resolve the asset graph): best {ratio_best:.2f}, "
          f"median of rounds {ratio_median:.2f}; goal <= {GOAL:g}: {verdict}")  # fmt: skip
    repo = min(rows["ff_assets"]["repository"]) / min(rows["dagster"]["repository"])
    print(f"(information) get_repository_def, which also builds every job: {repo:.2f}x")
    if args.profile:
        cProfile.runctx("build_definitions([store]).resolve_asset_graph()", globals(),
                        {"store": store}, args.profile)  # fmt: skip
        print(f"profile of one ff_assets build + resolve written to {args.profile}")
    return 0 if ratio_best <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
