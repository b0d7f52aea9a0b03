"""The result of planning: nodes (a stage under one choice of producers), assets, variants.

A plan is a value: same declarations, same plan, same order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from ff_assets.core.errors import UnknownNameError, did_you_mean
from ff_assets.core.specs import (
    TEST,
    TRAIN,
    VALIDATION,
    FeatureSpec,
    FitOn,
    HashSplit,
    Retries,
    StageKind,
    StageSpec,
    Storage,
    Tags,
    overlap_content,
    split_partitions,
)

Choices = tuple[tuple[str, str], ...]  # (feature, producing stage), sorted by feature


@dataclass(frozen=True)
class VariantId:
    """The producers chosen along a traversal, the one value every name of a variant comes
    from: `name[tfidf,kmeans]` (plan and CLI), `name__tfidf__kmeans` (asset keys, Dagster job
    names, MLflow registered models)."""

    producers: tuple[str, ...] = ()

    @classmethod
    def of(cls, choices: Choices) -> VariantId:
        return cls(tuple(stage for _, stage in choices))

    @property
    def suffix(self) -> str:
        """`[tfidf]`, `[tfidf,kmeans]`, or '' without choices."""
        return "[" + ",".join(self.producers) + "]" if self.producers else ""

    @property
    def slug(self) -> str:
        """`tfidf`, `tfidf__kmeans`, or '' without choices."""
        return "__".join(self.producers)

    def qualify(self, base: str) -> str:
        """`sentiment_prediction[tfidf]`."""
        return base + self.suffix

    def segment(self, base: str) -> str:
        """`sentiment_model__tfidf`: the last segment of an asset key, readable in Dagit."""
        return "__".join((base, *self.producers))


def variant_suffix(choices: Choices) -> str:
    """`[tfidf]` for one choice, `[tfidf,kmeans]` for two, '' for none."""
    return VariantId.of(choices).suffix


class FitRows(StrEnum):
    """Which rows an estimator node learns from, as planned."""

    TRAIN = "train"
    ALL = "all"
    EXTERNAL = "external"


class AssetRole(StrEnum):
    """What an asset holds."""

    SOURCE = "source"  # a source's rows: the entity key and every raw feature
    SPLIT = "split"  # the carried features, partitioned into train (validation) and test
    FEATURES = "features"  # one feature computed by a transform, fitted stage or model
    FITTED = "fitted"  # a fitted Spark ML model (a fitted stage)
    MODEL = "model"  # a model fitted on train rows
    REGISTERED = "registered"  # a model evaluated on held-out rows and registered in MLflow
    COMPARISON = "comparison"  # the variants of one output side by side


@dataclass(frozen=True)
class Node:
    """One stage under one choice of upstream producers; shared by every variant that uses it."""

    key: str  # "tokenizer", "sentiment_model[tfidf]"
    stage: StageSpec
    choices: Choices  # the producer choices in this node's upstream
    deps: tuple[tuple[str, str], ...]  # (feature read, node key that writes it)
    partitioned: bool  # rows are split into train/test at or before this node
    entity_key: str
    fit_rows: FitRows | None  # estimators only

    @property
    def suffix(self) -> str:
        return variant_suffix(self.choices)

    def dep_nodes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(node for _, node in self.deps))


@dataclass(frozen=True)
class AssetDep:
    """An asset read by another, with the features it contributes and the rows it gives."""

    asset: str
    features: tuple[str, ...]
    train_only: bool = False
    held_out: bool = False  # evaluation reads held-out rows only (validation and test)


@dataclass(frozen=True)
class PlannedAsset:
    """One Dagster asset-to-be: a name, its role, the node that makes it and what it reads."""

    name: str  # "text_vector[tfidf]"
    base: str  # "text_vector"
    variant: tuple[str, ...]  # ("tfidf",)
    role: AssetRole
    node: str
    features: tuple[str, ...]  # the feature columns it holds (none for fitted/model assets)
    partitioned: bool
    deps: tuple[AssetDep, ...]
    storage: Storage = Storage.TABLE  # features only may be views

    @property
    def variant_id(self) -> VariantId:
        return VariantId(self.variant)

    @property
    def key_name(self) -> str:
        """The asset key's last segment: `text_vector__tfidf`, `tokens`."""
        return self.variant_id.segment(self.base)


