"""The planner on the reviews-shaped store of the talk:

    reviews_source -> split -> tokenizer -> hashing_tf -> tfidf ----> text_vector -> sentiment_model
                                        \\-> word2vec ------------/                \\-> site_model

Two producers of text_vector and two models give four variants; everything upstream of the
choice is planned once and shared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ff_assets.core import (
    AssetDep,
    AssetRole,
    FeatureStore,
    FitRows,
    PythonStageInPipelineError,
    StageKind,
    StageSpec,
    UnknownNameError,
)

S = StageSpec
K = StageKind
ROOT = Path(__file__).resolve().parents[2]

ALL_VARIANTS = (
    "sentiment_prediction[tfidf]",
    "sentiment_prediction[word2vec]",
    "site_prediction[tfidf]",
    "site_prediction[word2vec]",
)


def reviews_store(**store_options) -> FeatureStore:
    store = FeatureStore(name="reviews", **store_options)
    store.add(
        S(
            name="reviews_source",
            kind=K.SOURCE,
            outputs=("text", "sentiment", "site"),
            entity_key="review_id",
        )
    )
    store.split(inputs=["text", "sentiment", "site"])
    store.add(S(name="tokenizer", kind=K.TRANSFORM, inputs=("text",), outputs=("tokens",)))
    store.add(S(name="hashing_tf", kind=K.TRANSFORM, inputs=("tokens",), outputs=("tf",)))
    store.add(S(name="tfidf", kind=K.FITTED, inputs=("tf",), outputs=("text_vector",)))
    store.add(S(name="word2vec", kind=K.FITTED, inputs=("tokens",), outputs=("text_vector",)))
    store.add(
        S(
            name="sentiment_model",
            kind=K.MODEL,
            inputs=("text_vector",),
            outputs=("sentiment_prediction",),
            label="sentiment",
        )
    )
    store.add(
        S(
            name="site_model",
            kind=K.MODEL,
            inputs=("text_vector",),
            outputs=("site_prediction",),
            label="site",
        )
    )
    return store


@pytest.fixture(scope="module")
def plan():
    return reviews_store().plan()


# -- variants and sharing ---------------------------------------------------------------------
def test_four_variants_with_stable_readable_names(plan):
    assert tuple(v.name for v in plan.variants) == ALL_VARIANTS
    assert plan.outputs == ("sentiment_prediction", "site_prediction")
    v = plan.variant("sentiment_prediction[tfidf]")
    assert v.output == "sentiment_prediction"
    assert v.choices == (("text_vector", "tfidf"),)
    assert v.model_node == "sentiment_model[tfidf]"
    assert v.output_asset == "sentiment_prediction[tfidf]"
    assert plan.alternatives == frozenset({"text_vector"})


def test_tokenizer_is_one_node_shared_by_all_four_variants(plan):
    tokenizers = [k for k, n in plan.nodes.items() if n.stage.name == "tokenizer"]
    assert tokenizers == ["tokenizer"]
    assert plan.users("tokenizer") == ALL_VARIANTS
    assert plan.users("reviews_source") == ALL_VARIANTS
    assert plan.users("split") == ALL_VARIANTS
    assert plan.users("hashing_tf") == ("sentiment_prediction[tfidf]", "site_prediction[tfidf]")
    assert plan.users("sentiment_model[word2vec]") == ("sentiment_prediction[word2vec]",)
    assert plan.users("no_such_node") == ()


def test_each_stage_is_planned_once_per_upstream_choice(plan):
    assert list(plan.nodes) == [
        "reviews_source",
        "split",
        "tokenizer",
        "hashing_tf",
        "word2vec",
        "tfidf",
        "sentiment_model[word2vec]",
        "site_model[word2vec]",
        "sentiment_model[tfidf]",
        "site_model[tfidf]",
    ]
    assert plan.nodes["sentiment_model[tfidf]"].choices == (("text_vector", "tfidf"),)
    assert plan.nodes["tokenizer"].choices == ()


def test_shared_lists_the_nodes_several_variants_use(plan):
    assert plan.shared == (
        "reviews_source",
        "split",
        "tokenizer",
        "hashing_tf",
        "word2vec",
        "tfidf",
    )


def test_variant_nodes_are_the_upstream_of_its_model_upstream_first(plan):
    v = plan.variant("site_prediction[word2vec]")
    assert v.nodes == ("reviews_source", "split", "tokenizer", "word2vec", "site_model[word2vec]")
    assert v.nodes == plan.upstream_nodes(v.model_node)
    for i, key in enumerate(v.nodes):
        assert set(plan.nodes[key].dep_nodes()) <= set(v.nodes[:i])


def test_pinning_a_producer_keeps_the_variant_names(plan):
    pinned = reviews_store().plan(pins={"text_vector": "tfidf"})
    assert tuple(v.name for v in pinned.variants) == (
        "sentiment_prediction[tfidf]",
        "site_prediction[tfidf]",
    )
    assert "word2vec" not in pinned.nodes
    for v in pinned.variants:
        assert v == plan.variant(v.name)  # the same traversal as unpinned, only fewer of them
    assert pinned.variant("sentiment_prediction").name == "sentiment_prediction[tfidf]"


def test_pinning_a_feature_with_one_producer_changes_nothing(plan):
    assert reviews_store().plan(pins={"tokens": "tokenizer"}) == plan


# -- assets -----------------------------------------------------------------------------------
FLOW_ROLES = (
    AssetRole.SOURCE,
    AssetRole.SPLIT,
    AssetRole.FEATURES,
    AssetRole.FITTED,
    AssetRole.MODEL,
)


def test_assets_names_roles_and_partitions(plan):
    # The feature flow's assets (what runs after a model, evaluation and registry, aside).
    roles = {n: (a.role, a.partitioned) for n, a in plan.assets.items() if a.role in FLOW_ROLES}
    assert roles == {
        "reviews_source": (AssetRole.SOURCE, False),
        "split": (AssetRole.SPLIT, True),
        "tokens": (AssetRole.FEATURES, True),
        "tf": (AssetRole.FEATURES, True),
        "word2vec": (AssetRole.FITTED, False),
        "text_vector[word2vec]": (AssetRole.FEATURES, True),
        "tfidf": (AssetRole.FITTED, False),
        "text_vector[tfidf]": (AssetRole.FEATURES, True),
        "sentiment_model[word2vec]": (AssetRole.MODEL, False),
        "sentiment_prediction[word2vec]": (AssetRole.FEATURES, True),
        "site_model[word2vec]": (AssetRole.MODEL, False),
        "site_prediction[word2vec]": (AssetRole.FEATURES, True),
        "sentiment_model[tfidf]": (AssetRole.MODEL, False),
        "sentiment_prediction[tfidf]": (AssetRole.FEATURES, True),
        "site_model[tfidf]": (AssetRole.MODEL, False),
        "site_prediction[tfidf]": (AssetRole.FEATURES, True),
    }
    vector = plan.assets["text_vector[tfidf]"]
    assert (vector.base, vector.variant, vector.node, vector.features) == (
        "text_vector",
        ("tfidf",),
        "tfidf",
        ("text_vector",),
    )
    assert plan.assets["split"].features == ("text", "sentiment", "site")


def test_fitted_stages_and_models_read_train_rows_only(plan):
    assert plan.assets["tfidf"].deps == (AssetDep(asset="tf", features=("tf",), train_only=True),)
    assert plan.assets["word2vec"].deps == (
        AssetDep(asset="tokens", features=("tokens",), train_only=True),
    )
    assert plan.assets["sentiment_model[tfidf]"].deps == (
        AssetDep(asset="text_vector[tfidf]", features=("text_vector",), train_only=True),
        AssetDep(asset="split", features=("sentiment",), train_only=True),
    )
    for asset in plan.assets.values():
        estimator = asset.role in (AssetRole.FITTED, AssetRole.MODEL)
        for dep in asset.deps:
            # Every fit reads the train partition; everything else reads all its rows.
            assert dep.train_only == (estimator and plan.assets[dep.asset].partitioned)
    fit_rows = {k: n.fit_rows for k, n in plan.nodes.items()}
    assert (
        fit_rows["tfidf"] is FitRows.TRAIN and fit_rows["sentiment_model[tfidf]"] is FitRows.TRAIN
    )
    assert fit_rows["tokenizer"] is None


def test_applying_a_fitted_stage_reads_its_fitted_model_and_all_rows(plan):
    assert plan.assets["text_vector[tfidf]"].deps == (
        AssetDep(asset="tfidf", features=()),
        AssetDep(asset="tf", features=("tf",)),
    )
    assert plan.asset_of("text_vector", "tfidf").name == "text_vector[tfidf]"
    assert plan.asset_of("text", "split").name == "split"
    assert plan.fitted_asset("tfidf").role is AssetRole.FITTED
    assert plan.fitted_asset("tokenizer") is None


def test_assets_are_in_dependency_order(plan):
    seen: set[str] = set()
    for name, asset in plan.assets.items():
        assert {d.asset for d in asset.deps} <= seen, name
        seen.add(name)


# -- determinism ------------------------------------------------------------------------------
def _shape(plan) -> tuple:
    """Everything a plan says, order included (dict equality alone ignores order)."""
    return (plan, list(plan.nodes), list(plan.assets), [v.nodes for v in plan.variants])


def test_planning_twice_gives_the_same_plan():
    store = reviews_store()
    assert _shape(store.plan()) == _shape(store.plan())


def test_the_same_declarations_give_the_same_plan(plan):
    assert _shape(reviews_store().plan()) == _shape(plan)


def test_the_plan_does_not_depend_on_the_hash_seed():
    script = (
        "import json\n"
        "from ff_assets_tests.core.test_planner import reviews_store\n"
        "p = reviews_store().plan()\n"
        "print(json.dumps([list(p.nodes), list(p.assets), [v.name for v in p.variants]]))\n"
    )
    outputs = []
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1] == outputs[2]


# -- lineage ----------------------------------------------------------------------------------
def test_lineage_of_a_variant_is_its_exact_upstream(plan):
    tree = plan.lineage("sentiment_prediction[tfidf]")
    walked = [(depth, t.name, t.via) for depth, t in tree.walk()]
    assert walked == [
        (0, "sentiment_prediction[tfidf]", ()),
        (1, "sentiment_prediction[tfidf]", ()),
        (2, "sentiment_model[tfidf]", ()),
        (3, "tfidf", ("text_vector",)),
        (4, "hashing_tf", ("tf",)),
        (5, "tokenizer", ("tokens",)),
        (6, "split", ("text",)),
        (7, "reviews_source", ("text", "sentiment", "site")),
        (3, "split", ("sentiment",)),  # shown once above: not expanded again
    ]
    details = {t.name: t.detail for _, t in tree.walk()}
    assert details["split"].endswith("upstream shown above")
    assert details["tfidf"] == "fitted, fit on train rows, train/test"
    assert details["tokenizer"] == "transform, train/test"
    assert details["reviews_source"] == "source"
    assert (tree.kind, tree.detail) == ("query", "")
    (variant,) = tree.children
    assert (variant.kind, variant.detail) == ("variant", "output sentiment_prediction")
    assert "word2vec" not in details


def test_lineage_by_output_stage_asset_and_feature(plan):
    def roots(name):
        return [c.name for c in plan.lineage(name).children]

    assert roots("sentiment_prediction") == [
        "sentiment_prediction[tfidf]",
        "sentiment_prediction[word2vec]",
    ]
    assert roots("tokenizer") == ["tokenizer"]
    assert roots("text_vector[word2vec]") == ["word2vec"]  # an asset: the node that makes it
    assert roots("text_vector") == ["word2vec", "tfidf"]  # a feature: every node writing it
    assert roots("sentiment_model") == ["sentiment_model[word2vec]", "sentiment_model[tfidf]"]


def test_lineage_serializes_to_plain_data(plan):
    data = plan.lineage("tf").to_dict()
    assert json.loads(json.dumps(data)) == data
    (hashing,) = data["children"]
    assert hashing["name"] == "hashing_tf"
    assert [c["name"] for c in hashing["children"]] == ["tokenizer"]


def test_variant_lookup(plan):
    assert plan.variant("site_prediction[word2vec]").choices == (("text_vector", "word2vec"),)
    assert [v.name for v in plan.variants_of("site_prediction")] == [
        "site_prediction[tfidf]",
        "site_prediction[word2vec]",
    ]
    with pytest.raises(UnknownNameError, match="no variant 'site_prediction'"):
        plan.variant("site_prediction")  # two variants: the name alone is ambiguous
    with pytest.raises(UnknownNameError, match="Did you mean 'site_prediction\\[tfidf\\]'"):
        plan.variant("site_prediction[tfdif]")


# -- what gets planned ------------------------------------------------------------------------
def test_default_outputs_are_every_models_outputs(plan):
    assert reviews_store().requested_outputs() == ("sentiment_prediction", "site_prediction")


def test_declared_default_outputs_narrow_the_plan():
    store = reviews_store(default_outputs=["site_prediction"])
    assert [v.name for v in store.plan().variants] == [
        "site_prediction[tfidf]",
        "site_prediction[word2vec]",
    ]
    explicit = store.plan(["sentiment_prediction", "sentiment_prediction"])  # deduplicated
    assert explicit.outputs == ("sentiment_prediction",)
    assert not any(k.startswith("site_model") for k in explicit.nodes)


def test_any_feature_can_be_planned_not_only_predictions():
    store = reviews_store()
    tokens = store.plan(["tokens"])
    (only,) = tokens.variants
    assert (only.name, only.nodes, only.model_node) == (
        "tokens",
        ("reviews_source", "split", "tokenizer"),
        None,
    )
    vectors = store.plan(["text_vector"])
    assert [(v.name, v.output_asset) for v in vectors.variants] == [
        ("text_vector[tfidf]", "text_vector[tfidf]"),
        ("text_vector[word2vec]", "text_vector[word2vec]"),
    ]
    split_only = store.plan(["sentiment"])
    assert split_only.variants[0].output_asset == "split"


def test_two_choices_name_both_producers():
    store = reviews_store()
    store.add(S(name="kmeans", kind=K.FITTED, inputs=("tokens",), outputs=("topic",)))
    store.add(S(name="lda", kind=K.FITTED, inputs=("tokens",), outputs=("topic",)))
    store.add(
        S(
            name="topic_model",
            kind=K.MODEL,
            inputs=("text_vector", "topic"),
            outputs=("topic_prediction",),
            label="site",
        )
    )
    plan = store.plan(["topic_prediction"])
    assert [v.name for v in plan.variants] == [
        "topic_prediction[tfidf,kmeans]",
        "topic_prediction[tfidf,lda]",
        "topic_prediction[word2vec,kmeans]",
        "topic_prediction[word2vec,lda]",
    ]
    assert sum(n.stage.name == "kmeans" for n in plan.nodes.values()) == 1


def test_decorators_declare_the_same_graph():
    store = FeatureStore(name="reviews")

    @store.source(outputs=["text", "sentiment"], entity_key="review_id")
    def reviews_source(spark, data_dir):
        """Reviews as they come."""

    store.split(inputs=["text", "sentiment"], test_fraction=0.25, seed=7)

    @store.transform(inputs=["text"], outputs=["tokens"])
    def tokenizer(df):
        """Split text into words."""

    @store.fitted(inputs=["tokens"], outputs=["text_vector"], name="tfidf")
    def fit_tfidf(df):
        """TF-IDF weights."""

    store.model(
        S(
            name="sentiment_model",
            kind=K.MODEL,
            inputs=("text_vector",),
            outputs=("sentiment_prediction",),
            label="sentiment",
        ),
        metric="f1",
        threshold=0.8,
    )
    stages = store.stages
    assert list(stages) == ["reviews_source", "split", "tokenizer", "tfidf", "sentiment_model"]
    assert stages["tokenizer"].description == "Split text into words."
    assert stages["tokenizer"].impl is tokenizer
    assert stages["tfidf"].kind is StageKind.FITTED
    assert dict(stages["split"].params) == {"test_fraction": "0.25", "seed": "7"}
    model = stages["sentiment_model"]
    assert (model.metric, model.threshold.minimum) == ("f1", 0.8)
    assert model.threshold.holds(0.8) and not model.threshold.holds(0.79)
    assert [v.name for v in store.plan(["text_vector"]).variants] == ["text_vector"]
    # The row-wise function would sit in the registered model's Spark ML pipeline.
    with pytest.raises(PythonStageInPipelineError, match="stage 'tokenizer' in it is a Python"):
        store.plan()
    assert set(store.features) == {
        "text",
        "sentiment",
        "tokens",
        "text_vector",
        "sentiment_prediction",
    }
