"""A split grouped by a feature, and the content its overlap check counts, are declared on
features the split carries; anything else is refused when declared, with a close name."""

from __future__ import annotations

import dataclasses

import pytest

from ff_assets.core import (
    DeclarationError,
    FeatureStore,
    HashSplit,
    StageKind,
    StageSpec,
    UnknownSplitFeatureError,
)
from ff_assets.core.specs import overlap_content


def _store() -> FeatureStore:
    store = FeatureStore(name="reviews")
    store.add(StageSpec(name="src", kind=StageKind.SOURCE, outputs=("text", "y"), entity_key="id"))
    return store


def test_group_by_hashes_the_feature_and_is_the_default_content() -> None:
    spec = _store().split(inputs=["text", "y"], group_by="text", test_fraction=0.3, seed=3)
    assert spec.impl == HashSplit(test_fraction=0.3, seed=3, group_by="text")
    assert overlap_content(spec) == "text"
    assert dict(spec.params)["group_by"] == "text"
    assert dict(spec.params)["max_overlap"] == "0.01"


def test_overlap_on_names_the_content_of_a_split_by_key() -> None:
    spec = _store().split(inputs=["text", "y"], overlap_on="text", max_overlap=0.05)
    assert spec.impl.group_by is None and overlap_content(spec) == "text"
    assert spec.impl.max_overlap == 0.05


def test_a_split_by_key_with_no_content_has_no_overlap_check() -> None:
    spec = _store().split(inputs=["text", "y"])
    assert overlap_content(spec) is None
    assert "max_overlap" not in dict(spec.params)


def test_a_split_rule_cannot_be_changed() -> None:
    rule = _store().split(inputs=["text", "y"], group_by="text").impl
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.group_by = "y"  # type: ignore[misc]


@pytest.mark.parametrize("argument", ["group_by", "overlap_on"])
def test_a_feature_the_split_does_not_carry_is_refused_with_a_close_name(argument: str) -> None:
    store = _store()
    with pytest.raises(UnknownSplitFeatureError) as refused:
        store.split(inputs=["text", "y"], **{argument: "txt"})
    message = str(refused.value)
    assert f"split 'split': {argument}='txt' is not a feature it carries (text, y)" in message
    assert "Did you mean 'text'?" in message
    assert "split" not in store.snapshot().stages  # nothing half-declared


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_max_overlap_is_a_share(share: float) -> None:
    with pytest.raises(DeclarationError, match="max_overlap is a share of rows"):
        _store().split(inputs=["text", "y"], group_by="text", max_overlap=share)
