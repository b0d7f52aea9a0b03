"""Every refusal is its own exception class, raised before any data is read, with a message
that names the offending path and the fix. Bad graphs live in `fixtures/`, one per module."""

from __future__ import annotations

import importlib

import pytest

from ff_assets.core import (
    AmbiguousSplitError,
    AssetNameClashError,
    DeclarationError,
    DuplicateFeatureError,
    DuplicateStageError,
    EntityMismatchError,
    FeatureSpec,
    FeatureStore,
    FFAssetsError,
    InvalidOwnerError,
    MissingScoringInputError,
    MissingSplitError,
    PlanningError,
    PythonStageInPipelineError,
    Runtime,
    StageCycleError,
    StageKind,
    StageSpec,
    TargetLeakageError,
    TestLeakageError,
    TestSelectionError,
    UnknownInputError,
    UnknownMetricError,
    UnknownNameError,
    UnknownPinError,
    UnproducedOutputError,
    VariantExplosionError,
)
from ff_assets_tests.core.fixtures import (
    asset_name_clash,
    bad_owner,
    cyclic,
    duplicate,
    explicit_all_rows,
    explosion,
    external_ok,
    leaky,
    missing_scoring_input,
    python_in_pipeline,
    target_leak,
    threshold_on_test,
    unknown_input,
    unknown_metric,
)

S = StageSpec
K = StageKind

# fixture module -> the one exception class its graph must raise
REFUSED = {
    "cyclic": StageCycleError,
    "leaky": TestLeakageError,
    "unknown_input": UnknownInputError,
    "duplicate": DuplicateStageError,
    "target_leak": TargetLeakageError,
    "explosion": VariantExplosionError,
    "explicit_all_rows": TestLeakageError,
    "missing_scoring_input": MissingScoringInputError,
    "python_in_pipeline": PythonStageInPipelineError,
    "asset_name_clash": AssetNameClashError,
    "unknown_metric": UnknownMetricError,
    "bad_owner": InvalidOwnerError,
    "threshold_on_test": TestSelectionError,
}


def _refusal(module_name: str, cls: type[FFAssetsError]) -> str:
    """The message of the one refusal a fixture's graph must raise."""
    with pytest.raises(cls) as info:
        _declare_and_plan(module_name)
    return str(info.value)


def _declare_and_plan(module_name: str):
    module = importlib.import_module(f"ff_assets_tests.core.fixtures.{module_name}")
    store = module.declare() if hasattr(module, "declare") else module.store
    return store.plan()


@pytest.mark.parametrize("module_name", sorted(REFUSED))
def test_each_bad_fixture_raises_its_own_class(module_name):
    with pytest.raises(FFAssetsError) as info:
        _declare_and_plan(module_name)
    assert type(info.value) is REFUSED[module_name]


def test_refusal_classes_are_distinct_per_condition():
    # explicit_all_rows is leaky's condition (a fit on test rows), declared another way.
    conditions = {cls for name, cls in REFUSED.items() if name != "explicit_all_rows"}
    assert len(conditions) == len(REFUSED) - 1
    for cls in conditions:
        assert issubclass(cls, DeclarationError | PlanningError)


def test_fixture_modules_import_without_raising():
    # Importing a user's module only declares; refusing is planning's job (duplicate aside).
    for module in (
        cyclic, leaky, unknown_input, target_leak, explosion, explicit_all_rows,
        missing_scoring_input, python_in_pipeline, asset_name_clash, threshold_on_test,
    ):  # fmt: skip
        assert isinstance(module.store, FeatureStore)
    assert all(callable(m.declare) for m in (duplicate, unknown_metric, bad_owner))


# -- test-to-fit leakage ----------------------------------------------------------------------
def test_leaky_names_the_path_from_the_fit_to_the_model_and_the_fix():
    with pytest.raises(TestLeakageError) as info:
        leaky.store.plan()
    message = str(info.value)
    assert "segment_kmeans (fit on all rows) -> segment -> " in message
    assert "-> nba_model (evaluated on test)" in message
    path = message.split("test rows reach a fit: ")[1].split(" (evaluated on test)")[0]
    assert path == "segment_kmeans (fit on all rows) -> segment -> split -> segment -> nba_model"
    assert "Fit 'segment_kmeans' on train rows" in message
    assert "fit_on='external' with external_reason=" in message


