"""The reviews example materialized through Dagster on real Spark, Delta and data (issue 3).

One session-scoped materialization (`reviews_materialized`) feeds every test here: the shared
tokenizer runs once per partition for four variants, fits see only train keys, test metrics
are sane, and the Delta tables read back and time-travel.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from ff_assets.core.plan import AssetRole
from ff_assets.core.specs import Storage
from ff_assets.examples import reviews
from ff_assets.orchestration.assets import EVERY_PARTITION
from ff_assets.orchestration.definitions import StorePlan, build_definitions
from ff_assets.orchestration.keys import asset_key
from ff_assets.spark import execute
from ff_assets.spark.execute import SPLIT_COLUMN
from ff_assets.spark.storage import Layout
from ff_assets_tests.orchestration.conftest import (
    Materialized,
    check_evaluations,
    delta_version,
    materialized_keys,
)

pytestmark = pytest.mark.integration

VARIANTS = {
    "sentiment_prediction[tfidf]",
    "sentiment_prediction[word2vec]",
    "site_prediction[tfidf]",
    "site_prediction[word2vec]",
}
ROWS = 3000  # 3 sites x 1000 labelled sentences


def _materializations(instance: DagsterInstance, key: AssetKey) -> list[str | None]:
    records = instance.fetch_materializations(key, limit=100).records
    return [r.event_log_entry.dagster_event.partition for r in records]


def test_materialization_succeeds(reviews_materialized: Materialized) -> None:
    report = reviews_materialized.report
    assert report.success, report.failures
    assert report.runs


def test_tokenizer_runs_once_per_partition_for_all_four_variants(
    reviews_materialized: Materialized,
) -> None:
    plan, instance = reviews_materialized.plan, reviews_materialized.instance
    assert {v.name for v in plan.variants} == VARIANTS
    assert set(plan.users("tokenizer")) == VARIANTS  # one node serves every variant
    assert [a.name for a in plan.assets.values() if a.base == "tokens"] == ["tokens"]

    partitions = _materializations(instance, AssetKey(["reviews", "tokens"]))
    assert Counter(partitions) == {"train": 1, "validation": 1, "test": 1}
    everything = [
        key
        for run_id in reviews_materialized.report.runs
        for key in materialized_keys(instance, run_id)
    ]
    assert Counter(k for k, _ in everything)["reviews/tokens"] == 3
    tokens = reviews_materialized.load("tokens")  # a view: recomputed from the split table
    assert tokens.count() == ROWS
    assert tokens.select("review_id").distinct().count() == ROWS


def test_every_planned_asset_was_materialized(reviews_materialized: Materialized) -> None:
    plan, instance = reviews_materialized.plan, reviews_materialized.instance
    for planned in plan.assets.values():
        partitions = _materializations(instance, asset_key(plan.store, planned))
        expected = {"train", "validation", "test"} if planned.partitioned else {None}
        assert set(partitions) == expected, planned.name


def _fit_checks(m: Materialized, key_path: list[str]) -> list[Any]:
    return [
        e
        for e in check_evaluations(m.instance, m.report.runs)
        if e.asset_key == AssetKey(key_path) and e.check_name == "fit_rows_are_train"
    ]


@pytest.mark.parametrize("vectorizer", ["tfidf", "word2vec"])
def test_vectorizer_fitted_only_on_train_keys(
    reviews_materialized: Materialized, vectorizer: str
) -> None:
    m = reviews_materialized
    split = m.read(["reviews", "split"])
    train_keys = split.where(F.col(SPLIT_COLUMN) == "train").select("review_id")
    test_keys = split.where(F.col(SPLIT_COLUMN) == "test").select("review_id")
    assert 0 < train_keys.count() < ROWS and test_keys.count() > 0
    assert train_keys.join(test_keys, "review_id").count() == 0

    checks = _fit_checks(m, ["reviews", vectorizer])
    assert [e.passed for e in checks] == [True]
    assert checks[0].metadata["test_rows_fitted"].value == 0
    assert checks[0].metadata["rows_fitted"].value == train_keys.count()
    if vectorizer == "tfidf":  # the fitted IDF itself says how many documents it saw
        fitted = Layout.under(m.home).load_fitted(m.spark, ["reviews", "tfidf"])
        assert fitted.numDocs == train_keys.count()


def test_fit_assets_read_only_the_train_partition_of_their_inputs(
    reviews_materialized: Materialized,
) -> None:
    m = reviews_materialized
    train = m.read(["reviews", "split"]).where(F.col(SPLIT_COLUMN) == "train").count()
    fits = [a for a in m.plan.assets.values() if a.role in (AssetRole.FITTED, AssetRole.MODEL)]
    assert len(fits) == 6  # two vectorizers, four models
    for planned in fits:
        [check] = _fit_checks(m, asset_key(m.plan.store, planned).path)
        assert check.passed, planned.name
        assert check.metadata["rows_fitted"].value == train, planned.name


def test_split_is_disjoint_and_its_check_passed(reviews_materialized: Materialized) -> None:
    m = reviews_materialized
    split = m.read(["reviews", "split"])
    per_key = split.groupBy("review_id").agg(F.countDistinct(SPLIT_COLUMN).alias("n"))
    assert per_key.count() == ROWS
    assert per_key.where("n > 1").count() == 0
    evaluations = check_evaluations(m.instance, m.report.runs)
    disjoint = [e for e in evaluations if e.check_name == "train_test_disjoint"]
    assert disjoint and all(e.passed for e in disjoint)
    assert all(e.passed for e in evaluations), [e for e in evaluations if not e.passed]


def test_test_metrics_of_all_four_variants_are_sane(reviews_materialized: Materialized) -> None:
    metrics = {m.variant: m.test_value for m in reviews_materialized.report.metrics}
    assert set(metrics) == VARIANTS
    for variant, value in metrics.items():
        assert isinstance(value, float) and 0.0 <= value <= 1.0, (variant, value)
        # Sentiment: 2 balanced classes (chance 0.5); site: 3 balanced classes (chance 0.33).
        floor = 0.6 if variant.startswith("sentiment") else 0.45
        assert value > floor, (variant, value)


def _pandas_overlap(split: pd.DataFrame, content: str) -> int:
    """Rows whose `content` is on more than one side of the split, counted by pandas."""
    sides = split.groupby(content)[SPLIT_COLUMN].nunique()
    return int(split[content].isin(sides[sides > 1].index).sum())


def test_the_split_groups_repeated_sentences_and_its_overlap_check_shows_0(
    reviews_materialized: Materialized,
) -> None:
    m = reviews_materialized
    split = m.read(["reviews", "split"]).toPandas()
    assert len(split) == ROWS
    assert split.groupby("normalized_text")["review_id"].count().max() > 1  # repeats exist
    assert _pandas_overlap(split, "normalized_text") == 0
    assert _pandas_overlap(split, "text") == 0
    overlap = [
        e for e in check_evaluations(m.instance, m.report.runs)
        if e.check_name == "train_test_overlap"
    ]  # fmt: skip
    assert overlap and all(e.passed for e in overlap)
    metadata = {k: v.value for k, v in overlap[-1].metadata.items()}
    assert metadata["rows_in_both"] == 0 and metadata["rows"] == ROWS
    assert metadata["content"] == "normalized_text" == metadata["group_by"]


def test_the_normalized_text_ignores_case_spaces_and_punctuation(
    reviews_materialized: Materialized,
) -> None:
    texts = ["Great  phone!!", "great phone.", " GREAT, phone ", "Not great phone"]
    frame = reviews_materialized.spark.createDataFrame([(t,) for t in texts], "text string")
    out = [r[0] for r in frame.select(reviews.normalized(F.col("text"))).collect()]
    assert out == ["great phone", "great phone", "great phone", "not great phone"]


def test_without_grouping_repeated_sentences_land_on_both_sides(
    reviews_materialized: Materialized,
) -> None:
    """The same split by key (its seed and fractions), as the example declared it before:
    the overlap the check would report, counted by the engine's check and by pandas."""
    m = reviews_materialized
    grouped = m.plan.nodes["split"].stage
    by_key = replace(
        grouped, impl=replace(grouped.impl, group_by=None, overlap_on="normalized_text")
    )
    source = m.read(["reviews", "reviews_source"])
    assigned = execute.assign_split(source, by_key, "review_id")
    both, rows, examples = execute.overlap(assigned, "normalized_text", 5)
    expected = _pandas_overlap(assigned.toPandas(), "normalized_text")
    print(f"reviews split by key: {both} of {rows} rows have a normalized text on two sides")
    assert both == expected == 35 and rows == ROWS and len(examples) == 5  # in the README


