"""Review sentences from amazon, imdb and yelp: one corpus, two models, two vectorizers.

Planning `sentiment_prediction` and `site_prediction` gives four variants that share one
tokenizer: `sentiment_prediction[tfidf]`, `sentiment_prediction[word2vec]`, and so for site.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import IDF, HashingTF, RegexTokenizer, Word2Vec
from pyspark.sql import Column
from pyspark.sql import functions as F

from ff_assets.core import FeatureStore
from ff_assets.examples.data import REVIEW_FILES, read_reviews
from ff_assets.spark.introspect import spark_stage

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

OWNER = "ml-platform@example.com"

store = FeatureStore(
    name="reviews",
    description="Sentiment and source site of short product, movie and restaurant reviews.",
    owner=OWNER,
    tags={"domain": "text", "dataset": "uci_sentiment_labelled_sentences"},
    default_outputs=("sentiment_prediction", "site_prediction"),
)
store.feature("text", description="The review sentence.", dtype="string", entity="review")
store.feature(
    "normalized_text",
    description="The sentence lower-cased, each run of punctuation and spaces one space: "
    "the split groups by it, so a repeated sentence never lands on both sides.",
    dtype="string",
)
store.feature("sentiment", description="1.0 positive, 0.0 negative.", dtype="double")
store.feature("site", description="amazon, imdb or yelp.", dtype="string")
store.feature("site_label", description="The site as 0.0, 1.0, 2.0.", dtype="double")
store.feature("tokens", description="Lower-cased words of the sentence.", dtype="array<string>")
store.feature("text_vector", description="The sentence as a numeric vector.", dtype="vector")


@store.source(
    outputs=["text", "normalized_text", "sentiment", "site", "site_label"],
    entity_key="review_id",
    owner=OWNER,
    tags={"pii": "none"},
    data_files=tuple(REVIEW_FILES.values()),
)
def reviews_source(spark: SparkSession, data_dir: Path) -> DataFrame:
    """The labelled sentences of the three sites (UCI, 3 × 1000 rows)."""
    schema = "review_id string, text string, sentiment double, site string, site_label double"
    rows = spark.createDataFrame(read_reviews(data_dir), schema=schema)
    return rows.withColumn("normalized_text", normalized(F.col("text")))


def normalized(text: Column) -> Column:
    """Lower-cased, every run of characters other than letters and digits one space, trimmed."""
    return F.trim(F.regexp_replace(F.lower(text), r"[^\p{L}\p{N}]+", " "))


@store.scoring_source(
    outputs=["text"], entity_key="review_id", data_files=tuple(REVIEW_FILES.values())
)
def incoming_reviews(spark: SparkSession, data_dir: Path) -> DataFrame:
    """Reviews to score, without labels (here: the UCI sentences again, labels dropped)."""
    rows = [(f"incoming-{review_id}", text) for review_id, text, *_ in read_reviews(data_dir)]
    return spark.createDataFrame(rows, schema="review_id string, text string")


SPLIT_INPUTS = ("text", "normalized_text", "sentiment", "site", "site_label")
# Fit on train, choose (variant comparison, promotion threshold) on validation, report test.
store.split(
    inputs=SPLIT_INPUTS, test_fraction=0.25, validation_fraction=0.15, seed=7,
    group_by="normalized_text",
)  # fmt: skip
store.add(
    spark_stage(RegexTokenizer, inputCol="text", outputCol="tokens", pattern="[^a-z0-9']+"),
    name="tokenizer",
    description="Lower-cased words: letters, digits and apostrophes.",
)
store.add(
    spark_stage(HashingTF, inputCol="tokens", outputCol="term_counts", numFeatures=4096),
    name="hashing_tf",
)
store.add(
    spark_stage(IDF, inputCol="term_counts", outputCol="text_vector", minDocFreq=1),
    name="tfidf",
    description="TF-IDF: hashed term counts weighted by inverse document frequency.",
)
store.add(
    spark_stage(
        Word2Vec, inputCol="tokens", outputCol="text_vector", vectorSize=64, minCount=1,
        maxIter=5, seed=11,
    ),
    name="word2vec",
    description="The mean of word embeddings learnt on the train sentences.",
)  # fmt: skip
for model, label, threshold, question in (
    ("sentiment_model", "sentiment", 0.7, "Is the review positive?"),
    ("site_model", "site_label", 0.5, "Which site does the review come from?"),
):
    prediction = model.replace("_model", "_prediction")
    store.model(
        spark_stage(
            LogisticRegression, featuresCol="text_vector", labelCol=label,
            predictionCol=prediction, maxIter=100, regParam=0.01,
        ),
        name=model, metric="accuracy", threshold=threshold, description=question,
    )  # fmt: skip