def test_leak_is_refused_even_when_asking_for_a_single_output():
    with pytest.raises(TestLeakageError):
        leaky.store.plan(["nba_prediction"])


def test_a_leaky_fit_that_reaches_no_planned_model_is_not_refused():
    store = FeatureStore(name="bank")
    store.add(
        S(name="clients", kind=K.SOURCE, outputs=("age", "balance", "y"), entity_key="client_id")
    )
    store.add(S(name="segment_kmeans", kind=K.FITTED, inputs=("age", "balance"), outputs=("seg",)))
    store.split(inputs=["age", "balance", "seg", "y"])
    store.add(S(name="age_model", kind=K.MODEL, inputs=("age",), outputs=("p_age",), label="y"))
    store.add(S(name="seg_model", kind=K.MODEL, inputs=("seg",), outputs=("p_seg",), label="y"))
    plan = store.plan(["p_age"])  # the split table holds seg, but age_model never reads it
    assert [v.name for v in plan.variants] == ["p_age"]
    assert plan.nodes["segment_kmeans"].fit_rows.value == "all"
    with pytest.raises(TestLeakageError, match="segment_kmeans"):
        store.plan(["p_seg"])


def test_explicit_all_rows_after_the_split_is_refused_with_its_own_fix():
    with pytest.raises(TestLeakageError) as info:
        explicit_all_rows.store.plan()
    message = str(info.value)
    assert (
        "balance_scaler (fit on all rows) -> balance_scaled -> nba_model (evaluated on test)"
        in message
    )
    assert "declared fit_on='all'" in message
    assert "drop fit_on='all'" in message


def test_a_model_fitted_on_all_rows_is_refused():
    store = _bank()
    store.add(S(name="m", kind=K.MODEL, inputs=("age",), outputs=("p",), label="y", fit_on="all"))
    with pytest.raises(TestLeakageError, match=r"m \(fit on all rows, evaluated on test\)"):
        store.plan()


def test_external_fit_before_the_split_plans_and_shows_its_reason():
    plan = external_ok.store.plan()
    assert [v.name for v in plan.variants] == ["sentiment_prediction"]
    glove = plan.nodes["glove"]
    assert glove.fit_rows.value == "external"
    details = {tree.name: tree.detail for _, tree in plan.lineage("sentiment_prediction").walk()}
    assert details["glove"] == (f"fitted, fit on external rows, external: {external_ok.REASON}")


def test_fitted_before_the_split_without_a_reason_is_what_leaks():
    # The same graph as external_ok, minus the declared exception.
    store = FeatureStore(name="reviews")
    store.add(S(name="src", kind=K.SOURCE, outputs=("text", "sentiment"), entity_key="review_id"))
    store.add(S(name="glove", kind=K.FITTED, inputs=("text",), outputs=("text_vector",)))
    store.split(inputs=["text_vector", "sentiment"])
    store.add(S(name="m", kind=K.MODEL, inputs=("text_vector",), outputs=("p",), label="sentiment"))
    with pytest.raises(TestLeakageError, match=r"glove \(fit on all rows\) -> text_vector"):
        store.plan()


# -- target leakage ---------------------------------------------------------------------------
def test_target_leak_names_the_row_wise_path_and_the_fix():
    with pytest.raises(TargetLeakageError) as info:
        target_leak.store.plan()
    message = str(info.value)
    assert "y -> subscription_flag (row-wise) -> was_subscribed -> nba_model (label 'y')" in message
    assert "drop that input, or compute it with a stage fitted on train rows" in message


def test_model_reading_its_own_label_is_refused():
    store = _bank()
    store.add(S(name="m", kind=K.MODEL, inputs=("age", "y"), outputs=("p",), label="y"))
    with pytest.raises(TargetLeakageError, match="reads its own label 'y' as an input"):
        store.plan()


