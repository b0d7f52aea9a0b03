"""Blocking asset checks: re-verify at run time what the plan promised.

- every split: no entity key is in both `train` and `test`;
- every fit: the keys it saw are all train keys of every split upstream of it;
- every table: its columns and declared types match the declarations.
A failed check stops downstream assets in the run; stored tables keep their last good version.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)
from pyspark.sql import functions as F

from ff_assets.core.plan import AssetRole, PlannedAsset
from ff_assets.core.specs import StageKind
from ff_assets.orchestration.assets import RESOURCES, AssetGraph
from ff_assets.spark.execute import SPLIT_COLUMN, assign_split, join_on_key
from ff_assets.spark.tables import read_table, schema_problems

_SAMPLE = 5


def build_checks(graph: AssetGraph) -> list[AssetChecksDefinition]:
    """The blocking checks of every asset in the plan."""
    checks: list[AssetChecksDefinition] = []
    for planned in graph.plan.assets.values():
        if planned.role is AssetRole.SPLIT:
            checks.append(_disjoint_check(graph, planned))
        if planned.role in (AssetRole.FITTED, AssetRole.MODEL):
            checks.append(_fit_rows_check(graph, planned))
        elif planned.role in (AssetRole.SOURCE, AssetRole.SPLIT, AssetRole.FEATURES):
            checks.append(_schema_check(graph, planned))
    return checks


def _blocking(graph: AssetGraph, planned: PlannedAsset, name: str, description: str):
    """A blocking check on a planned asset: a failure stops everything downstream of it."""
    return asset_check(
        asset=graph.keys[planned.name], name=name, description=description, blocking=True,
        required_resource_keys=RESOURCES,
    )  # fmt: skip


def _table(context: AssetCheckExecutionContext, graph: AssetGraph, planned: PlannedAsset):
    spark = context.resources.spark.spark_session
    root = context.resources.settings.paths.tables
    return read_table(spark, root.joinpath(*graph.keys[planned.name].path))


def _disjoint_check(graph: AssetGraph, planned: PlannedAsset) -> AssetChecksDefinition:
    node = graph.plan.nodes[planned.node]

    @_blocking(
        graph,
        planned,
        "train_test_disjoint",
        "No entity key is in both the train and the test partition.",
    )
    def disjoint(context: AssetCheckExecutionContext) -> AssetCheckResult:
        table = _table(context, graph, planned)
        # The table holds only the partitions materialized so far (a first run of `train`
        # alone stores no test rows): check the rule's assignment of every row too, so an
        # overlap stops the fits of this very run.
        keyed = [node.entity_key, SPLIT_COLUMN]
        both = (
            table.select(*keyed)
            .unionByName(_assignment(context, graph, planned).select(*keyed))
            .groupBy(node.entity_key)
            .agg(F.countDistinct(SPLIT_COLUMN).alias("partitions"))
            .where("partitions > 1")
        )
        overlap = both.count()
        # The sample only names keys in a failure: no second pass over the rows when none.
        sample = [r[node.entity_key] for r in both.limit(_SAMPLE).collect()] if overlap else []
        sizes = {r[SPLIT_COLUMN]: r["count"] for r in table.groupBy(SPLIT_COLUMN).count().collect()}
        return AssetCheckResult(
            passed=overlap == 0,
            severity=AssetCheckSeverity.ERROR,
            description=None
            if overlap == 0
            else f"{overlap} keys are in both train and test (e.g. {sample}): the split rule "
            "must give each key one partition; fix it and re-materialize both partitions.",
            metadata={"keys_in_both": overlap, "rows_per_partition": MetadataValue.json(sizes)},
        )

    return disjoint


def _assignment(context: AssetCheckExecutionContext, graph: AssetGraph, planned: PlannedAsset):
    """The split rule applied now to every row of the split's inputs."""
    node = graph.plan.nodes[planned.node]
    frames = [_table(context, graph, graph.plan.assets[dep.asset]) for dep in planned.deps]
    frames = [f.drop(SPLIT_COLUMN) for f in frames]
    return assign_split(join_on_key(frames, node.entity_key), node.stage, node.entity_key)


def _splits_upstream(graph: AssetGraph, planned: PlannedAsset) -> list[PlannedAsset]:
    nodes = graph.plan.upstream_nodes(planned.node)
    return [
        graph.plan.assets[k] for k in nodes if graph.plan.nodes[k].stage.kind is StageKind.SPLIT
    ]


def _fit_rows_check(graph: AssetGraph, planned: PlannedAsset) -> AssetChecksDefinition:
    node = graph.plan.nodes[planned.node]
    splits = _splits_upstream(graph, planned)
    key_path = graph.keys[planned.name].path
    train_only = node.fit_rows is not None and node.fit_rows.value == "train"

    @_blocking(
        graph,
        planned,
        "fit_rows_are_train",
        "Every row this fit saw is a train row of each split upstream of it.",
    )
    def fit_rows(context: AssetCheckExecutionContext) -> AssetCheckResult:
        spark = context.resources.spark.spark_session
        seen = read_table(spark, context.resources.settings.fit_keys_path(key_path))
        leaked = 0
        sample: list[str] = []
        for split in splits:
            test = _table(context, graph, split).where(F.col(SPLIT_COLUMN) == "test")
            hits = seen.join(test.select(node.entity_key), on=node.entity_key, how="inner")
            found = hits.count()
            leaked += found
            if found:  # the sample only names keys in a failure: no second join when none
                sample += [r[node.entity_key] for r in hits.limit(_SAMPLE).collect()]
        passed = leaked == 0 or not train_only
        return AssetCheckResult(
            passed=passed,
            severity=AssetCheckSeverity.ERROR,
            description=None
            if passed
            else f"the fit saw {leaked} test rows (e.g. {sample[:_SAMPLE]}): it must read only "
            "the train partition of its inputs.",
            metadata={
                "rows_fitted": seen.count(),
                "test_rows_fitted": leaked,
                "declared_fit_rows": node.fit_rows.value if node.fit_rows else "n/a",
            },
        )

    return fit_rows


def _schema_check(graph: AssetGraph, planned: PlannedAsset) -> AssetChecksDefinition:
    node = graph.plan.nodes[planned.node]
    declared = graph.store.features
    types = {f: declared[f].dtype for f in planned.features if f in declared and declared[f].dtype}

    @_blocking(
        graph,
        planned,
        "schema_matches_declaration",
        "The table holds the entity key and the declared features, of declared types.",
    )
    def schema(context: AssetCheckExecutionContext) -> AssetCheckResult:
        fields = {f.name: f.dataType.simpleString() for f in _table(context, graph, planned).schema}
        problems = schema_problems(
            fields, node.entity_key, planned.features, types, extra_allowed=False
        )
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.ERROR,
            description="; ".join(problems) or None,
            metadata={"columns": MetadataValue.json(fields)},
        )

    return schema
