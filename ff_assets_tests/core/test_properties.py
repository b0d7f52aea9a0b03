"""Properties of the planner over random stage graphs (hypothesis).

A drawn graph: one source (raw features and labels), optional transforms and fitted stages
before a split, the split (carrying every feature computed before it, and the labels), optional
transforms and fitted stages after it, some features with a second producer, and models that
read anything before or after the split and learn a label the split carries.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from ff_assets.core import FeatureStore, StageKind, StageSpec, TestLeakageError
from ff_assets.core.plan import Plan, variant_suffix

K = StageKind
PROFILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_ALTERNATIVES = 3  # at most 2**3 variants per output: well under the default cap of 64


@dataclass(frozen=True)
class Graph:
    """Declarations in order, what to plan, and the facts the oracles need."""

    stages: tuple[StageSpec, ...]
    requested: tuple[str, ...] | None  # None: the store's default (every model's output)
    producers: dict[str, tuple[str, ...]]  # feature -> stages writing it (the source included)
    fits_on_test: frozenset[str]  # stages fitted on rows that include test rows

    def store(self) -> FeatureStore:
        store = FeatureStore(name="drawn")
        for spec in self.stages:
            store.add(spec)
        return store

    def planned_models(self) -> list[StageSpec]:
        models = [s for s in self.stages if s.kind is K.MODEL]
        if self.requested is None:
            return models
        return [m for m in models if m.outputs[0] in self.requested]

    def upstream_stages(self, model: StageSpec) -> set[str]:
        """Every stage any variant of `model` reads from, following features (the oracle)."""
        by_name = {s.name: s for s in self.stages}
        seen_features: set[str] = set()
        stages: set[str] = set()
        stack = list(model.reads)
        while stack:
            feature = stack.pop()
            if feature in seen_features:
                continue
            seen_features.add(feature)
            for producer in self.producers[feature]:
                stages.add(producer)
                stack.extend(by_name[producer].reads)
        return stages

    def leaks(self) -> bool:
        return any(self.upstream_stages(m) & self.fits_on_test for m in self.planned_models())


@st.composite
def graphs(draw, *, leaks: bool = True, fit_before_split: bool = False) -> Graph:
    """Random graphs; with leaks=False, no stage fits on rows that include test rows; with
    fit_before_split=True, the first stage before the split is fitted (on all rows, then)."""
    raw = [f"r{i}" for i in range(draw(st.integers(1, 3)))]
    labels = [f"y{i}" for i in range(draw(st.integers(1, 2)))]
    stages = [StageSpec(name="src", kind=K.SOURCE, outputs=(*raw, *labels), entity_key="id")]
    producers: dict[str, list[str]] = {f: ["src"] for f in (*raw, *labels)}
    fits_on_test: set[str] = set()
    alternatives_left = draw(st.integers(0, MAX_ALTERNATIVES))

    def section(prefix: str, feature_prefix: str, available: list[str], *, before_split: bool):
        nonlocal alternatives_left
        forced = fit_before_split and before_split
        for i in range(draw(st.integers(1 if forced else 0, 4))):
            feature = f"{feature_prefix}{i}"
            count = 1
            if alternatives_left and draw(st.booleans()):
                count, alternatives_left = 2, alternatives_left - 1
            for letter in "ab"[:count]:
                name = f"{prefix}{i}{letter}"
                # Weighted: fit_on="all" after the split is a rarer mistake than a plain fit.
                kinds = ["transform", "transform", "fitted", "external", "all"]
                if not leaks:
                    kinds = kinds[:-1] if not before_split else ["transform", "external"]
                kind = "fitted" if forced and i == 0 else draw(st.sampled_from(kinds))
                inputs = draw(
                    st.lists(st.sampled_from(available), min_size=1, max_size=2, unique=True)
                )
                fields = {}
                if kind == "external":
                    fields = {"fit_on": "external", "external_reason": "pre-trained elsewhere"}
                elif kind == "all":
                    fields = {"fit_on": "all"}
                stage_kind = K.TRANSFORM if kind == "transform" else K.FITTED
                stages.append(
                    StageSpec(
                        name=name,
                        kind=stage_kind,
                        inputs=tuple(inputs),
                        outputs=(feature,),
                        **fields,
                    )
                )
                producers.setdefault(feature, []).append(name)
                if kind == "all" or (kind == "fitted" and before_split):
                    fits_on_test.add(name)
            available.append(feature)

    available = list(raw)
    section("pre", "a", available, before_split=True)
    carried = (*available, *labels)
    # The split carries every feature computed before it, so every later stage reads split rows.
    stages.append(StageSpec(name="split", kind=K.SPLIT, inputs=carried, outputs=carried))
    section("post", "b", available, before_split=False)

    outputs = []
    for k in range(draw(st.integers(1, 3))):
        inputs = draw(st.lists(st.sampled_from(available), min_size=1, max_size=3, unique=True))
        label = draw(st.sampled_from(labels))
        stages.append(
            StageSpec(
                name=f"model{k}",
                kind=K.MODEL,
                inputs=tuple(inputs),
                outputs=(f"pred{k}",),
                label=label,
            )
        )
        producers[f"pred{k}"] = [f"model{k}"]
        outputs.append(f"pred{k}")
    requested = draw(st.none() | st.lists(st.sampled_from(outputs), min_size=1, unique=True))
    return Graph(
        stages=tuple(stages),
        requested=tuple(requested) if requested is not None else None,
        producers={f: tuple(p) for f, p in producers.items()},
        fits_on_test=frozenset(fits_on_test),
    )


def plan_of(graph: Graph) -> Plan:
    return graph.store().plan(graph.requested)


# -- properties -------------------------------------------------------------------------------
@PROFILE
@given(graphs(leaks=False))
def test_every_variant_is_a_valid_traversal(graph):
    plan = plan_of(graph)
    assert plan.variants
    event(f"variants: {min(len(plan.variants), 4)}{'+' if len(plan.variants) >= 4 else ''}")
    for v in plan.variants:
        nodes = set(v.nodes)
        chosen = dict(v.choices)
        for position, key in enumerate(v.nodes):
            node = plan.nodes[key]
            reads = Counter(f for f, _ in node.deps)
            # every read is satisfied by exactly one upstream node of this same variant,
            assert reads == Counter(node.stage.reads), key
            for feature, dep in node.deps:
                upstream = plan.nodes[dep]
                assert dep in nodes and dep in v.nodes[:position], (key, dep)
                # which writes (or, as a split, carries) that feature,
                assert feature in upstream.stage.outputs, (key, feature, dep)
                # and, where the feature has several producers, is the one the variant chose.
                if upstream.stage.kind is not K.SPLIT and feature in plan.alternatives:
                    assert chosen[feature] == upstream.stage.name
        # The traversal is exactly the upstream of the node that produces the output.
        top = plan.nodes[v.nodes[-1]]
        assert v.output in top.stage.outputs
        assert v.nodes == plan.upstream_nodes(top.key)
        assert v.model_node == (top.key if top.stage.kind is K.MODEL else None)
        assert v.name == v.output + variant_suffix(v.choices)
        assert plan.assets[v.output_asset].node == top.key
    assert len({v.name for v in plan.variants}) == len(plan.variants)
    if graph.requested is None:
        assert {v.output for v in plan.variants} == {m.outputs[0] for m in graph.planned_models()}


@PROFILE
@given(graphs(leaks=False))
def test_each_stage_and_upstream_choice_is_planned_once(graph):
    plan = plan_of(graph)
    by_stage: dict[str, list[str]] = {}
    for key, node in plan.nodes.items():
        by_stage.setdefault(node.stage.name, []).append(key)
        # A node's choices are exactly the producer choices made in its own upstream: nothing
        # irrelevant splits a shared stage in two, nothing relevant is merged.
        assert node.choices == _upstream_choices(plan, key), key
        assert key == node.stage.name + variant_suffix(node.choices)
    assert len({(n.stage.name, n.choices) for n in plan.nodes.values()}) == len(plan.nodes)
    for keys in by_stage.values():
        assert len({plan.nodes[k].deps for k in keys}) == len(keys)  # no duplicate work
        if any(not plan.nodes[k].choices for k in keys):
            assert len(keys) == 1  # a stage with no choice upstream is shared by all
    used = Counter(k for v in plan.variants for k in v.nodes)
    assert set(used) == set(plan.nodes)  # nothing planned that no variant uses
    assert plan.shared == tuple(k for k in plan.nodes if used[k] > 1)


@PROFILE
@given(graphs(leaks=False))
def test_planning_is_deterministic(graph):
    first = plan_of(graph)
    again = plan_of(graph)
    store = graph.store()
    twice = store.plan(graph.requested), store.plan(graph.requested)
    for other in (again, *twice):
        assert other == first
        assert list(other.nodes) == list(first.nodes)
        assert list(other.assets) == list(first.assets)
        assert [v.nodes for v in other.variants] == [v.nodes for v in first.variants]


@PROFILE
@given(graphs())
def test_test_leakage_is_refused_exactly_when_a_fit_on_test_rows_reaches_a_planned_model(graph):
    event(f"fits on test rows: {bool(graph.fits_on_test)}, leaks: {graph.leaks()}")
    try:
        plan_of(graph)
    except TestLeakageError as error:
        assert graph.leaks(), str(error)
        message = str(error)
        assert "(evaluated on test)" in message
        culprit = message.split("test rows reach a fit: ")[1].split(" (fit on all rows")[0]
        assert culprit.split("[")[0] in graph.fits_on_test
    else:
        assert not graph.leaks()


@PROFILE
@given(graphs(fit_before_split=True))
def test_a_fit_before_the_split_that_reaches_a_model_is_always_refused(graph):
    before_split = {
        s.name for s in graph.stages if s.name.startswith("pre") and s.kind is K.FITTED
    } & graph.fits_on_test  # fitted with the default fit_on="train", but on all rows
    models = [s for s in graph.stages if s.kind is K.MODEL]
    reached = [m.outputs[0] for m in models if graph.upstream_stages(m) & before_split]
    assume(reached)
    for output in reached:
        try:
            graph.store().plan([output])
        except TestLeakageError:
            continue
        raise AssertionError(f"a fit before the split reaches {output}, and was not refused")


def _upstream_choices(plan: Plan, key: str) -> tuple[tuple[str, str], ...]:
    """(feature, producer) for every alternative feature read from its producers upstream."""
    found = set()
    for up in plan.upstream_nodes(key):
        for feature, dep in plan.nodes[up].deps:
            if feature in plan.alternatives and plan.nodes[dep].stage.kind is not K.SPLIT:
                found.add((feature, plan.nodes[dep].stage.name))
    return tuple(sorted(found))