def test_delta_tables_read_back_with_spark(reviews_materialized: Materialized) -> None:
    m = reviews_materialized
    source = m.read(["reviews", "reviews_source"])
    assert source.count() == ROWS
    assert set(source.columns) == {
        "review_id", "text", "normalized_text", "sentiment", "site", "site_label",
    }  # fmt: skip
    by_site = {r["site"]: r["count"] for r in source.groupBy("site").count().collect()}
    assert by_site == {"amazon": 1000, "imdb": 1000, "yelp": 1000}
    for planned in m.plan.assets.values():
        if planned.role not in (AssetRole.SOURCE, AssetRole.SPLIT, AssetRole.FEATURES):
            continue
        path = m.table_path(asset_key(m.plan.store, planned).path)
        is_table = planned.storage is Storage.TABLE
        assert DeltaTable.isDeltaTable(m.spark, str(path)) == is_table, path
        table = m.read(asset_key(m.plan.store, planned).path) if is_table else m.load(planned.name)
        assert {"review_id", *planned.features} <= set(table.columns), planned.name
        assert table.count() == ROWS, planned.name
        if planned.partitioned:
            sizes = {
                r[SPLIT_COLUMN]: r["count"] for r in table.groupBy(SPLIT_COLUMN).count().collect()
            }
            assert set(sizes) == {"train", "validation", "test"}, planned.name


