"""Variants side by side from the registry: newest version, its metrics per partition, its
aliases, and the best on the partition that chooses (validation, else test, said plainly)."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from ff_assets.examples import bank, reviews
from ff_assets.tracking.compare import (
    Comparison,
    VariantRow,
    compare_output,
    compare_variants,
    metrics_by_partition,
)
from ff_assets_tests.tracking.helpers import Register

MODELS = [
    ("sentiment_prediction[tfidf]", "reviews.sentiment_prediction.tfidf"),
    ("sentiment_prediction[word2vec]", "reviews.sentiment_prediction.word2vec"),
]


def test_one_row_per_variant_in_plan_order(client: MlflowClient, register: Register) -> None:
    tfidf, word2vec = (name for _, name in MODELS)
    register(tfidf, test_accuracy=0.70, test_f1=0.69, train_accuracy=0.99)
    register(tfidf, validation_accuracy=0.8, test_accuracy=0.78, test_f1=0.77)
    client.set_registered_model_alias(tfidf, "production", "1")
    client.set_registered_model_alias(tfidf, "staging", "2")
    rows = compare_variants(client, MODELS)
    metrics = {"validation": {"accuracy": 0.8}, "test": {"accuracy": 0.78, "f1": 0.77}}
    assert rows == [
        VariantRow("sentiment_prediction[tfidf]", tfidf, "2", metrics, "2", "1"),
        VariantRow("sentiment_prediction[word2vec]", word2vec, None, {}, None, None),
    ]


def test_metrics_are_read_per_partition_and_other_names_ignored() -> None:
    logged = {"train_accuracy": 1.0, "validation_f1": 0.5, "test_accuracy": 0.7, "loss": 3.0}
    assert metrics_by_partition(logged) == {
        "train": {"accuracy": 1.0}, "validation": {"f1": 0.5}, "test": {"accuracy": 0.7},
    }  # fmt: skip


def test_validation_chooses_and_test_is_reported_beside_it() -> None:
    rows = (
        VariantRow("a[x]", "s.a.x", "3", {"validation": {"accuracy": 0.9, "f1": 0.8},
                                          "test": {"accuracy": 0.1}}, "3", None),
        VariantRow("a[y]", "s.a.y", "1", {"validation": {"accuracy": 0.6},
                                          "test": {"accuracy": 0.99}}, None, None),
        VariantRow("a[z]", "s.a.z", None, {}, None, None),
    )  # fmt: skip
    comparison = Comparison("a", "accuracy", "validation", rows)
    assert comparison.best is rows[0]  # test rows would have chosen a[y]
    assert comparison.warning is None
    headers, body = comparison.table()
    assert headers == [
        "variant", "version", "validation accuracy (chooses)", "test accuracy",
        "validation f1", "staging", "production",
    ]  # fmt: skip
    assert body[0] == ["a[x]", "3", 0.9, 0.1, 0.8, "3", "-"]
    assert body[2] == ["a[z]", "-", "-", "-", "-", "-", "-"]


def test_choosing_on_test_rows_is_said_with_the_fix() -> None:
    rows = (VariantRow("a[x]", "s.a.x", "1", {"test": {"accuracy": 0.7}}, None, None),)
    comparison = Comparison("a", "accuracy", "test", rows)
    assert comparison.best is rows[0]
    assert comparison.table()[0][2] == "test accuracy (chooses)"
    assert comparison.warning is not None
    assert "chosen on test rows" in comparison.warning
    assert "validation_fraction=" in comparison.warning


def test_the_plan_says_which_partition_chooses(client: MlflowClient) -> None:
    assert compare_output(client, reviews.store.plan(), "sentiment_prediction").selects_on == (
        "validation"
    )
    assert compare_output(client, bank.store.plan(), "nba_prediction").selects_on == "test"
