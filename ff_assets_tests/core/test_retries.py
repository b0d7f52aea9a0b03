"""A store's retry policy is a plain value, checked where it is declared."""

from __future__ import annotations

import pytest

from ff_assets.core import Backoff, DeclarationError, FeatureStore, Retries


def test_the_default_fits_a_spark_job() -> None:
    retries = FeatureStore(name="s").retries
    assert retries == Retries(max_retries=2, delay_seconds=30.0, backoff=Backoff.EXPONENTIAL)


def test_the_plan_carries_the_store_s_retries() -> None:
    from ff_assets.examples import reviews

    chosen = Retries(max_retries=1, delay_seconds=5)
    store = FeatureStore(name="s", retries=chosen)
    for stage in reviews.store.stages.values():
        store.add(stage)
    assert store.plan(["sentiment_prediction"]).retries == chosen


def test_a_store_declares_its_own() -> None:
    store = FeatureStore(
        name="s", retries=Retries(max_retries=5, delay_seconds=2, backoff="linear")
    )
    assert store.retries == Retries(5, 2.0, Backoff.LINEAR, True)
    assert isinstance(store.retries.delay_seconds, float)


@pytest.mark.parametrize(
    ("retries", "says"),
    [
        (Retries(max_retries=-1), r"Retries\(max_retries=-1\) is not a number of retries: give "
         r"a whole number of at least 0"),
        (Retries(max_retries=1.5), r"max_retries=1.5"),  # type: ignore[arg-type]
        (Retries(max_retries=True), r"max_retries=True"),
        (Retries(delay_seconds=-3), r"delay_seconds=-3\) is not a wait: give a finite number"),
        (Retries(delay_seconds=float("inf")), r"delay_seconds=inf"),
        (Retries(backoff="exponentail"), r"Did you mean 'exponential'"),
        (Retries(jitter="yes"), r"jitter='yes'\) must be True or False"),  # type: ignore[arg-type]
        (3, r"retries=3 is not a Retries: write retries=Retries\(max_retries=2"),
    ],
    ids=["negative", "fraction", "bool", "negative delay", "infinite delay", "backoff", "jitter",
         "int"],
)  # fmt: skip
def test_bad_values_name_the_store_and_the_fix(retries: object, says: str) -> None:
    with pytest.raises(DeclarationError, match=rf"^store 'reviews': .*{says}"):
        FeatureStore(name="reviews", retries=retries)  # type: ignore[arg-type]