def test_row_wise_copy_of_the_label_after_the_split_is_refused():
    store = _bank()
    store.add(S(name="copy_y", kind=K.TRANSFORM, inputs=("y",), outputs=("y2",)))
    store.add(S(name="m", kind=K.MODEL, inputs=("age", "y2"), outputs=("p",), label="y"))
    with pytest.raises(TargetLeakageError, match=r"y -> copy_y \(row-wise\) -> y2 -> m"):
        store.plan()


def test_encoder_fitted_on_train_labels_is_fine():
    store = _bank()
    store.add(S(name="job_encoder", kind=K.FITTED, inputs=("job",), outputs=("job_te",), label="y"))
    store.add(S(name="m", kind=K.MODEL, inputs=("age", "job_te"), outputs=("p",), label="y"))
    plan = store.plan()
    assert plan.nodes["job_encoder"].fit_rows.value == "train"


# -- unknown names, cycles, duplicates --------------------------------------------------------
def test_unknown_input_suggests_the_close_name_and_the_fix():
    with pytest.raises(UnknownInputError) as info:
        unknown_input.store.plan()
    message = str(info.value)
    assert "stage 'sentiment_model' reads feature 'text_vectr', which no stage writes." in message
    assert "Did you mean 'text_vector'?" in message
    assert "declare a stage whose outputs include 'text_vectr'" in message


def test_cycle_names_the_loop_stage_by_stage():
    with pytest.raises(StageCycleError) as info:
        cyclic.store.plan()
    message = str(info.value)
    assert "clean -(cleaned)-> spellcheck -(spelled)-> clean" in message
    assert "rename one of these features or drop one of these inputs" in message


def test_duplicate_stage_names_the_name_and_the_fix():
    with pytest.raises(DuplicateStageError) as info:
        duplicate.declare()
    assert str(info.value) == (
        "two stages claim the name 'tokenizer' in store 'reviews': rename one (name=...)."
    )


def test_duplicate_feature_metadata_is_refused():
    store = FeatureStore(name="bank")
    store.feature("age", description="years", dtype="int")
    store.feature("age", description="years", dtype="int")  # the same declaration twice is fine
    with pytest.raises(DuplicateFeatureError, match="'age' is declared twice"):
        store.feature("age", description="years", dtype="double")


def test_unproduced_output_suggests_the_close_name():
    with pytest.raises(UnproducedOutputError) as info:
        external_ok.store.plan(["sentiment_predictoin"])
    message = str(info.value)
    assert "writes the requested output 'sentiment_predictoin'" in message
    assert "Did you mean 'sentiment_prediction'" in message


def test_nothing_to_plan_is_refused():
    store = FeatureStore(name="empty")
    store.add(S(name="src", kind=K.SOURCE, outputs=("a",), entity_key="id"))
    with pytest.raises(UnproducedOutputError, match="declares no model and no default outputs"):
        store.plan()


def test_unknown_pin_feature_suggests_the_close_name():
    store = _reviews_with_two_vectorizers()
    with pytest.raises(UnknownPinError) as info:
        store.plan(pins={"text_vectr": "tfidf"})
    assert "pin names feature 'text_vectr', which no stage writes." in str(info.value)
    assert "Did you mean 'text_vector'?" in str(info.value)


def test_unknown_pin_producer_lists_the_producers():
    store = _reviews_with_two_vectorizers()
    with pytest.raises(UnknownPinError) as info:
        store.plan(pins={"text_vector": "tf_idf"})
    message = str(info.value)
    assert "'tf_idf' does not write 'text_vector'" in message
    assert "its producers are tfidf, word2vec" in message
    assert "Did you mean 'tfidf'?" in message


def test_variant_explosion_names_the_cap_the_alternatives_and_the_fix():
    with pytest.raises(VariantExplosionError) as info:
        explosion.store.plan()
    message = str(info.value)
    assert "more than 64 variants (max_variants=64)" in message
    assert "f0 (scale_0, rank_0)" in message and "f6 (scale_6, rank_6)" in message
    assert "Pin producers" in message and "raise max_variants" in message


