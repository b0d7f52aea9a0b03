"""Delta table reads and writes used by the IO manager, the checks and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from ff_assets.spark.execute import SPLIT_COLUMN


@dataclass(frozen=True)
class Commit:
    """What one write left in the table's history."""

    version: int
    rows: int


def table_exists(spark: SparkSession, path: Path) -> bool:
    return DeltaTable.isDeltaTable(spark, str(path))


def read_table(spark: SparkSession, path: Path, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(str(path))


def write_table(frame: DataFrame, path: Path, *, partitions: Sequence[str] | None = None) -> Commit:
    """Overwrite the table, or only the given train/test partitions of it, in one Delta commit.

    A partitioned write needs the `ff_split` column; rows of other partitions are refused by
    Delta (`replaceWhere`), so a write can never touch a partition it does not own.
    """
    if partitions:
        if SPLIT_COLUMN not in frame.columns:
            raise ValueError(f"a partitioned write needs the {SPLIT_COLUMN!r} column")
        keys = ", ".join(f"'{p}'" for p in partitions)
        writer = (
            frame.write.format("delta")
            .mode("overwrite")
            .partitionBy(SPLIT_COLUMN)
            .option("replaceWhere", f"{SPLIT_COLUMN} IN ({keys})")
        )
    else:
        writer = frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    writer.save(str(path))
    return last_commit(frame.sparkSession, path)


def last_commit(spark: SparkSession, path: Path) -> Commit:
    """Version and rows written of the latest commit, from Delta's own history."""
    row = DeltaTable.forPath(spark, str(path)).history(1).collect()[0]
    metrics = row["operationMetrics"] or {}
    return Commit(version=int(row["version"]), rows=int(metrics.get("numOutputRows", 0)))
