"""Spark ML stages declared as they are: features read from their column params.

Real pyspark.ml stages need a SparkContext to be constructed (integration); `spark_stage`
factories are read without one.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.clustering import KMeans
from pyspark.ml.feature import (
    IDF,
    ChiSqSelector,
    HashingTF,
    SQLTransformer,
    StringIndexer,
    Tokenizer,
    VectorAssembler,
    Word2Vec,
)
from pyspark.sql import SparkSession

from ff_assets.core.errors import DeclarationError
from ff_assets.core.specs import FitOn, StageKind, Threshold
from ff_assets.spark.introspect import (
    SparkStageFactory,
    snake_case,
    spark_stage,
    stage_from_spark,
)

# (class, constructor params, name, kind, inputs, outputs, label, readable params)
CASES: list[tuple[type, dict[str, Any], str, StageKind, tuple, tuple, str | None, tuple]] = [
    (Tokenizer, {"inputCol": "text", "outputCol": "tokens"},
     "tokenizer", StageKind.TRANSFORM, ("text",), ("tokens",), None, ()),
    (HashingTF, {"inputCol": "tokens", "outputCol": "tf", "numFeatures": 4096},
     "hashing_tf", StageKind.TRANSFORM, ("tokens",), ("tf",), None, (("numFeatures", "4096"),)),
    (IDF, {"inputCol": "tf", "outputCol": "text_vector", "minDocFreq": 1},
     "idf", StageKind.FITTED, ("tf",), ("text_vector",), None, (("minDocFreq", "1"),)),
    (Word2Vec, {"inputCol": "tokens", "outputCol": "text_vector", "vectorSize": 64, "seed": 11},
     "word2vec", StageKind.FITTED, ("tokens",), ("text_vector",), None,
     (("seed", "11"), ("vectorSize", "64"))),
    (KMeans, {"featuresCol": "profile", "predictionCol": "segment", "k": 5},
     "k_means", StageKind.FITTED, ("profile",), ("segment",), None, (("k", "5"),)),
    (LogisticRegression,
     {"featuresCol": "text_vector", "labelCol": "sentiment",
      "predictionCol": "sentiment_prediction", "maxIter": 100, "regParam": 0.01},
     "logistic_regression", StageKind.MODEL, ("text_vector",), ("sentiment_prediction",),
     "sentiment", (("maxIter", "100"), ("regParam", "0.01"))),
    (LogisticRegression, {},  # Spark's defaults: features -> prediction, label "label"
     "logistic_regression", StageKind.MODEL, ("features",), ("prediction",), "label", ()),
    (StringIndexer, {"inputCol": "site", "outputCol": "site_label"},
     "string_indexer", StageKind.FITTED, ("site",), ("site_label",), None, ()),
    (StringIndexer, {"inputCols": ["a", "b"], "outputCols": ["a_index", "b_index"]},
     "string_indexer", StageKind.FITTED, ("a", "b"), ("a_index", "b_index"), None, ()),
    (VectorAssembler, {"inputCols": ["age", "balance"], "outputCol": "profile"},
     "vector_assembler", StageKind.TRANSFORM, ("age", "balance"), ("profile",), None, ()),
    (ChiSqSelector, {"featuresCol": "f", "outputCol": "selected", "labelCol": "y"},
     "chi_sq_selector", StageKind.FITTED, ("f",), ("selected",), "y", ()),
]  # fmt: skip
IDS = [f"{case[0].__name__}-{i}" for i, case in enumerate(CASES)]


def _check(spec: Any, case: tuple) -> None:
    _, _, name, kind, inputs, outputs, label, params = case
    assert (spec.name, spec.kind, spec.inputs, spec.outputs, spec.label, spec.params) == (
        name, kind, inputs, outputs, label, params,
    )  # fmt: skip


@pytest.mark.integration
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_real_stage(spark: SparkSession, case: tuple) -> None:
    stage = case[0](**case[1])
    spec = stage_from_spark(stage)
    _check(spec, case)
    assert spec.impl is stage


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_factory_is_read_without_spark(case: tuple) -> None:
    factory = spark_stage(case[0], **case[1])
    spec = stage_from_spark(factory)
    _check(spec, case)
    assert spec.impl is factory


@pytest.mark.integration
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_factory_reads_like_the_stage_it_builds(spark: SparkSession, case: tuple) -> None:
    factory = spark_stage(case[0], **case[1])
    built = factory.build()
    assert type(built) is case[0]
    assert stage_from_spark(factory) == stage_from_spark(built)  # impl is not compared


@pytest.mark.integration
def test_built_factory_runs(spark: SparkSession) -> None:
    tokenizer = spark_stage(Tokenizer, inputCol="text", outputCol="tokens").build()
    frame = spark.createDataFrame([("Great food here",)], "text string")
    assert tokenizer.transform(frame).first().tokens == ["great", "food", "here"]


def test_overrides_pass_through() -> None:
    factory = spark_stage(KMeans, featuresCol="profile", predictionCol="segment")
    spec = stage_from_spark(
        factory,
        name="segment_kmeans",
        description="Customer segments.",
        owner="ml@example.com",
        tags={"domain": "bank"},
        fit_on=FitOn.EXTERNAL,
        external_reason="fitted on last year's clients",
    )
    assert spec.name == "segment_kmeans"
    assert spec.description == "Customer segments."
    assert spec.owner == "ml@example.com"
    assert spec.tags == (("domain", "bank"),)
    assert spec.fit_on is FitOn.EXTERNAL
    assert spec.external_reason == "fitted on last year's clients"


def test_model_metric_and_threshold_pass_through() -> None:
    bound = Threshold(metric="accuracy", minimum=0.7)
    spec = stage_from_spark(
        spark_stage(LogisticRegression, featuresCol="v", labelCol="y", predictionCol="p"),
        kind=StageKind.MODEL,
        metric="accuracy",
        threshold=bound,
    )
    assert (spec.kind, spec.metric, spec.threshold) == (StageKind.MODEL, "accuracy", bound)


def test_estimator_with_label_may_be_declared_fitted() -> None:
    factory = spark_stage(LogisticRegression, featuresCol="v", labelCol="y", predictionCol="p")
    spec = stage_from_spark(factory, kind="fitted")
    assert (spec.kind, spec.label) == (StageKind.FITTED, "y")


@pytest.mark.parametrize(
    ("class_name", "snake"),
    [("HashingTF", "hashing_tf"), ("IDF", "idf"), ("Word2Vec", "word2vec"),
     ("KMeans", "k_means"), ("GBTClassifier", "gbt_classifier"), ("NGram", "n_gram")],
)  # fmt: skip
def test_snake_case(class_name: str, snake: str) -> None:
    assert snake_case(class_name) == snake


# -- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize("obj", [object(), "HashingTF", {"inputCol": "x"}])
def test_non_stage_is_refused(obj: object) -> None:
    with pytest.raises(DeclarationError, match="is not a Spark ML stage"):
        stage_from_spark(obj)


def test_non_stage_class_is_refused() -> None:
    with pytest.raises(DeclarationError, match="dict is not a Spark ML stage"):
        spark_stage(dict)


def test_pipeline_is_refused() -> None:
    with pytest.raises(DeclarationError, match="declare each stage of it on its own"):
        spark_stage(Pipeline)


def test_missing_output_names_the_param() -> None:
    # Tokenizer's default outputCol is "<random uid>__output": not a stable feature name.
    with pytest.raises(DeclarationError, match=r"'tokenizer' \(Tokenizer\).*set outputCol="):
        stage_from_spark(spark_stage(Tokenizer, inputCol="text"))


def test_missing_input_names_the_params() -> None:
    with pytest.raises(DeclarationError, match="no input column: set inputCol= or inputCols="):
        stage_from_spark(spark_stage(StringIndexer, outputCol="x"))


def test_stage_without_column_params_is_refused() -> None:
    with pytest.raises(DeclarationError, match="has no input column param"):
        stage_from_spark(spark_stage(SQLTransformer, statement="SELECT * FROM __THIS__"))


def test_unknown_param_suggests_the_close_one() -> None:
    with pytest.raises(DeclarationError, match="no param 'numFeature'. Did you mean 'numFeatures'"):
        spark_stage(HashingTF, numFeature=10)


def test_invalid_param_value_is_refused() -> None:
    with pytest.raises(DeclarationError, match="numFeatures='many' is invalid"):
        spark_stage(HashingTF, inputCol="a", outputCol="b", numFeatures="many")


def test_transformer_cannot_be_a_model() -> None:
    factory = spark_stage(Tokenizer, inputCol="text", outputCol="tokens")
    with pytest.raises(DeclarationError, match="only be a transform, not model"):
        stage_from_spark(factory, kind=StageKind.MODEL)


def test_clustering_cannot_be_a_model() -> None:
    factory = spark_stage(KMeans, featuresCol="profile", predictionCol="segment")
    with pytest.raises(DeclarationError, match="has no labelCol param"):
        stage_from_spark(factory, kind=StageKind.MODEL)


def test_factory_is_a_frozen_picklable_value() -> None:
    columns = ["age", "balance"]
    factory = spark_stage(VectorAssembler, inputCols=columns, outputCol="profile")
    columns.append("later")  # the declaration does not change behind the factory's back
    assert factory.kwargs == {"inputCols": ["age", "balance"], "outputCol": "profile"}
    assert pickle.loads(pickle.dumps(factory)) == factory
    assert repr(factory) == (
        "spark_stage(VectorAssembler, inputCols=['age', 'balance'], outputCol='profile')"
    )
    assert isinstance(factory, SparkStageFactory)
