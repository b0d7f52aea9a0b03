"""Delta table reads and writes used by the IO manager, the checks and the CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def schema_problems(
    fields: Mapping[str, str],
    key: str | None,
    features: Sequence[str],
    types: Mapping[str, str],
    *,
    extra_allowed: bool = True,
) -> list[str]:
    """What breaks the declarations in a table's columns ({name: Spark type}): missing key or
    feature columns, undeclared columns (when not allowed), types other than declared."""
    expected = [c for c in (key, *features) if c]
    problems = [
        f"column {c!r} is missing (there are {', '.join(sorted(fields))})"
        for c in expected
        if c not in fields
    ]
    if not extra_allowed:
        problems += [
            f"column {c!r} is not declared"
            for c in fields
            if c not in expected and c != SPLIT_COLUMN
        ]
    problems += [
        f"feature {f!r} is {fields[f]}, declared {t}"
        for f, t in types.items()
        if f in fields and fields[f] != t
    ]
    return problems
