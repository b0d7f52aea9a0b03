"""Through Dagster, the overlap check is non-blocking: an ERROR of it is recorded with its
severity, the run succeeds and the assets downstream of the split are stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetCheckSeverity, DagsterInstance

from ff_assets.orchestration.materialize import materialize_store
from ff_assets_tests.orchestration.conftest import check_evaluations, materialized_keys
from ff_assets_tests.spark.test_group_split import ROWS, build_store

pytestmark = pytest.mark.integration


def test_an_overlap_error_stops_nothing(tmp_path: Path) -> None:
    store = build_store(overlap_on="text", max_overlap=0.01)
    (tmp_path / "dagster").mkdir()
    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        report = materialize_store(
            store, home=str(tmp_path), data_dir=str(tmp_path), instance=instance,
            outputs=["n_chars"],
        )  # fmt: skip
        assert report.success, report.failures
        (overlap,) = [
            e for e in check_evaluations(instance, report.runs)
            if e.check_name == "train_test_overlap"
        ]  # fmt: skip
        assert not overlap.passed and overlap.severity is AssetCheckSeverity.ERROR
        metadata = {k: v.value for k, v in overlap.metadata.items()}
        assert 0 < metadata["rows_in_both"] < ROWS and metadata["content"] == "text"
        stored = {k for run in report.runs for k, _ in materialized_keys(instance, run)}
        assert "dups/n_chars" in stored
