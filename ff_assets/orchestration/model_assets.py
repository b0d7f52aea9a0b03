"""The MLflow side of the asset graph: registered models, variant comparisons, scoring.

- `<model>_registered[variant]`: composes the inference pipeline (every stage of the variant's
  traversal as one Spark `PipelineModel`), evaluates it on the raw test rows, logs params,
  metrics and the pipeline to MLflow and registers a version;
- `<output>_comparison`: the variants of one output side by side;
- `<scoring source>` and `<output>_scored_<alias>[variant]`: new rows scored by the version an
  alias (`staging`, `production`) points at, tagged with that version.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import mlflow
import mlflow.spark
import pyspark
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    Output,
    multi_asset,
)
from pyspark.ml import PipelineModel, Transformer
from pyspark.ml.feature import SQLTransformer
from pyspark.sql import functions as F

from ff_assets.core.errors import DeclarationError
from ff_assets.core.plan import AssetRole, PlannedAsset, Variant
from ff_assets.core.specs import StageKind, StageSpec
from ff_assets.orchestration.assets import RESOURCES, AssetGraph, asset_ins, asset_out
from ff_assets.orchestration.io_managers import load_fitted
from ff_assets.orchestration.keys import dagster_owner, dagster_tags, python_name
from ff_assets.spark import execute
from ff_assets.tracking.compare import compare_variants, comparison_table
from ff_assets.tracking.registry import ALIASES, registered_model_name, version_for_alias

MLFLOW_RESOURCES = {*RESOURCES, "mlflow"}


@dataclass(frozen=True)
class Scoring:
    """One variant scored with one alias: the assets a prediction job materializes."""

    variant: Variant
    alias: str
    model_name: str
    source: AssetKey
    scored: AssetKey


def _owners(owner: str) -> list[str] | None:
    chosen = dagster_owner(owner)
    return [chosen] if chosen else None


def scoring_group(graph: AssetGraph) -> str:
    """Scoring assets sit in their own group: they need an aliased model version, so the
    store's group can be materialized ("Materialize all") before any promotion."""
    return f"{graph.store.name}_scoring"


def model_name(graph: AssetGraph, variant: Variant) -> str:
    return registered_model_name(graph.store.name, variant.output, variant.slug)


def build_model_assets(graph: AssetGraph) -> tuple[list[AssetsDefinition], list[Scoring]]:
    """Registered-model and comparison assets, and the scoring assets of every variant."""
    definitions: list[AssetsDefinition] = []
    for planned in graph.plan.assets.values():
        if planned.role is AssetRole.REGISTERED:
            definitions.append(_registered_asset(graph, planned))
        elif planned.role is AssetRole.COMPARISON:
            definitions.append(_comparison_asset(graph, planned))
    scoring: list[Scoring] = []
    sources = graph.store.scoring_sources
    for source in sources.values():
        definitions.append(_scoring_source_asset(graph, source))
    for variant in graph.plan.variants:
        if variant.model_node is None or not sources:
            continue
        source = _scoring_source_for(graph, variant)
        for alias in ALIASES:
            entry = Scoring(
                variant=variant, alias=alias, model_name=model_name(graph, variant),
                source=AssetKey([graph.store.name, source.name]),
                scored=AssetKey([
                    graph.store.name, f"{variant.output}_scored_{alias}",
                    *([variant.slug] if variant.slug else []),
                ]),
            )  # fmt: skip
            scoring.append(entry)
            definitions.append(_scored_asset(graph, entry, source))
    return definitions, scoring


def _variant_of(graph: AssetGraph, planned: PlannedAsset) -> Variant:
    return next(v for v in graph.plan.variants if v.registered_asset == planned.name)


def _pipeline_stages(graph: AssetGraph, model_node: str, fitted_root: str) -> list[Transformer]:
    """Every stage between the raw rows and the model, fitted ones loaded from storage."""
    stages: list[Transformer] = []
    for key in graph.plan.upstream_nodes(model_node)[:-1]:
        node = graph.plan.nodes[key]
        if node.stage.kind in (StageKind.SOURCE, StageKind.SPLIT):
            continue
        if node.stage.is_estimator:
            stages.append(load_fitted(fitted_root, graph.keys[key].path))
            continue
        runtime = execute.build(node.stage)
        if not isinstance(runtime, Transformer):
            raise DeclarationError(
                f"stage {node.stage.name!r} is a Python function, so it cannot be part of the "
                "registered inference pipeline (a Spark PipelineModel): declare it as a Spark ML "
                "Transformer to register models that use it."
            )
        stages.append(runtime)
    return stages


def _pyfunc_prediction(output: str) -> list[Transformer]:
    """MLflow's pyfunc wrapper of a Spark model returns the column `prediction`: copy the
    output feature there, so the registered model serves through pyfunc too."""
    if output == "prediction":
        return []
    return [SQLTransformer(statement=f"SELECT *, `{output}` AS prediction FROM __THIS__")]