def test_variant_explosion_is_avoided_by_a_pin_or_a_higher_cap():
    assert len(explosion.store.plan(pins={"f0": "scale_0"}).variants) == 64  # exactly the cap
    assert len(explosion.store.plan(max_variants=128).variants) == 128


def test_variant_explosion_is_an_error_not_a_hang():
    store = FeatureStore(name="huge", max_variants=10)
    store.add(S(name="rows", kind=K.SOURCE, outputs=("x", "y"), entity_key="id"))
    store.split(inputs=["x", "y"])
    previous = "x"
    for level in range(40):  # 2**40 combinations
        for producer in ("a", "b"):
            store.add(
                S(
                    name=f"{producer}{level}",
                    kind=K.FITTED,
                    inputs=(previous,),
                    outputs=(f"f{level}",),
                )
            )
        previous = f"f{level}"
    store.add(S(name="m", kind=K.MODEL, inputs=(previous,), outputs=("p",), label="y"))
    with pytest.raises(VariantExplosionError, match="more than 10 variants"):
        store.plan()


def test_ambiguous_split_names_both_splits():
    store = FeatureStore(name="bank")
    store.add(S(name="clients", kind=K.SOURCE, outputs=("age", "y"), entity_key="client_id"))
    store.split(name="split_a", inputs=["age", "y"])
    store.split(name="split_b", inputs=["age"])
    with pytest.raises(AmbiguousSplitError) as info:
        store.plan(["age"])
    message = str(info.value)
    assert "splits 'split_a' and 'split_b' both carry feature 'age'" in message
    assert "Let one split carry it." in message


def test_model_without_a_split_is_refused():
    store = FeatureStore(name="bank")
    store.add(S(name="clients", kind=K.SOURCE, outputs=("age", "y"), entity_key="client_id"))
    store.add(S(name="m", kind=K.MODEL, inputs=("age",), outputs=("p",), label="y"))
    with pytest.raises(MissingSplitError) as info:
        store.plan()
    assert "model 'm' reads no rows from a train/test split" in str(info.value)
    assert "store.split(inputs=[...])" in str(info.value)


def test_stage_reading_two_entities_is_refused():
    store = FeatureStore(name="mixed")
    store.add(S(name="clients", kind=K.SOURCE, outputs=("age", "y"), entity_key="client_id"))
    store.add(S(name="calls", kind=K.SOURCE, outputs=("duration",), entity_key="call_id"))
    store.add(S(name="ratio", kind=K.TRANSFORM, inputs=("age", "duration"), outputs=("r",)))
    with pytest.raises(EntityMismatchError, match=r"\(call_id, client_id\)"):
        store.plan(["r"])


# -- declaration shape ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (dict(kind=K.SOURCE, outputs=("a",)), "needs entity_key="),
        (dict(kind=K.SOURCE, inputs=("a",), outputs=("b",), entity_key="id"), "takes no inputs"),
        (dict(kind=K.MODEL, inputs=("a",), outputs=("p",)), "needs label="),
        (dict(kind=K.SPLIT, inputs=("a", "b"), outputs=("a",)), "outputs == inputs"),
        (
            dict(kind=K.FITTED, inputs=("a",), outputs=("b",), fit_on="external"),
            "say why with external_reason=",
        ),
        (
            dict(
                kind=K.FITTED,
                inputs=("a",),
                outputs=("b",),
                fit_on="external",
                external_reason="   ",
            ),
            "say why with external_reason=",
        ),
        (dict(kind=K.TRANSFORM, inputs=("a",), outputs=("b",), fit_on="all"), "fits nothing"),
        (dict(kind=K.TRANSFORM, inputs=("a",), outputs=("b",), label="y"), "cannot have a label"),
        (dict(kind=K.TRANSFORM, inputs=("a",)), "writes no feature"),
        (dict(kind=K.TRANSFORM, outputs=("b",)), "reads no feature"),
        (dict(kind=K.TRANSFORM, inputs=("a",), outputs=("b", "b")), "lists an output twice"),
    ],
)
def test_declaration_shape_errors(fields, expected):
    with pytest.raises(DeclarationError, match=expected):
        S(name="stage", **fields)


