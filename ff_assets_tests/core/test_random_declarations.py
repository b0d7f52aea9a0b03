"""Random declarations, good and bad, fed to a `FeatureStore` and to `store.plan()` (hypothesis).

Every outcome is a declaration (or a `Plan`) or an `FFAssetsError` subclass, never another
exception; a refusal's message names the thing it refuses; and a refused declaration or plan
leaves the store's earlier declarations as they were.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ff_assets.core import (
    DeclarationError,
    FeatureStore,
    FFAssetsError,
    Plan,
    StageKind,
    StageSpec,
)

PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FEATURES = ("text", "tokens", "vec", "y", "z", "pred", "other")
STAGES = ("src", "split", "tok", "tfidf", "w2v", "model", "m2", "more")
BAD_NAMES = ("", "1x", "a-b", "text vector", "ü", "__")  # "__" is valid: it can clash keys
# Good names are drawn more often than bad ones, so that some random stores plan.
feature_names = st.sampled_from(FEATURES * 3 + BAD_NAMES[:2])
stage_names = st.sampled_from(STAGES * 3 + FEATURES[:2] + BAD_NAMES)


def rarely(draw: st.DrawFn) -> bool:
    """True about one draw in five: how often a bad value is drawn where a good one fits."""
    return draw(st.integers(0, 4)) == 0


@st.composite
def feature_lists(draw: st.DrawFn) -> list[str] | str:
    """Mostly a list of features; rarely an empty one, or the classic mistake of a single
    string where a list belongs."""
    if rarely(draw):
        return draw(st.just([]) | feature_names)
    return draw(st.lists(feature_names, min_size=1, max_size=3))


@dataclass(frozen=True)
class Call:
    """One declaring call and the words its refusal may name."""

    describe: str
    run: Callable[[FeatureStore], Any]
    mentions: tuple[str, ...]


def _words(*values: object) -> tuple[str, ...]:
    """What a message may name for these values: each value as it is and as its repr."""
    found: list[str] = []
    for value in values:
        items = value if isinstance(value, list | tuple) else (value,)
        for item in items:
            if item is None:
                continue
            found += [repr(item), str(item)] if str(item) else [repr(item)]
    return tuple(found)


def _fn(df: Any) -> Any:
    return df


@st.composite
def stage_calls(draw: st.DrawFn) -> Call:
    kind = draw(st.sampled_from(["source", "transform", "fitted", "model"] * 2 + ["bogus"]))
    name = draw(stage_names)
    inputs, outputs = draw(feature_lists()), draw(feature_lists())
    if kind == "source" and not rarely(draw):
        inputs = []
    fields: dict[str, Any] = {}
    if kind == "model" or rarely(draw):
        fields["label"] = draw(feature_names)
    if kind == "source" or rarely(draw):
        fields["entity_key"] = draw(st.sampled_from(["id", "id", "id", "", "bad key"]))
    if rarely(draw):
        fields["fit_on"] = draw(st.sampled_from(["train", "all", "external", "sometimes"]))
        if draw(st.booleans()):
            fields["external_reason"] = "pre-trained elsewhere"
    if rarely(draw):
        fields["storage"] = draw(st.sampled_from(["table", "view", "parquet"]))
    if kind in ("model", "bogus") and rarely(draw):
        fields["metric"] = draw(st.sampled_from(["accuracy", "f1", "rmse", "acuracy"]))
    words = _words(name, inputs, outputs, kind, *fields.values())
    how = draw(st.sampled_from(["spec", "decorator"]))
    if kind == "source":
        fields.pop("label", None)
    if how == "decorator" and kind in ("source", "transform", "fitted"):

        def run(store: FeatureStore) -> Any:
            extra = dict(fields)
            if kind == "source":
                entity = extra.pop("entity_key", "")
                return store.source(outputs=outputs, entity_key=entity, name=name, **extra)(_fn)
            declare = store.transform if kind == "transform" else store.fitted
            return declare(inputs=inputs, outputs=outputs, name=name, **extra)(_fn)

        return Call(f"@store.{kind}({name!r}, {inputs!r} -> {outputs!r}, {fields})", run, words)

    def run_spec(store: FeatureStore) -> Any:
        spec = StageSpec(name=name, kind=kind, inputs=inputs, outputs=outputs, **fields)
        return store.add(spec)

    return Call(f"add {kind} {name!r} {inputs!r} -> {outputs!r} {fields}", run_spec, words)


@st.composite
def split_calls(draw: st.DrawFn) -> Call:
    name = draw(st.sampled_from(["split", "split", "split2", "1split"]))
    inputs = draw(feature_lists())
    test = draw(st.sampled_from([0.2, 0.25, 0.2, 0.0, 1.0, -0.1, math.nan]))
    validation = draw(st.sampled_from([0.0, 0.15, 0.0, 0.8, -0.1]))
    group_by = draw(feature_names) if rarely(draw) else None
    max_overlap = draw(st.sampled_from([0.01, 0.01, 0.5, 2.0]))

    def run(store: FeatureStore) -> Any:
        return store.split(
            name=name, inputs=inputs, test_fraction=test, validation_fraction=validation,
            group_by=group_by, max_overlap=max_overlap,
        )  # fmt: skip

    words = _words(name, inputs, test, validation, group_by, max_overlap)
    return Call(f"split {name!r} {inputs!r} test={test} val={validation}", run, words)


@st.composite
def model_calls(draw: st.DrawFn) -> Call:
    name = draw(st.sampled_from(["model", "m2", "model", "m2", "tok", "bad model"]))
    inputs, outputs = draw(feature_lists()), draw(feature_lists())
    label = draw(feature_names)
    metric = draw(st.sampled_from(["accuracy", "areaUnderROC", "acuracy", "r2"]))
    threshold = draw(st.sampled_from([0.7, 0.0, "0.7", "high", math.nan])) if rarely(draw) else None
    threshold_on = draw(st.sampled_from(["validation", "test", "train"])) if rarely(draw) else None

    def run(store: FeatureStore) -> Any:
        spec = StageSpec(name=name, kind=StageKind.MODEL, inputs=inputs, outputs=outputs,
                         label=label)  # fmt: skip
        return store.model(spec, metric=metric, threshold=threshold, threshold_on=threshold_on)

    words = _words(name, inputs, outputs, label, metric, threshold, threshold_on)
    return Call(f"model {name!r} {inputs!r}->{outputs!r} label={label!r} {metric}", run, words)


@st.composite
def other_calls(draw: st.DrawFn) -> Call:
    which = draw(st.sampled_from(["feature", "scoring", "typo"]))
    name = draw(stage_names)
    if which == "feature":
        owner = draw(st.sampled_from(["", "ml@example.com", "team:ml", "not an@address"]))
        description = draw(st.sampled_from(["", "a feature"]))

        def feature(store: FeatureStore) -> Any:
            return store.feature(name, owner=owner, description=description)

        return Call(f"feature {name!r} owner={owner!r}", feature, _words(name, owner))
    if which == "scoring":
        outputs = draw(feature_lists())

        def scoring(store: FeatureStore) -> Any:
            return store.scoring_source(outputs=outputs, entity_key="id", name=name)(_fn)

        # Without a name, the decorated function names the scoring source.
        words = _words(name or _fn.__name__, outputs)
        return Call(f"scoring source {name!r} {outputs!r}", scoring, words)
    keyword = draw(st.sampled_from(["lable", "input", "fit"]))

    def typo(store: FeatureStore) -> Any:
        extra = {keyword: "y"}
        return store.transform(inputs=["text"], outputs=["tokens"], name=name, **extra)(_fn)

    return Call(f"transform {name!r} with {keyword}=", typo, _words(name, keyword))


calls = st.one_of(stage_calls(), stage_calls(), split_calls(), model_calls(), other_calls())


def _state(store: FeatureStore) -> tuple:
    return (
        list(store.stages.items()),
        list(store.features.items()),
        list(store.scoring_sources.items()),
        store.snapshot().stages == store.stages,
    )


def _names(store: FeatureStore) -> set[str]:
    return {store.name, *store.stages, *store.features, *store.scoring_sources}


def _apply(store: FeatureStore, call: Call) -> bool:
    """Run one call: it declares (True), or refuses with an FFAssetsError naming the thing and
    changing nothing (False)."""
    before = _state(store)
    try:
        call.run(store)
        return True
    except FFAssetsError as error:
        event(f"declaration refused: {type(error).__name__}")
        message = str(error)
        assert any(word in message for word in (*call.mentions, *_names(store))), (
            f"{call.describe}: {type(error).__name__} names nothing it was given: {message}"
        )
        assert _state(store) == before, f"{call.describe} was refused but changed the store"
        return False
    except Exception as error:  # noqa: BLE001 - the property: nothing else escapes
        pytest.fail(f"{call.describe} raised {type(error).__name__}, not an FFAssetsError: {error}")


def _plan(store: FeatureStore, outputs: Any, pins: Any, cap: Any) -> Plan | FFAssetsError:
    before = _state(store)
    try:
        planned = store.plan(outputs, pins=pins, max_variants=cap)
        event("planned")
        return planned
    except FFAssetsError as error:
        event(f"plan refused: {type(error).__name__}")
        words = {
            *_names(store), *(outputs or ()), *(pins or {}), *(pins or {}).values(), str(cap),
        }  # fmt: skip
        assert any(w and w in str(error) for w in words), f"{error!r} names nothing known"
        assert _state(store) == before, "a refused plan changed the store's declarations"
        return error
    except Exception as error:  # noqa: BLE001 - the property: nothing else escapes
        pytest.fail(f"plan({outputs!r}, {pins!r}, {cap!r}) raised {type(error).__name__}: {error}")


def _good_store() -> FeatureStore:
    """A store that plans: source, split, two featurizers of one feature, a model."""
    store = FeatureStore(name="drawn")
    store.add(StageSpec(name="src", kind="source", outputs=("text", "y"), entity_key="id"))
    store.split(inputs=["text", "y"])
    store.add(StageSpec(name="tfidf", kind="fitted", inputs=("text",), outputs=("vec",)))
    store.add(StageSpec(name="w2v", kind="fitted", inputs=("text",), outputs=("vec",)))
    store.add(StageSpec(name="model", kind="model", inputs=("vec",), outputs=("pred",), label="y"))
    return store


plan_outputs = st.none() | st.lists(st.sampled_from((*FEATURES, "prd", "")), max_size=2)
plan_pins = st.none() | st.dictionaries(
    st.sampled_from(("vec", "text", "vex")), st.sampled_from(("tfidf", "w2v", "tfidx")), max_size=2
)
plan_caps = st.sampled_from([None, 1, 2, 64, 0, -1])


@PROFILE
@given(st.lists(calls, max_size=12), plan_outputs, plan_pins, plan_caps)
def test_random_declarations_declare_or_refuse_by_name(declared, outputs, pins, cap) -> None:
    store = FeatureStore(name="drawn")
    for call in declared:
        _apply(store, call)
    _plan(store, outputs, pins, cap)


@PROFILE
@given(st.lists(calls, min_size=1, max_size=4), plan_outputs, plan_pins, plan_caps)
def test_bad_declarations_on_a_good_store_keep_its_plan(declared, outputs, pins, cap) -> None:
    store = _good_store()
    accepted = [call.describe for call in declared if _apply(store, call)]
    result = _plan(store, outputs, pins, cap)
    if not accepted:  # every call was refused: the store plans as it did before them
        untouched = _plan(_good_store(), outputs, pins, cap)
        if isinstance(result, Plan):
            assert result == untouched
        else:
            assert (type(result), str(result)) == (type(untouched), str(untouched))


# -- regressions the properties found -------------------------------------------------------


@pytest.mark.parametrize(
    ("declare", "expected"),
    [
        (lambda s: StageSpec(name="t", kind="bogus", outputs=("x",)), "kind='bogus'"),
        (
            lambda s: StageSpec(
                name="t", kind="fitted", inputs=("x",), outputs=("y",), fit_on="sometimes"
            ),  # fmt: skip
            "fit_on='sometimes'",
        ),
        (
            lambda s: s.fitted(inputs=["x"], outputs=["y"], fit_on="sometimes")(_fn),
            "fit_on='sometimes'",
        ),
        (
            lambda s: StageSpec(name="t", kind="transform", inputs="text", outputs=("y",)),
            "inputs='text'",
        ),
        (lambda s: s.transform(inputs=["x"], outputs="tokens")(_fn), "outputs='tokens'"),
        (lambda s: s.transform(inputs=["x"], outputs=["y"], lable="z")(_fn), "'label'"),
        (
            lambda s: s.add(
                StageSpec(name="t", kind="source", outputs=("x",), entity_key="id"), inputz=("a",)
            ),
            "'inputs'",
        ),  # fmt: skip
        (lambda s: s.model(_model(), threshold="high"), "threshold='high'"),
        (lambda s: s.model(_model(), threshold=math.nan), "threshold=nan"),
        (lambda s: _good_store().plan(max_variants=-1), "max_variants=-1"),
    ],
)
def test_bad_declaration_is_a_declaration_error_naming_it(declare, expected: str) -> None:
    store = FeatureStore(name="drawn")
    with pytest.raises(DeclarationError) as error:
        declare(store)
    assert expected in str(error.value)
    assert store.stages == {}


def _model() -> StageSpec:
    return StageSpec(name="m", kind="model", inputs=("x",), outputs=("p",), label="y")
