"""Two code locations with their own MLflow stores, run at once in one process on real Spark,
Delta and SQLite MLflow: each fit logs and registers only into its own store, and each
prediction job loads its model from its own registry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions, ExecuteInProcessResult
from mlflow.tracking import MlflowClient
from pyspark.sql import DataFrame, SparkSession

from ff_assets.orchestration.materialize import run_job
from ff_assets.spark.tables import read_table
from ff_assets.tracking.registry import promote
from ff_assets.tracking.runs import TrackingStore, active_run_id, load_spark_model
from ff_assets_tests.orchestration.tiny_store import (
    FIT_JOB,
    TFIDF_MODEL,
    failure_text,
    tiny_definitions,
    write_reviews,
)

PREDICT_STAGING = "tiny__sentiment_prediction__tfidf__predict_staging"
SCORED = "sentiment_prediction_scored_staging__tfidf"


@dataclass
class Location:
    """A code location of the tiny store with its own home, Dagster instance and MLflow."""

    home: Path
    defs: Definitions
    instance: DagsterInstance

    @property
    def store(self) -> TrackingStore:
        return TrackingStore(uri=f"sqlite:///{self.home / 'mlflow.db'}")

    @property
    def client(self) -> MlflowClient:
        return self.store.client()

    def table(self, spark: SparkSession, name: str) -> DataFrame:
        return read_table(spark, self.home / "tables" / "tiny" / name)

    def run_ids(self) -> set[str]:
        """The Dagster run ids tagged on every MLflow run of this store."""
        experiment = self.client.get_experiment_by_name("ff_assets")
        runs = self.client.search_runs([experiment.experiment_id])
        return {r.data.tags["dagster_run_id"] for r in runs}


def _at_once(jobs: dict[str, tuple[Location, str]]) -> dict[str, ExecuteInProcessResult]:
    """Run each (location, job) in its own thread, all at once."""
    results: dict[str, ExecuteInProcessResult] = {}

    def run(name: str, location: Location, job_name: str) -> None:
        results[name] = run_job(location.defs, job_name, location.instance)

    threads = [
        threading.Thread(target=run, args=(name, location, job_name))
        for name, (location, job_name) in jobs.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture(scope="module")
def locations(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Location, Location]]:
    homes = [tmp_path_factory.mktemp("store-a"), tmp_path_factory.mktemp("store-b")]
    instances = []
    for home, noise in zip(homes, (0.0, 0.45), strict=True):
        write_reviews(home / "data", noise=noise)
        (home / "dagster").mkdir()
        instances.append(DagsterInstance.from_config(str(home / "dagster")))
    try:
        yield tuple(  # type: ignore[misc]
            Location(home, tiny_definitions(home, home / "data", f"sqlite:///{home / 'mlflow.db'}"),
                     instance)
            for home, instance in zip(homes, instances, strict=True)
        )  # fmt: skip
    finally:
        for instance in instances:
            instance.dispose()


@pytest.mark.integration
def test_two_stores_at_once_log_register_and_score_only_with_their_own(
    spark: SparkSession, locations: tuple[Location, Location]
) -> None:
    a, b = locations
    fits = _at_once({"a": (a, FIT_JOB), "b": (b, FIT_JOB)})
    for name, result in fits.items():
        assert result.success, f"{name}: {failure_text(result)}"
    for location, mine in ((a, fits["a"]), (b, fits["b"])):
        assert location.run_ids() == {mine.run_id}  # the run and its nested run, nothing else
        [version] = location.client.search_model_versions(f"name = '{TFIDF_MODEL}'")
        assert version.tags["dagster_run_id"] == mine.run_id
        assert location.client.get_run(version.run_id).data.tags["dagster_run_id"] == mine.run_id

    # Each prediction job scores with version 1 of its own registry. Store b learnt from
    # labels flipped at random, so the two models (and the two scored tables) differ.
    for location in (a, b):
        promote(location.client, TFIDF_MODEL, "staging", version="1")
    scored = _at_once({"a": (a, PREDICT_STAGING), "b": (b, PREDICT_STAGING)})
    predictions = {}
    for name, location in (("a", a), ("b", b)):
        assert scored[name].success, f"{name}: {failure_text(scored[name])}"
        rows = location.table(spark, "incoming")
        own = load_spark_model(location.store, TFIDF_MODEL, "1").transform(rows)
        predictions[name] = _predictions(location.table(spark, SCORED))
        assert predictions[name] == _predictions(own)
    assert predictions["a"] != predictions["b"]
    assert active_run_id() is None


def _predictions(frame: DataFrame) -> list[tuple[str, float]]:
    return [(r.review_id, r.sentiment_prediction) for r in frame.orderBy("review_id").collect()]
