"""Overhead (brief §6.2): one pipeline end to end through ff_assets costs at most 1.25x a plain
PySpark script doing the same work and writing the same tables.

A script, not a test (see `_spark_bench.py` for the corpus and the timing protocol). One
pipeline: source -> split -> tokenizer -> hashing TF -> IDF -> one logistic regression
(`sentiment`), fitted on train, evaluated on test, its inference pipeline logged to MLflow and
registered. Contenders, interleaved in one process on one SparkSession:
- ff_assets:     `build_definitions` + `run_job` (Dagster, Delta IO manager, blocking checks,
                 feature statistics, MLflow through dagster-mlflow);
- plain:         a PySpark script writing the same tables ff_assets keeps (corpus, split,
                 vectors, predictions; Delta, split-partitioned; tokens and term counts are
                 views), saving the fitted IDF and model with Spark ML's writer, evaluating on
                 test and logging + registering the same inference pipeline in MLflow: the
                 goal's denominator;
- plain-outputs: the same script writing only the vectors and the predictions (information:
                 the floor of §6.1 at K = 1);
- ff_assets -stats: ff_assets without feature statistics (`--no-statistics`; information:
                 what the statistics of issues 8 and 9 cost; the checks still run).

    PYTHONPATH=. python benchmarks/overhead.py [--rows 100000] [--repeat 3] [--steps]
                                               [--breakdown] [--profile FILE]

Quick check: `--rows 5000 --repeat 1`. Dagster's run log goes to stderr (`2>run.log`).
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import _spark_bench as bench

GOAL = 1.25


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench.add_arguments(parser, "plain")
    args = parser.parse_args()

    from ff_assets.config import data_dir

    bench.quiet_logs()
    source = data_dir(args.data_dir)
    models = bench.model_specs(1, args.max_iter)
    contenders = {
        "ff_assets": (bench.run_ff_assets, True),
        "plain": (bench.run_floor, False),
        "plain-outputs": (functools.partial(bench.run_floor, all_tables=False), False),
        "ff_assets -stats": (functools.partial(bench.run_ff_assets, statistics=False), True),
    }
    print(
        f"overhead: one pipeline, {args.rows:,} rows, maxIter {args.max_iter}, "
        f"{args.repeat} rounds; {bench.machine_load()}"
    )
    timings, profiles = bench.measure(args, source, contenders, models, baseline="plain")
    print()
    bench.print_timings(timings)
    print()
    ratio = timings.ratio("ff_assets", "plain")[0]
    verdict = "ok" if ratio <= GOAL else "MISSED"
    bench.print_ratio(timings, "ff_assets", "plain", f"goal <= {GOAL:g}: {verdict}")
    bench.print_ratio(timings, "ff_assets", "plain-outputs", "(information)")
    bench.print_ratio(timings, "plain", "plain-outputs", "(information: the extra tables)")
    bench.print_ratio(timings, "ff_assets -stats", "plain", "(information: without statistics)")
    bench.print_details(args, timings, profiles)
    if args.json:
        payload = {"benchmark": "overhead", "rows": args.rows, "repeat": args.repeat,
                   **bench.summary(timings, ["plain", "plain-outputs"]),
                   "without_statistics/plain": round(
                       timings.ratio("ff_assets -stats", "plain")[0], 3)}  # fmt: skip
        Path(args.json).write_text(json.dumps(bench.stamp(payload), indent=2) + "\n")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