def test_rematerializing_one_partition_time_travels(reviews_materialized: Materialized) -> None:
    """Re-run the train partition of one table: a new Delta version; the previous one stays
    readable with `versionAsOf`, and the test partition is untouched. Only that asset is
    computed: its view upstream (term counts, tokens) is recomputed from the split table and
    the fitted IDF is loaded, not refitted."""
    m = reviews_materialized
    key = AssetKey(["reviews", "text_vector__tfidf"])
    path = m.table_path(key.path)
    before = delta_version(m.spark, path)
    previous = m.read(key.path, version=before)
    test_rows_before = previous.where(F.col(SPLIT_COLUMN) == "test").count()

    defs = build_definitions([StorePlan(reviews.store)], home=str(m.home), data_dir=str(m.data_dir))
    # One partition of one asset, as Dagit launches it (the implicit asset job).
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=m.instance, partition_key="train", asset_selection=[key], raise_on_error=False
    )
    assert result.success
    assert materialized_keys(m.instance, result.run_id) == [("reviews/text_vector__tfidf", "train")]
    assert not result.get_asset_check_evaluations() or all(
        e.asset_key == key for e in result.get_asset_check_evaluations()
    )

    after = delta_version(m.spark, path)
    assert after == before + 1
    assert m.read(key.path, version=before).count() == previous.count() == ROWS
    current = m.read(key.path)
    assert current.count() == ROWS
    assert current.where(F.col(SPLIT_COLUMN) == "test").count() == test_rows_before
    # The same rows, recomputed: the new version equals the previous one.
    columns = ["review_id", SPLIT_COLUMN]
    assert current.select(*columns).exceptAll(previous.select(*columns)).count() == 0
    history = DeltaTable.forPath(m.spark, str(path)).history().collect()
    assert sorted(int(h["version"]) for h in history) == list(range(after + 1))


def test_a_selection_of_one_asset_computes_only_that_asset(
    reviews_materialized: Materialized,
) -> None:
    """One model's predictions alone: the run stores that table and nothing else; every
    upstream table and fitted stage it needs is read from storage."""
    m = reviews_materialized
    key = AssetKey(["reviews", "site_prediction__word2vec"])
    fitted_before = sorted((m.home / "fitted" / "reviews" / "site_model__word2vec").rglob("LATEST"))
    defs = build_definitions([StorePlan(reviews.store)], home=str(m.home), data_dir=str(m.data_dir))
    result = defs.resolve_job_def("Materialize__reviews").execute_in_process(
        instance=m.instance, asset_selection=[key], raise_on_error=False,
        tags=EVERY_PARTITION,
    )  # fmt: skip
    assert result.success
    assert sorted(materialized_keys(m.instance, result.run_id)) == [
        ("reviews/site_prediction__word2vec", "test"),
        ("reviews/site_prediction__word2vec", "train"),
        ("reviews/site_prediction__word2vec", "validation"),
    ]
    steps = {e.step_key for e in result.all_events if e.step_key}
    assert steps == {"reviews__assets"}
    after = sorted((m.home / "fitted" / "reviews" / "site_model__word2vec").rglob("LATEST"))
    assert fitted_before == after  # the model was loaded, not refitted


