"""The feature-flow planner: from requested outputs back to the smallest set of stages.

Steps: index the declarations (FeatureGraph), enumerate one variant per combination of
alternative producers, build one node per stage and upstream choice (so shared stages appear
once), derive the assets, then refuse leaks and what would fail later (`runnable`). The
input is a frozen `Declarations` value, never the store. Nothing here reads data.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping

from ff_assets.core.declarations import Declarations
from ff_assets.core.errors import (
    EntityMismatchError,
    UnknownPinError,
    UnproducedOutputError,
    VariantExplosionError,
    did_you_mean,
)
from ff_assets.core.graph import FeatureGraph
from ff_assets.core.leakage import check_leakage
from ff_assets.core.plan import (
    AssetDep,
    AssetRole,
    Choices,
    Node,
    Plan,
    PlannedAsset,
    Variant,
    comparison_name,
    feature_choices,
    fit_rows_of,
    holder_name,
    registered_name,
    variant_suffix,
)
from ff_assets.core.runnable import check_runnable
from ff_assets.core.specs import (
    TEST,
    TRAIN,
    VALIDATION,
    StageKind,
    StageSpec,
    check_max_variants,
    split_partitions,
)


def plan(
    declared: Declarations,
    outputs: Iterable[str] | None = None,
    *,
    pins: Mapping[str, str] | None = None,
    max_variants: int | None = None,
) -> Plan:
    """Plan `outputs` of a store's declarations: refuse unsafe graphs, else return nodes,
    assets and variants."""
    graph = FeatureGraph.build(declared.stages)
    requested = declared.requested_outputs(outputs)
    if not requested:
        raise UnproducedOutputError(
            f"store {declared.store!r} declares no model and no default outputs: name the outputs "
            "to plan (--output NAME)."
        )
    for output in requested:
        if output not in graph.producers and output not in graph.carrier:
            known = [*graph.producers, *graph.carrier]
            raise UnproducedOutputError(
                f"no stage in store {declared.store!r} writes the requested output {output!r}."
                f"{did_you_mean(output, known)}"
            )
    pins = dict(pins or {})
    _check_pins(graph, pins)
    cap = declared.max_variants
    if max_variants is not None:
        cap = check_max_variants(f"plan of store {declared.store!r}", max_variants)

    builder = _NodeBuilder(graph)
    variants: list[Variant] = []
    for output in requested:
        for choices in _enumerate_choices(graph, output, pins, cap - len(variants), cap):
            variants.append(builder.variant(output, choices))
    nodes = builder.ordered_nodes()
    for node in nodes.values():
        check_leakage(node, nodes)
    alternatives = builder.alternatives
    assets = _assets(nodes, alternatives)
    _add_model_assets(assets, nodes, variants, requested)
    rank = {k: i for i, k in enumerate(nodes)}
    planned = Plan(
        store=declared.store,
        outputs=requested,
        nodes=nodes,
        assets=assets,
        variants=tuple(
            Variant(
                name=v.name,
                output=v.output,
                choices=v.choices,
                nodes=tuple(sorted(v.nodes, key=rank.__getitem__)),
                output_asset=v.output_asset,
                model_node=v.model_node,
            )  # fmt: skip
            for v in variants
        ),
        alternatives=alternatives,
        partitions=_partitions(nodes),
        features=declared.features,
        scoring_sources=declared.scoring_sources,
        description=declared.description,
        owner=declared.owner,
        tags=declared.tags,
        retries=declared.retries,
    )
    check_runnable(planned)
    return planned


def _partitions(nodes: Mapping[str, Node]) -> tuple[str, ...]:
    """Every partition the plan's splits assign rows to, train first and test last."""
    named = {
        p
        for n in nodes.values()
        if n.stage.kind is StageKind.SPLIT
        for p in split_partitions(n.stage)
    }
    return tuple(p for p in (TRAIN, VALIDATION, TEST) if p in named) or (TRAIN, TEST)


def _check_pins(graph: FeatureGraph, pins: Mapping[str, str]) -> None:
    for feature, stage in pins.items():
        if feature not in graph.producers:
            raise UnknownPinError(
                f"pin names feature {feature!r}, which no stage writes."
                f"{did_you_mean(feature, graph.producers)}"
            )
        if stage not in graph.producers[feature]:
            options = ", ".join(graph.producers[feature])
            raise UnknownPinError(
                f"pin {feature}={stage}: {stage!r} does not write {feature!r}; its producers are "
                f"{options}.{did_you_mean(stage, graph.producers[feature])}"
            )