@pytest.mark.parametrize("bad", ["text-vector", "1st", "", "has space", "é"])
def test_bad_names_are_refused_wherever_they_appear(bad):
    with pytest.raises(DeclarationError, match=f"name {bad!r} is not valid"):
        S(name=bad, kind=K.TRANSFORM, inputs=("a",), outputs=("b",))
    with pytest.raises(DeclarationError, match="is not valid"):
        S(name="ok", kind=K.TRANSFORM, inputs=(bad,), outputs=("b",))
    with pytest.raises(DeclarationError, match="is not valid"):
        FeatureStore(name=bad)


def test_unknown_kind_is_refused():
    with pytest.raises(DeclarationError, match="stage 's': kind='estimator' is not known"):
        S(name="s", kind="estimator", inputs=("a",), outputs=("b",))


def test_stage_named_like_an_existing_feature_is_refused():
    store = _bank()
    with pytest.raises(DeclarationError) as info:
        store.add(S(name="age", kind=K.TRANSFORM, inputs=("balance",), outputs=("b2",)))
    assert "'age' is already a feature in store 'bank'" in str(info.value)
    assert "both become asset keys" in str(info.value)


def test_feature_named_like_an_existing_stage_is_refused():
    store = _bank()
    with pytest.raises(DeclarationError, match="'clients' is already a stage"):
        store.add(S(name="t", kind=K.TRANSFORM, inputs=("age",), outputs=("clients",)))
    with pytest.raises(DeclarationError, match="'split' is already a stage"):
        store.feature("split")


def test_stage_named_like_its_own_output_is_refused():
    # A fitted stage and its output are two assets; one name would make one overwrite the other.
    store = _bank()
    with pytest.raises(DeclarationError, match="a feature of its own name"):
        store.add(S(name="segment", kind=K.FITTED, inputs=("age",), outputs=("segment",)))
    assert "segment" not in store.stages


def test_a_refused_declaration_leaves_the_store_unchanged():
    store = _bank()
    before = dict(store.stages)
    with pytest.raises(DeclarationError):
        store.add(S(name="age", kind=K.TRANSFORM, inputs=("balance",), outputs=("b2",)))
    assert store.stages == before and "b2" not in store.features


def test_split_fraction_and_cap_are_checked():
    store = FeatureStore(name="bank")
    with pytest.raises(DeclarationError, match="test_fraction must be between 0 and 1"):
        store.split(inputs=["a"], test_fraction=1.0)
    with pytest.raises(DeclarationError, match="max_variants=0 is not a number of variants"):
        FeatureStore(name="bank", max_variants=0)


def test_adding_something_that_is_not_a_stage_is_refused():
    with pytest.raises(DeclarationError, match="pass a StageSpec, a pyspark.ml stage"):
        FeatureStore(name="bank").add(object())


def test_lookups_of_unknown_names_suggest_close_ones():
    store = _bank()
    with pytest.raises(UnknownNameError, match="Did you mean 'clients'"):
        store.stage("client")
    plan = external_ok.store.plan()
    with pytest.raises(UnknownNameError, match="Did you mean 'sentiment_prediction'"):
        plan.variant("sentiment_predicton")
    with pytest.raises(UnknownNameError, match="Did you mean 'glove'"):
        plan.lineage("glov")


# -- helpers ----------------------------------------------------------------------------------
def _bank() -> FeatureStore:
    store = FeatureStore(name="bank")
    store.add(
        S(
            name="clients",
            kind=K.SOURCE,
            outputs=("age", "balance", "job", "y"),
            entity_key="client_id",
        )
    )
    store.split(inputs=["age", "balance", "job", "y"])
    return store