def _params(graph: AssetGraph, variant: Variant) -> dict[str, str]:
    params = {}
    for key in variant.nodes:
        stage = graph.plan.nodes[key].stage
        params.update({f"{stage.name}.{name}": value for name, value in stage.params})
    return params


def _registered_asset(graph: AssetGraph, planned: PlannedAsset) -> AssetsDefinition:
    variant = _variant_of(graph, planned)
    node = graph.plan.nodes[planned.node]
    stage, key_column = node.stage, node.entity_key
    out_name = python_name(graph.keys[planned.name])
    model_input = python_name(graph.keys[node.key])
    name = model_name(graph, variant)
    out = asset_out(graph, node, planned, "delta_io_manager")
    out = AssetOut(
        key=out.key, description=f"{stage.name} of {variant.name}: evaluated on test rows and "
        f"registered in MLflow as {name!r}.", group_name=out.group_name, metadata={
            **(out.metadata or {}), "registered_model": name, "variant": variant.name,
        }, tags=out.tags, owners=out.owners, kinds={"spark", "mlflow"},
    )  # fmt: skip

    @multi_asset(
        name=out_name,
        outs={out_name: out},
        ins=asset_ins(graph, planned),
        required_resource_keys=MLFLOW_RESOURCES,
    )
    def register(context: AssetExecutionContext, **inputs: Any) -> Iterator[MaterializeResult]:
        settings = context.resources.settings
        model = inputs.pop(model_input)
        rows = execute.join_on_key(list(inputs.values()), key_column).drop(execute.SPLIT_COLUMN)
        stages = _pipeline_stages(graph, node.key, str(settings.paths.fitted))
        pipeline = PipelineModel(stages=[*stages, model, *_pyfunc_prediction(variant.output)])
        scored = pipeline.transform(rows).cache()
        metrics = {f"test_{k}": v for k, v in execute.evaluate(stage, scored).items()}
        scored.unpersist()
        context.resources.mlflow  # noqa: B018 - opens this Dagster run's MLflow run
        # dagster-mlflow sets the tracking URI only; `log_model` registers through MLflow's
        # process-wide registry URI, which an earlier run here (or an inherited
        # MLFLOW_REGISTRY_URI) may have pointed at another store.
        mlflow.set_registry_uri(settings.tracking_uri())
        tags = {
            "dagster_run_id": context.run_id, "ff_assets.store": graph.store.name,
            "ff_assets.output": variant.output, "ff_assets.variant": variant.name,
            "ff_assets.asset": graph.keys[planned.name].to_user_string(),
        }  # fmt: skip
        with mlflow.start_run(run_name=variant.name, nested=True, tags=tags) as run:
            mlflow.log_params(_params(graph, variant))
            mlflow.log_metrics(metrics)
            mlflow.log_dict({"stages": list(variant.nodes)}, "lineage.json")
            info = mlflow.spark.log_model(
                pipeline,
                artifact_path="inference_pipeline",
                registered_model_name=name,
                # Stated, not inferred: inference starts a Python subprocess per model.
                pip_requirements=[f"pyspark=={pyspark.__version__}"],
            )
        version = str(info.registered_model_version)
        client = settings.mlflow_client()
        client.set_model_version_tag(name, version, "dagster_run_id", context.run_id)
        client.set_model_version_tag(name, version, "variant", variant.name)
        metric = stage.metric or "accuracy"
        yield MaterializeResult(
            asset_key=graph.keys[planned.name],
            metadata={
                "registered_model": name,
                "model_version": version,
                "model_uri": f"models:/{name}/{version}",
                "mlflow_run_id": run.info.run_id,
                "tracking_uri": settings.tracking_uri(),
                "stages_in_pipeline": MetadataValue.json([type(s).__name__ for s in stages]),
                **metrics,
                "meets_production_threshold": stage.threshold.holds(metrics[f"test_{metric}"])
                if stage.threshold and f"test_{metric}" in metrics
                else "no threshold",
            },
        )

    return register