def _enumerate_choices(
    graph: FeatureGraph,
    output: str,
    pins: Mapping[str, str],
    budget: int,
    cap: int,
) -> list[Choices]:
    """Every consistent choice of one producer per alternative feature on the way to `output`."""
    found: list[Choices] = []

    def walk(stack: list[tuple[str | None, str]], choices: dict[str, str], seen: set[str]):
        while stack:
            consumer, feature = stack.pop()
            candidates = graph.resolve(consumer, feature)
            if len(candidates) > 1:
                if feature not in choices:
                    options = (pins[feature],) if feature in pins else candidates
                    for option in options:
                        walk([*stack, (consumer, feature)], {**choices, feature: option}, set(seen))
                    return
                candidates = (choices[feature],)
            stage = candidates[0]
            if stage not in seen:
                seen.add(stage)
                stack.extend((stage, f) for f in reversed(graph.stages[stage].reads))
        found.append(tuple(sorted(choices.items())))
        if len(found) > budget:
            raise _explosion(graph, output, cap)

    walk([(None, output)], {}, set())
    return found


def _explosion(graph: FeatureGraph, output: str, cap: int) -> Exception:
    alternatives = "; ".join(
        f"{f} ({', '.join(p)})" for f, p in sorted(graph.producers.items()) if len(p) > 1
    )
    return VariantExplosionError(
        f"planning gives more than {cap} variants (max_variants={cap}); the cap was passed "
        f"while expanding {output!r}. Features with several producers: {alternatives}. "
        "Pin producers (pins={'feature': 'stage'}, or --pin feature=stage) or raise "
        "max_variants on the store."
    )


class _NodeBuilder:
    """Turns (output, choices) into nodes, reusing a node whenever stage and upstream agree."""

    def __init__(self, graph: FeatureGraph) -> None:
        self.graph = graph
        self.nodes: dict[str, Node] = {}
        self.alternatives = frozenset(f for f, p in graph.producers.items() if len(p) > 1)

    def variant(self, output: str, choices: Choices) -> Variant:
        chosen = dict(choices)
        deps: dict[str, list[tuple[str, str]]] = {}
        order: dict[str, None] = {}
        stack: list[str] = []

        def pick(consumer: str | None, feature: str) -> str:
            candidates = self.graph.resolve(consumer, feature)
            return chosen[feature] if len(candidates) > 1 else candidates[0]

        top = pick(None, output)
        stack.append(top)
        while stack:
            name = stack.pop()
            if name in deps:
                continue
            reads = self.graph.stages[name].reads
            deps[name] = [(f, pick(name, f)) for f in reads]
            stack.extend(p for _, p in deps[name])
        sorter = graphlib.TopologicalSorter({n: [p for _, p in d] for n, d in deps.items()})
        keys: dict[str, str] = {}
        relevant: dict[str, frozenset[tuple[str, str]]] = {}
        for name in sorter.static_order():
            own = {(f, p) for f, p in deps[name] if self.graph.is_choice(name, f)}
            rel = frozenset(own).union(*(relevant[p] for _, p in deps[name]))
            relevant[name] = rel
            keys[name] = self._node(name, tuple(sorted(rel)), deps[name], keys)
            order[keys[name]] = None
        top_node = self.nodes[keys[top]]
        output_asset = holder_name(top_node, output, self.alternatives)
        model = top_node.key if top_node.stage.kind is StageKind.MODEL else None
        return Variant(
            name=output + variant_suffix(choices), output=output, choices=choices,
            nodes=tuple(order), output_asset=output_asset, model_node=model,
        )  # fmt: skip

    def _node(
        self, name: str, choices: Choices, deps: list[tuple[str, str]], keys: dict[str, str]
    ) -> str:
        stage: StageSpec = self.graph.stages[name]
        key = name + variant_suffix(choices)
        if key in self.nodes:
            return key
        dep_nodes = tuple((f, keys[p]) for f, p in deps)
        upstream = [self.nodes[k] for _, k in dep_nodes]
        partitioned_inputs = any(n.partitioned for n in upstream)
        entities = {n.entity_key for n in upstream}
        if stage.kind is StageKind.SOURCE:
            entity = stage.entity_key or ""
        elif len(entities) == 1:
            entity = entities.pop()
        else:
            raise EntityMismatchError(
                f"stage {name!r} reads features keyed by different entities "
                f"({', '.join(sorted(entities))}): a stage reads rows of one entity. Join the "
                "sources into one before this stage."
            )
        self.nodes[key] = Node(
            key=key, stage=stage, choices=choices, deps=dep_nodes,
            partitioned=stage.kind is StageKind.SPLIT or partitioned_inputs,
            entity_key=entity, fit_rows=fit_rows_of(stage, partitioned_inputs),
        )  # fmt: skip
        return key

    def ordered_nodes(self) -> dict[str, Node]:
        """Nodes upstream first; ties broken by first appearance, so the order is stable."""
        rank = {k: i for i, k in enumerate(self.nodes)}
        sorter = graphlib.TopologicalSorter({k: n.dep_nodes() for k, n in self.nodes.items()})
        sorter.prepare()
        ordered: dict[str, Node] = {}
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=rank.__getitem__)
            for key in ready:
                ordered[key] = self.nodes[key]
            sorter.done(*ready)
        return ordered


