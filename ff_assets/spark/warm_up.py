"""The driver's class-data archive (`class_data`) made ahead of the first real run:
`python -m ff_assets.spark.warm_up`, which `scripts/setup` runs.

Without it, the first drivers on a machine load every class themselves and each dumps an
archive as it exits (tens of seconds per dump on 2 cores); a long-lived driver, such as a
test suite's session or a code server, never maps one that appears after it started. Made
ahead, every driver maps it from its start: a short Spark program in a process of its own
(Delta writes and reads, statistics, a Spark ML pipeline fitted, saved and loaded), whose
dump this process then checks and adopts. Nothing happens when the archive is there, or when
the driver's options turn the archive off.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ff_assets.spark import class_data

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_ROWS = 200
_TIMEOUT_S = 900.0
WORKLOAD = "ff_assets.spark.warm_up:workload"


def resolve_workload(spec: str) -> Callable[[SparkSession, Path], object]:
    """The function `MODULE:FUNCTION` names; `ValueError` naming the fix when it is not."""
    module, _, name = spec.partition(":")
    try:
        function = getattr(importlib.import_module(module), name, None) if module and name else None
    except ImportError as error:
        raise ValueError(f"workload {spec!r}: {error}") from error
    if not callable(function):
        raise ValueError(
            f"workload {spec!r} is no function: give MODULE:FUNCTION of a function taking "
            f"(spark, folder), for example {WORKLOAD!r}"
        )
    return function


def prepare(
    folder: Path,
    settings: dict[str, str],
    *,
    workload: str = WORKLOAD,
    timeout_s: float = _TIMEOUT_S,
) -> tuple[Path | None, bool]:
    """The archive a driver with `settings` maps, made now if missing by running
    `workload` (`MODULE:FUNCTION`, called with a session and a scratch folder): `(path,
    made)`; `(None, False)` when the archive is off for these settings. Raises `RuntimeError`
    with the program's output when its driver fails."""
    resolve_workload(workload)  # a bad name fails here, before any JVM
    archive = class_data.with_archive(dict(settings), folder)
    if archive is None:
        return None, False
    if not archive.dumping():
        return archive.archive, False
    program = subprocess.Popen(
        [sys.executable, "-m", "ff_assets.spark.warm_up", "--run", str(folder),
         "--workload", workload],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _, errors = program.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        program.kill()
        program.communicate()
        raise
    if program.returncode != 0:
        raise RuntimeError(
            f"the warm-up Spark program failed (exit {program.returncode}):\n{errors[-4000:]}"
        )
    # Only its driver: another driver dumping in the same folder may run for hours.
    class_data.wait_for_dump(folder, program.pid, timeout_s)
    archive = class_data.with_archive(dict(settings), folder)  # checks the dump, adopts it
    if archive is None or archive.dumping():
        raise RuntimeError(
            f"the warm-up driver's class-data dump in {folder} was not adopted: a JVM could "
            "not map it whole. Run this again; drivers start without an archive meanwhile."
        )
    return archive.archive, True


def workload(spark: SparkSession, folder: Path) -> None:
    """What a run's driver does, on a few rows: the classes it loads are the archive's."""
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import IDF, HashingTF, RegexTokenizer, Word2Vec

    from ff_assets.spark.statistics import feature_statistics, observed_statistics
    from ff_assets.spark.tables import read_table, write_table
    from ff_assets.spark.vectors import read_vectors, stored_vectors

    words = ["good", "bad", "film", "plot", "actors", "boring", "great", "slow"]
    rows = [
        (i, " ".join(words[(i * k) % len(words)] for k in range(1, 6)), float(i % 2),
         "test" if i % 5 == 0 else "train")
        for i in range(_ROWS)
    ]  # fmt: skip
    frame = spark.createDataFrame(rows, "id long, text string, label double, ff_split string")
    observed, finish = observed_statistics(frame, ["text", "label"], ["train", "test"])
    write_table(observed, str(folder / "rows"), partitions=["train", "test"], marker="warm-up")
    finish()
    stored = read_table(spark, str(folder / "rows"))
    tokens = RegexTokenizer(inputCol="text", outputCol="tokens", pattern=r"\W+")
    pipeline = Pipeline(
        stages=[
            tokens,
            HashingTF(inputCol="tokens", outputCol="counts", numFeatures=1 << 10),
            IDF(inputCol="counts", outputCol="vector"),
            LogisticRegression(featuresCol="vector", labelCol="label", maxIter=5),
        ]
    )
    model = pipeline.fit(stored.where("ff_split = 'train'"))
    model.write().overwrite().save(str(folder / "model"))
    scored = PipelineModel.load(str(folder / "model")).transform(stored)
    vectors = stored_vectors(scored.select("id", "vector", "prediction", "ff_split"))
    write_table(vectors, str(folder / "scored"), partitions=["train", "test"], marker="warm-up")
    read_vectors(read_table(spark, str(folder / "scored"))).groupBy("ff_split").count().collect()
    tokenized = tokens.transform(stored)
    embedded = Word2Vec(inputCol="tokens", outputCol="embedding", vectorSize=8, minCount=1)
    embeddings = embedded.fit(tokenized).transform(tokenized)
    feature_statistics(embeddings, ["embedding", "tokens"], ["train", "test"])


def _run(folder: Path, workload: str) -> None:
    from ff_assets.config import spark_conf
    from ff_assets.spark.session import spark_session

    # On this machine whatever master the runs use: the archive is the driver's classes.
    spark = spark_session(app_name="ff_assets_warm_up", conf=spark_conf(), class_data_dir=folder)
    spark.sparkContext.setLogLevel("ERROR")
    with tempfile.TemporaryDirectory(prefix="ff_assets_warm_up_") as work:
        resolve_workload(workload)(spark, Path(work))
    spark.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m ff_assets.spark.warm_up [--folder DIR] [--workload MODULE:FUNCTION]`: make
    the archive of the drivers this machine starts (with `$FF_ASSETS_SPARK_CONF`, as every
    entry point reads it) unless it is there, from this package's short program or your own
    (a function taking a SparkSession and a scratch folder: your jobs' classes)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--folder", type=Path, default=class_data.default_dir())
    parser.add_argument("--workload", default=WORKLOAD, help="MODULE:FUNCTION to run")
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)  # the program's process
    args = parser.parse_args(argv)
    if args.run is not None:
        _run(args.run, args.workload)
        return 0
    from ff_assets.config import spark_conf
    from ff_assets.spark.session import session_conf

    started = time.monotonic()
    settings = session_conf(conf=spark_conf())
    try:
        path, made = prepare(args.folder, settings, workload=args.workload)
    except ValueError as error:
        parser.error(str(error))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
        print(f"ff_assets: no class-data archive made ({error}); drivers start without one")
        return 1
    if path is None:
        print("ff_assets: the class-data archive is off for this driver's options")
    elif made:
        size = path.stat().st_size / 1e6
        print(f"ff_assets: class-data archive made in {time.monotonic() - started:.0f} s: "
              f"{path} ({size:.0f} MB)")  # fmt: skip
    else:
        print(f"ff_assets: class-data archive in place: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