def _comparison_asset(graph: AssetGraph, planned: PlannedAsset) -> AssetsDefinition:
    output = planned.base.removesuffix("_comparison")
    variants = graph.plan.variants_of(output)
    model_stage = graph.plan.nodes[variants[0].model_node or ""].stage
    metric = model_stage.metric or "accuracy"
    out_name = python_name(graph.keys[planned.name])
    out = AssetOut(
        key=graph.keys[planned.name],
        description=f"The variants of {output} side by side: test {metric}, versions, aliases.",
        group_name=graph.store.name,
        kinds={"mlflow"},
        owners=_owners(graph.store.owner),
        tags=dagster_tags(graph.store.tags),
        metadata={"output": output, "variants": MetadataValue.json([v.name for v in variants])},
    )
    deps = [graph.keys[d.asset] for d in planned.deps]

    @multi_asset(
        name=out_name,
        outs={out_name: out},
        deps=deps,
        required_resource_keys={"settings"},
    )
    def compare(context: AssetExecutionContext) -> Iterator[MaterializeResult]:
        client = context.resources.settings.mlflow_client()
        rows = compare_variants(client, [(v.name, model_name(graph, v)) for v in variants])
        headers, body = comparison_table(rows, metric)
        best = max(
            (r for r in rows if isinstance(r.metrics.get(metric), float)),
            key=lambda r: r.metrics[metric],
            default=None,
        )
        yield MaterializeResult(
            asset_key=graph.keys[planned.name],
            metadata={
                "comparison": MetadataValue.md(_markdown(headers, body)),
                "best_variant": best.variant if best else "none registered",
                "rows": MetadataValue.json(
                    [dict(zip(headers, map(str, r), strict=True)) for r in body]
                ),
            },
        )

    return compare


def _markdown(headers: list[str], body: list[list]) -> str:
    rule = "|" + "|".join("---" for _ in headers) + "|"
    cells = ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in body]
    return "\n".join(["| " + " | ".join(headers) + " |", rule, *cells])


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _scoring_source_for(graph: AssetGraph, variant: Variant) -> StageSpec:
    needed = set(graph.plan.raw_features(variant))
    for source in graph.store.scoring_sources.values():
        if needed <= set(source.outputs):
            return source
    raise DeclarationError(
        f"no scoring source of store {graph.store.name!r} provides every raw input of "
        f"{variant.name} ({', '.join(sorted(needed))}): add them to a scoring source's outputs."
    )


def _scoring_source_asset(graph: AssetGraph, source: StageSpec) -> AssetsDefinition:
    key = AssetKey([graph.store.name, source.name])
    out_name = python_name(key)

    @multi_asset(
        name=out_name,
        outs={
            out_name: AssetOut(
                key=key, description=source.description or f"rows to score: {source.name}",
                io_manager_key="delta_io_manager", group_name=scoring_group(graph),
                kinds={"spark", "delta"}, metadata={"entity_key": source.entity_key or ""},
                owners=_owners(source.owner or graph.store.owner),
                tags={**dagster_tags(graph.store.tags), **dagster_tags(source.tags)},
            )
        },
        required_resource_keys=RESOURCES,
    )  # fmt: skip
    def read(context: AssetExecutionContext) -> Iterator[Output]:
        spark = context.resources.spark.spark_session
        rows = execute.read_source(source, spark, context.resources.settings.data_path())
        yield Output(rows, output_name=out_name)

    return read


def _scored_asset(graph: AssetGraph, entry: Scoring, source: StageSpec) -> AssetsDefinition:
    model_stage = graph.plan.nodes[entry.variant.model_node or ""].stage
    prediction = entry.variant.output
    key_column = source.entity_key or ""
    out_name = python_name(entry.scored)
    source_input = python_name(entry.source)

    @multi_asset(
        name=out_name,
        outs={
            out_name: AssetOut(
                key=entry.scored,
                description=f"{source.name} scored by the {entry.alias} version of "
                f"{entry.model_name}; `model_version` says which version scored each row.",
                io_manager_key="delta_io_manager", group_name=scoring_group(graph),
                kinds={"spark", "delta", "mlflow"},
                owners=_owners(model_stage.owner or graph.store.owner),
                tags=dagster_tags(graph.store.tags),
                metadata={
                    "registered_model": entry.model_name, "alias": entry.alias,
                    "entity_key": key_column,
                },
            )
        },
        ins={source_input: AssetIn(key=entry.source)},
        required_resource_keys=RESOURCES,
    )  # fmt: skip
    def score(context: AssetExecutionContext, **inputs: Any) -> Iterator[Output]:
        settings = context.resources.settings
        client = settings.mlflow_client()
        version = version_for_alias(client, entry.model_name, entry.alias)
        mlflow.set_tracking_uri(settings.tracking_uri())
        mlflow.set_registry_uri(settings.tracking_uri())
        pipeline = mlflow.spark.load_model(f"models:/{entry.model_name}/{version.version}")
        rows = inputs[source_input]
        scored = pipeline.transform(rows).select(
            key_column,
            prediction,
            F.lit(str(version.version)).alias("model_version"),
            F.lit(entry.alias).alias("model_alias"),
        )
        yield Output(
            scored,
            output_name=out_name,
            metadata={
                "registered_model": entry.model_name,
                "model_version": str(version.version),
                "alias": entry.alias,
                "label": model_stage.label or "",
            },
        )

    return score
