"""Promotion by variant, as `ff-assets promote` and the promote_model job use it: the variant is
resolved from the plan (with did-you-mean), the threshold comes from the model's declaration."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from ff_assets.core.errors import PromotionRefusedError, UnknownNameError
from ff_assets.examples import reviews
from ff_assets.tracking.promotion import promote_variant, resolve_variant
from ff_assets.tracking.registry import aliases_of
from ff_assets_tests.tracking.helpers import Register

PLAN = reviews.store.plan()
SENTIMENT_TFIDF = "reviews.sentiment_prediction.tfidf"


@pytest.mark.parametrize(
    "variant", ["tfidf", "sentiment_prediction[tfidf]"], ids=["slug", "full name"]
)
def test_variant_by_slug_or_full_name(variant: str) -> None:
    assert resolve_variant(PLAN, "sentiment_prediction", variant).name == (
        "sentiment_prediction[tfidf]"
    )


def test_unknown_variant_suggests_the_close_ones() -> None:
    with pytest.raises(UnknownNameError) as error:
        resolve_variant(PLAN, "sentiment_prediction", "tfidff")
    assert "has no variant 'sentiment_prediction[tfidff]'" in str(error.value)
    assert "Did you mean 'sentiment_prediction[tfidf]'" in str(error.value)


def test_several_variants_need_a_choice() -> None:
    with pytest.raises(UnknownNameError, match=r"has 2 variants \(.*\): choose one with --variant"):
        resolve_variant(PLAN, "sentiment_prediction", None)


def test_unknown_output_lists_the_planned_ones() -> None:
    with pytest.raises(UnknownNameError) as error:
        resolve_variant(PLAN, "sentiment", "tfidf")
    message = str(error.value)
    assert "plans no output 'sentiment'" in message
    assert "sentiment_prediction, site_prediction" in message


def test_promote_variant_uses_the_declared_threshold(
    client: MlflowClient, register: Register
) -> None:
    # reviews' sentiment_model declares threshold=0.7 on accuracy.
    register(SENTIMENT_TFIDF, validation_accuracy=0.72)
    register(SENTIMENT_TFIDF, validation_accuracy=0.65)
    with pytest.raises(PromotionRefusedError, match="below the production threshold 0.7"):
        promote_variant(client, PLAN, "sentiment_prediction", "tfidf", "production")
    assert aliases_of(client, SENTIMENT_TFIDF) == {}
    done = promote_variant(
        client, PLAN, "sentiment_prediction", "tfidf", "production", version="1", reason="ok"
    )
    assert (done.name, done.version, done.metric, done.value) == (
        SENTIMENT_TFIDF, "1", "accuracy", 0.72,
    )  # fmt: skip
    assert aliases_of(client, SENTIMENT_TFIDF) == {"production": "1"}
