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


def log_and_register(
    store: TrackingStore,
    pipeline: Any,
    *,
    name: str,
    parent_run_id: str,
    run_name: str,
    tags: Mapping[str, str],
    params: Mapping[str, str],
    metrics: Mapping[str, float],
    lineage: Mapping[str, Any],
    version_tags: Mapping[str, str],
    pip_requirements: list[str],
) -> RegisteredVersion:
    """Log a Spark ML `pipeline` with params, metrics and lineage in a run nested under
    `parent_run_id`, then register it as a new version of `name`, all in `store`.

    The nested run is started and ended by this function (`start_run`'s context ends it, as
    FAILED when logging raised). A version is created only once its run has FINISHED with
    every metric and the model logged, so a store lost half-way leaves no half-registered
    version: a `TrackingError` names the store and says to re-run."""
    try:
        experiment_id = store.client().get_run(parent_run_id).info.experiment_id
        with fluent_store(store.uri):
            with mlflow.start_run(
                experiment_id=experiment_id, run_name=run_name, nested=True,
                parent_run_id=parent_run_id, tags=dict(tags),
            ) as run:  # fmt: skip
                mlflow.log_params(dict(params))
                mlflow.log_metrics(dict(metrics))
                mlflow.log_dict(dict(lineage), "lineage.json")
                info = mlflow.spark.log_model(
                    pipeline, artifact_path="inference_pipeline", pip_requirements=pip_requirements
                )
            # Registered with its version tags in one call (log_model's registered_model_name
            # would take two more calls to tag the version).
            registered = mlflow.register_model(info.model_uri, name, tags=dict(version_tags))
    except (MlflowException, OSError) as exc:  # the store went away or refused a call
        raise TrackingError(
            redact(
                f"MLflow tracking URI {store.uri!r} failed while logging and registering "
                f"{name!r}: {type(exc).__name__}: {exc}. A version is registered only once its "
                "run has finished, so none is left half-registered: check that the MLflow "
                "server is running and reachable at that URI, then re-run the materialization.",
                store.uri,
            )
        ) from None
    return RegisteredVersion(name, str(registered.version), run.info.run_id)


def load_spark_model(store: TrackingStore, name: str, version: str) -> Any:
    """The Spark ML pipeline of version `version` of registered model `name`."""
    with fluent_store(store.uri):
        return mlflow.spark.load_model(f"models:/{name}/{version}")
