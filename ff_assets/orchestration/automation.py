"""Automation, all off by default (Dagster's convention for schedules and sensors):
- a weekly schedule that refits a store (both partitions in one run);
- a sensor that starts a prediction job when an alias moves to a new model version;
- a sensor that refreshes a store when the data files its sources read change.
"""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster import (
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from ff_assets.core.specs import StageKind
from ff_assets.orchestration.assets import EVERY_PARTITION, AssetGraph
from ff_assets.orchestration.jobs import materialize_job_name, variant_job_name
from ff_assets.orchestration.model_assets import Scoring
from ff_assets.tracking.registry import aliases_of

REFIT_CRON = "0 3 * * 1"  # Monday 03:00
SENSOR_INTERVAL_SECONDS = 60  # the least time between two evaluations of a sensor


def refit_schedule(graph: AssetGraph, cron: str = REFIT_CRON):
    """Refit everything of a store on `cron` (every week, Monday 03:00, by default)."""
    store = graph.store

    @schedule(
        name=f"{store}__weekly_refit",
        cron_schedule=cron,
        job_name=materialize_job_name(store),
        description=f"Refit store {store!r}: featurize, fit, evaluate and register.",
    )
    def weekly_refit(context: ScheduleEvaluationContext) -> RunRequest:
        stamp = (
            context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else ""
        )
        return RunRequest(run_key=f"refit-{stamp}", tags=EVERY_PARTITION)

    return weekly_refit


def alias_sensor(
    graph: AssetGraph,
    scoring: Sequence[Scoring],
    job_defs: Mapping[str, Any],
    interval_seconds: int = SENSOR_INTERVAL_SECONDS,
):
    """Start `predict_<alias>` of a variant when its alias points at a new version (evaluated
    no more often than every `interval_seconds`)."""
    store = graph.store
    jobs = {
        (e.model_name, e.alias): variant_job_name(store, e.variant, f"predict_{e.alias}")
        for e in scoring
    }

    @sensor(
        name=f"{store}__model_alias_changed",
        jobs=[job_defs[name] for name in sorted(set(jobs.values()))],
        minimum_interval_seconds=interval_seconds,
        required_resource_keys={"settings"},
        description="Score new rows when staging or production moves to another version.",
    )
    def model_alias_changed(context: SensorEvaluationContext):
        client = context.resources.settings.mlflow_client()
        cursor = json.loads(context.cursor) if context.cursor else {}
        seen: dict[str, str] = cursor.get("aliases", {})
        # How often each alias has moved to each version: a rollback (staging 1 -> 2 -> 1)
        # gets a new run key, or Dagster would skip it as already requested.
        moves: dict[str, int] = cursor.get("moves", {})
        now: dict[str, str] = {}
        requests = []
        for (name, alias), job_name in sorted(jobs.items()):
            version = aliases_of(client, name).get(alias)
            if version is None:
                continue
            now[f"{name}@{alias}"] = version
            if seen.get(f"{name}@{alias}") != version:
                key = f"{name}@{alias}={version}"
                moves[key] = moves.get(key, 0) + 1
                requests.append(
                    RunRequest(
                        run_key=key if moves[key] == 1 else f"{key}#{moves[key]}",
                        job_name=job_name,
                        tags={
                            "ff_assets/model": name,
                            "ff_assets/alias": alias,
                            "ff_assets/model_version": version,
                        },
                    )  # fmt: skip
                )
        state = json.dumps({"aliases": now, "moves": moves}, sort_keys=True)
        if not requests:
            return SensorResult(skip_reason=SkipReason("no alias moved"), cursor=state)
        return SensorResult(run_requests=requests, cursor=state)

    return model_alias_changed


def source_change_sensor(graph: AssetGraph, interval_seconds: int = SENSOR_INTERVAL_SECONDS):
    """Refresh a store when a data file its sources declare (`data_files`) changes (evaluated
    no more often than every `interval_seconds`)."""
    store = graph.store
    files = sorted(
        {
            f
            for n in graph.plan.nodes.values()
            if n.stage.kind is StageKind.SOURCE
            for f in n.stage.data_files
        }
    )

    @sensor(
        name=f"{store}__source_data_changed",
        job_name=materialize_job_name(store),
        minimum_interval_seconds=interval_seconds,
        required_resource_keys={"settings"},
        description=f"Refresh store {store!r} when its data files change: {', '.join(files)}.",
    )
    def source_data_changed(context: SensorEvaluationContext):
        root = context.resources.settings.data_path()
        stamp = json.dumps({f: _fingerprint(root / f) for f in files}, sort_keys=True)
        if context.cursor == stamp:
            return SensorResult(skip_reason=SkipReason("source data unchanged"), cursor=stamp)
        if context.cursor is None:
            # First look: remember the files; a store is materialized on purpose the first time.
            return SensorResult(skip_reason=SkipReason("first look at the data"), cursor=stamp)
        return SensorResult(
            run_requests=[RunRequest(run_key=stamp, tags=EVERY_PARTITION)], cursor=stamp
        )

    return source_data_changed


def _fingerprint(path: Path) -> str:
    if not path.exists():
        return "missing"
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"
