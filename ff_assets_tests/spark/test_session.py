"""The Delta-enabled session: its settings (no JVM) and Delta IO on the shared session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from ff_assets.spark.session import (
    IVY_DIR_ENV,
    default_ivy_dir,
    extra_packages,
    session_conf,
    spark_session,
)

SCHEMA = "id long, split string, x double"


def test_ivy_dir_env_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(IVY_DIR_ENV, str(tmp_path / "ivy"))
    assert default_ivy_dir() == tmp_path / "ivy"
    assert session_conf()["spark.jars.ivy"] == str(tmp_path / "ivy")


def test_ivy_dir_defaults_to_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IVY_DIR_ENV, raising=False)
    assert default_ivy_dir() == Path.home() / ".cache" / "ff_assets" / "ivy"


def test_ivy_dir_argument_wins_over_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(IVY_DIR_ENV, str(tmp_path / "env"))
    assert session_conf(ivy_dir=tmp_path / "arg")["spark.jars.ivy"] == str(tmp_path / "arg")


def test_defaults_enable_delta_and_stay_small() -> None:
    conf = session_conf()
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.catalog.spark_catalog"].endswith("delta.catalog.DeltaCatalog")
    assert conf["spark.sql.shuffle.partitions"] == "4"
    assert conf["spark.databricks.delta.snapshotPartitions"] == "4"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.ui.enabled"] == "false"


def test_conf_overrides_every_default() -> None:
    conf = session_conf(conf={"spark.sql.shuffle.partitions": "64", "spark.ui.enabled": "true"})
    assert conf["spark.sql.shuffle.partitions"] == "64"
    assert conf["spark.databricks.delta.snapshotPartitions"] == "64"  # follows the shuffle
    assert conf["spark.ui.enabled"] == "true"


@pytest.mark.parametrize("master", ["local[*]", "local[2]", "spark://127.0.0.1:7077"])
def test_a_master_on_this_machine_binds_the_driver_to_loopback(master: str) -> None:
    conf = session_conf(master=master)
    assert conf["spark.driver.bindAddress"] == conf["spark.driver.host"] == "127.0.0.1"
    assert conf["spark.ui.enabled"] == "false"


def test_a_cluster_master_keeps_sparks_driver_address_and_conf_overrides_it() -> None:
    conf = session_conf(master="spark://spark-master.internal:7077")
    assert "spark.driver.bindAddress" not in conf and "spark.driver.host" not in conf
    chosen = session_conf(master="local[*]", conf={"spark.driver.bindAddress": "0.0.0.0"})
    assert chosen["spark.driver.bindAddress"] == "0.0.0.0"


def test_configured_packages_are_resolved_beside_deltas() -> None:
    """`spark.jars.packages` from the configuration (hadoop-aws for s3a://) goes to Delta's
    `configure_spark_with_delta_pip` as extra packages instead of replacing Delta's list."""
    conf = {"spark.jars.packages": " org.apache.hadoop:hadoop-aws:3.5.0, ,a:b:1"}
    settings = session_conf(conf=conf)
    assert extra_packages(settings) == ["org.apache.hadoop:hadoop-aws:3.5.0", "a:b:1"]
    assert extra_packages(session_conf()) == []


@pytest.mark.integration
def test_session_is_shared_and_delta_enabled(spark: SparkSession) -> None:
    assert spark_session() is spark
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


@pytest.mark.integration
def test_replace_where_overwrites_one_partition_and_time_travel_reads_the_old_one(
    spark: SparkSession, table_path: Callable[[str], str]
) -> None:
    path = table_path("rows")
    rows = [(i, "test" if i % 4 == 0 else "train", float(i)) for i in range(20)]
    spark.createDataFrame(rows, SCHEMA).write.format("delta").partitionBy("split").save(path)

    replacement = spark.createDataFrame([(100, "test", -1.0)], SCHEMA)
    (
        replacement.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", "split = 'test'")
        .save(path)
    )

    current = spark.read.format("delta").load(path)
    assert sorted(r.id for r in current.where("split = 'test'").collect()) == [100]
    assert current.where("split = 'train'").count() == 15  # untouched
    original = spark.read.format("delta").option("versionAsOf", 0).load(path)
    assert sorted(r.id for r in original.where("split = 'test'").collect()) == [0, 4, 8, 12, 16]
    history = DeltaTable.forPath(spark, path).history().collect()
    assert sorted(r.version for r in history) == [0, 1]


@pytest.mark.integration
def test_replace_where_refuses_rows_outside_the_partition(
    spark: SparkSession, table_path: Callable[[str], str]
) -> None:
    path = table_path("guarded")
    spark.createDataFrame([(1, "train", 1.0)], SCHEMA).write.format("delta").save(path)
    stray = spark.createDataFrame([(2, "train", 2.0)], SCHEMA)
    with pytest.raises(AnalysisException, match="DELTA_REPLACE_WHERE_MISMATCH"):
        (
            stray.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", "split = 'test'")
            .save(path)
        )
    assert spark.read.format("delta").load(path).count() == 1
