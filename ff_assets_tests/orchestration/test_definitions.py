"""Load the code location `workspace.yaml` serves and check its shape (no JVM, no run)."""

from __future__ import annotations

import pytest
from dagster import AssetKey, AssetSpec, Definitions, SpecificPartitionsPartitionMapping

from ff_assets.core.plan import AssetRole
from ff_assets.examples import bank, reviews
from ff_assets.orchestration.keys import asset_key

OWNERS = {"reviews": ["ml-platform@example.com"], "bank": ["marketing-analytics@example.com"]}
STORES = {"reviews": reviews.store, "bank": bank.store}


@pytest.fixture(scope="module")
def defs() -> Definitions:
    from ff_assets.definitions import defs

    return defs


@pytest.fixture(scope="module")
def specs(defs: Definitions) -> dict[AssetKey, AssetSpec]:
    return {spec.key: spec for spec in defs.resolve_all_asset_specs()}


def key(path: str) -> AssetKey:
    return AssetKey(path.split("/"))


def test_reviews_asset_keys(specs: dict[AssetKey, AssetSpec]) -> None:
    expected = {
        "reviews/reviews_source", "reviews/split", "reviews/tokens", "reviews/term_counts",
        "reviews/tfidf", "reviews/word2vec", "reviews/text_vector__tfidf",
        "reviews/text_vector__word2vec", "reviews/sentiment_model__tfidf",
        "reviews/sentiment_model__word2vec", "reviews/site_model__tfidf",
        "reviews/site_model__word2vec", "reviews/sentiment_prediction__tfidf",
        "reviews/sentiment_prediction__word2vec", "reviews/site_prediction__tfidf",
        "reviews/site_prediction__word2vec",
    }  # fmt: skip
    assert {key(k) for k in expected} <= set(specs)
    # One tokens asset for all four variants: the shared stage is not copied per variant.
    assert [k for k in specs if k.path[:2] == ["reviews", "tokens"]] == [key("reviews/tokens")]


@pytest.mark.parametrize("store", ["reviews", "bank"])
def test_every_planned_asset_is_defined_with_its_partitions(
    specs: dict[AssetKey, AssetSpec], store: str
) -> None:
    plan = STORES[store].plan()
    for planned in plan.assets.values():
        spec = specs[asset_key(store, planned)]
        if planned.partitioned:
            assert spec.partitions_def is not None, planned.name
            keys = spec.partitions_def.get_partition_keys()
            assert keys == list(plan.partitions), planned.name
        else:
            assert spec.partitions_def is None, planned.name


def test_post_split_assets_are_partitioned_pre_split_are_not(
    specs: dict[AssetKey, AssetSpec],
) -> None:
    every = {"reviews": ["train", "validation", "test"], "bank": ["train", "test"]}
    for path in ("reviews/split", "reviews/tokens", "reviews/text_vector__tfidf", "bank/split"):
        assert specs[key(path)].partitions_def is not None, path
        keys = specs[key(path)].partitions_def.get_partition_keys()
        assert keys == every[path.split("/")[0]], path
    for path in ("reviews/reviews_source", "bank/clients", "reviews/tfidf", "bank/nba_model"):
        assert specs[key(path)].partitions_def is None, path


@pytest.mark.parametrize("store", ["reviews", "bank"])
def test_fit_assets_read_only_the_train_partition(
    specs: dict[AssetKey, AssetSpec], store: str
) -> None:
    plan = STORES[store].plan()
    fits = [a for a in plan.assets.values() if a.role in (AssetRole.FITTED, AssetRole.MODEL)]
    assert fits
    for planned in fits:
        spec = specs[asset_key(store, planned)]
        assert spec.deps, planned.name
        for dep in spec.deps:
            upstream = specs[dep.asset_key]
            if upstream.partitions_def is None:
                continue
            assert isinstance(dep.partition_mapping, SpecificPartitionsPartitionMapping)
            assert list(dep.partition_mapping.partition_keys) == ["train"], planned.name
    # The vectorizers' own dependencies, by name.
    for name, upstream in (("tfidf", "term_counts"), ("word2vec", "tokens")):
        deps = {d.asset_key: d for d in specs[key(f"reviews/{name}")].deps}
        mapping = deps[key(f"reviews/{upstream}")].partition_mapping
        assert mapping == SpecificPartitionsPartitionMapping(["train"])


def test_table_assets_read_every_row_of_their_partition(
    specs: dict[AssetKey, AssetSpec],
) -> None:
    deps = {d.asset_key: d for d in specs[key("reviews/text_vector__tfidf")].deps}
    assert deps[key("reviews/term_counts")].partition_mapping is None  # same partition
    assert key("reviews/tfidf") in deps  # and the fitted stage


KINDS = {
    AssetRole.SOURCE: {"spark", "delta"},
    AssetRole.SPLIT: {"spark", "delta"},
    AssetRole.FEATURES: {"spark"},  # and "delta" for a table, "view" for a view
    AssetRole.FITTED: {"spark"},
    AssetRole.MODEL: {"spark"},
    AssetRole.REGISTERED: {"spark", "mlflow"},
    AssetRole.COMPARISON: {"mlflow"},
}