@dataclass(frozen=True)
class Variant:
    """One way to produce a requested output: a full traversal with one producer per feature."""

    name: str  # "sentiment_prediction[tfidf]"
    output: str
    choices: Choices
    nodes: tuple[str, ...]  # node keys, upstream first
    output_asset: str
    model_node: str | None  # the node of the model that writes the output, if any

    @property
    def registered_asset(self) -> str | None:
        """The asset that evaluates and registers this variant's model, if it has one."""
        return registered_name(self.model_node) if self.model_node else None

    @property
    def variant_id(self) -> VariantId:
        return VariantId.of(self.choices)

    @property
    def slug(self) -> str:
        """The variant as a name part: `tfidf`, `tfidf__kmeans`, or '' without choices."""
        return self.variant_id.slug


@dataclass(frozen=True)
class Plan:
    """Nodes and assets in dependency order, the variants per output, and lineage over them."""

    store: str
    outputs: tuple[str, ...]
    nodes: Mapping[str, Node]
    assets: Mapping[str, PlannedAsset]
    variants: tuple[Variant, ...]
    alternatives: frozenset[str] = frozenset()  # features with several producers
    # Every partition a split of the plan assigns rows to, in order (train first, test last).
    partitions: tuple[str, ...] = (TRAIN, TEST)
    # What orchestration needs from the declarations, frozen with the plan, so nothing
    # downstream reads the (mutable) store again.
    features: Mapping[str, FeatureSpec] = field(default_factory=dict)
    scoring_sources: Mapping[str, StageSpec] = field(default_factory=dict)
    description: str = ""
    owner: str = ""
    tags: Tags = ()
    retries: Retries = Retries()

    def selects_on(self, variant: Variant) -> str:
        """The partition whose rows choose between the variant's models (comparison, promotion
        threshold): `validation` when its split has one, else `test` (said plainly where it
        is used, since choosing on test rows turns them into validation rows)."""
        splits = (self.nodes[k].stage for k in variant.nodes)
        has = any(VALIDATION in split_partitions(s) for s in splits if s.kind is StageKind.SPLIT)
        return VALIDATION if has else TEST

    def overlap_on(self, split: str) -> tuple[str, ...]:
        """The features a hash split's overlap check compares across its partitions: the
        content it declares (`overlap_on`, else `group_by`), else every feature it carries
        except the labels fits learn (so whole duplicate rows count). None for a function."""
        stage = self.nodes[split].stage
        if not isinstance(stage.impl, HashSplit):
            return ()
        declared = overlap_content(stage)
        if declared:
            return (declared,)
        return tuple(f for f in stage.outputs if f not in self._labels)

    @cached_property
    def _labels(self) -> frozenset[str]:
        return frozenset(n.stage.label for n in self.nodes.values() if n.stage.label)

    def registering(self, asset: str) -> Variant:
        """The variant whose model the registered-model asset `asset` evaluates and registers."""
        return self._by_registered_asset[asset]

    @cached_property
    def _by_registered_asset(self) -> dict[str, Variant]:
        return {v.registered_asset: v for v in self.variants if v.registered_asset}

    def variants_of(self, output: str) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if v.output == output)

    def variant(self, name: str) -> Variant:
        """The variant called `name` (or the only variant of an output called `name`)."""
        for v in self.variants:
            if v.name == name:
                return v
        only = self.variants_of(name)
        if len(only) == 1:
            return only[0]
        hint = did_you_mean(name, [v.name for v in self.variants])
        raise UnknownNameError(f"plan of store {self.store!r} has no variant {name!r}.{hint}")

    def users(self, node_key: str) -> tuple[str, ...]:
        """Names of the variants whose traversal includes a node."""
        return self._users.get(node_key, ())

    @property
    def shared(self) -> tuple[str, ...]:
        """Node keys used by more than one variant (one asset each, computed once)."""
        return tuple(k for k in self.nodes if len(self.users(k)) > 1)

    @cached_property
    def _users(self) -> dict[str, tuple[str, ...]]:
        # One pass over the variants, so asking for every node's users stays linear.
        users: dict[str, list[str]] = {}
        for v in self.variants:
            for key in v.nodes:
                users.setdefault(key, []).append(v.name)
        return {k: tuple(names) for k, names in users.items()}

    def asset_of(self, feature: str, node_key: str) -> PlannedAsset:
        """The asset in which node `node_key` stores `feature`."""
        return self.assets[holder_name(self.nodes[node_key], feature, self.alternatives)]

    def fitted_asset(self, node_key: str) -> PlannedAsset | None:
        """The fitted-model asset of an estimator node."""
        node = self.nodes[node_key]
        return self.assets.get(node.key) if node.stage.is_estimator else None

    def lineage(self, name: str) -> LineageTree:
        """The upstream tree of a variant, a node, an asset, a stage or a feature."""
        roots = self._roots(name)
        return LineageTree(name=name, kind="query", detail="", children=roots)

    def _roots(self, name: str) -> tuple[LineageTree, ...]:
        if any(v.name == name for v in self.variants) or self.variants_of(name):
            variants = [v for v in self.variants if v.name == name] or self.variants_of(name)
            return tuple(
                LineageTree(
                    name=v.name,
                    kind="variant",
                    detail=f"output {v.output}",
                    children=(self._node_tree(v.nodes[-1]),),
                )  # fmt: skip
                for v in variants
            )
        if name in self.nodes:
            return (self._node_tree(name),)
        if name in self.assets:
            return (self._node_tree(self.assets[name].node),)
        by_stage = [k for k, n in self.nodes.items() if n.stage.name == name]
        if by_stage:
            return tuple(self._node_tree(k) for k in by_stage)
        by_feature = [k for k, n in self.nodes.items() if name in n.stage.outputs]
        if by_feature:
            return tuple(self._node_tree(k) for k in by_feature)
        known = [*self.nodes, *self.assets, *(v.name for v in self.variants)]
        known += [f for n in self.nodes.values() for f in n.stage.outputs]
        raise UnknownNameError(
            f"nothing called {name!r} in the plan of store {self.store!r}."
            f"{did_you_mean(name, known)}"
            " Run `ff-assets plan` to list variants, stages and features."
        )

    def _detail(self, key: str) -> str:
        node = self.nodes[key]
        detail = node.stage.kind.value
        if node.fit_rows is not None:
            detail += f", fit on {node.fit_rows.value} rows"
        if node.partitioned:
            detail += ", train/test"
        if node.stage.external_reason:
            detail += f", external: {node.stage.external_reason}"
        return detail

    def _node_tree(self, root: str) -> LineageTree:
        """The upstream tree of a node; a node reached again is shown once, then referred to.

        Built without recursion, so deep chains and shared upstreams stay cheap.
        """
        # Pre-order walk: (key, via, parent index); records hold children indexes.
        records: list[tuple[str, tuple[str, ...], bool, list[int]]] = []
        expanded: set[str] = set()
        stack: list[tuple[str, tuple[str, ...], int]] = [(root, (), -1)]
        while stack:
            key, via, parent = stack.pop()
            repeat = key in expanded
            records.append((key, via, repeat, []))
            index = len(records) - 1
            if parent >= 0:
                records[parent][3].append(index)
            if repeat:
                continue
            expanded.add(key)
            reads: dict[str, list[str]] = {}
            for feature, dep in self.nodes[key].deps:
                reads.setdefault(dep, []).append(feature)
            for dep, features in reversed(list(reads.items())):
                stack.append((dep, tuple(features), index))
        built: dict[int, LineageTree] = {}
        for index in range(len(records) - 1, -1, -1):
            key, via, repeat, kids = records[index]
            detail = self._detail(key) + (", upstream shown above" if repeat else "")
            children = tuple(built.pop(k) for k in kids)
            built[index] = LineageTree(
                name=key, kind="stage", detail=detail, children=children, via=via
            )
        return built[0]

    def raw_features(self, variant: Variant) -> tuple[str, ...]:
        """Features a variant's inference pipeline reads from its source (label excluded):
        what a scoring source must provide."""
        label = self.nodes[variant.model_node].stage.label if variant.model_node else None
        raw: dict[str, None] = {}
        for key in variant.nodes:
            node = self.nodes[key]
            if node.stage.kind in (StageKind.SOURCE, StageKind.SPLIT):
                continue
            for feature, dep in node.deps:
                kind = self.nodes[dep].stage.kind
                if kind in (StageKind.SOURCE, StageKind.SPLIT) and feature != label:
                    raw[feature] = None
        return tuple(raw)

    def scoring_source_for(self, variant: Variant) -> StageSpec | None:
        """The first scoring source that provides every raw input of a variant, if any."""
        needed = set(self.raw_features(variant))
        return next((s for s in self.scoring_sources.values() if needed <= set(s.outputs)), None)

    def components(self) -> tuple[tuple[str, ...], ...]:
        """The assets in groups that share no dependency with one another (independent
        pipelines), each in plan order; the groups ordered by their first asset."""
        parent = {name: name for name in self.assets}

        def root(name: str) -> str:
            while parent[name] != name:
                parent[name] = parent[parent[name]]
                name = parent[name]
            return name

        for name, asset in self.assets.items():
            for dep in asset.deps:
                a, b = root(name), root(dep.asset)
                if a != b:
                    parent[b] = a
        groups: dict[str, list[str]] = {}
        for name in self.assets:
            groups.setdefault(root(name), []).append(name)
        return tuple(tuple(group) for group in groups.values())

    def upstream_nodes(self, key: str) -> tuple[str, ...]:
        """Every node upstream of `key` (itself included), upstream first."""
        seen: dict[str, None] = {}
        stack = [key]
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen[k] = None
            stack.extend(self.nodes[k].dep_nodes())
        return tuple(k for k in self.nodes if k in seen)


