"""A store's run through Dagster: one step for the whole store, a failing stage failing only
what depends on it while the independent variant is stored and registered, and the run's
error naming the stage (issue 7)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance
from pyspark.sql import SparkSession

from ff_assets.orchestration.materialize import materialize_store
from ff_assets.tracking.registry import tracking_client
from ff_assets_tests.orchestration import tiny_store
from ff_assets_tests.orchestration.conftest import materialized_keys

pytestmark = pytest.mark.integration


def test_a_failing_stage_fails_its_downstream_and_the_independent_variants_materialize(
    spark: SparkSession, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    tiny_store.write_reviews(data_dir)
    (tmp_path / "dagster").mkdir()
    store = tiny_store.build_store_with_a_broken_producer()
    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        report = materialize_store(
            store, home=str(tmp_path), data_dir=str(data_dir), instance=instance
        )
        [run_id] = report.runs
        done = {key for key, _ in materialized_keys(instance, run_id)}

    assert not report.success
    [failure] = report.failures
    assert failure.startswith("tiny__assets:")  # the store's one step
    assert "stage 'broken' failed" in failure
    assert "the broken vectorizer failed on purpose" in failure
    assert "tiny/sentiment_model__broken" in failure or "sentiment_model[broken]" in failure
    # The other two variants went all the way to the registry.
    for variant in ("tfidf", "normalized"):
        assert f"tiny/sentiment_model_registered__{variant}" in done
        assert f"tiny/sentiment_prediction__{variant}" in done
    assert not {k for k in done if k.endswith("__broken")}
    assert not (tmp_path / "tables" / "tiny" / "text_vector__broken").exists()
    client = tracking_client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    names = {m.name for m in client.search_registered_models()}
    assert names == {"tiny.sentiment_prediction.tfidf", "tiny.sentiment_prediction.normalized"}
