"""Prediction assets: new rows scored by the version an alias points at.

- `<scoring source>`: the rows to score (a Delta table);
- `<output>_scored_<alias>__<variant>`: those rows scored by the version `staging` or
  `production` points at, tagged with that version.
They sit in the `<store>_scoring` group, so a store's own group can be materialized before any
promotion.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    Output,
    multi_asset,
)
from pyspark.sql import functions as F

from ff_assets.core.errors import DeclarationError
from ff_assets.core.plan import Variant
from ff_assets.core.specs import StageSpec
from ff_assets.orchestration.assets import RESOURCES, AssetGraph
from ff_assets.orchestration.keys import dagster_owner, dagster_tags, python_name
from ff_assets.orchestration.registration import registered_model
from ff_assets.orchestration.retries import describe, retried_if_transient, retry_policy
from ff_assets.spark import execute
from ff_assets.tracking.registry import ALIASES, version_for_alias
from ff_assets.tracking.runs import load_spark_model


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
    return f"{graph.store}_scoring"


def model_name(graph: AssetGraph, variant: Variant) -> str:
    return registered_model(graph.plan, variant)


def build_scoring_assets(graph: AssetGraph) -> tuple[list[AssetsDefinition], list[Scoring]]:
    """The scoring source assets and, per variant and alias, its scored assets."""
    definitions: list[AssetsDefinition] = []
    scoring: list[Scoring] = []
    sources = graph.plan.scoring_sources
    for source in sources.values():
        definitions.append(_scoring_source_asset(graph, source))
    for variant in graph.plan.variants:
        if variant.model_node is None or not sources:
            continue
        source = _scoring_source_for(graph, variant)
        for alias in ALIASES:
            entry = Scoring(
                variant=variant, alias=alias, model_name=model_name(graph, variant),
                source=AssetKey([graph.store, source.name]),
                scored=AssetKey([
                    graph.store, variant.variant_id.segment(f"{variant.output}_scored_{alias}")
                ]),
            )  # fmt: skip
            scoring.append(entry)
            definitions.append(_scored_asset(graph, entry, source))
    return definitions, scoring


def _scoring_source_for(graph: AssetGraph, variant: Variant) -> StageSpec:
    needed = set(graph.plan.raw_features(variant))
    for source in graph.plan.scoring_sources.values():
        if needed <= set(source.outputs):
            return source
    raise DeclarationError(
        f"no scoring source of store {graph.store!r} provides every raw input of "
        f"{variant.name} ({', '.join(sorted(needed))}): add them to a scoring source's outputs."
    )


def _scoring_source_asset(graph: AssetGraph, source: StageSpec) -> AssetsDefinition:
    key = AssetKey([graph.store, source.name])
    out_name = python_name(key)

    @multi_asset(
        name=out_name,
        outs={
            out_name: AssetOut(
                key=key, description=source.description or f"rows to score: {source.name}",
                io_manager_key="delta_io_manager", group_name=scoring_group(graph),
                kinds={"spark", "delta"}, metadata={"entity_key": source.entity_key or ""},
                owners=_owners(source.owner or graph.plan.owner),
                tags={**dagster_tags(graph.plan.tags), **dagster_tags(source.tags)},
            )
        },
        required_resource_keys=RESOURCES,
        retry_policy=retry_policy(graph.plan.retries),
        description=f"Read {source.name}; {describe(graph.plan.retries)}.",
    )  # fmt: skip
    def read(context: AssetExecutionContext) -> Iterator[Output]:
        with retried_if_transient():
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
                owners=_owners(model_stage.owner or graph.plan.owner),
                tags=dagster_tags(graph.plan.tags),
                metadata={
                    "registered_model": entry.model_name, "alias": entry.alias,
                    "entity_key": key_column,
                },
            )
        },
        ins={source_input: AssetIn(key=entry.source)},
        required_resource_keys=RESOURCES,
        retry_policy=retry_policy(graph.plan.retries),
        description=f"Score with the {entry.alias} version of {entry.model_name}; "
        f"{describe(graph.plan.retries)}.",
    )  # fmt: skip
    def score(context: AssetExecutionContext, **inputs: Any) -> Iterator[Output]:
        with retried_if_transient():
            store = context.resources.settings.tracking_store()
            version = version_for_alias(store.client(), entry.model_name, entry.alias)
            pipeline = load_spark_model(store, entry.model_name, str(version.version))
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
