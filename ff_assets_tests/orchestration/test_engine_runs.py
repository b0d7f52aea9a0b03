"""A store's run through Dagster: one step for the whole store, a failing stage failing only
what depends on it while the independent variant is stored and registered, the run's error
naming the stage (issue 7), and the failed assets' tables and fits left at their last good
version (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance
from pyspark.sql import SparkSession

from ff_assets.orchestration.materialize import materialize_store
from ff_assets.tracking.registry import tracking_client
from ff_assets_tests.orchestration import tiny_store
from ff_assets_tests.orchestration.conftest import materialized_keys
from ff_assets_tests.reliability.faults import states

pytestmark = pytest.mark.integration


def test_a_failing_stage_fails_its_downstream_and_the_independent_variants_materialize(
    spark: SparkSession, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    tiny_store.write_reviews(data_dir)
    (tmp_path / "dagster").mkdir()
    failing = False
    store = tiny_store.build_store_with_a_broken_producer(lambda: failing)
    tables = tmp_path / "tables"
    fitted = tmp_path / "fitted" / "tiny"
    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        first = materialize_store(
            store, home=str(tmp_path), data_dir=str(data_dir), instance=instance
        )
        assert first.success, first.errors
        before = states(tables)
        fits_before = {p.parent.name: p.read_text() for p in fitted.rglob("LATEST")}
        failing = True
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
    # Tables of the failed variant keep their last good version (and rows); the rest moved on.
    after = states(tables)
    broken = {name for name in before if name.endswith("__broken")}
    assert broken == {"tiny/text_vector__broken", "tiny/sentiment_prediction__broken"}
    for name, state in after.items():
        assert state == before[name] if name in broken else state.version == 1, name
    fits_after = {p.parent.name: p.read_text() for p in fitted.rglob("LATEST")}
    for name, pointer in fits_after.items():
        assert (pointer == fits_before[name]) == name.endswith("broken"), name
    client = tracking_client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    versions = {
        m.name: len(client.search_model_versions(f"name = '{m.name}'"))
        for m in client.search_registered_models()
    }
    assert versions == {
        "tiny.sentiment_prediction.tfidf": 2,
        "tiny.sentiment_prediction.normalized": 2,
        "tiny.sentiment_prediction.broken": 1,
    }