def _add_model_assets(
    assets: dict[str, PlannedAsset],
    nodes: Mapping[str, Node],
    variants: list[Variant],
    requested: tuple[str, ...],
) -> None:
    """Per model node, the asset that evaluates it on test rows and registers it; per output
    with models, the asset that compares its variants."""
    for variant in variants:
        if variant.model_node is None or variant.registered_asset in assets:
            continue
        node = nodes[variant.model_node]
        name = variant.registered_asset or ""
        variant_names = tuple(s for _, s in node.choices)
        assets[name] = PlannedAsset(
            name=name, base=registered_name(node.stage.name), variant=variant_names,
            role=AssetRole.REGISTERED, node=node.key, features=(), partitioned=False,
            deps=(AssetDep(asset=node.key, features=()), *_raw_rows(variant, nodes, assets)),
        )  # fmt: skip
    by_output: dict[str, list[str | None]] = {}  # one pass: a scan per output is quadratic
    for variant in variants:
        by_output.setdefault(variant.output, []).append(variant.registered_asset)
    for output in requested:
        registered = by_output.get(output, [])
        if not registered or None in registered:
            continue
        name = comparison_name(output)
        assets[name] = PlannedAsset(
            name=name, base=name, variant=(), role=AssetRole.COMPARISON, node="", features=(),
            partitioned=False,
            deps=tuple(AssetDep(asset=r, features=()) for r in dict.fromkeys(registered) if r),
        )  # fmt: skip


def _raw_rows(
    variant: Variant, nodes: Mapping[str, Node], assets: Mapping[str, PlannedAsset]
) -> list[AssetDep]:
    """The source/split tables holding a variant's raw inputs and label, held-out rows only: the
    registered inference pipeline is evaluated on them, raw rows in, predictions out."""
    label = nodes[variant.model_node or ""].stage.label
    raw: dict[str, dict[str, None]] = {}
    edge = (StageKind.SOURCE, StageKind.SPLIT)
    for key in variant.nodes:
        node = nodes[key]
        reads = [(f, d) for f, d in node.deps if nodes[d].stage.kind in edge]
        if node.stage.kind not in edge:
            for feature, dep in reads:
                raw.setdefault(dep, {})[feature] = None
                if label and label in nodes[dep].stage.outputs:
                    raw[dep][label] = None
    return [
        AssetDep(asset=dep, features=tuple(fs), held_out=assets[dep].partitioned)
        for dep, fs in raw.items()
    ]


def _assets(nodes: Mapping[str, Node], alternatives: frozenset[str]) -> dict[str, PlannedAsset]:
    assets: dict[str, PlannedAsset] = {}

    def holder(feature: str, node_key: str) -> str:
        return holder_name(nodes[node_key], feature, alternatives)

    def grouped(node: Node, *, train_only: bool) -> list[AssetDep]:
        by_asset: dict[str, list[str]] = {}
        for feature, dep in node.deps:
            by_asset.setdefault(holder(feature, dep), []).append(feature)
        return [
            AssetDep(
                asset=a,
                features=tuple(dict.fromkeys(fs)),
                train_only=train_only and assets[a].partitioned,
            )  # fmt: skip
            for a, fs in by_asset.items()
        ]

    for node in nodes.values():
        stage = node.stage
        variant = tuple(s for _, s in node.choices)
        if stage.kind in (StageKind.SOURCE, StageKind.SPLIT):
            role = AssetRole.SOURCE if stage.kind is StageKind.SOURCE else AssetRole.SPLIT
            assets[node.key] = PlannedAsset(
                name=node.key, base=stage.name, variant=variant, role=role, node=node.key,
                features=stage.outputs, partitioned=node.partitioned,
                deps=tuple(grouped(node, train_only=False)),
            )  # fmt: skip
            continue
        feature_deps = grouped(node, train_only=False)
        if stage.is_estimator:
            role = AssetRole.MODEL if stage.kind is StageKind.MODEL else AssetRole.FITTED
            train_only = node.fit_rows is not None and node.fit_rows.value == "train"
            assets[node.key] = PlannedAsset(
                name=node.key, base=stage.name, variant=variant, role=role, node=node.key,
                features=(), partitioned=False,
                deps=tuple(grouped(node, train_only=train_only)),
            )  # fmt: skip
            feature_deps = [AssetDep(asset=node.key, features=()), *feature_deps]
        for feature in stage.outputs:
            name = holder(feature, node.key)
            own = tuple(s for _, s in feature_choices(node, feature, alternatives))
            assets[name] = PlannedAsset(
                name=name, base=feature, variant=own, role=AssetRole.FEATURES,
                node=node.key, features=(feature,), partitioned=node.partitioned,
                deps=tuple(feature_deps), storage=stage.stored_as,
            )  # fmt: skip
    return assets
