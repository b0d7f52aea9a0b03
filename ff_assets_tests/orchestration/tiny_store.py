"""A small text store for model tests: 200 reproducible review sentences in a CSV file, a
split, a tokenizer, hashed term counts, two producers of `text_vector` (a fitted IDF and a
row-wise Normalizer, hence two variants) and a logistic regression with a threshold.

A fit on it takes seconds, not the minutes of the UCI reviews store.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import IDF, HashingTF, Normalizer, RegexTokenizer

from ff_assets.core import FeatureStore, Retries
from ff_assets.core.store import DEFAULT_RETRIES
from ff_assets.orchestration.definitions import build_definitions
from ff_assets.spark.introspect import spark_stage

if TYPE_CHECKING:
    from dagster import Definitions, ExecuteInProcessResult
    from pyspark.ml import Transformer
    from pyspark.sql import DataFrame, SparkSession

STORE = "tiny"
OUTPUT = "sentiment_prediction"
DATA_FILE = "tiny_reviews.csv"
THRESHOLD = 0.8
POSITIVE = ("great", "lovely", "excellent", "good", "amazing", "wonderful", "nice", "perfect")
NEGATIVE = ("awful", "terrible", "bad", "poor", "horrible", "boring", "broken", "waste")
NEUTRAL = ("the", "movie", "food", "phone", "service", "was", "really", "quite", "and", "it")


def write_reviews(data_dir: Path, *, rows: int = 200, seed: int = 1, noise: float = 0.0) -> Path:
    """Write `rows` labelled sentences; `noise` is the share of labels flipped at random (0.45
    makes the data nearly unlearnable, so the model misses its threshold)."""
    rng = random.Random(seed)
    path = data_dir / DATA_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["review_id", "text", "sentiment"])
        for i in range(rows):
            label = i % 2
            words = [*rng.sample(POSITIVE if label else NEGATIVE, 2), *rng.sample(NEUTRAL, 4)]
            rng.shuffle(words)
            if rng.random() < noise:
                label = 1 - label
            out.writerow([f"r{i:03d}", " ".join(words), float(label)])
    return path


def _read(data_dir: Path) -> list[tuple[str, str, float]]:
    with (data_dir / DATA_FILE).open(newline="") as handle:
        return [(r["review_id"], r["text"], float(r["sentiment"])) for r in csv.DictReader(handle)]


def build_store(*, retries: Retries = DEFAULT_RETRIES) -> FeatureStore:
    """A fresh declaration of the store (stores are mutable: each test module builds its own)."""
    store = FeatureStore(
        name=STORE, description="Synthetic review sentences.", owner="tests", retries=retries
    )

    @store.source(outputs=["text", "sentiment"], entity_key="review_id", data_files=(DATA_FILE,))
    def reviews(spark: SparkSession, data_dir: Path) -> DataFrame:
        """The labelled sentences."""
        schema = "review_id string, text string, sentiment double"
        return spark.createDataFrame(_read(data_dir), schema=schema)

    @store.scoring_source(outputs=["text"], entity_key="review_id", data_files=(DATA_FILE,))
    def incoming(spark: SparkSession, data_dir: Path) -> DataFrame:
        """The first 20 sentences again, labels dropped."""
        rows = [(f"new-{key}", text) for key, text, _ in _read(data_dir)[:20]]
        return spark.createDataFrame(rows, schema="review_id string, text string")

    store.split(inputs=["text", "sentiment"], test_fraction=0.25, seed=7)
    store.add(
        spark_stage(RegexTokenizer, inputCol="text", outputCol="tokens", pattern="[^a-z]+"),
        name="tokenizer",
    )
    store.add(
        spark_stage(HashingTF, inputCol="tokens", outputCol="term_counts", numFeatures=256),
        name="hashing_tf",
    )
    store.add(spark_stage(IDF, inputCol="term_counts", outputCol="text_vector"), name="tfidf")
    store.add(
        spark_stage(Normalizer, inputCol="term_counts", outputCol="text_vector", p=1.0),
        name="normalized",
    )
    store.model(
        spark_stage(
            LogisticRegression, featuresCol="text_vector", labelCol="sentiment",
            predictionCol=OUTPUT, maxIter=20, regParam=0.01,
        ),
        name="sentiment_model",
        metric="accuracy",
        threshold=THRESHOLD,
    )  # fmt: skip
    return store


def build_store_with_a_broken_producer(
    fails: Callable[[], bool] = lambda: True, *, retries: Retries = DEFAULT_RETRIES
) -> FeatureStore:
    """The store with a third producer of `text_vector` that raises while `fails()` (a third
    variant; an IDF fit otherwise, so a first run can store it).

    A fitted function, not a row-wise one: a fitted function returns a Spark ML model, so it
    may sit in a registered model's inference pipeline (a row-wise function may not).
    """
    store = build_store(retries=retries)

    @store.fitted(inputs=["term_counts"], outputs=["text_vector"])
    def broken(frame: DataFrame) -> Transformer:
        """A producer of `text_vector` that fails."""
        if fails():
            raise ValueError("the broken vectorizer failed on purpose")
        return IDF(inputCol="term_counts", outputCol="text_vector").fit(frame)

    return store


store = build_store()  # for `ff-assets --store ff_assets_tests.orchestration.tiny_store:store`
# The same store with transient failures not retried: a fault test sees the one attempt it
# breaks (`reliability/test_retries.py` covers the retried kind).
store_without_retries = build_store(retries=Retries(max_retries=0))


# -- shared by the model and automation tests --------------------------------------------------
FIT_JOB = f"{STORE}__{OUTPUT}__tfidf__fit"
TFIDF_MODEL = f"{STORE}.{OUTPUT}.tfidf"
NORMALIZED_MODEL = f"{STORE}.{OUTPUT}.normalized"


def tiny_definitions(home: Path, data_dir: Path, tracking_uri: str | None = None) -> Definitions:
    """The code location of a fresh tiny store, its state under `home`."""
    return build_definitions(
        [build_store()], home=str(home), data_dir=str(data_dir), spark_master="local[2]",
        mlflow_tracking_uri=tracking_uri,
    )  # fmt: skip


def promote_config(**config: str) -> dict:
    """Run config of the promote_model job: `promote_config(to="staging", version="1")`."""
    return {"ops": {"promote_model": {"config": {"store": STORE, "output": OUTPUT, **config}}}}


def failure_text(result: ExecuteInProcessResult) -> str:
    """Every failed step's message with its chain of causes (where the user's error is)."""
    texts = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            texts.append(error.message)
            error = error.cause
    return "\n".join(texts)
