"""Discovery over a store's declarations and plan: search, producers, consumers, users."""

from __future__ import annotations

from dataclasses import dataclass

from ff_assets.core.errors import UnknownNameError, did_you_mean
from ff_assets.core.plan import Plan, PlannedAsset
from ff_assets.core.specs import StageSpec, Tags
from ff_assets.core.store import FeatureStore


@dataclass(frozen=True)
class Hit:
    """One search result: a feature or a stage, with what matched."""

    kind: str  # "feature" or "stage"
    name: str
    description: str
    owner: str
    tags: Tags
    matched: str  # "name", "tag", "description"


def search(store: FeatureStore, query: str) -> list[Hit]:
    """Features and stages whose name, tags (`key` or `key=value`) or description contain the
    query (case-insensitive); name matches first, then tags, then descriptions."""
    needle = query.strip().lower()
    if not needle:
        raise UnknownNameError("search needs a word to look for (a name, a tag or a word).")
    hits: list[Hit] = []
    entries = [
        *(("feature", f.name, f.description, f.owner, f.tags) for f in store.features.values()),
        *(("stage", s.name, s.description, s.owner, s.tags) for s in store.stages.values()),
    ]
    for kind, name, description, owner, tags in entries:
        matched = _match(needle, name, description, tags)
        if matched:
            hits.append(Hit(kind, name, description, owner, tags, matched))
    order = {"name": 0, "tag": 1, "description": 2}
    return sorted(hits, key=lambda h: (order[h.matched], h.kind, h.name))


def _match(needle: str, name: str, description: str, tags: Tags) -> str | None:
    if needle in name.lower():
        return "name"
    if any(needle in f"{k}={v}".lower() for k, v in tags):
        return "tag"
    if needle in description.lower():
        return "description"
    return None


@dataclass(frozen=True)
class FeatureUsage:
    """Who writes a feature, who reads it, and the variants that go through each producer."""

    feature: str
    producers: tuple[StageSpec, ...]
    consumers: tuple[StageSpec, ...]
    variants_by_producer: dict[str, tuple[str, ...]]


def feature_usage(store: FeatureStore, plan: Plan, feature: str) -> FeatureUsage:
    """Producers and consumers of `feature`, and which planned variants use each producer."""
    if feature not in store.features:
        raise UnknownNameError(
            f"store {store.name!r} has no feature {feature!r}."
            f"{did_you_mean(feature, store.features)}"
        )
    stages = store.stages.values()
    producers = tuple(s for s in stages if feature in s.outputs and s.kind.value != "split")
    consumers = tuple(s for s in stages if feature in s.reads)
    by_producer = {
        p.name: tuple(
            dict.fromkeys(
                v for key, node in plan.nodes.items() if node.stage.name == p.name
                for v in plan.users(key)
            )
        )
        for p in producers
    }  # fmt: skip
    return FeatureUsage(feature, producers, consumers, by_producer)


def stage_users(plan: Plan, stage: str) -> tuple[str, ...]:
    """The planned variants whose traversal includes `stage` (under any upstream choice)."""
    keys = [k for k, node in plan.nodes.items() if node.stage.name == stage]
    if not keys:
        names = {node.stage.name for node in plan.nodes.values()}
        raise UnknownNameError(
            f"the plan of store {plan.store!r} has no stage {stage!r}.{did_you_mean(stage, names)}"
        )
    return tuple(dict.fromkeys(v for k in keys for v in plan.users(k)))


def resolve_asset(plan: Plan, name: str) -> PlannedAsset:
    """The planned asset `name` names: its plan name (`text_vector[tfidf]`), its key name
    (`text_vector__tfidf`), or a feature: the asset of its name, or the only one holding it."""
    by_name = {a.name: a for a in plan.assets.values()}
    by_key = {a.key_name: a for a in plan.assets.values()}
    found = by_name.get(name) or by_key.get(name)
    if found is not None:
        return found
    holders = [a for a in plan.assets.values() if name in a.features]
    own = [a for a in holders if a.base == name]
    if len(own) == 1 or len(holders) == 1:
        return (own or holders)[0]
    if holders:
        choices = ", ".join(sorted(a.key_name for a in own or holders))
        raise UnknownNameError(
            f"feature {name!r} is held by several assets ({choices}): name one of them."
        )
    raise UnknownNameError(
        f"no planned asset {name!r}.{did_you_mean(name, [*by_key, *by_name])} "
        "Run `ff-assets plan` to list the assets."
    )
