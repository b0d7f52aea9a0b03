"""Variants side by side from the registry: newest version, its test metrics, its aliases."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from ff_assets.tracking.compare import VariantRow, compare_variants, comparison_table
from ff_assets_tests.tracking.helpers import Register

MODELS = [
    ("sentiment_prediction[tfidf]", "reviews.sentiment_prediction.tfidf"),
    ("sentiment_prediction[word2vec]", "reviews.sentiment_prediction.word2vec"),
]


def test_one_row_per_variant_in_plan_order(client: MlflowClient, register: Register) -> None:
    tfidf, word2vec = (name for _, name in MODELS)
    register(tfidf, test_accuracy=0.70, test_f1=0.69, train_accuracy=0.99)
    register(tfidf, test_accuracy=0.78, test_f1=0.77)
    client.set_registered_model_alias(tfidf, "production", "1")
    client.set_registered_model_alias(tfidf, "staging", "2")
    rows = compare_variants(client, MODELS)
    assert rows == [
        VariantRow(
            "sentiment_prediction[tfidf]", tfidf, "2", {"accuracy": 0.78, "f1": 0.77}, "2", "1"
        ),
        VariantRow("sentiment_prediction[word2vec]", word2vec, None, {}, None, None),
    ]
    register(word2vec, test_accuracy=0.69, test_f1=0.68)
    rows = compare_variants(client, MODELS)
    assert [(r.variant, r.version, r.metrics["accuracy"]) for r in rows] == [
        ("sentiment_prediction[tfidf]", "2", 0.78),
        ("sentiment_prediction[word2vec]", "1", 0.69),
    ]


def test_table_puts_the_chosen_metric_first() -> None:
    rows = [
        VariantRow("a[x]", "s.a.x", "3", {"accuracy": 0.8, "f1": 0.7}, "3", None),
        VariantRow("a[y]", "s.a.y", None, {}, None, None),
    ]
    headers, body = comparison_table(rows, "accuracy")
    assert headers == ["variant", "version", "accuracy", "f1", "staging", "production"]
    assert body == [["a[x]", "3", 0.8, 0.7, "3", "-"], ["a[y]", "-", "-", "-", "-", "-"]]