def _latest_metadata(m: Materialized, key: list[str]) -> dict[str, Any]:
    records = m.instance.fetch_materializations(AssetKey(key), limit=1).records
    materialization = records[0].event_log_entry.dagster_event.materialization
    return {name: value.value for name, value in materialization.metadata.items()}


def test_every_table_carries_its_feature_statistics(reviews_materialized: Materialized) -> None:
    """Statistics gathered in the run itself, per kind of feature: the split's while it is
    written (plus one aggregation of its text's tokens), the predictions' from their
    evaluation's counts, the source's from Delta's file statistics; their histograms drawn
    in the metadata as pictures."""
    m = reviews_materialized
    metadata = _latest_metadata(m, ["reviews", "split"])
    split = metadata["feature_statistics_json"]
    assert {f: s["kind"] for f, s in split.items()} == {
        "text": "text", "normalized_text": "text", "sentiment": "numeric",
        "site": "categorical", "site_label": "numeric",
    }  # fmt: skip
    text = split["text"]["partitions"]
    assert sum(text[p]["count"] for p in ("train", "validation", "test")) == ROWS
    assert text["train"]["length"]["min"] >= 1 and text["train"]["vocabulary"] > 1000
    assert text["train"]["top_tokens"][0][0] == "the"  # the commonest English word
    sentiment = split["sentiment"]["partitions"]["train"]
    assert 0 <= sentiment["mean"] <= 1 and sentiment["histogram"]["values"] == [0.0, 1.0]
    assert {v for v, _ in split["site"]["partitions"]["test"]["top_values"]} == {
        "amazon", "imdb", "yelp",
    }  # fmt: skip
    assert set(split["sentiment"]["drift"]) == {"validation", "test"}
    for partition in ("validation", "test"):  # a hash split: no drift to speak of
        assert split["site"]["drift"][partition] < 0.1
    assert metadata["histogram_sentiment"].startswith("![sentiment](data:image/svg+xml;base64,")
    assert "**categorical**" in metadata["feature_statistics"]
    train_rows = m.read(["reviews", "split"]).where(F.col(SPLIT_COLUMN) == "train").count()
    assert text["train"]["count"] == train_rows
    predictions = _latest_metadata(m, ["reviews", "site_prediction__tfidf"])
    stats = predictions["feature_statistics_json"]["site_prediction"]["partitions"]
    assert stats["train"]["count"] == train_rows and stats["train"]["distinct"] == 3
    assert set(stats["test"]["deciles"]) <= {0.0, 1.0, 2.0}
    assert 0.45 < predictions["test_accuracy"] <= 1.0
    assert 0.45 < predictions["validation_accuracy"] <= 1.0
    source = _latest_metadata(m, ["reviews", "reviews_source"])
    assert source["statistics_from"] == "Delta file statistics"
    assert source["feature_statistics_json"]["site_label"]["partitions"]["all"] == {
        "count": ROWS, "nulls": 0, "min": 0.0, "max": 2.0,
    }  # fmt: skip


def test_stats_command_reads_what_dagit_shows(
    reviews_materialized: Materialized, capsys: pytest.CaptureFixture, monkeypatch: Any
) -> None:
    """`ff-assets stats NAME [--partition P] [--json]`: the latest materialization's
    statistics, from the project's Dagster instance, no Spark."""
    from ff_assets.cli import main

    m = reviews_materialized
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = ["--home", str(m.home)]
    assert main(["stats", "split", *home, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == _latest_metadata(m, ["reviews", "split"])["feature_statistics_json"]
    # Other tests of this module rematerialize parts: take a partition the latest one holds.
    latest = _latest_metadata(m, ["reviews", "text_vector__tfidf"])["feature_statistics_json"]
    partition = next(p for p in latest["text_vector"]["partitions"] if p != "all")
    args = ["stats", "text_vector[tfidf]", *home, "--partition", partition, "--json"]
    assert main(args) == 0
    vectors = json.loads(capsys.readouterr().out)["text_vector"]
    assert list(vectors["partitions"]) == [partition]
    assert main(["stats", "split", *home]) == 0
    out = capsys.readouterr().out
    assert out.startswith("reviews/split: feature statistics")
    assert "categorical" in out and "amazon" in out and "PSI" in out
    assert main(["stats", "split", *home, "--partition", "tset"]) == 1
    assert "Did you mean 'test'" in capsys.readouterr().err
    assert main(["stats", "sentiment", *home]) == 1
    assert "held by several assets (reviews_source, split)" in capsys.readouterr().err
