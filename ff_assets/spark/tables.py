"""Delta table reads and writes used by the IO manager, the checks and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

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


def write_table(frame: DataFrame, path: Path, *, partition: str | None = None) -> Commit:
    """Overwrite the table, or only one train/test partition of it, in one Delta commit."""
    writer_frame = frame
    if partition is not None:
        writer_frame = frame.withColumn(SPLIT_COLUMN, F.lit(partition))
        writer = (
            writer_frame.write.format("delta")
            .mode("overwrite")
            .partitionBy(SPLIT_COLUMN)
            .option("replaceWhere", f"{SPLIT_COLUMN} = '{partition}'")
        )
    else:
        writer = writer_frame.write.format("delta").mode("overwrite")
        writer = writer.option("overwriteSchema", "true")
    writer.save(str(path))
    return last_commit(frame.sparkSession, path)


def last_commit(spark: SparkSession, path: Path) -> Commit:
    """Version and rows written of the latest commit, from Delta's own history."""
    row = DeltaTable.forPath(spark, str(path)).history(1).collect()[0]
    metrics = row["operationMetrics"] or {}
    return Commit(version=int(row["version"]), rows=int(metrics.get("numOutputRows", 0)))
