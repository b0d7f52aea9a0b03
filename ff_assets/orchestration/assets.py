"""A plan as Dagster assets: one subsettable multi-asset per store, run by the engine.

Every planned feature, split, fitted stage, model, registered model and comparison is its own
`AssetSpec` (deps, partition mappings, owners, kinds, metadata) with its checks as
`AssetCheckSpec`s. Execution stays whole, the dagster-dbt way: the multi-asset's one step hands
the selected assets to `ff_assets.spark.engine`, which computes them as one Spark program
and yields an outcome per asset and check; this module turns them into Dagster results.

Why one multi-asset and not one asset per node: per-node steps each read, join and write what
the previous step wrote, and blocking checks re-read tables in steps of their own; the engine
shares frames in memory instead (see docs/ARCHITECTURE.md).
"""

import contextlib
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    SpecificPartitionsPartitionMapping,
    StaticPartitionsDefinition,
    multi_asset,
)

from ff_assets.charts import histograms_markdown
from ff_assets.core.errors import StageFailedError
from ff_assets.core.plan import AssetRole, Node, Plan, PlannedAsset
from ff_assets.core.specs import TEST, TRAIN
from ff_assets.orchestration.keys import asset_key, dagster_owner, dagster_tags
from ff_assets.orchestration.registration import ModelLogs, compare, registered_model
from ff_assets.orchestration.retries import (
    describe,
    is_transient,
    not_retried,
    retried_if_transient,
    retry_policy,
)
from ff_assets.spark.ahead import computed_ahead
from ff_assets.spark.engine import (
    DISJOINT,
    FIT_ROWS,
    OVERLAP,
    SCHEMA,
    Assembled,
    Checked,
    Engine,
    Evaluated,
    Failed,
    Materialized,
    Severity,
)
from ff_assets.spark.statistics import statistics_markdown

TRAIN_ONLY = SpecificPartitionsPartitionMapping([TRAIN])
# Every partition in one run: featurize all rows in one pass, fit on train, choose on
# validation, report test.
SINGLE_RUN = BackfillPolicy.single_run()
EVERY_PARTITION = {  # a plan's partitions run from train to test (specs.TRAIN, VALIDATION, TEST)
    "dagster/asset_partition_range_start": TRAIN,
    "dagster/asset_partition_range_end": TEST,
}


@functools.cache
def partitions_def(partitions: tuple[str, ...]) -> StaticPartitionsDefinition:
    """The Dagster partitions of a plan's split rows (one object per set of partitions)."""
    return StaticPartitionsDefinition(list(partitions))


RESOURCES = {"spark", "settings"}
ENGINE_RESOURCES = {*RESOURCES, "mlflow"}

CHECKS = {
    DISJOINT: "No entity key is in more than one partition (train, validation, test).",
    FIT_ROWS: "Every row this fit saw is a train row of each split upstream of it.",
    SCHEMA: "The table holds the entity key and the declared features, of declared types; a "
    "source holds each key on one row, never null.",
    OVERLAP: "No row's content (the split's overlap_on or group_by feature, else every feature "
    "but the labels) is on more than one side: a warning above 0, an error above the split's "
    "max_overlap.",
}
NON_BLOCKING = frozenset({OVERLAP})  # a warning is no reason to stop what depends on it
SEVERITIES = {Severity.WARN: AssetCheckSeverity.WARN, Severity.ERROR: AssetCheckSeverity.ERROR}


@dataclass(frozen=True)
class AssetGraph:
    """The plan with Dagster keys: what the asset, job and automation builders share."""

    plan: Plan
    keys: Mapping[str, AssetKey]

    @classmethod
    def of(cls, plan: Plan) -> "AssetGraph":
        return cls(
            plan=plan, keys={name: asset_key(plan.store, a) for name, a in plan.assets.items()}
        )

    @property
    def store(self) -> str:
        return self.plan.store


