"""Materialize a store's plan through Dagster's own execution APIs on the project's instance.

One run of the store's materialize job over both partitions (a partition range, as Dagit's
single-run backfill launches it): featurize all rows once, fit on train, evaluate on test,
register in MLflow. The run shows in Dagit.
"""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult

from ff_assets.config import ProjectPaths
from ff_assets.core.plan import AssetRole, Plan
from ff_assets.core.store import FeatureStore
from ff_assets.orchestration.assets import EVERY_PARTITION
from ff_assets.orchestration.definitions import StorePlan, build_definitions
from ff_assets.orchestration.jobs import materialize_job_name
from ff_assets.orchestration.keys import asset_key
from ff_assets.orchestration.progress import (
    EventFeed,
    RunProgress,
    console_logging,
    kind_label,
    root_cause,
    user_error,
)

INSTANCE_LOCK = ".ff_assets_instance.lock"


@dataclass(frozen=True)
class VariantMetric:
    """A registered variant's metric on the partition that chooses it and on test."""

    variant: str
    metric: str
    selects_on: str
    value: float | str  # on `selects_on`; "n/a" when not logged
    test_value: float | str
    model_version: str

    def row(self) -> tuple[str, str, str, float | str, float | str, str]:
        return (self.variant, self.metric, self.selects_on, self.value, self.test_value,
                self.model_version)  # fmt: skip


@dataclass
class MaterializeReport:
    """What ran: materialized assets and each variant's metric, on the rows that choose and
    on test."""

    success: bool = True
    materialized: list[tuple[str, str, str]] = field(default_factory=list)
    metrics: list[VariantMetric] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # per failed step: its summary
    errors: list[str] = field(default_factory=list)  # per failed step: its root cause
    not_stored: list[str] = field(default_factory=list)  # planned assets the run did not store


def project_instance(home: str | None = None) -> DagsterInstance:
    """The persistent Dagster instance of the project (`$DAGSTER_HOME` or `<home>/dagster`).

    Opened under a lock file in that folder: two processes creating a new SQLite instance at
    once both stamp its schema, which leaves two alembic heads in `runs.db`, and no process can
    open the instance afterwards (found by the concurrent-runs test)."""
    folder = ProjectPaths.resolve(home).dagster_home
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / INSTANCE_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        return DagsterInstance.from_config(str(folder))


def materialize_store(
    store: FeatureStore,
    outputs: Iterable[str] | None = None,
    *,
    pins: Mapping[str, str] | None = None,
    home: str | None = None,
    storage: str | None = None,
    data_dir: str | None = None,
    instance: DagsterInstance | None = None,
    tracking_uri: str | None = None,
    progress: Callable[[str], None] | None = None,
    verbose: bool = False,
    statistics: bool = True,
) -> MaterializeReport:
    """Materialize everything `outputs` need, both partitions, every variant.

    `progress` receives a line per asset as the run stores it (read from Dagster's event log
    while the run goes) and a summary at the end; Dagster's own console stream of events is
    printed only when `verbose`. `statistics=False` skips the feature statistics.
    """
    entry = StorePlan(store, tuple(outputs or ()) or None, pins)
    plan = entry.plan
    defs = build_definitions(
        [entry], home=home, storage=storage, data_dir=data_dir, mlflow_tracking_uri=tracking_uri,
        feature_statistics=statistics,
    )  # fmt: skip
    instance = instance or project_instance(home)
    report = MaterializeReport()
    job_name = materialize_job_name(store.name)
    run_config = console_logging(verbose)
    if progress is None:
        result = run_job(defs, job_name, instance, run_config=run_config)
    else:
        run_id = str(uuid.uuid4())
        labels = {asset_key(plan.store, a): kind_label(a) for a in plan.assets.values()}
        shown = RunProgress(labels, progress)
        every = " and ".join(plan.partitions)
        progress(f"materializing {len(labels)} assets of store {store.name} ({every})")
        with EventFeed(instance, run_id, shown):
            result = run_job(defs, job_name, instance, run_config=run_config, run_id=run_id)
        progress(shown.summary(success=result.success, run_id=run_id))
    report.runs.append(result.run_id)
    report.success = result.success
    _collect(result, plan, report)
    failures = result.get_step_failure_events()
    report.failures = [f"{e.step_key}: {user_error(e.step_failure_data.error)}" for e in failures]
    report.errors = list(dict.fromkeys(root_cause(e.step_failure_data.error) for e in failures))
    return report


def run_job(
    defs: Definitions,
    job_name: str,
    instance: DagsterInstance,
    *,
    both_partitions: bool = True,
    run_config: Mapping | None = None,
    run_id: str | None = None,
) -> ExecuteInProcessResult:
    """Run a job of `defs` in this process on `instance`. The `mlflow` resource ends the
    Dagster run's MLflow run itself when the run's execution ends."""
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        instance=instance,
        tags=EVERY_PARTITION if both_partitions and job.partitions_def else None,
        run_config=run_config,
        run_id=run_id,
        raise_on_error=False,
    )
    return result


def _collect(result: ExecuteInProcessResult, plan: Plan, report: MaterializeReport) -> None:
    by_key = {asset_key(plan.store, a): a for a in plan.assets.values()}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
        planned = by_key.pop(materialization.asset_key, None)  # one row per asset
        if planned is None:
            continue
        meta = {k: v.value for k, v in materialization.metadata.items()}
        where = meta.get("delta_version", meta.get("model_version", meta.get("path", "")))
        partitions = str(meta.get("partitions", "-"))
        report.materialized.append(
            (materialization.asset_key.to_user_string(), partitions, str(where))
        )
        if planned.role is AssetRole.REGISTERED:  # a variant's model, evaluated
            variant = plan.registering(planned.name)
            metric = plan.nodes[planned.node].stage.metric or "accuracy"  # the model's node
            chooses = plan.selects_on(variant)
            report.metrics.append(
                VariantMetric(
                    variant.name,
                    metric,
                    chooses,
                    meta.get(f"{chooses}_{metric}", "n/a"),
                    meta.get(f"test_{metric}", "n/a"),
                    str(meta.get("model_version")),
                )  # fmt: skip
            )
    report.not_stored = [key.to_user_string() for key in by_key]
