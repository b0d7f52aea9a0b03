"""Materialize a store's plan through Dagster's own execution APIs on the project's instance.

Two runs, as Dagit would launch them: the `train` partition with every unpartitioned asset
(sources, fits, models), then the `test` partition of the partitioned assets, which reuses the
stored fits instead of refitting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from dagster import AssetKey, DagsterInstance, Definitions, ExecuteInProcessResult

from ff_assets.config import ProjectPaths
from ff_assets.core.plan import Plan
from ff_assets.core.store import FeatureStore
from ff_assets.orchestration.definitions import StorePlan, build_definitions
from ff_assets.orchestration.jobs import materialize_job_name
from ff_assets.orchestration.keys import asset_key


@dataclass
class MaterializeReport:
    """What ran: materialized assets and each variant's test metric."""

    success: bool = True
    materialized: list[tuple[str, str, str]] = field(default_factory=list)
    metrics: list[tuple[str, str, float | str]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)


def project_instance(home: str | None = None) -> DagsterInstance:
    """The persistent Dagster instance of the project (`$DAGSTER_HOME` or `<home>/dagster`)."""
    folder = ProjectPaths.resolve(home).dagster_home
    folder.mkdir(parents=True, exist_ok=True)
    return DagsterInstance.from_config(str(folder))


def materialize_store(
    store: FeatureStore,
    outputs: Iterable[str] | None = None,
    *,
    pins: Mapping[str, str] | None = None,
    home: str | None = None,
    data_dir: str | None = None,
    instance: DagsterInstance | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> MaterializeReport:
    """Materialize everything `outputs` need, both partitions, every variant."""
    outputs = tuple(outputs or ())
    plan = store.plan(outputs or None, pins=pins)
    defs = build_definitions(
        [StorePlan(store, outputs or None, pins)], home=home, data_dir=data_dir
    )
    instance = instance or project_instance(home)
    report = MaterializeReport()
    partitioned = [asset_key(store.name, a) for a in plan.assets.values() if a.partitioned]
    for partition, selection in (("train", None), ("test", partitioned)):
        count = len(selection) if selection else len(plan.assets)
        progress(f"run: {count} assets of store {store.name}, partition {partition} ...")
        result = _run(defs, store.name, instance, partition, selection)
        report.runs.append(result.run_id)
        _collect(result, plan, partition, report)
        progress(f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
        if not result.success:
            report.success = False
            break
    return report


def _run(
    defs: Definitions,
    store: str,
    instance: DagsterInstance,
    partition: str,
    selection: list[AssetKey] | None,
) -> ExecuteInProcessResult:
    job = defs.resolve_job_def(materialize_job_name(store))
    return job.execute_in_process(
        instance=instance, partition_key=partition, asset_selection=selection, raise_on_error=False
    )


def _collect(result: ExecuteInProcessResult, plan: Plan, partition: str, report: MaterializeReport):
    by_key = {asset_key(plan.store, a): a for a in plan.assets.values()}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
        planned = by_key.get(materialization.asset_key)
        if planned is None:
            continue
        meta = {k: v.value for k, v in materialization.metadata.items()}
        where = meta.get("delta_version", meta.get("path", ""))
        report.materialized.append(
            (materialization.asset_key.to_user_string(), partition if planned.partitioned else "-",
             str(where))
        )  # fmt: skip
        if partition == "test":
            for variant in plan.variants:
                if variant.output_asset == planned.name and variant.model_node:
                    metric = plan.nodes[variant.model_node].stage.metric or "accuracy"
                    value = meta.get(f"test_{metric}", "n/a")
                    report.metrics.append((variant.name, metric, value))
