"""Names on the Dagster side: asset keys, input and op names for planned assets."""

from __future__ import annotations

import re

from dagster import AssetKey

from ff_assets.core.plan import PlannedAsset


def asset_key(store: str, asset: PlannedAsset) -> AssetKey:
    """`reviews/tokens`, `reviews/text_vector__tfidf`: the store, then the asset's key name,
    whose last segment (what Dagit labels a node with) says what the asset is."""
    return AssetKey([store, asset.key_name])


def python_name(key: AssetKey) -> str:
    """A key as an identifier, for op and input names (`reviews__text_vector__tfidf`)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", "__".join(key.path))


def dagster_owner(owner: str) -> str | None:
    """Dagster accepts e-mail addresses and `team:` names as owners."""
    owner = owner.strip()
    if not owner:
        return None
    return owner if "@" in owner or owner.startswith("team:") else f"team:{owner}"


def dagster_tags(tags: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Declared tags, trimmed to what Dagster allows in tag keys and values."""
    clean = {}
    for k, v in tags:
        key = re.sub(r"[^A-Za-z0-9_.-]", "_", k)[:63]
        value = re.sub(r"[^A-Za-z0-9_.-]", "_", v)[:63]
        clean[key] = value
    return clean
