"""MLflow tracking in Dagster runs: dagster-mlflow's `mlflow_tracking`, wrapped.

Why a wrapper: dagster-mlflow's resource calls `mlflow.set_experiment`, which creates a new
experiment with its artifacts under the current folder, not under the project; it gives a bad
tracking URI no advice; and its end-of-run hook (`end_mlflow_on_run_finished`) ends the MLflow
run after the last op of an *op* job in topological order, which an asset job subset may never
run, so the run would stay RUNNING. The wrapper checks the URI and creates the experiment where
the project keeps artifacts, then hands over to dagster-mlflow (one MLflow run per Dagster run,
tagged with the Dagster run id); runs are ended by `end_mlflow_run` (a run-status sensor, and
the CLI after in-process runs).
"""

from pathlib import Path

import mlflow
from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    Field,
    InitResourceContext,
    ResourceDefinition,
    RunStatusSensorContext,
    resource,
    run_status_sensor,
)
from dagster_mlflow import mlflow_tracking
from dagster_mlflow.resources import CONFIG_SCHEMA
from mlflow.exceptions import MlflowException

from ff_assets.tracking.registry import end_runs_of_dagster_run, ensure_experiment, tracking_client

DEFAULT_EXPERIMENT = "ff_assets"


@resource(
    config_schema={
        **CONFIG_SCHEMA,
        "artifact_root": Field(
            str, is_required=False, description="Where new experiments keep artifacts."
        ),
    },
    description="dagster-mlflow tracking, with the experiment created under the project.",
)
def ff_mlflow_tracking(context: InitResourceContext):
    """dagster-mlflow's MlFlow object for this Dagster run (see the module docstring)."""
    config = context.resource_config
    _end_stale_runs(context.run.run_id if context.run else None)
    client = tracking_client(config["mlflow_tracking_uri"])
    root = config.get("artifact_root")
    ensure_experiment(client, config["experiment_name"], Path(root) if root else None)
    return mlflow_tracking.resource_fn(context)


def _end_stale_runs(dagster_run_id: str | None) -> None:
    """End what an earlier Dagster run in this process left active: dagster-mlflow leaves its
    run active, and would otherwise reuse it (in another store) for this Dagster run."""
    for _ in range(10):  # MLflow's stack of active runs is short; never loop forever
        active = mlflow.active_run()
        if active is None or active.data.tags.get("dagster_run_id") == dagster_run_id:
            return
        try:
            mlflow.end_run()
        except MlflowException:
            return  # its store is gone: dagster-mlflow reports what it finds


def mlflow_resource(
    *, tracking_uri: str, experiment: str, artifact_root: Path
) -> ResourceDefinition:
    """The `mlflow` resource of a code location."""
    return ff_mlflow_tracking.configured(
        {
            "experiment_name": experiment,
            "mlflow_tracking_uri": tracking_uri,
            "artifact_root": str(artifact_root),
        }
    )


def end_mlflow_run_sensors(tracking_uri: str, experiment: str):
    """Sensors that end the MLflow run of every finished Dagster run (on by default: they
    only tidy up what dagster-mlflow leaves open)."""

    def make(status: DagsterRunStatus, ok: bool):
        @run_status_sensor(
            run_status=status,
            name=f"end_mlflow_run_on_{status.value.lower()}",
            default_status=DefaultSensorStatus.RUNNING,
            description="End the MLflow run dagster-mlflow opened for this Dagster run.",
        )
        def end_mlflow_run(context: RunStatusSensorContext) -> None:
            client = tracking_client(tracking_uri)
            end_runs_of_dagster_run(client, experiment, context.dagster_run.run_id, ok)

        return end_mlflow_run

    return [make(DagsterRunStatus.SUCCESS, True), make(DagsterRunStatus.FAILURE, False)]