def checks_of(plan: Plan, planned: PlannedAsset) -> tuple[str, ...]:
    """The checks of a planned asset (blocking unless in NON_BLOCKING)."""
    if planned.role is AssetRole.SPLIT:
        overlap = (OVERLAP,) if plan.overlap_on(planned.node) else ()
        return (SCHEMA, DISJOINT, *overlap)
    if planned.role in (AssetRole.FITTED, AssetRole.MODEL):
        return (FIT_ROWS,)
    if planned.role in (AssetRole.SOURCE, AssetRole.FEATURES):
        return (SCHEMA,)
    return ()


def build_store_assets(graph: AssetGraph) -> list[AssetsDefinition]:
    """The store's multi-assets, computed by the engine: one per group of assets that share
    dependencies, so each is one step and one Spark program. A store of independent pipelines
    gets one per pipeline: a job selecting part of a multi-asset costs Dagster time in the
    square of the multi-asset's size (measured by benchmarks/definitions_scale.py), and a
    variant's job then subsets one small multi-asset. The examples are one each."""
    components = graph.plan.components()
    return [
        _engine_asset(graph, names, None if len(components) == 1 else i)
        for i, names in enumerate(components)
    ]


def _engine_asset(graph: AssetGraph, names: tuple[str, ...], index: int | None) -> AssetsDefinition:
    plan = graph.plan
    planned = [plan.assets[name] for name in names]
    specs = [asset_spec(graph, p) for p in planned]
    checks = [
        AssetCheckSpec(
            name,
            asset=graph.keys[p.name],
            description=CHECKS[name],
            blocking=name not in NON_BLOCKING,
        )  # fmt: skip
        for p in planned
        for name in checks_of(plan, p)
    ]
    by_key = {graph.keys[name]: name for name in names}
    suffix = "" if index is None else f"_{index}"

    @multi_asset(
        name=f"{plan.store}__assets{suffix}",
        specs=specs,
        check_specs=checks,
        can_subset=True,
        backfill_policy=SINGLE_RUN,
        required_resource_keys=ENGINE_RESOURCES,
        retry_policy=retry_policy(plan.retries),
        description=f"Assets of store {plan.store!r}, computed as one Spark program; "
        f"{describe(plan.retries)}.",
    )
    def run_store(context: AssetExecutionContext) -> Iterator[MaterializeResult | AssetCheckResult]:
        with retried_if_transient():
            yield from execute_selection(
                context, graph, {by_key[k] for k in context.selected_asset_keys}
            )

    return run_store


