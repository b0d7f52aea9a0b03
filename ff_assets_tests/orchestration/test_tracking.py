"""The `mlflow` resource on real SQLite stores, without Spark: one MLflow run per Dagster run,
ended when the run ends (FINISHED or FAILED), two stores running at once in one process each
keeping only their own runs, and a new store created while another thread uses alembic."""

import threading
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from dagster import (
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    OpExecutionContext,
    job,
    op,
)
from mlflow.tracking import MlflowClient

from ff_assets.core.errors import TrackingError
from ff_assets.orchestration.resources import FFAssetsSettings
from ff_assets.orchestration.tracking import MlflowRunResource
from ff_assets.tracking.registry import tracking_client
from ff_assets.tracking.runs import active_run_id, fluent_store

JOB = "log_to_mlflow"


@op(required_resource_keys={"mlflow"})
def log_one(context: OpExecutionContext) -> None:
    """Log a metric into the run's MLflow run; fail when the run's tags ask for it."""
    tracking = context.resources.mlflow
    tracking.client().log_metric(tracking.run_id, "logged", 1.0)
    if "wait" in context.run.tags:
        WAIT.wait(timeout=60)  # both Dagster runs' MLflow runs are open at once
    if context.run.tags.get("fail") == "yes":
        raise ValueError("the op failed on purpose")


WAIT = threading.Barrier(2)


@job(name=JOB)
def log_to_mlflow() -> None:
    log_one()


def _definitions(home: Path) -> Definitions:
    settings = FFAssetsSettings(
        home=str(home), mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}"
    )
    return Definitions(
        jobs=[log_to_mlflow], resources={"mlflow": MlflowRunResource(settings=settings)}
    )


def _run(defs: Definitions, instance: DagsterInstance, **tags: str) -> ExecuteInProcessResult:
    return defs.resolve_job_def(JOB).execute_in_process(
        instance=instance, tags=tags, raise_on_error=False
    )


def _runs(home: Path) -> dict[str, tuple[str, str, float | None]]:
    """{dagster_run_id: (run name, status, logged metric)} of every MLflow run in `home`'s store."""
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ff_assets")
    return {
        r.data.tags["dagster_run_id"]: (
            r.info.run_name,
            r.info.status,
            r.data.metrics.get("logged"),
        )
        for r in client.search_runs([experiment.experiment_id])
    }


def _errors(result: ExecuteInProcessResult) -> list[str]:
    """Every error of the run's events with its causes: failed steps, resources and the run."""
    texts = []
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        while error is not None:
            texts.append(error.message)
            error = error.cause
    return texts


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def test_each_dagster_run_gets_one_mlflow_run_ended_with_its_outcome(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    defs = _definitions(tmp_path)
    ok = _run(defs, instance)
    failed = _run(defs, instance, fail="yes")
    assert ok.success and not failed.success
    assert _runs(tmp_path) == {
        ok.run_id: (JOB, "FINISHED", 1.0),
        failed.run_id: (JOB, "FAILED", 1.0),
    }
    assert active_run_id() is None  # nothing left open in this thread
    artifacts = (
        MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
        .get_experiment_by_name("ff_assets")
        .artifact_location
    )
    assert artifacts == (tmp_path / "mlartifacts").resolve().as_uri()


def test_two_stores_running_at_once_keep_their_own_runs(tmp_path: Path) -> None:
    homes = [tmp_path / "a", tmp_path / "b"]
    results: dict[Path, ExecuteInProcessResult] = {}
    WAIT.reset()

    def run(home: Path) -> None:
        with DagsterInstance.ephemeral() as instance:
            results[home] = _run(_definitions(home), instance, wait="yes")
        if not results[home].success:
            WAIT.abort()  # the other run stops waiting for this one

    threads = [threading.Thread(target=run, args=(home,)) for home in homes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for home in homes:
        assert results[home].success, "\n".join(_errors(results[home]))
        assert _runs(home) == {results[home].run_id: (JOB, "FINISHED", 1.0)}


def test_a_new_store_opens_while_another_thread_makes_dagster_instances(
    tmp_path: Path,
) -> None:
    # Each Dagster instance stamps its storage's schema with alembic, whose state is global;
    # a new MLflow store's migrations in this thread must not share it (tracking_client).
    done = threading.Event()
    made: list[int] = []
    failed: list[Exception] = []

    def make_instances() -> None:
        try:
            while not done.is_set():
                with DagsterInstance.ephemeral():
                    made.append(1)
        except Exception as exc:
            failed.append(exc)

    maker = threading.Thread(target=make_instances)
    maker.start()
    try:
        tracking_client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    finally:
        done.set()
        maker.join()
    assert made and not failed  # instances were made while the store was created, and all worked


def test_a_run_already_active_in_the_thread_is_refused(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    uri = f"sqlite:///{tmp_path / 'stray.db'}"
    with fluent_store(uri):
        stray = mlflow.start_run(experiment_id="0").info.run_id  # the Default experiment
    try:
        result = _run(_definitions(tmp_path), instance)
    finally:
        with fluent_store(uri):
            mlflow.end_run()
    assert not result.success
    assert any(f"MLflow run {stray} is already active in this thread" in t for t in _errors(result))


def test_the_run_id_outside_a_dagster_run_says_why(tmp_path: Path) -> None:
    resource = MlflowRunResource(settings=FFAssetsSettings(home=str(tmp_path)))
    with pytest.raises(TrackingError, match="opened only while a Dagster run executes"):
        resource.run_id  # noqa: B018 - the property raises
