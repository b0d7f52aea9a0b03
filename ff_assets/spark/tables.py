"""Delta table reads and writes used by the engine, the IO manager, the checks and the CLI.

Vector columns are written in standard types and read back as Spark ML vectors
(`ff_assets.spark.vectors`), so any Delta reader (delta-rs, pandas, Polars, DuckDB) opens
every table while Spark code sees vectors as before.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from delta.exceptions import (  # importing it makes py4j raise these instead of Py4JJavaError
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from ff_assets.config import Location
from ff_assets.core.errors import ConcurrentWriteError, DataFormatError, MissingColumnError
from ff_assets.core.specs import TEST, TRAIN
from ff_assets.spark import files
from ff_assets.spark.execute import SPLIT_COLUMN
from ff_assets.spark.vectors import is_vector, read_vectors, stored_nulls, stored_vectors

# Delta's optimistic concurrency: a commit that finds another one made since it read the table
# (two runs writing one table at once) raises one of these (delta-spark's classes do not share
# a Python base). The write is then made again on the new version, a few times, a little apart.
CONFLICTS = (
    DeltaConcurrentModificationException, ConcurrentWriteException, MetadataChangedException,
    ProtocolChangedException, ConcurrentAppendException, ConcurrentDeleteReadException,
    ConcurrentDeleteDeleteException, ConcurrentTransactionException,
)  # fmt: skip
COMMIT_ATTEMPTS = 5
COMMIT_WAIT_SECONDS = 0.5  # doubled after each conflict, with jitter


@dataclass(frozen=True)
class Commit:
    """What one write left in the table's log: its version, the rows it added, and Delta's
    own per-column statistics of the files it added (rows, nulls, min, max)."""

    version: int
    rows: int
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows_per_partition: dict[str, int] = field(default_factory=dict)  # by `ff_split` value
    attempts: int = 1  # more when commits of other runs conflicted with this one's first


def table_exists(spark: SparkSession, path: Location) -> bool:
    return DeltaTable.isDeltaTable(spark, str(path))


def read_table(spark: SparkSession, path: Location, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return read_vectors(reader.load(str(path)))


def write_table(
    frame: DataFrame, path: Location, *, partitions: Sequence[str] | None = None, marker: str = ""
) -> Commit:
    """Overwrite the table, or only the given train/test partitions of it, in one Delta commit.

    `marker` (the run's id) is the commit's `userMetadata` in Delta's history, and finds this
    commit again when another run commits right after it. A commit that conflicts with another
    run's is made again on the table as that run left it (`COMMIT_ATTEMPTS` in all), so each
    version holds one run's rows, whole; past that, `ConcurrentWriteError` names the table.

    A partitioned write needs the `ff_split` column; rows of other partitions are refused by
    Delta (`replaceWhere`), so a write can never touch a partition it does not own.
    Vector columns are stored as plain structs (`ff_assets.spark.vectors`); a table that still
    holds them as Spark ML's `udt` (written before) is rewritten whole when both partitions
    are written, and refused otherwise.
    """
    relayout = bool(partitions) and _holds_spark_vectors(frame, path)
    # Tables in that layout predate validation partitions: train and test are all their rows.
    if relayout and not {TRAIN, TEST} <= set(partitions or ()):
        raise DataFormatError(
            f"table {path} stores vectors as Spark ML's `udt` type (written by an earlier "
            "ff_assets), so one partition cannot be rewritten in the new layout: materialize "
            "both partitions of this asset once (or delete the table folder)."
        )
    frame = stored_vectors(frame)
    if partitions:
        if SPLIT_COLUMN not in frame.columns:
            raise MissingColumnError(
                f"table {path}: a write of partitions {', '.join(partitions)} needs the "
                f"{SPLIT_COLUMN!r} column, and the rows have only {', '.join(frame.columns)}: "
                f"write rows that come through a split, or write without partitions."
            )
        writer = frame.write.format("delta").mode("overwrite").partitionBy(SPLIT_COLUMN)
        if relayout:  # both partitions: every row is replaced, in the new schema
            writer = writer.option("overwriteSchema", "true")
        else:
            keys = ", ".join(f"'{p}'" for p in partitions)
            writer = writer.option("replaceWhere", f"{SPLIT_COLUMN} IN ({keys})")
    else:
        writer = frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    if marker:
        writer = writer.option("userMetadata", marker)
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            writer.save(str(path))
            break
        except CONFLICTS as conflict:
            if attempt == COMMIT_ATTEMPTS:
                raise ConcurrentWriteError(
                    f"table {path}: another run committed to it each of the {attempt} times this "
                    f"run tried to ({type(conflict).__name__}: {_first_line(conflict)}). The "
                    "table holds the other run's rows, whole. Run one materialization of a "
                    "store at a time (Dagster's run queue: a tag_concurrency_limits entry on "
                    "the ff_assets/store tag, see docs/DEPLOYMENT.md), then re-run this one."
                ) from conflict
            time.sleep(COMMIT_WAIT_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
    return replace(commit_of(path, marker), attempts=attempt)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0][:300]


def _holds_spark_vectors(frame: DataFrame, path: Location) -> bool:
    """Whether `frame` has vectors and the table at `path` stores vectors as Spark ML's UDT."""
    if not any(is_vector(f.dataType) for f in frame.schema):
        return False
    spark = frame.sparkSession
    if not table_exists(spark, path):
        return False
    stored = DeltaTable.forPath(spark, str(path)).toDF().schema
    return any(is_vector(f.dataType) for f in stored)


def commit_of(path: Location, marker: str = "") -> Commit:
    """The latest commit of a table, or the latest one `marker` made, read from its
    `_delta_log` entry (through the table's Hadoop file system, `spark.files`).

    Delta's Python API answers this only through `history()`, a Spark job per call, while
    the commit file (the Delta protocol's `<version>.json`) already holds the version, the
    files added and the statistics Delta collected while writing them.
    """
    log = files.join(path, "_delta_log")
    stems = (name.removesuffix(".json") for name in files.names(log) if name.endswith(".json"))
    versions = sorted((int(stem) for stem in stems if stem.isdigit()), reverse=True)
    entries = files.read_text(files.join(log, f"{versions[0]:020d}.json")).splitlines()
    version = versions[0]
    for candidate in versions if marker else ():
        lines = files.read_text(files.join(log, f"{candidate:020d}.json")).splitlines()
        info = next((json.loads(x)["commitInfo"] for x in lines if '"commitInfo"' in x), {})
        if info.get("userMetadata") == marker:
            version, entries = candidate, lines
            break
    rows = 0
    per_partition: dict[str, int] = {}
    columns: dict[str, dict[str, Any]] = {}
    for line in entries:
        added = json.loads(line).get("add")
        if not added or not added.get("stats"):
            continue
        stats = json.loads(added["stats"])
        rows += int(stats.get("numRecords", 0))
        partition = (added.get("partitionValues") or {}).get(SPLIT_COLUMN)
        if partition is not None:
            per_partition[partition] = per_partition.get(partition, 0) + int(
                stats.get("numRecords", 0)
            )
        for name, counted in (stats.get("nullCount") or {}).items():
            nulls = stored_nulls(counted)
            if isinstance(nulls, int):
                column = columns.setdefault(name, {"nulls": 0})
                column["nulls"] += nulls
        for bound, pick in (("minValues", min), ("maxValues", max)):
            for name, value in (stats.get(bound) or {}).items():
                if isinstance(value, int | float):
                    column = columns.setdefault(name, {"nulls": 0})
                    key = bound[:3]
                    column[key] = value if key not in column else pick(column[key], value)
    return Commit(version=version, rows=rows, columns=columns, rows_per_partition=per_partition)


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
