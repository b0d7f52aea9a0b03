"""Planner scale (brief §6.3): planning 10,000 declared stages costs at most 12x planning 1,000.

A script, not a test: it declares stores of N stages in a few shapes, times `store.plan()`
(best of 3, the two sizes alternating) for N = 1,000 and N = 10,000 side by side, and prints
the ratio per shape.

    PYTHONPATH=. python benchmarks/planner_scale.py [--small 1000] [--large 10000] [--repeat 3]
                                                    [--gc-off]

Shapes (the same shape at both sizes, only scaled):
- wide:  independent pipelines sharing nothing, source -> split -> two transforms -> fitted
         -> model; every fourth pipeline has a second producer of the model's input, so it
         plans two variants.
- deep:  fewer, longer pipelines: source -> split -> 50 chained transforms -> fitted -> model.
- chain: one pipeline whose transform chain grows with N (N - 4 transforms deep).
Declaring is timed too (once), for information: the goal is on planning. A last row times a
workload that is linear by construction at the same sizes, so the planner's ratio can be read
against what linear growth costs on the machine running the benchmark.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ff_assets.core import FeatureStore, StageKind, StageSpec

GOAL = 12.0
DEPTH = 50


class _Declare:
    """Adds stages to a store and counts them (store.stages copies, so it is not a counter)."""

    def __init__(self, name: str, cap: int) -> None:
        self.store = FeatureStore(name=name, max_variants=cap)
        self.count = 0

    def stage(
        self,
        name: str,
        kind: StageKind,
        inputs: Sequence[str],
        outputs: Sequence[str],
        **extra: str,
    ) -> None:
        spec = StageSpec(
            name=name, kind=kind, inputs=tuple(inputs), outputs=tuple(outputs), **extra
        )
        self.store.add(spec)
        self.count += 1

    def head(self, p: str) -> None:
        """source -> split, carrying p_a, p_b and the label p_y."""
        outputs = [f"{p}_a", f"{p}_b", f"{p}_y"]
        self.stage(f"{p}_src", StageKind.SOURCE, [], outputs, entity_key="id")
        self.store.split(name=f"{p}_split", inputs=outputs)
        self.count += 1

    def chain(self, p: str, first: str, depth: int) -> str:
        last = first
        for j in range(depth):
            self.stage(f"{p}_t{j}", StageKind.TRANSFORM, [last], [f"{p}_f{j}"])
            last = f"{p}_f{j}"
        return last

    def tail(self, p: str, last: str) -> None:
        """fitted -> model (label p_y, also reading p_b)."""
        self.stage(f"{p}_fit", StageKind.FITTED, [last], [f"{p}_v"])
        self.model(p)

    def model(self, p: str) -> None:
        self.stage(
            f"{p}_model", StageKind.MODEL, [f"{p}_v", f"{p}_b"], [f"{p}_pred"], label=f"{p}_y"
        )


def wide(n: int) -> FeatureStore:
    """Independent pipelines of 6 stages (7 with an alternative producer) until n stages."""
    d = _Declare("wide", cap=n)
    i = 0
    while d.count < n:
        p = f"p{i}"
        d.head(p)
        d.stage(f"{p}_t1", StageKind.TRANSFORM, [f"{p}_a"], [f"{p}_c"])
        d.stage(f"{p}_t2", StageKind.TRANSFORM, [f"{p}_c", f"{p}_b"], [f"{p}_d"])
        if i % 4 == 0:
            d.stage(f"{p}_alt", StageKind.FITTED, [f"{p}_c"], [f"{p}_v"])
        d.tail(p, f"{p}_d")
        i += 1
    return d.store


def deep(n: int) -> FeatureStore:
    """Independent pipelines of DEPTH chained transforms (DEPTH + 4 stages each) until n."""
    d = _Declare("deep", cap=n)
    i = 0
    while d.count < n:
        p = f"p{i}"
        d.head(p)
        d.tail(p, d.chain(p, f"{p}_a", DEPTH))
        i += 1
    return d.store


def chain(n: int) -> FeatureStore:
    """One pipeline: source, split, n - 4 chained transforms, a fitted stage and a model."""
    d = _Declare("chain", cap=n)
    d.head("p")
    d.tail("p", d.chain("p", "p_a", n - 4))
    return d.store


SHAPES: dict[str, Callable[[int], FeatureStore]] = {"wide": wide, "deep": deep, "chain": chain}


@dataclass(frozen=True)
class _Item:
    key: str
    deps: tuple[str, ...]
    rank: int


def linear_reference(n: int) -> Callable[[], object]:
    """A workload linear by construction, about the planner's object count per stage: index
    6n keyed records, then read each one's upstream. Its ratio is what "linear" costs on this
    machine once the working set outgrows the CPU caches (Python objects are not compact)."""
    names = [f"p{i // 6}_stage_{i}" for i in range(6 * n)]

    def run() -> object:
        index: dict[str, _Item] = {}
        previous: tuple[str, ...] = ()
        for rank, name in enumerate(names):
            index[name] = _Item(key=name, deps=previous, rank=rank)
            previous = (name,)
        return {f"{k}[a]": tuple(index[d].rank for d in item.deps) for k, item in index.items()}

    return run


def best_of(repeat: int, fn: Callable[[], object], *, gc_off: bool = False) -> float:
    times = []
    for _ in range(repeat):
        if gc_off:  # what timeit does by default
            gc.disable()
        try:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times)


def measure(
    build: Callable[[int], FeatureStore], sizes: Sequence[int], repeat: int, gc_off: bool
) -> dict[int, dict[str, float]]:
    """Declare and plan each size in turn, `repeat` rounds, keeping the best time of each.

    The sizes alternate within a round so that both see the same load of a shared machine,
    and only one store is alive at a time so that neither is timed on the other's heap.
    """
    best: dict[int, dict[str, float]] = {}
    for _ in range(repeat):
        for n in sizes:
            start = time.perf_counter()
            store = build(n)
            declared = time.perf_counter() - start
            planned = best_of(1, store.plan, gc_off=gc_off)
            row = best.setdefault(n, {"declare": declared, "plan": planned})
            row["declare"] = min(row["declare"], declared)
            row["plan"] = min(row["plan"], planned)
            row["stages"] = len(store.stages)
            row["variants"] = len(store.plan().variants)
            del store
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--gc-off",
        action="store_true",
        help="disable the garbage collector while timing, as timeit does",
    )
    args = parser.parse_args()

    gc_note = ", gc off while timing" if args.gc_off else ""
    print(
        f"planner scale: N = {args.small:,} vs {args.large:,}, "
        f"best of {args.repeat} rounds{gc_note}"
    )
    header = (
        f"{'shape':<6} | {'stages':>15} | {'variants':>13} | {'declare s':>15} | "
        f"{'plan s':>17} | {'ratio':>5} | goal <= {GOAL:g}"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for label, build in SHAPES.items():
        rows = measure(build, (args.small, args.large), args.repeat, args.gc_off)
        s, big = rows[args.small], rows[args.large]
        ratio = big["plan"] / s["plan"]
        worst = max(worst, ratio)
        print(
            f"{label:<6} | {s['stages']:>6,} / {big['stages']:>6,} | "
            f"{s['variants']:>5,} / {big['variants']:>5,} | "
            f"{s['declare']:>6.3f} / {big['declare']:>6.3f} | "
            f"{s['plan']:>7.4f} / {big['plan']:>7.4f} | {ratio:>5.1f} | "
            + ("ok" if ratio <= GOAL else "TOO SLOW")
        )
    small = large = float("inf")
    for _ in range(args.repeat):
        small = min(small, best_of(1, linear_reference(args.small), gc_off=args.gc_off))
        large = min(large, best_of(1, linear_reference(args.large), gc_off=args.gc_off))
    print(
        f"{'linear':<6} | {'reference: 6 records per stage, linear by construction':<51} | "
        f"{small:>7.4f} / {large:>7.4f} | {large / small:>5.1f} |"
    )
    return 0 if worst <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
