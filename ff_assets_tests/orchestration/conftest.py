"""Fixtures for the Dagster integration tests: the reviews store materialized once per session.

Every fixture here that runs Dagster asks for the session's `spark` fixture first, so the
Spark resource's `getOrCreate` returns that one session instead of starting a second JVM.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dagster import DagsterInstance
    from pyspark.sql import DataFrame, SparkSession

    from ff_assets.core.plan import Plan
    from ff_assets.orchestration.materialize import MaterializeReport

PROJECT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """The reference data: `$FF_DATA_DIR`, else `../shared/data` beside the project."""
    configured = os.environ.get("FF_DATA_DIR")
    path = Path(configured) if configured else PROJECT.parent / "shared" / "data"
    if not (path / "sentiment_labelled_sentences").is_dir():
        pytest.fail(f"the reference data is not at {path}: set FF_DATA_DIR (see its README).")
    return path.resolve()


@dataclass(frozen=True)
class Materialized:
    """A store materialized into a temp home on a temp Dagster instance."""

    home: Path
    data_dir: Path
    instance: DagsterInstance
    plan: Plan
    report: MaterializeReport
    spark: SparkSession

    @property
    def tables(self) -> Path:
        return self.home / "tables"

    def table_path(self, key_path: list[str] | tuple[str, ...]) -> Path:
        return self.tables.joinpath(*key_path)

    def read(self, key_path: list[str] | tuple[str, ...], version: int | None = None) -> DataFrame:
        return self.read_path(self.table_path(key_path), version=version)

    def read_path(self, path: Path, version: int | None = None) -> DataFrame:
        from ff_assets.spark.tables import read_table

        return read_table(self.spark, path, version=version)

    def load(self, asset: str) -> DataFrame:
        """A planned asset's rows as users load them: a table, or a view recomputed."""
        from ff_assets.spark.engine import Engine
        from ff_assets.spark.storage import Layout

        engine = Engine(self.plan, self.spark, Layout.under(self.home), data_dir=self.data_dir)
        return engine.load(asset)


def check_evaluations(instance: DagsterInstance, run_ids: list[str]) -> list[Any]:
    """Every asset check evaluation recorded by the runs, in order."""
    from dagster import DagsterEventType

    found = []
    for run_id in run_ids:
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
            found.append(entry.dagster_event.event_specific_data)
    return found


def materialized_keys(instance: DagsterInstance, run_id: str) -> list[tuple[str, str | None]]:
    """(asset key, partition) of every materialization a run recorded."""
    from dagster import DagsterEventType

    entries = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    return [
        (e.dagster_event.asset_key.to_user_string(), e.dagster_event.partition) for e in entries
    ]


def delta_version(spark: SparkSession, path: Path) -> int:
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, str(path)).history(1).collect()[0]["version"])


@pytest.fixture(scope="session")
def data_root() -> Path:
    return shared_data_dir()


def _materialized_once(
    store_module: str, spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, data: Path
) -> Iterator[Materialized]:
    """An example store (`ff_assets.examples.<module>.store`), every variant, both
    partitions, materialized into a fresh home on a fresh Dagster instance."""
    import importlib

    from dagster import DagsterInstance

    from ff_assets.orchestration.materialize import materialize_store

    store = importlib.import_module(f"ff_assets.examples.{store_module}").store
    home = tmp_path_factory.mktemp(f"{store_module}-home")
    (home / "dagster").mkdir()
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        report = materialize_store(store, home=str(home), data_dir=str(data), instance=instance)
        yield Materialized(
            home=home, data_dir=data, instance=instance, plan=store.plan(), report=report,
            spark=spark,
        )  # fmt: skip


@pytest.fixture(scope="session")
def reviews_materialized(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, data_root: Path
) -> Iterator[Materialized]:
    """The reviews example, every variant, both partitions, materialized once for the session."""
    yield from _materialized_once("reviews", spark, tmp_path_factory, data_root)


@pytest.fixture(scope="session")
def bank_materialized(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, data_root: Path
) -> Iterator[Materialized]:
    """The bank example, both partitions, materialized once for the session."""
    yield from _materialized_once("bank", spark, tmp_path_factory, data_root)
