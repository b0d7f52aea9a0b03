"""A plan as Dagster assets: one multi-asset per planned node, plus a fit asset per estimator.

Post-split assets are partitioned `train`/`test`; a fit reads the `train` partition of its
inputs through a partition mapping, so Dagit shows which rows each fit saw.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    BackfillPolicy,
    MetadataValue,
    Output,
    SpecificPartitionsPartitionMapping,
    StaticPartitionsDefinition,
    multi_asset,
)

from ff_assets.core.plan import AssetRole, Node, Plan, PlannedAsset
from ff_assets.core.specs import StageKind, StageSpec
from ff_assets.core.store import FeatureStore
from ff_assets.orchestration.keys import asset_key, dagster_owner, dagster_tags, python_name
from ff_assets.spark import execute

PARTITIONS = StaticPartitionsDefinition(list(execute.PARTITIONS))
TRAIN_ONLY = SpecificPartitionsPartitionMapping(["train"])
TEST_ONLY = SpecificPartitionsPartitionMapping(["test"])
# Both partitions in one run: featurize all rows in one pass, fit on train, evaluate on test.
SINGLE_RUN = BackfillPolicy.single_run()
BOTH_PARTITIONS = {
    "dagster/asset_partition_range_start": "train",
    "dagster/asset_partition_range_end": "test",
}
RESOURCES = {"spark", "settings"}
DELTA = "delta_io_manager"
TABLE_ROLES = (
    AssetRole.SOURCE,
    AssetRole.SPLIT,
    AssetRole.FEATURES,
    AssetRole.FITTED,
    AssetRole.MODEL,
)


@dataclass(frozen=True)
class AssetGraph:
    """The plan with Dagster keys: what the asset, check and job builders share."""

    store: FeatureStore
    plan: Plan
    keys: Mapping[str, AssetKey]

    @classmethod
    def of(cls, store: FeatureStore, plan: Plan) -> "AssetGraph":
        keys = {name: asset_key(store.name, a) for name, a in plan.assets.items()}
        return cls(store=store, plan=plan, keys=keys)

    def assets_of(self, node_key: str) -> list[PlannedAsset]:
        return [a for a in self.plan.assets.values() if a.node == node_key]


def build_assets(graph: AssetGraph) -> list[AssetsDefinition]:
    """Every asset of the plan, upstream first."""
    by_node: dict[str, list[PlannedAsset]] = {}
    for planned in graph.plan.assets.values():
        if planned.role in TABLE_ROLES:
            by_node.setdefault(planned.node, []).append(planned)
    definitions = []
    for node in graph.plan.nodes.values():
        planned = by_node[node.key]
        fit = [a for a in planned if a.role in (AssetRole.FITTED, AssetRole.MODEL)]
        tables = [a for a in planned if a not in fit]
        if fit:
            definitions.append(_fit_asset(graph, node, fit[0]))
        definitions.append(_table_asset(graph, node, tables))
    return definitions


def asset_ins(graph: AssetGraph, planned: PlannedAsset) -> dict[str, AssetIn]:
    """One input per upstream asset, with the partition mapping the plan asks for."""
    return {
        python_name(graph.keys[dep.asset]): AssetIn(
            key=graph.keys[dep.asset],
            partition_mapping=TRAIN_ONLY
            if dep.train_only
            else TEST_ONLY
            if dep.test_only
            else None,
        )
        for dep in planned.deps
    }


def _describe(graph: AssetGraph, node: Node, planned: PlannedAsset) -> dict[str, Any]:
    """Metadata shown in Dagit: the stage, its params, the rows it fits on, its lineage."""
    stage = node.stage
    feature = graph.store.features.get(planned.base)
    metadata: dict[str, Any] = {
        "stage": stage.name,
        "stage_kind": stage.kind.value,
        "entity_key": node.entity_key,
        "upstream": MetadataValue.json([{"feature": f, "from": dep} for f, dep in node.deps]),
        "used_by_variants": MetadataValue.json(list(graph.plan.users(node.key))),
    }
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
    if feature is not None and feature.dtype:
        metadata["dtype"] = feature.dtype
    declared = graph.store.features
    types = {f: declared[f].dtype for f in planned.features if f in declared and declared[f].dtype}
    if types:
        metadata["declared_types"] = MetadataValue.json(types)
    return metadata


def asset_out(
    graph: AssetGraph, node: Node, planned: PlannedAsset, io_manager_key: str
) -> AssetOut:
    """The AssetOut of a planned asset: key, description, owners, tags, kinds, metadata."""
    stage = node.stage
    feature = graph.store.features.get(planned.base)
    description = (feature.description if feature and feature.description else "") or (
        stage.description or f"{stage.kind.value} stage {stage.name}"
    )
    owner = dagster_owner((feature.owner if feature else "") or stage.owner or graph.store.owner)
    kinds = {"spark", "delta"} if io_manager_key == "delta_io_manager" else {"spark"}
    if planned.role is AssetRole.MODEL:
        kinds = {"spark", "mlflow"}
    tags = {**dagster_tags(graph.store.tags), **dagster_tags(stage.tags)}
    if feature is not None:
        tags.update(dagster_tags(feature.tags))
    return AssetOut(
        key=graph.keys[planned.name],
        description=description,
        io_manager_key=io_manager_key,
        group_name=graph.store.name,
        metadata=_describe(graph, node, planned),
        tags=tags,
        owners=[owner] if owner else None,
        kinds=kinds,
    )


def _fit_asset(graph: AssetGraph, node: Node, planned: PlannedAsset) -> AssetsDefinition:
    stage, key_column = node.stage, node.entity_key
    out_name = python_name(graph.keys[planned.name])
    fit_keys_path = graph.keys[planned.name].path

    @multi_asset(
        name=out_name + "__fit",
        outs={out_name: asset_out(graph, node, planned, "fitted_io_manager")},
        ins=asset_ins(graph, planned),
        required_resource_keys=RESOURCES,
    )
    def fit(context: AssetExecutionContext, **inputs: Any) -> Iterator[Output]:
        frame = execute.join_on_key(list(inputs.values()), key_column)
        frame = frame.drop(execute.SPLIT_COLUMN).cache()
        try:
            settings = context.resources.settings
            seen = settings.record_fit_keys(fit_keys_path, frame.select(key_column))
            fitted = execute.fit(stage, frame)
        finally:
            frame.unpersist()
        yield Output(fitted, output_name=out_name, metadata={"rows_fitted": seen})

    return fit


def _table_asset(graph: AssetGraph, node: Node, tables: list[PlannedAsset]) -> AssetsDefinition:
    stage, key_column = node.stage, node.entity_key
    outs = {python_name(graph.keys[a.name]): asset_out(graph, node, a, DELTA) for a in tables}
    names = {python_name(graph.keys[a.name]): a for a in tables}
    fit_input = python_name(graph.keys[node.key]) if stage.is_estimator else None

    @multi_asset(
        name=python_name(graph.keys[tables[0].name]) + "__compute",
        outs=outs,
        ins=asset_ins(graph, tables[0]),
        partitions_def=PARTITIONS if node.partitioned else None,
        backfill_policy=SINGLE_RUN if node.partitioned else None,
        required_resource_keys=RESOURCES,
    )
    def compute(context: AssetExecutionContext, **inputs: Any) -> Iterator[Output]:
        settings = context.resources.settings
        fitted = inputs.pop(fit_input) if fit_input else None
        frames = list(inputs.values())
        result = _run_stage(context, stage, key_column, frames, fitted, settings)
        cached = len(outs) > 1 or stage.kind is StageKind.MODEL
        if cached:
            result = result.cache()
        split = [execute.SPLIT_COLUMN] if node.partitioned else []
        try:
            for name, planned in names.items():
                metadata = (
                    _evaluation(context, stage, result) if stage.kind is StageKind.MODEL else {}
                )
                columns = [key_column, *planned.features, *split]
                # Dagster stores each output (the IO manager writes it) before resuming here.
                yield Output(result.select(*columns), output_name=name, metadata=metadata)
        finally:
            if cached:  # else every model's scored rows stay cached until the process ends
                result.unpersist()

    return compute


def _run_stage(
    context: AssetExecutionContext,
    stage: StageSpec,
    key_column: str,
    frames: list[Any],
    fitted: Any,
    settings: Any,
) -> Any:
    if stage.kind is StageKind.SOURCE:
        spark = context.resources.spark.spark_session
        return execute.read_source(stage, spark, settings.data_path())
    frame = execute.join_on_key(frames, key_column)
    if stage.kind is StageKind.SPLIT:
        assigned = execute.assign_split(frame, stage, key_column)
        return assigned.where(assigned[execute.SPLIT_COLUMN].isin(list(context.partition_keys)))
    return execute.apply(stage, key_column, frame, fitted)


def _evaluation(context: AssetExecutionContext, stage: StageSpec, scored: Any) -> dict[str, Any]:
    """Metrics of a model's predictions per partition (`train_accuracy`, `test_accuracy`)."""
    metadata = {}
    for partition in context.partition_keys:
        rows = scored.where(scored[execute.SPLIT_COLUMN] == partition)
        for name, value in execute.evaluate(stage, rows).items():
            metadata[f"{partition}_{name}"] = float(value)
    return metadata
