"""A model's MLflow run in two steps, on a real SQLite store and Spark: logged while its
metrics are still being computed (the run RUNNING, no version), then finished and registered
with the metrics linked to the logged model; or abandoned (FAILED, never registered)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from pyspark.ml import PipelineModel
from pyspark.ml.feature import Tokenizer
from pyspark.sql import SparkSession

from ff_assets.tracking.runs import (
    LoggedModel,
    TrackingStore,
    abandon,
    active_run_id,
    finish_and_register,
    log_model_run,
)

pytestmark = pytest.mark.integration

NAME = "store.output.variant"


@pytest.fixture
def store(tracking_uri: str, tmp_path: Path) -> TrackingStore:
    return TrackingStore(uri=tracking_uri, artifact_root=tmp_path / "mlartifacts")


def _logged(spark: SparkSession, store: TrackingStore, client: MlflowClient) -> LoggedModel:
    parent = client.create_run(store.experiment_id(client), run_name="dagster run")
    pipeline = PipelineModel(stages=[Tokenizer(inputCol="text", outputCol="tokens")])
    return log_model_run(
        store, pipeline, name=NAME, parent_run_id=parent.info.run_id, run_name="variant",
        tags={"ff_assets.store": "store"}, params={"tokenizer.pattern": "\\s+"},
        lineage={"stages": ["tokenizer"]}, pip_requirements=["pyspark"],
    )  # fmt: skip


def test_a_logged_model_is_registered_only_when_its_metrics_come(
    spark: SparkSession, store: TrackingStore, client: MlflowClient
) -> None:
    logged = _logged(spark, store, client)
    run = client.get_run(logged.run_id)
    assert run.info.status == "RUNNING" and active_run_id() == logged.run_id
    assert run.data.params == {"tokenizer.pattern": "\\s+"} and run.data.metrics == {}
    assert client.search_model_versions(f"name = '{NAME}'") == []

    registered = finish_and_register(
        store, logged, name=NAME, metrics={"test_accuracy": 0.75},
        version_tags={"selects_on": "test"},
    )  # fmt: skip
    run = client.get_run(logged.run_id)
    assert run.info.status == "FINISHED" and active_run_id() is None
    assert run.data.metrics == {"test_accuracy": 0.75}
    [version] = client.search_model_versions(f"name = '{NAME}'")
    assert (
        (str(version.version), version.run_id)
        == (registered.version, logged.run_id)
        == ("1", run.info.run_id)
    )
    assert version.tags == {"selects_on": "test"}


def test_an_abandoned_model_is_failed_and_never_registered(
    spark: SparkSession, store: TrackingStore, client: MlflowClient
) -> None:
    logged = _logged(spark, store, client)
    abandon(store, logged)
    assert client.get_run(logged.run_id).info.status == "FAILED"
    assert active_run_id() is None
    assert client.search_model_versions(f"name = '{NAME}'") == []
