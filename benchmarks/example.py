"""The first run a user sees (brief §6.3): the reviews example end to end in fresh processes,
`ff-assets materialize` against the same work hand-written in PySpark + MLflow
(`_plain_reviews.py`). Goal: ff_assets / plain <= 1.3. A third contender,
`ff-assets materialize --no-statistics`, prices the feature statistics (issue 9: they add at
most 20 %; the checks run in both, and the engine's profile puts them near 0.1 s). With
`--without-archive`, a fourth, `ff-assets materialize` whose driver maps no class-data archive
(`-Xshare:off`), prices the archive (`ff_assets/spark/class_data.py`); every other contender
maps it, the plain script too (it starts its session with `spark_session`), and the machine's
is made first when it has none (`ff_assets.spark.warm_up`, as `scripts/setup` does).

A script, not a test. Each round runs both commands once, each in a fresh process on a fresh
home (Delta tables, fitted stages, SQLite MLflow; Dagster's instance for ff_assets), the order
alternating between rounds; the ratio is the median of the per-round ratios. Both start their
own JVM and read the 3,000 UCI sentences; the Delta jars come from the shared Ivy cache.

    PYTHONPATH=. python benchmarks/example.py [--repeat 3] [--data-dir DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _spark_bench as bench

GOAL = 1.3
STATISTICS_GOAL = 1.2  # ff_assets / ff_assets without statistics
HERE = Path(__file__).resolve().parent
NO_ARCHIVE = "ff_assets -archive"


def _command(name: str, home: Path, data: Path) -> list[str]:
    if name.startswith("ff_assets"):
        cli = Path(sys.executable).with_name("ff-assets")
        extra = ["--no-statistics"] if name == "ff_assets -stats" else []
        return [str(cli), "materialize", "--home", str(home), "--data-dir", str(data), *extra]
    return [sys.executable, str(HERE / "_plain_reviews.py"), str(home), str(data)]


def run_once(name: str, data: Path, parent: Path) -> float:
    home = Path(tempfile.mkdtemp(prefix=f"{name.replace(' ', '')}-", dir=parent))
    env = {**os.environ, "FF_ASSETS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    if name == NO_ARCHIVE:
        conf = home / "spark.conf"
        conf.write_text("spark.driver.extraJavaOptions -Xshare:off\n")
        env["FF_ASSETS_SPARK_CONF"] = str(conf)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    (home / "dagster").mkdir()
    start = time.perf_counter()
    done = subprocess.run(_command(name, home, data), env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    shutil.rmtree(home, ignore_errors=True)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds")
    parser.add_argument("--data-dir", default=None, help="the UCI data (default ../shared/data)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON here")
    parser.add_argument(
        "--without-archive", action="store_true",
        help="add a contender whose Spark driver maps no class-data archive",
    )  # fmt: skip
    args = parser.parse_args()

    from ff_assets.config import data_dir
    from ff_assets.spark import class_data, warm_up
    from ff_assets.spark.session import session_conf

    data = data_dir(args.data_dir)
    names = ["ff_assets", "plain", "ff_assets -stats", *([NO_ARCHIVE] * args.without_archive)]
    seconds: dict[str, list[float]] = {n: [] for n in names}
    print(f"reviews example, fresh processes, {args.repeat} rounds; {bench.machine_load()}")
    with tempfile.TemporaryDirectory(prefix="ff_example_") as tmp:
        archive, made = warm_up.prepare(class_data.default_dir(), session_conf())
        if made:
            print(f"  no class-data archive yet: made {archive} (untimed)")
        for round_index in range(args.repeat):
            shift = round_index % len(names)
            order = names[shift:] + names[:shift]  # rotated
            for name in order:
                elapsed = run_once(name, data, Path(tmp))
                seconds[name].append(elapsed)
                print(f"  round {round_index + 1}/{args.repeat}: {name:<16} {elapsed:7.2f} s")
    ratios = [a / b for a, b in zip(seconds["ff_assets"], seconds["plain"], strict=True)]
    ratio = statistics.median(ratios)
    with_stats = [
        a / b for a, b in zip(seconds["ff_assets"], seconds["ff_assets -stats"], strict=True)
    ]
    stats_ratio = statistics.median(with_stats)
    medians = {n: statistics.median(v) for n, v in seconds.items()}
    print()
    for name in names:
        rounds = " ".join(f"{v:.1f}" for v in seconds[name])
        print(f"{name:<16} median {medians[name]:7.2f} s  rounds {rounds}")
    verdict = "ok" if ratio <= GOAL else "MISSED"
    print(f"ff_assets / plain = {ratio:.2f} (rounds {min(ratios):.2f}..{max(ratios):.2f})  "
          f"goal <= {GOAL:g}: {verdict}")  # fmt: skip
    stats_verdict = "ok" if stats_ratio <= STATISTICS_GOAL else "MISSED"
    print(f"ff_assets / ff_assets --no-statistics = {stats_ratio:.2f} (rounds "
          f"{min(with_stats):.2f}..{max(with_stats):.2f})  goal <= {STATISTICS_GOAL:g}: "
          f"{stats_verdict}")  # fmt: skip
    if args.json:
        payload = {"benchmark": "example", "repeat": args.repeat,
                   "median_s": {n: round(v, 3) for n, v in medians.items()},
                   "rounds_s": seconds, "ratio": round(ratio, 3),
                   "statistics_ratio": round(stats_ratio, 3)}  # fmt: skip
        Path(args.json).write_text(json.dumps(bench.stamp(payload), indent=2) + "\n")
    return 0 if ratio <= GOAL and stats_ratio <= STATISTICS_GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
