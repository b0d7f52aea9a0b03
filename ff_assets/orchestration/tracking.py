"""The `mlflow` resource: one MLflow run per Dagster run, started by dagster-mlflow and ended
by this resource, in a `finally`, when the Dagster run's execution ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import (
    ConfigurableResource,
    DagsterEventType,
    InitResourceContext,
    build_resources,
)
from dagster_mlflow import mlflow_tracking
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pydantic import PrivateAttr

from ff_assets.config import redact, redact_uri
from ff_assets.core.errors import TrackingError
from ff_assets.orchestration.resources import FFAssetsSettings
from ff_assets.tracking.runs import TrackingStore, active_run_id, end_run, fluent_store


class MlflowRunResource(ConfigurableResource):
    """The MLflow run of this Dagster run, in the store the settings name.

    Why one typed resource around dagster-mlflow: users expect dagster-mlflow's one MLflow run
    per Dagster run (tagged `dagster_run_id`, named after the job), but its `mlflow_tracking`
    is a legacy function resource that cannot take the typed settings as a dependency, creates
    the experiment with artifacts under the current folder (`mlflow.set_experiment`), gives a
    bad URI no advice, points MLflow's process-wide URIs at its store and leaves them there,
    and leaves its run RUNNING in asset jobs (its end hook fires after the last op of an op job
    in topological order, which an asset subset may never run). Here the store is checked and
    the experiment created under the project first; dagster-mlflow then starts (or, in another
    process of the same Dagster run, resumes) the run inside `fluent_store`; and this resource
    ends the run when execution ends: FAILED when a step failed, KILLED when interrupted.
    With the in-process executor that is once, after the last step; with a multiprocess
    executor each step's process resumes the run and ends it when its step is done.
    """

    settings: FFAssetsSettings
    _run_id: str | None = PrivateAttr(default=None)

    @property
    def store(self) -> TrackingStore:
        return self.settings.tracking_store()

    def client(self) -> MlflowClient:
        """A client for this resource's store (the run's store)."""
        return self.store.client()

    @property
    def run_id(self) -> str:
        """The id of this Dagster run's MLflow run."""
        if self._run_id is None:
            raise TrackingError(
                "the mlflow resource has no MLflow run: it is opened only while a Dagster run "
                "executes (require the `mlflow` resource in the asset or op that logs)."
            )
        return self._run_id

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator[MlflowRunResource]:
        store = self.store
        store.experiment_id(store.client())  # checked, created under the project when new
        with fluent_store(store.uri):
            if (active := active_run_id()) is not None:
                raise TrackingError(
                    f"MLflow run {active} is already active in this thread: dagster-mlflow "
                    "would log this Dagster run into it. End it (mlflow.end_run()) before "
                    "launching the Dagster run."
                )
            config = {"experiment_name": store.experiment, "mlflow_tracking_uri": store.uri}
            with build_resources(
                {"mlflow": mlflow_tracking},
                instance=context.instance,
                resource_config={"mlflow": {"config": config}},
                dagster_run=context.run,
                log_manager=context.log,
            ):
                # dagster-mlflow leaves the run it started (or resumed) active in this thread.
                self._run_id = active_run_id()
        if self._run_id is None:
            raise TrackingError(
                f"dagster-mlflow opened no MLflow run in {redact_uri(store.uri)!r}."
            )
        status = "KILLED"  # unless execution ends normally or raises
        try:
            yield self
            status = "FAILED" if _a_step_failed(context) else "FINISHED"
        except Exception:
            status = "FAILED"
            raise
        finally:
            _end(context, store, self._run_id, status)


def _end(context: InitResourceContext, store: TrackingStore, run_id: str, status: str) -> None:
    """End the run; when the store no longer answers, say so (the run stays RUNNING there)
    instead of failing the teardown with MLflow's bare error, which would hide the step's."""
    try:
        end_run(store, run_id, status)
    except (MlflowException, OSError, TrackingError) as exc:
        if context.log is None:
            raise
        context.log.warning(
            redact(
                f"MLflow run {run_id} could not be ended as {status} in "
                f"{store.uri!r} ({type(exc).__name__}: {exc}); it stays RUNNING there. Once "
                "the server answers again, end it with MlflowClient(tracking_uri=...)."
                f"set_terminated({run_id!r}, {status!r}).",
                store.uri,
            )
        )


def _a_step_failed(context: InitResourceContext) -> bool:
    if context.instance is None or context.run is None:
        return False
    failures = context.instance.get_records_for_run(
        context.run.run_id, of_type=DagsterEventType.STEP_FAILURE, limit=1
    )
    return bool(failures.records)