@dataclass(frozen=True)
class LineageTree:
    """A node of a lineage answer: a stage, a feature or a variant, with its upstream."""

    name: str
    kind: str
    detail: str
    children: tuple[LineageTree, ...] = ()
    via: tuple[str, ...] = ()  # the features the parent reads from this node

    def walk(self, depth: int = 0) -> Iterator[tuple[int, LineageTree]]:
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "detail": self.detail,
            "via": list(self.via),
            "children": [c.to_dict() for c in self.children],
        }


def selection_warning(selects_on: str, what: str) -> str | None:
    """What is said wherever test rows choose (`what` is what they choose): nothing when
    validation rows do."""
    if selects_on != TEST:
        return None
    return (
        f"{what} are chosen on test rows, which makes them validation rows: declare "
        "validation_fraction= on the split (store.split(..., validation_fraction=0.2)) so that "
        "validation rows choose and test rows only report."
    )


def registered_name(model_node: str) -> str:
    """`sentiment_model[tfidf]` -> `sentiment_model_registered[tfidf]`."""
    base, bracket, rest = model_node.partition("[")
    return f"{base}_registered{bracket}{rest}"


def comparison_name(output: str) -> str:
    return f"{output}_comparison"


def holder_name(node: Node, feature: str, alternatives: frozenset[str]) -> str:
    """The asset that stores `feature` as written by `node`.

    Sources and splits keep all their features in one table asset named after the stage; any
    other stage stores each output feature as its own asset, whose variant names the upstream
    choices and, when the feature has several producers, the producer itself.
    """
    if node.stage.kind in (StageKind.SOURCE, StageKind.SPLIT):
        return node.key
    return feature + variant_suffix(feature_choices(node, feature, alternatives))


def feature_choices(node: Node, feature: str, alternatives: frozenset[str]) -> Choices:
    """The producer choices that identify `feature` as written by `node`."""
    if feature not in alternatives:
        return node.choices
    return tuple(sorted((*node.choices, (feature, node.stage.name))))


def fit_rows_of(stage: StageSpec, partitioned_inputs: bool) -> FitRows | None:
    """Train rows only when the stage reads split rows and asks for train; else all/external."""
    if not stage.is_estimator:
        return None
    if stage.fit_on is FitOn.EXTERNAL:
        return FitRows.EXTERNAL
    if stage.fit_on is FitOn.ALL or not partitioned_inputs:
        return FitRows.ALL
    return FitRows.TRAIN
