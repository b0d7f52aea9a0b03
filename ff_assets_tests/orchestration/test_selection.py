"""Choices read validation rows only (issue 9, selection): on a store whose validation and
test rows disagree on purpose (`selection_store`), the comparison, the registered versions'
threshold and the promotion all follow validation, and test is reported beside it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance
from mlflow.tracking import MlflowClient
from pyspark.sql import SparkSession

from ff_assets.cli import main
from ff_assets.core.errors import PromotionRefusedError
from ff_assets.core.plan import Plan
from ff_assets.orchestration.materialize import materialize_store
from ff_assets.spark.execute import SPLIT_COLUMN
from ff_assets.spark.storage import Layout
from ff_assets.tracking.promotion import promote_variant
from ff_assets.tracking.registry import aliases_of, latest_version, tracking_client
from ff_assets_tests.orchestration import selection_store
from ff_assets_tests.orchestration.selection_store import OUTPUT, STORE

pytestmark = pytest.mark.integration

X, Y = (f"{STORE}.{OUTPUT}.{v}" for v in ("from_x", "from_y"))


@dataclass
class Chosen:
    home: Path
    plan: Plan
    instance: DagsterInstance
    client: MlflowClient
    uri: str


@pytest.fixture(scope="module")
def chosen(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chosen]:
    home = tmp_path_factory.mktemp("chooser-home")
    (home / "dagster").mkdir()
    store = selection_store.build_store()
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        report = materialize_store(store, home=str(home), data_dir=str(home), instance=instance)
        assert report.success, report.failures
        uri = f"sqlite:///{home / 'mlflow.db'}"
        yield Chosen(home, store.plan(), instance, tracking_client(uri), uri)


def _accuracy_from_stored_predictions(spark: SparkSession, home: Path, variant: str) -> dict:
    """Accuracy per partition, computed with pandas from the stored prediction table."""
    layout = Layout.under(home)
    table = layout.read_table(spark, (STORE, f"{OUTPUT}__{variant}")).toPandas()
    split = layout.read_table(spark, (STORE, "split")).toPandas()
    rows = table.merge(split[["row_id", "label"]], on="row_id")
    hit = rows[OUTPUT] == rows["label"]
    return hit.groupby(rows[SPLIT_COLUMN]).mean().to_dict()


def test_the_plan_has_a_validation_partition_and_it_chooses(chosen: Chosen) -> None:
    assert chosen.plan.partitions == ("train", "validation", "test")
    assert {chosen.plan.selects_on(v) for v in chosen.plan.variants} == {"validation"}
    split = chosen.instance.get_latest_materialization_event(AssetKey([STORE, "split"]))
    assert split is not None
    rows = split.asset_materialization.metadata["feature_statistics_json"].data  # type: ignore[union-attr]
    counts = {p: s["count"] for p, s in rows["x"]["partitions"].items() if p != "all"}
    assert set(counts) == {"train", "validation", "test"}
    for partition, share in (("train", 0.6), ("validation", 0.2), ("test", 0.2)):
        assert abs(counts[partition] / selection_store.ROWS - share) < 0.04, counts


def test_registered_metrics_are_those_of_the_stored_rows_per_partition(
    chosen: Chosen, spark: SparkSession
) -> None:
    for variant, name in (("from_x", X), ("from_y", Y)):
        version = latest_version(chosen.client, name)
        assert version.tags["selects_on"] == "validation"
        logged = chosen.client.get_run(version.run_id).data.metrics
        expected = _accuracy_from_stored_predictions(spark, chosen.home, variant)
        for partition in ("train", "validation", "test"):
            assert logged[f"{partition}_accuracy"] == pytest.approx(expected[partition])
    x = chosen.client.get_run(latest_version(chosen.client, X).run_id).data.metrics
    assert (x["validation_accuracy"], x["test_accuracy"]) == (1.0, 0.0)


def test_the_comparison_chooses_on_validation_where_test_would_choose_the_other(
    chosen: Chosen,
) -> None:
    event = chosen.instance.get_latest_materialization_event(
        AssetKey([STORE, f"{OUTPUT}_comparison"])
    )
    assert event is not None
    metadata = event.asset_materialization.metadata  # type: ignore[union-attr]
    assert metadata["selects_on"].value == "validation"
    assert metadata["best_variant"].value == f"{OUTPUT}[from_x]"
    assert "selection_warning" not in metadata
    rows = {r["variant"]: r for r in metadata["rows"].data}
    y = rows[f"{OUTPUT}[from_y]"]
    assert float(y["test accuracy"]) > float(rows[f"{OUTPUT}[from_x]"]["test accuracy"])


def test_the_production_threshold_reads_validation(chosen: Chosen) -> None:
    done = promote_variant(chosen.client, chosen.plan, OUTPUT, "from_x", "production")
    assert (done.partition, done.value, done.warning) == ("validation", 1.0, None)
    tags = chosen.client.get_model_version(X, done.version).tags
    assert tags["production_threshold_on"] == "validation"
    # from_y scores 1.0 on test rows, but test rows do not choose: refused on validation.
    with pytest.raises(PromotionRefusedError, match=r"has validation accuracy 0\.[567]"):
        promote_variant(chosen.client, chosen.plan, OUTPUT, "from_y", "production")
    assert aliases_of(chosen.client, Y) == {}


def test_compare_says_which_rows_chose(chosen: Chosen, capsys: pytest.CaptureFixture) -> None:
    store = "ff_assets_tests.orchestration.selection_store:store"
    code = main(["compare", OUTPUT, "--store", store, "--tracking-uri", chosen.uri])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "validation accuracy (chooses)" in out.splitlines()[0]
    assert out.splitlines()[-1] == f"chosen on validation rows (accuracy): {OUTPUT}[from_x]"