def _reviews_with_two_vectorizers() -> FeatureStore:
    store = FeatureStore(name="reviews")
    store.add(S(name="src", kind=K.SOURCE, outputs=("text", "sentiment"), entity_key="id"))
    store.split(inputs=["text", "sentiment"])
    store.add(S(name="tokenizer", kind=K.TRANSFORM, inputs=("text",), outputs=("tokens",)))
    store.add(S(name="tfidf", kind=K.FITTED, inputs=("tokens",), outputs=("text_vector",)))
    store.add(S(name="word2vec", kind=K.FITTED, inputs=("tokens",), outputs=("text_vector",)))
    store.add(S(name="m", kind=K.MODEL, inputs=("text_vector",), outputs=("p",), label="sentiment"))
    return store


# -- what would fail later, at definitions or run time -----------------------------------------
def test_missing_scoring_input_names_the_source_the_input_and_a_close_name():
    message = _refusal("missing_scoring_input", MissingScoringInputError)
    assert "no scoring source of store 'reviews' provides every raw input of " in message
    assert "sentiment_prediction (text)" in message
    assert "'new_reviews' lacks text. Did you mean 'txt'?" in message
    assert "Add the missing features to a scoring source's outputs" in message


def _text_store(*, producers: tuple[str, ...] = ("vec",), feature: str = "v") -> FeatureStore:
    """A source of `text` and label `y`, their split, and fitted producers of one feature."""
    store = FeatureStore(name="reviews")
    store.add(S(name="src", kind=K.SOURCE, outputs=("text", "y"), entity_key="id"))
    store.split(inputs=["text", "y"])
    for name in producers:
        store.add(S(name=name, kind=K.FITTED, inputs=("text",), outputs=(feature,)))
    return store


def test_a_scoring_source_with_every_raw_input_plans():
    store = _text_store()
    store.add(S(name="m", kind=K.MODEL, inputs=("v",), outputs=("p",), label="y"))
    store.scoring_source(outputs=["text"], entity_key="id", name="new_reviews")(print)
    plan = store.plan()
    [variant] = plan.variants
    assert plan.scoring_source_for(variant).name == "new_reviews"
    assert store.scoring_sources and not _text_store().scoring_sources  # nothing asked of none


def test_python_stage_in_a_registered_pipeline_names_the_stage_the_model_and_the_fix():
    message = _refusal("python_in_pipeline", PythonStageInPipelineError)
    assert "model 'sentiment_model' of sentiment_prediction" in message
    assert "stage 'lowercase' in it is a Python function" in message
    assert "declare 'lowercase' as a Spark ML Transformer" in message


def test_python_stages_outside_a_pipeline_plan():
    # A fitted function returns a Spark ML model (it may sit in the pipeline), and a Python
    # transform that feeds no model is never part of one.
    store = _text_store(producers=())
    store.transform(inputs=["text"], outputs=["n_chars"], name="count_chars")(lambda df: df)
    store.fitted(inputs=["text"], outputs=["v"], name="vec")(lambda df: df)
    store.add(S(name="m", kind=K.MODEL, inputs=("v",), outputs=("p",), label="y"))
    assert store.stage("vec").runtime is Runtime.PYTHON
    assert {v.name for v in store.plan(["p", "n_chars"]).variants} == {"p", "n_chars"}


def test_asset_key_clash_names_both_claimants_and_the_fix():
    assert _refusal("asset_name_clash", AssetNameClashError) == (
        "asset 'tokens' and scoring source 'tokens' of store 'reviews' both get the asset key "
        "reviews/tokens: rename 'tokens' (a `__` in a name can repeat a variant's key, which "
        "joins the producers with `__`)."
    )


def test_a_feature_named_like_a_variant_key_clashes():
    store = _text_store(producers=("tfidf", "w2v"), feature="vec")
    store.add(S(name="copy", kind=K.TRANSFORM, inputs=("text",), outputs=("vec__tfidf",)))
    with pytest.raises(
        AssetNameClashError, match="reviews/vec__tfidf: rename 'vec' or 'vec__tfidf'"
    ):
        store.plan(["vec", "vec__tfidf"])


