"""MLflow runs and models of one tracking store, kept to that store.

Everything here goes through an explicit `MlflowClient` built from a `TrackingStore`, except
what only MLflow's fluent API does: `mlflow.spark.log_model` logs into the thread's active run,
and it, `mlflow.register_model` and `mlflow.spark.load_model` find their store in process-wide
state (the tracking and registry URIs, exported as `MLFLOW_TRACKING_URI` and
`MLFLOW_REGISTRY_URI`). Those calls run inside `fluent_store`, which points that state at one
store under a process-wide lock and restores it afterwards, so two stores (or two runs) in one
process never log into each other's store.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.spark
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ff_assets.config import redact
from ff_assets.core.errors import TrackingError
from ff_assets.tracking.registry import ensure_experiment, is_server, tracking_client

DEFAULT_EXPERIMENT = "ff_assets"
# What the fluent API exports for subprocesses; dagster-mlflow's `set_experiment` adds the last.
FLUENT_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")
_FLUENT = threading.RLock()  # re-entrant: a fluent block may call another


@dataclass(frozen=True)
class TrackingStore:
    """One MLflow store (tracking and registry at `uri`) and the experiment runs go to."""

    uri: str
    experiment: str = DEFAULT_EXPERIMENT
    artifact_root: Path | None = None

    def client(self) -> MlflowClient:
        """A client for this store, checked to answer (TrackingError naming the URI else)."""
        return tracking_client(self.uri)

    def experiment_id(self, client: MlflowClient) -> str:
        """The experiment's id, created when new with artifacts under `artifact_root`; on a
        tracking server, in the server's artifact store, which every process that logs or
        loads a model reaches (a folder on the driver's disk is not that)."""
        root = None if is_server(self.uri) else self.artifact_root
        return ensure_experiment(client, self.experiment, root)


@contextmanager
def fluent_store(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide tracking and registry URIs at `uri` for the block, under a
    process-wide lock; restore them and the variables MLflow exported afterwards.

    MLflow offers no public way to unset the active experiment that `mlflow.set_experiment`
    leaves in process memory (dagster-mlflow calls it), so ff_assets never relies on it: every
    run here is started with its experiment id, or resumed by run id."""
    with _FLUENT:
        saved = {name: os.environ.get(name) for name in FLUENT_VARIABLES}
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            yield
        finally:
            # None unsets the tracking URI; an empty registry URI falls back to it.
            mlflow.set_tracking_uri(saved["MLFLOW_TRACKING_URI"])
            mlflow.set_registry_uri(saved["MLFLOW_REGISTRY_URI"] or "")
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def active_run_id() -> str | None:
    """The id of this thread's active MLflow run, if any."""
    active = mlflow.active_run()
    return active.info.run_id if active is not None else None


def end_run(store: TrackingStore, run_id: str, status: str) -> None:
    """End `run_id` with `status` ("FINISHED", "FAILED", "KILLED"); when it is this thread's
    active run, it leaves the thread's stack of active runs too."""
    with fluent_store(store.uri):
        if active_run_id() == run_id:
            mlflow.end_run(status=status)
        else:
            store.client().set_terminated(run_id, status=status)


@dataclass(frozen=True)
class RegisteredVersion:
    """A model version registered from a run: the registered name, version and run."""

    name: str
    version: str
    run_id: str


@dataclass(frozen=True)
class LoggedModel:
    """A model logged in a nested run that is still RUNNING (this thread's active run): its
    metrics and registration come with `finish_and_register`."""

    run_id: str
    model_uri: str
    # MLflow 3's LoggedModel, when the flavor logs one (mlflow.spark does not into a local
    # artifact store): metrics logged after the model are linked to it, as those before.
    model_id: str | None


def _tracking_error(store: TrackingStore, name: str, exc: BaseException) -> TrackingError:
    return TrackingError(
        redact(
            f"MLflow tracking URI {store.uri!r} failed while logging and registering "
            f"{name!r}: {type(exc).__name__}: {exc}. A version is registered only once its "
            "run has finished, so none is left half-registered: check that the MLflow "
            "server is running and reachable at that URI, then re-run the materialization.",
            store.uri,
        )
    )


def log_model_run(
    store: TrackingStore,
    pipeline: Any,
    *,
    name: str,
    parent_run_id: str,
    run_name: str,
    tags: Mapping[str, str],
    params: Mapping[str, str],
    lineage: Mapping[str, Any],
    pip_requirements: list[str],
) -> LoggedModel:
    """Start a run nested under `parent_run_id` in `store` and log a Spark ML `pipeline`
    with params and lineage; the run stays RUNNING, as this thread's active run, until
    `finish_and_register` (or `end_run`) ends it.

    Split from the registration so a model can be logged while the engine still computes
    its metrics. On failure the run is ended FAILED and a `TrackingError` names the store."""
    run = None
    try:
        experiment_id = store.client().get_run(parent_run_id).info.experiment_id
        with fluent_store(store.uri):
            run = mlflow.start_run(
                experiment_id=experiment_id, run_name=run_name, nested=True,
                parent_run_id=parent_run_id, tags=dict(tags),
            )  # fmt: skip
            mlflow.log_params(dict(params))
            mlflow.log_dict(dict(lineage), "lineage.json")
            info = mlflow.spark.log_model(
                pipeline, artifact_path="inference_pipeline", pip_requirements=pip_requirements
            )
    except (MlflowException, OSError) as exc:  # the store went away or refused a call
        if run is not None:
            _end_quietly(store, run.info.run_id)
        raise _tracking_error(store, name, exc) from None
    return LoggedModel(run.info.run_id, info.model_uri, info.model_id)


def finish_and_register(
    store: TrackingStore,
    logged: LoggedModel,
    *,
    name: str,
    metrics: Mapping[str, float],
    version_tags: Mapping[str, str],
) -> RegisteredVersion:
    """Log `metrics` into a `LoggedModel`'s run (linked to its model), end the run FINISHED,
    then register the model as a new version of `name`, tagged with `version_tags`.

    A version is created only once its run has FINISHED with every metric and the model
    logged, so a store lost half-way leaves no half-registered version: the run is ended
    FAILED and a `TrackingError` names the store and says to re-run."""
    try:
        with fluent_store(store.uri):
            mlflow.log_metrics(dict(metrics), run_id=logged.run_id, model_id=logged.model_id)
            end_run(store, logged.run_id, "FINISHED")
            # Registered with its version tags in one call (log_model's registered_model_name
            # would take two more calls to tag the version).
            registered = mlflow.register_model(logged.model_uri, name, tags=dict(version_tags))
    except (MlflowException, OSError) as exc:
        _end_quietly(store, logged.run_id)
        raise _tracking_error(store, name, exc) from None
    return RegisteredVersion(name, str(registered.version), logged.run_id)


def abandon(store: TrackingStore, logged: LoggedModel) -> None:
    """End a `LoggedModel`'s run FAILED: its metrics never came (the run stopped, or its
    predictions failed), so it is never registered."""
    _end_quietly(store, logged.run_id, active_only=False)


def _end_quietly(store: TrackingStore, run_id: str, *, active_only: bool = True) -> None:
    """End `run_id` FAILED (only while it is this thread's active run, unless told); a
    store that is gone cannot record it, and the run leaves this thread's stack of active
    runs anyway (`mlflow.end_run` pops it before it calls the store)."""
    if active_only and active_run_id() != run_id:
        return  # ended already (FINISHED, then the registration failed): it stays so
    # The error being reported is the store's; this one would say the same.
    with contextlib.suppress(MlflowException, OSError):
        end_run(store, run_id, "FAILED")


def load_spark_model(store: TrackingStore, name: str, version: str) -> Any:
    """The Spark ML pipeline of version `version` of registered model `name`."""
    with fluent_store(store.uri):
        return mlflow.spark.load_model(f"models:/{name}/{version}")