def execute_selection(
    context: AssetExecutionContext, graph: AssetGraph, selection: set[str]
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """Run the engine on `selection` and turn its outcomes into Dagster results; raise at the
    end, naming every failed stage, when something could not be stored: retried under the
    store's policy only when every failure was transient (`retries.is_transient`)."""
    settings = context.resources.settings
    partitions = (
        tuple(context.partition_keys)
        if context.has_partition_key or context.has_partition_key_range
        else graph.plan.partitions
    )
    engine = Engine(
        graph.plan, context.resources.spark.spark_session, settings.layout,
        data_dir=settings.data_path(), run_id=context.run.run_id,
        statistics=settings.feature_statistics,
    )  # fmt: skip
    failures: list[Failed] = []
    registered: set[str] = set()
    # The engine computes the next stage while Dagster records this outcome and MLflow logs
    # a model; `closing` stops it (its Spark jobs cancelled) if this step ends early.
    outcomes = computed_ahead(engine.run(selection, partitions), engine.spark)
    with contextlib.closing(outcomes), ModelLogs(context, graph) as models:
        for outcome in outcomes:
            if isinstance(outcome, Materialized):
                yield MaterializeResult(
                    asset_key=graph.keys[outcome.asset], metadata=dagster_metadata(outcome)
                )
            elif isinstance(outcome, Checked):
                yield AssetCheckResult(
                    asset_key=graph.keys[outcome.asset], check_name=outcome.check,
                    passed=outcome.passed, severity=SEVERITIES[outcome.severity],
                    description=outcome.description, metadata=_values(outcome.metadata),
                )  # fmt: skip
            elif isinstance(outcome, Assembled):
                models.start(outcome)  # logged while the engine writes the predictions
            elif isinstance(outcome, Evaluated):
                try:
                    yield models.register(outcome)
                    registered.add(outcome.asset)
                except Exception as error:  # noqa: BLE001 - reported with the run's failures
                    failures.append(Failed(outcome.asset, outcome.variant.name, str(error), error))
            else:
                models.fail(outcome.asset)
                failures.append(outcome)
    for name in selection:
        planned = graph.plan.assets[name]
        if planned.role is not AssetRole.COMPARISON:
            continue
        missing = [
            d.asset for d in planned.deps if d.asset in selection and d.asset not in registered
        ]
        if missing:
            failures.append(Failed(name, "", f"not run: {', '.join(missing)} not registered"))
            continue
        yield compare(context, graph, planned)
    if failures:
        error = _failure(failures)
        own = [f.error for f in failures if f.error is not None]
        if own and all(is_transient(e) for e in own):
            raise error
        raise not_retried(error)


def _failure(failures: list[Failed]) -> StageFailedError:
    own = [f for f in failures if f.error is not None]
    stages = list(dict.fromkeys(f.reason for f in own)) or [failures[0].reason]
    skipped = [f.asset for f in failures if f.error is None]
    message = "; ".join(stages)
    if skipped:
        message += f". Not stored, as they depend on it: {', '.join(skipped)}"
    message += (
        ". Every other selected asset was stored; failed assets keep their last good version."
    )
    error = StageFailedError(message)
    if own:
        error.__cause__ = own[0].error
    return error


def dagster_metadata(outcome: Materialized) -> dict[str, Any]:
    """Engine metadata as Dagster metadata values (JSON, paths), with the statistics' table and
    a picture of each feature as Markdown. The engine yields the statistics as data; they are
    presented here, while the engine (`computed_ahead`) runs the next stage."""
    metadata = _values(outcome.metadata)
    if stats := outcome.metadata.get("feature_statistics_json"):
        markdown = {"feature_statistics": statistics_markdown(stats), **histograms_markdown(stats)}
        metadata.update({k: MetadataValue.md(v) for k, v in markdown.items()})
    metadata.update({k: MetadataValue.path(v) for k, v in outcome.paths.items()})
    return metadata


def _values(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: MetadataValue.json(v) if isinstance(v, dict | list) else v for k, v in raw.items()}


def asset_spec(graph: AssetGraph, planned: PlannedAsset) -> AssetSpec:
    """The AssetSpec of a planned asset: key, deps with their partition mappings, owners,
    tags, kinds, partitions and metadata."""
    plan = graph.plan
    node = plan.nodes.get(planned.node)
    # One mapping per upstream asset in a multi-asset: fits show their `train` mapping; the
    # registered models' read of the test rows is said in their metadata ("evaluated_on").
    deps = [
        AssetDep(graph.keys[dep.asset], partition_mapping=TRAIN_ONLY if dep.train_only else None)
        for dep in planned.deps
    ]
    return AssetSpec(
        key=graph.keys[planned.name],
        deps=deps,
        description=_description(plan, planned, node),
        metadata=_describe(plan, planned, node),
        group_name=plan.store,
        owners=_owners(plan, planned, node),
        tags=_tags(plan, planned, node),
        kinds=_kinds(planned),
        partitions_def=partitions_def(plan.partitions) if planned.partitioned else None,
        skippable=True,
    )


def _description(plan: Plan, planned: PlannedAsset, node: Node | None) -> str:
    if planned.role is AssetRole.COMPARISON:
        output = planned.base.removesuffix("_comparison")
        chooses = plan.selects_on(plan.variants_of(output)[0])
        return (
            f"The variants of {output} side by side, chosen on {chooses} rows: metrics per "
            "partition, versions, aliases."
        )
    assert node is not None
    stage = node.stage
    if planned.role is AssetRole.REGISTERED:
        variant = plan.registering(planned.name)
        return (
            f"{stage.name} of {variant.name}: its inference pipeline, evaluated on held-out "
            f"rows (chosen on {plan.selects_on(variant)}) and registered in MLflow."
        )
    feature = plan.features.get(planned.base)
    if feature is not None and feature.description:
        return feature.description
    return stage.description or f"{stage.kind.value} stage {stage.name}"


def _owners(plan: Plan, planned: PlannedAsset, node: Node | None) -> list[str] | None:
    feature = plan.features.get(planned.base)
    stage_owner = node.stage.owner if node is not None else ""
    chosen = dagster_owner((feature.owner if feature else "") or stage_owner or plan.owner)
    return [chosen] if chosen else None


def _tags(plan: Plan, planned: PlannedAsset, node: Node | None) -> dict[str, str]:
    tags = dagster_tags(plan.tags)
    if node is not None and planned.role is not AssetRole.COMPARISON:
        tags.update(dagster_tags(node.stage.tags))
    feature = plan.features.get(planned.base)
    if feature is not None:
        tags.update(dagster_tags(feature.tags))
    return tags


def _kinds(planned: PlannedAsset) -> set[str]:
    if planned.role in (AssetRole.REGISTERED, AssetRole.COMPARISON):
        return {"mlflow"} if planned.role is AssetRole.COMPARISON else {"spark", "mlflow"}
    if planned.role in (AssetRole.FITTED, AssetRole.MODEL):
        return {"spark"}
    return {"spark", "delta"} if planned.storage.value == "table" else {"spark", "view"}


def _describe(plan: Plan, planned: PlannedAsset, node: Node | None) -> dict[str, Any]:
    """Metadata shown in Dagit: the stage, its params, the rows it fits on, its lineage, and
    whether it is stored as a table or a view."""
    if node is None:  # a comparison
        output = planned.base.removesuffix("_comparison")
        return {
            "output": output,
            "variants": MetadataValue.json([v.name for v in plan.variants_of(output)]),
        }
    stage = node.stage
    metadata: dict[str, Any] = {
        "stage": stage.name,
        "stage_kind": stage.kind.value,
        "entity_key": node.entity_key,
        "upstream": MetadataValue.json([{"feature": f, "from": dep} for f, dep in node.deps]),
        "used_by_variants": MetadataValue.json(list(plan.users(node.key))),
    }
    if planned.role in (AssetRole.SOURCE, AssetRole.SPLIT, AssetRole.FEATURES):
        metadata["storage"] = planned.storage.value
    if planned.features:
        metadata["features"] = MetadataValue.json(list(planned.features))
    if stage.params:
        metadata["params"] = MetadataValue.json(dict(stage.params))
    if node.fit_rows is not None:
        metadata["fit_rows"] = node.fit_rows.value
    if stage.external_reason:
        metadata["external_data_reason"] = stage.external_reason
    if stage.label:
        metadata["label"] = stage.label
    if stage.threshold:
        metadata["production_threshold"] = f"{stage.threshold.metric} >= {stage.threshold.minimum}"
    if planned.role is AssetRole.REGISTERED:
        variant = plan.registering(planned.name)
        metadata["variant"] = variant.name
        metadata["registered_model"] = registered_model(plan, variant)
        held_out = [d.asset for d in planned.deps if d.held_out]
        rows = " and ".join(p for p in plan.partitions if p != TRAIN)
        metadata["evaluated_on"] = (
            f"{rows} rows of " + ", ".join(held_out) if held_out else "all rows"
        )
        metadata["selects_on"] = plan.selects_on(variant)
    feature = plan.features.get(planned.base)
    if feature is not None and feature.dtype:
        metadata["dtype"] = feature.dtype
    types = {
        f: plan.features[f].dtype
        for f in planned.features
        if f in plan.features and plan.features[f].dtype
    }
    if types:
        metadata["declared_types"] = MetadataValue.json(types)
    return metadata