def test_unknown_metric_suggests_the_close_name_and_lists_the_known_ones():
    message = _refusal("unknown_metric", UnknownMetricError)
    assert "stage 'sentiment_model' (model) is evaluated with metric='acuracy'" in message
    assert "Did you mean 'accuracy'?" in message
    assert "areaUnderROC" in message and "rmse" in message


def test_bad_owner_names_the_stage_the_owner_and_the_fix():
    message = _refusal("bad_owner", InvalidOwnerError)
    assert message.startswith("stage 'tokenizer' has owner 'ml-team@corp', which is neither")
    assert "name the team" in message


@pytest.mark.parametrize("owner", ["", "ml", "team:ml-platform", "ML Team", "qa@example.com"])
def test_e_mail_addresses_and_team_names_are_owners(owner):
    assert FeatureStore(name="bank", owner=owner).owner == owner
    assert FeatureSpec(name="age", owner=owner).owner == owner


@pytest.mark.parametrize("owner", ["team:", "a@b", "@example.com"])
def test_owners_dagster_would_refuse_are_refused_where_declared(owner):
    with pytest.raises(InvalidOwnerError, match=repr(owner)):
        FeatureStore(name="bank", owner=owner)
    with pytest.raises(InvalidOwnerError, match="feature 'age' has owner"):
        FeatureSpec(name="age", owner=owner)


# -- choosing on test rows (issue 9) ------------------------------------------------------------
def test_a_threshold_declared_on_test_rows_is_refused_with_the_fix():
    message = _refusal("threshold_on_test", TestSelectionError)
    assert message.startswith(
        "model 'sentiment_model' declares its production threshold on test rows"
    )
    assert "drop threshold_on" in message and "validation_fraction=" in message


def _chooser(*, validation_fraction: float, threshold_on: str | None) -> FeatureStore:
    store = FeatureStore(name="reviews")
    store.add(S(name="src", kind=K.SOURCE, outputs=("text", "y"), entity_key="id"))
    store.split(inputs=["text", "y"], validation_fraction=validation_fraction)
    store.add(S(name="vec", kind=K.FITTED, inputs=("text",), outputs=("v",)))
    model = S(name="m", kind=K.MODEL, inputs=("v",), outputs=("p",), label="y")
    store.model(model, threshold=0.7, threshold_on=threshold_on)
    return store


def test_a_threshold_on_validation_needs_a_validation_partition():
    with pytest.raises(TestSelectionError, match="its split has no validation partition"):
        _chooser(validation_fraction=0.0, threshold_on="validation").plan()
    plan = _chooser(validation_fraction=0.2, threshold_on="validation").plan()
    assert plan.selects_on(plan.variants[0]) == "validation"


def test_an_unknown_threshold_partition_suggests_validation():
    with pytest.raises(TestSelectionError, match="Did you mean 'validation'"):
        _chooser(validation_fraction=0.2, threshold_on="validaton").plan()


def test_without_validation_test_rows_choose_and_the_plan_says_so():
    plan = _chooser(validation_fraction=0.0, threshold_on=None).plan()
    assert plan.partitions == ("train", "test")
    assert plan.selects_on(plan.variants[0]) == "test"
    with_validation = _chooser(validation_fraction=0.2, threshold_on=None).plan()
    assert with_validation.partitions == ("train", "validation", "test")


@pytest.mark.parametrize(
    ("test_fraction", "validation_fraction"), [(0.2, -0.1), (0.5, 0.5), (0.3, 0.9)]
)
def test_split_fractions_must_leave_train_rows(test_fraction, validation_fraction):
    store = FeatureStore(name="reviews")
    with pytest.raises(DeclarationError, match="validation_fraction must be at least 0"):
        store.split(
            inputs=["text"], test_fraction=test_fraction, validation_fraction=validation_fraction
        )


def test_a_fitted_stages_label_must_be_a_feature_name():
    # Found by the random declarations: the label of a fitted stage was not checked, and the
    # store then failed when listing its features.
    with pytest.raises(DeclarationError, match="label of stage 'src' \\(fitted\\)"):
        S(name="src", kind=K.FITTED, inputs=("text",), outputs=("vec",), label="1x")
