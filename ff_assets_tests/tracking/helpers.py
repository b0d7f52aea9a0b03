"""Registering model versions without Spark: a finished run with metrics and a version that
points at it (the registry never opens the artifact). Shared with the orchestration tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlflow.tracking import MlflowClient

from ff_assets.tracking.registry import ensure_experiment

Register = Callable[..., str]


def register_version(client: MlflowClient, name: str, artifacts: Path, **metrics: float) -> str:
    """Log a finished run with `metrics`, register a new version of `name` from it."""
    experiment = ensure_experiment(client, "ff_assets", artifacts)
    run = client.create_run(experiment, tags={"ff_assets.test": "yes"})
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id)
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    source = str(artifacts / run.info.run_id / "model")
    return str(client.create_model_version(name, source=source, run_id=run.info.run_id).version)
