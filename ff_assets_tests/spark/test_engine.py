"""The engine on real Spark and Delta, without Dagster: shared nodes computed once, views
recomputed when read, a selection that reads back only what lies outside it, and a failing
stage that stops its downstream while the other variant is stored.

The tiny store (200 sentences) has two producers of `text_vector` (a fitted IDF and a
row-wise Normalizer, so two variants) sharing one tokenizer and one hashing TF.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from ff_assets.core import FeatureStore, StageFailedError, Storage
from ff_assets.spark import execute
from ff_assets.spark.engine import Assembled, Checked, Engine, Evaluated, Failed, Materialized
from ff_assets.spark.execute import ROWS_PER_FIT_TASK
from ff_assets.spark.storage import Layout, NotMaterializedError
from ff_assets_tests.orchestration import tiny_store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-data")
    tiny_store.write_reviews(folder)
    return folder


def _engine(spark: SparkSession, home: Path, data_dir: Path, store: FeatureStore) -> Engine:
    return Engine(store.plan(), spark, Layout.under(home), data_dir=data_dir, run_id="r1")


def _run_all(
    spark: SparkSession, home: Path, data_dir: Path, store: FeatureStore
) -> tuple[Engine, list]:
    """Every planned asset of `store` in one engine run: the engine and its outcomes."""
    engine = _engine(spark, home, data_dir, store)
    return engine, list(engine.run(store.plan().assets))


def test_a_run_computes_each_shared_node_once(
    spark: SparkSession, tmp_path: Path, data_dir: Path
) -> None:
    store = tiny_store.build_store()
    plan = store.plan()
    engine, outcomes = _run_all(spark, tmp_path, data_dir, store)
    assert not [o for o in outcomes if isinstance(o, Failed)]
    record = engine.record
    assert Counter(record.computed) == Counter(set(record.computed))  # each node once
    assert {"tokenizer", "hashing_tf"} <= set(record.computed)
    assert set(plan.users("hashing_tf")) == {v.name for v in plan.variants}  # shared by both
    assert Counter(record.fitted) == Counter(
        {"tfidf": 1, "sentiment_model[tfidf]": 1, "sentiment_model[normalized]": 1}
    )
    assert record.loaded_tables == [] and record.loaded_fitted == []  # nothing read back
    # Row-wise chains are not cached when one consumer reads them; shared frames are.
    assert "tokenizer" not in record.cached and "hashing_tf" in record.cached
    # Each selected table written once; views only record their recipe.
    written = Counter(record.written)
    assert set(written.values()) == {1}
    views = {a.name for a in plan.assets.values() if a.storage is Storage.VIEW}
    assert {"tokens", "term_counts", "text_vector[normalized]"} <= views
    for name in views:
        assert engine.layout.has_view(engine.key(name)), name
        assert not (engine.layout.table_path(engine.key(name)) / "_delta_log").exists(), name
    evaluated = [o for o in outcomes if isinstance(o, Evaluated)]
    assert sorted(o.variant.name for o in evaluated) == [
        "sentiment_prediction[normalized]",
        "sentiment_prediction[tfidf]",
    ]
    for o in evaluated:
        assert 0.5 < o.metrics["test_accuracy"] <= 1.0
    # Each pipeline is handed over as soon as its model is fitted, before its predictions are
    # written (so MLflow logs it meanwhile); its metrics follow with the same pipeline.
    order = [(type(o).__name__, o.asset) for o in outcomes if not isinstance(o, Checked)]
    for o in evaluated:
        variant = o.variant.slug
        [assembled] = [a for a in outcomes if isinstance(a, Assembled) and a.asset == o.asset]
        assert assembled.pipeline is o.pipeline and assembled.stages == o.stages
        fitted = order.index(("Materialized", f"sentiment_model[{variant}]"))
        predictions = order.index(("Materialized", f"sentiment_prediction[{variant}]"))
        assert fitted < order.index(("Assembled", o.asset)) < predictions
        assert predictions < order.index(("Evaluated", o.asset))
    # Each model was evaluated while its predictions table was written: no pass of its own.
    models = {"sentiment_model[tfidf]", "sentiment_model[normalized]"}
    assert set(record.counted_on_write) == models and record.evaluated == []
    checks = [o for o in outcomes if isinstance(o, Checked)]
    assert checks and all(c.passed for c in checks)
    assert {c.check for c in checks} == {
        "train_test_disjoint",
        "train_test_overlap",  # whole duplicate rows: none in the generated sentences
        "fit_rows_are_train",
        "schema_matches_declaration",
    }


def test_a_view_loads_like_a_table_and_a_selection_reads_back_only_what_is_outside_it(
    spark: SparkSession, tmp_path: Path, data_dir: Path
) -> None:
    store = tiny_store.build_store()
    _run_all(spark, tmp_path, data_dir, store)

    again = _engine(spark, tmp_path, data_dir, store)
    tokens: DataFrame = again.load("tokens")  # recomputed from the stored split table
    assert tokens.count() == 200
    assert set(tokens.columns) == {"review_id", "tokens", "ff_split"}
    assert again.record.loaded_tables == ["split"]
    assert again.record.computed == ["tokenizer"]

    one = _engine(spark, tmp_path, data_dir, store)
    outcomes = list(one.run(["sentiment_prediction[tfidf]"]))
    stored = [o.asset for o in outcomes if isinstance(o, Materialized)]
    assert stored == ["sentiment_prediction[tfidf]"]
    assert one.record.written == ["sentiment_prediction[tfidf]"]
    # The tables it reads (vectors, and the split for the label) are loaded, nothing else;
    # nothing is refitted.
    assert sorted(one.record.loaded_tables) == ["split", "text_vector[tfidf]"]
    assert one.record.fitted == [] and one.record.loaded_fitted == ["sentiment_model[tfidf]"]
    assert one.record.computed == ["sentiment_model[tfidf]"]


def test_reading_what_was_never_stored_says_what_to_materialize(
    spark: SparkSession, tmp_path: Path, data_dir: Path
) -> None:
    store = tiny_store.build_store()
    engine = _engine(spark, tmp_path, data_dir, store)
    [failed] = [o for o in engine.run(["sentiment_prediction[tfidf]"]) if isinstance(o, Failed)]
    assert isinstance(failed.error, NotMaterializedError)
    assert "materialize it first" in str(failed.error)


def test_loading_a_view_whose_upstream_was_never_stored_names_it(
    spark: SparkSession, tmp_path: Path, data_dir: Path
) -> None:
    engine = _engine(spark, tmp_path, data_dir, tiny_store.build_store())
    with pytest.raises(StageFailedError) as info:
        engine.load("tokens")  # a view, recomputed from the split table nobody wrote
    message = str(info.value)
    assert message.startswith("view tiny/tokens could not be recomputed from its recipe")
    assert "NotMaterializedError" in message and "materialize it first" in message


def test_a_failing_stage_stops_its_downstream_and_the_other_variants_are_stored(
    spark: SparkSession, tmp_path: Path, data_dir: Path
) -> None:
    store = tiny_store.build_store_with_a_broken_producer()
    engine, outcomes = _run_all(spark, tmp_path, data_dir, store)
    failed = {o.asset: o for o in outcomes if isinstance(o, Failed)}
    assert set(failed) == {
        "broken",  # the fitted stage's own asset: its fit raised
        "text_vector[broken]",
        "sentiment_model[broken]",
        "sentiment_prediction[broken]",
        "sentiment_model_registered[broken]",
    }
    own = failed["text_vector[broken]"]
    assert isinstance(own.error, ValueError)
    assert "stage 'broken' failed" in own.reason and "on purpose" in own.reason
    assert failed["sentiment_model[broken]"].error is None  # skipped, not failed itself
    assert "stage 'broken' failed" in failed["sentiment_model[broken]"].reason
    stored = {o.asset for o in outcomes if isinstance(o, Materialized)}
    assert {"sentiment_prediction[tfidf]", "sentiment_prediction[normalized]"} <= stored
    assert not (tmp_path / "tables" / "tiny" / "text_vector__broken").exists()


def test_metrics_from_one_count_match_sparks_evaluators(spark: SparkSession) -> None:
    """The engine's evaluation (one grouped count) gives what Spark's evaluators give."""
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator

    from ff_assets.core import StageKind, StageSpec
    from ff_assets.spark.execute import evaluate_partitions

    rows = [
        (
            f"k{i}",
            float(i % 3),
            float(min(i % 3, 1) if i % 4 else i % 3),
            "test" if i % 5 else "train",
        )
        for i in range(300)
    ]
    scored = spark.createDataFrame(rows, "k string, y double, y_hat double, ff_split string")
    stage = StageSpec(name="m", kind=StageKind.MODEL, inputs=("x",), outputs=("y_hat",), label="y")
    metrics, cells = evaluate_partitions(stage, scored, ("train", "test"))
    for partition in ("train", "test"):
        part = scored.where(scored.ff_split == partition)
        for name in ("accuracy", "f1", "weightedPrecision", "weightedRecall"):
            expected = MulticlassClassificationEvaluator(
                labelCol="y", predictionCol="y_hat", metricName=name
            ).evaluate(part)
            assert abs(metrics[partition][name] - expected) < 1e-12, (partition, name)
        assert sum(cells[partition].values()) == part.count()
    assert metrics["test"]["f1"] != metrics["test"]["accuracy"]  # an uneven confusion


def test_counts_observed_during_a_write_match_the_grouped_count(spark: SparkSession) -> None:
    """The evaluation observed while predictions are written (one conditional count per
    cell) gives the grouped count's metrics and cells; a label outside the classes the model
    knows (never seen in training) sends the evaluation back to the grouped count."""
    from pyspark.sql import Observation

    from ff_assets.core import StageKind, StageSpec
    from ff_assets.spark.execute import counted_evaluation, evaluate_partitions

    stage = StageSpec(name="m", kind=StageKind.MODEL, inputs=("x",), outputs=("y_hat",), label="y")
    rows = [
        (f"k{i}", None if i % 17 == 0 else float(i % 3), float((i // 2) % 3),
         ("train", "validation", "test")[i % 3])
        for i in range(400)
    ]  # fmt: skip
    schema = "k string, y double, y_hat double, ff_split string"
    partitions = ("train", "validation", "test")
    for extra, fallback in (([], False), ([("k-new", 7.0, 1.0, "test")], True)):
        scored = spark.createDataFrame(rows + extra, schema)
        counted = counted_evaluation(stage, partitions, 3, has_split=True)
        assert counted is not None
        aggregates, decode = counted
        observation = Observation(f"evaluation_{len(extra)}")
        scored.observe(observation, *aggregates).write.format("noop").mode("overwrite").save()
        result = decode(observation.get)
        if fallback:
            assert result is None
            continue
        assert result == evaluate_partitions(stage, scored, partitions)
    assert counted_evaluation(stage, partitions, 21, has_split=True) is None  # many classes


def test_a_source_with_repeated_or_null_keys_is_refused_and_its_table_kept(
    spark: SparkSession, tmp_path: Path, data_dir: Path
) -> None:
    """Features are joined on the entity key: a source with a key on two rows, or none, is
    refused before its table is written, naming the keys."""
    import csv
    import shutil

    from deltalake import DeltaTable

    from ff_assets.core.errors import DataFormatError
    from ff_assets.spark.execute import key_problems

    store = tiny_store.build_store()
    engine, outcomes = _run_all(spark, tmp_path, data_dir, store)
    table = tmp_path / "tables" / "tiny" / "reviews"
    before = DeltaTable(str(table)).version()

    broken = tmp_path / "broken-data"
    shutil.copytree(data_dir, broken)
    path = broken / tiny_store.DATA_FILE
    rows = list(csv.reader(path.open()))
    rows[5][0] = rows[3][0]  # r002 twice
    rows[9][0] = rows[3][0]  # and a third time
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    engine = Engine(store.plan(), spark, Layout.under(tmp_path), data_dir=broken, run_id="r2")
    [failed] = [o for o in engine.run({"reviews"}) if isinstance(o, Failed)]
    assert isinstance(failed.error, DataFormatError)
    assert "2 rows repeat a 'review_id' already taken, e.g. 'r002' (3 rows)" in str(failed.error)
    assert "one row per key" in str(failed.error)
    assert DeltaTable(str(table)).version() == before  # nothing written
    assert len(DeltaTable(str(table)).to_pandas()) == 200

    nulls = spark.createDataFrame([("a", 1), (None, 2), (None, 3)], "k string, v int")
    assert key_problems(nulls, "k", 5) == ["2 of 3 rows have no 'k' (null)"]
    assert key_problems(nulls.where("k is not null"), "k", 5) == []


def test_a_fit_reads_its_rows_in_as_few_partitions_as_they_need(spark: SparkSession) -> None:
    """`in_tasks_of`, which the engine applies to every fit's rows: 50,000 rows a task, never
    more partitions than the rows already have."""
    frame = spark.range(1_000).repartition(3)
    assert execute.in_tasks_of(frame, 1_000).rdd.getNumPartitions() == 1
    assert execute.in_tasks_of(frame, ROWS_PER_FIT_TASK + 1).rdd.getNumPartitions() == 2
    assert execute.in_tasks_of(frame, 10 * ROWS_PER_FIT_TASK).rdd.getNumPartitions() == 3
    assert execute.in_tasks_of(frame, 1_000).count() == 1_000
