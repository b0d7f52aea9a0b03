"""Delta's optimistic concurrency in `write_table`: another writer commits to the table while
a write is under way (a commit made from inside the write's own Spark task, so the conflict
is certain and real). The write is made again on the new version; past `COMMIT_ATTEMPTS` it is
`ConcurrentWriteError` naming the table. Either way the table is one writer's rows, whole."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ff_assets.core.errors import ConcurrentWriteError
from ff_assets.spark import tables
from ff_assets.spark.execute import SPLIT_COLUMN
from ff_assets.spark.tables import Commit

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.integration


def _rival(path: Path, flag: Path, every_attempt: bool) -> Callable[[int], int]:
    """A function for a UDF that, in the Spark task, makes another writer's commit: a copy of
    the table's first data file appended the way Delta's local log store commits (put-if-absent
    of the next `<version>.json`), once or at every attempt. Self-contained (standard library,
    no module of this project): the Python worker unpickles it by value."""

    def rival(value: int) -> int:
        import shutil
        import time
        import uuid

        if value != 0:  # once per attempt of the one task
            return value
        try:
            os.close(os.open(flag, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            if not every_attempt:
                return value
        log = path / "_delta_log"
        first = [json.loads(x) for x in (log / f"{0:020d}.json").read_text().splitlines() if x]
        added = next(a["add"] for a in first if "add" in a)
        copy = f"{added['path'].rsplit('/', 1)[0]}/rival-{uuid.uuid4().hex}.parquet"
        shutil.copyfile(path / added["path"], path / copy)
        now = int(time.time() * 1000)
        actions = [
            {"commitInfo": {"timestamp": now, "operation": "WRITE", "isBlindAppend": True,
                            "operationParameters": {"mode": "Append"}}},
            {"add": {**added, "path": copy, "modificationTime": now, "dataChange": True}},
        ]  # fmt: skip
        version = max(int(p.stem) for p in log.glob("*.json")) + 1
        staged = log / f".rival-{uuid.uuid4().hex}.tmp"
        staged.write_text("".join(json.dumps(a) + "\n" for a in actions))
        os.link(staged, log / f"{version:020d}.json")  # fails if that version exists
        staged.unlink()
        return value

    return rival


def _rows_with_a_rival(spark: SparkSession, path: Path, every_attempt: bool) -> DataFrame:
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    flag = path.parent / f".{path.name}.rival"
    collide = F.udf(_rival(path, flag, every_attempt), LongType(), useArrow=False)
    frame = spark.range(100).repartition(1).withColumn(SPLIT_COLUMN, F.lit("train"))
    return frame.withColumn("id", collide("id"))


def _log(path: Path) -> list[dict]:
    """Each commit's operation and marker, oldest first."""
    commits = []
    for entry in sorted((path / "_delta_log").glob("*.json")):
        actions = [json.loads(x) for x in entry.read_text().splitlines() if x]
        info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
        commits.append({"operation": info.get("operation"), "marker": info.get("userMetadata")})
    return commits


def _write_against_a_rival(spark: SparkSession, path: Path, *, every_attempt: bool) -> Commit:
    """Seed the table with 10 rows, then write 100 while the rival commits copies of them."""
    from pyspark.sql import functions as F

    seed = spark.range(10).repartition(1).withColumn(SPLIT_COLUMN, F.lit("train"))
    tables.write_table(seed, path, partitions=["train"], marker="seed")
    rows = _rows_with_a_rival(spark, path, every_attempt)
    return tables.write_table(rows, path, partitions=["train"], marker="run-1")


def _ids(path: Path) -> list[int]:
    from deltalake import DeltaTable

    return sorted(DeltaTable(str(path)).to_pyarrow_table().column("id").to_pylist())


def test_a_conflicting_commit_is_made_again_on_the_new_version(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "COMMIT_WAIT_SECONDS", 0.05)
    path = tmp_path / "t"
    commit = _write_against_a_rival(spark, path, every_attempt=False)
    assert commit.attempts == 2 and commit.version == 2 and commit.rows == 100
    assert [c["marker"] for c in _log(path)] == ["seed", None, "run-1"]  # seed, rival, retry
    assert _ids(path) == list(range(100))  # run-1's rows only: the rival's were replaced


def test_conflicts_past_the_attempts_name_the_table_and_the_fix(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "COMMIT_WAIT_SECONDS", 0.01)
    path = tmp_path / "t"
    with pytest.raises(ConcurrentWriteError) as refused:
        _write_against_a_rival(spark, path, every_attempt=True)
    message = str(refused.value)
    assert f"table {path}: another run committed to it each of the 5 times" in message
    assert "Run one materialization of a store at a time" in message
    assert "tag_concurrency_limits entry on the ff_assets/store tag" in message
    log = _log(path)
    assert "run-1" not in [c["marker"] for c in log]  # no partial commit of the refused write
    assert len(log) == 1 + tables.COMMIT_ATTEMPTS  # the seed, then one rival per attempt
    # The seed's rows and one copy of them per rival commit: the other writer's table, whole.
    assert _ids(path) == sorted(list(range(10)) * (1 + tables.COMMIT_ATTEMPTS))
