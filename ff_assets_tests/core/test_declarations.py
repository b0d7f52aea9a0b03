"""The planner's input is a frozen snapshot of a store's declarations, and stage objects reach
the core through adapters the layers above register (the core imports none of them)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ff_assets.core import (
    DeclarationError,
    Declarations,
    FeatureStore,
    Runtime,
    StageKind,
    StageSpec,
    adapters,
)
from ff_assets.core.planner import plan

S = StageSpec
K = StageKind


def _store() -> FeatureStore:
    store = FeatureStore(name="reviews", owner="ml", default_outputs=["p"])
    store.add(S(name="src", kind=K.SOURCE, outputs=("text", "y"), entity_key="id"))
    store.split(inputs=["text", "y"])
    store.add(S(name="vec", kind=K.FITTED, inputs=("text",), outputs=("v",)))
    store.add(S(name="m", kind=K.MODEL, inputs=("v",), outputs=("p",), label="y"))
    return store


def test_a_snapshot_does_not_follow_later_declarations():
    store = _store()
    before = store.snapshot()
    store.add(S(name="w2v", kind=K.FITTED, inputs=("text",), outputs=("v",)))
    store.feature("extra", description="declared later")
    assert list(before.stages) == ["src", "split", "vec", "m"]
    assert "extra" not in before.features
    assert [v.name for v in plan(before).variants] == ["p"]
    assert [v.name for v in store.plan().variants] == ["p[vec]", "p[w2v]"]


def test_a_snapshot_cannot_be_changed():
    snapshot = _store().snapshot()
    with pytest.raises(TypeError):
        snapshot.stages["x"] = snapshot.stages["m"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        snapshot.store = "other"  # type: ignore[misc]


def test_the_snapshot_is_built_once_per_change():
    store = _store()
    assert store.snapshot() is store.snapshot()
    first = store.snapshot()
    store.scoring_source(outputs=["text"], entity_key="id", name="incoming")(print)
    assert store.snapshot() is not first and "incoming" in store.snapshot().scoring_sources


def test_the_store_plans_its_snapshot():
    store = _store()
    snapshot = store.snapshot()
    assert isinstance(snapshot, Declarations)
    assert (snapshot.store, snapshot.owner, snapshot.default_outputs) == ("reviews", "ml", ("p",))
    assert plan(snapshot) == store.plan()
    assert store.requested_outputs() == snapshot.requested_outputs() == ("p",)


@dataclass(frozen=True)
class Handmade:
    """A stage object of a library the core knows nothing about."""

    reads: str
    writes: str


class HandmadeAdapter:
    name = "handmade-test"

    def claims(self, stage: object) -> bool:
        return isinstance(stage, Handmade)

    def to_spec(self, stage: Handmade, **overrides: object) -> StageSpec:
        fields = {"name": f"{stage.reads}_to_{stage.writes}", "kind": K.TRANSFORM, **overrides}
        return S(inputs=(stage.reads,), outputs=(stage.writes,), impl=stage, **fields)


@pytest.fixture
def handmade_adapter():
    adapters.register_adapter(HandmadeAdapter())
    yield
    adapters.unregister_adapter(HandmadeAdapter.name)


def test_a_registered_adapter_turns_its_stages_into_specs(handmade_adapter):
    store = _store()
    spec = store.add(Handmade(reads="text", writes="n_words"), description="word count")
    assert (spec.name, spec.inputs, spec.outputs) == ("text_to_n_words", ("text",), ("n_words",))
    assert spec.description == "word count" and spec.runtime is Runtime.UNSPECIFIED


def test_without_an_adapter_the_stage_is_refused():
    assert "handmade-test" not in adapters.adapter_names()
    with pytest.raises(DeclarationError, match="pass a StageSpec, a pyspark.ml stage"):
        _store().add(Handmade(reads="text", writes="n_words"))


def test_importing_ff_assets_registers_the_spark_adapter():
    assert "spark_ml" in adapters.adapter_names()


def test_runtime_says_what_runs_a_stage():
    assert S(name="a", kind=K.TRANSFORM, inputs=("x",), outputs=("y",), impl=len).runtime == (
        Runtime.PYTHON
    )
    assert S(name="a", kind=K.TRANSFORM, inputs=("x",), outputs=("y",)).runtime == (
        Runtime.UNSPECIFIED
    )
    declared = S(name="a", kind=K.TRANSFORM, inputs=("x",), outputs=("y",), runtime="spark_ml")
    assert declared.runtime is Runtime.SPARK_ML