@pytest.mark.parametrize("store", ["reviews", "bank"])
def test_groups_kinds_and_owners(specs: dict[AssetKey, AssetSpec], store: str) -> None:
    plan = STORES[store].plan()
    for planned in plan.assets.values():
        spec = specs[asset_key(store, planned)]
        assert spec.group_name == store, planned.name
        assert spec.owners == OWNERS[store], planned.name
        assert KINDS[planned.role] <= set(spec.kinds), (planned.name, spec.kinds)
        assert spec.description, planned.name


def test_comparison_and_scoring_assets_have_the_store_owner(
    specs: dict[AssetKey, AssetSpec],
) -> None:
    for path in ("reviews/sentiment_prediction_comparison", "reviews/incoming_reviews"):
        assert specs[key(path)].owners == OWNERS["reviews"], path


def test_metadata_shows_stage_and_fit_rows(specs: dict[AssetKey, AssetSpec]) -> None:
    tfidf = specs[key("reviews/tfidf")].metadata
    assert (tfidf["stage"], tfidf["stage_kind"], tfidf["fit_rows"]) == ("tfidf", "fitted", "train")
    tokens = specs[key("reviews/tokens")].metadata
    assert tokens["entity_key"] == "review_id"
    assert sorted(tokens["used_by_variants"].value) == sorted(
        v.name for v in reviews.store.plan().variants
    )
    assert specs[key("reviews/reviews_source")].tags["pii"] == "none"


def test_checks_and_jobs(defs: Definitions) -> None:
    checks = {
        (c.asset_key.to_user_string(), c.name) for c in defs.resolve_asset_graph().asset_check_keys
    }
    assert ("reviews/split", "train_test_disjoint") in checks
    assert ("bank/split", "train_test_disjoint") in checks
    for fit in ("reviews/tfidf", "reviews/word2vec", "bank/segment_kmeans"):
        assert (fit, "fit_rows_are_train") in checks
    assert ("reviews/tokens", "schema_matches_declaration") in checks
    assert ("reviews/split", "train_test_overlap") in checks  # it groups by normalized_text
    assert ("bank/split", "train_test_overlap") in checks  # whole duplicate rows
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert {"Materialize__reviews", "Materialize__bank"} <= jobs
    assert {"spark", "settings", "delta_io_manager", "mlflow"} <= set(defs.resources)


def test_every_job_of_a_store_carries_the_store_tag(defs: Definitions) -> None:
    by_store: dict[str, set[str]] = {}
    for job in defs.resolve_all_job_defs():
        if job.name.startswith("__ASSET_JOB") or job.name == "promote_model_job":
            continue
        store = job.run_tags.get("ff_assets/store")
        assert store in STORES, f"job {job.name} carries no ff_assets/store tag: {job.run_tags}"
        by_store.setdefault(store, set()).add(job.name)
    for store, jobs in by_store.items():
        assert f"Materialize__{store}" in jobs
        assert all(name.startswith((f"{store}__", "Materialize__")) for name in jobs)
        assert any(name.endswith("__predict_production") for name in jobs)


def test_only_the_overlap_check_does_not_block(defs: Definitions) -> None:
    specs = [s for a in defs.resolve_asset_graph().assets_defs for s in a.check_specs]
    assert {(s.name, s.blocking) for s in specs} == {
        ("train_test_disjoint", True), ("fit_rows_are_train", True),
        ("schema_matches_declaration", True), ("train_test_overlap", False),
    }  # fmt: skip


@pytest.mark.parametrize("store", ["reviews", "bank"])
def test_last_key_segments_say_what_each_asset_is(
    specs: dict[AssetKey, AssetSpec], store: str
) -> None:
    """Dagit labels a node by its key's last segment: unique within a store, and naming the
    stage or feature with its variant (`sentiment_model__tfidf`)."""
    last = [k.path[-1] for k in specs if k.path[0] == store]
    assert len(last) == len(set(last))
    plan = STORES[store].plan()
    for planned in plan.assets.values():
        segment = asset_key(store, planned).path[-1]
        assert segment == "__".join((planned.base, *planned.variant)), planned.name
    if store == "reviews":
        assert "sentiment_model__tfidf" in last and "tfidf" in last


def test_a_store_runs_as_one_subsettable_step(defs: Definitions) -> None:
    """Every planned asset of a store is a spec of one multi-asset (one step for any
    selection); scoring assets keep their own steps."""
    graph = defs.resolve_asset_graph()
    for store in STORES:
        plan = STORES[store].plan()
        keys = {asset_key(store, planned) for planned in plan.assets.values()}
        [node] = {graph.get(k).assets_def for k in keys}
        assert node.can_subset
        assert set(node.keys) == keys
        assert {c.asset_key for c in node.check_keys} <= keys


def test_cheap_row_wise_features_are_views_and_say_so(specs: dict[AssetKey, AssetSpec]) -> None:
    for path in ("reviews/tokens", "reviews/term_counts"):
        assert specs[key(path)].metadata["storage"] == "view"
        assert "view" in specs[key(path)].kinds and "delta" not in specs[key(path)].kinds
    for path in ("reviews/reviews_source", "reviews/split", "reviews/text_vector__tfidf",
                 "reviews/sentiment_prediction__tfidf"):  # fmt: skip
        assert specs[key(path)].metadata["storage"] == "table"
        assert "delta" in specs[key(path)].kinds
