"""The MLflow tracking server goes away in the middle of a run, while a variant is being
logged: the run fails naming MLflow and the server, every registered version is whole (its run
FINISHED, its metrics logged), the run's Delta tables are whole, and once the server
is back on the same port and backend a re-run registers new versions.

The store retries nothing here, so the run is the one attempt the fault breaks; under the
default policy a lost server is retried (`test_retries.py`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from mlflow.tracking import MlflowClient
from pyspark.sql import SparkSession

from ff_assets_tests.orchestration import tiny_store
from ff_assets_tests.reliability.faults import (
    TINY_WITHOUT_RETRIES,
    delta_tables,
    materialize_here,
    materialize_in_child,
    poll,
    states,
    uncommitted_files,
)
from ff_assets_tests.services.mlflow_server import healthy, mlflow_server

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

MODELS = (tiny_store.TFIDF_MODEL, tiny_store.NORMALIZED_MODEL)
# Fail fast once the server is gone, instead of MLflow's default minutes of retries.
FAST_FAILURE = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"}


def _versions(client: MlflowClient) -> dict[str, list]:
    return {m: client.search_model_versions(f"name = '{m}'") for m in MODELS}


def _assert_whole(client: MlflowClient) -> int:
    """Every registered version is whole: its run FINISHED, with its metrics; the number of
    versions."""
    count = 0
    for versions in _versions(client).values():
        for version in versions:
            count += 1
            run = client.get_run(version.run_id)
            assert run.info.status == "FINISHED", (version.name, version.version)
            assert "test_accuracy" in run.data.metrics, (version.name, version.version)
    return count


def test_the_tracking_server_lost_mid_run_fails_clearly_and_a_rerun_registers(
    spark: SparkSession, tmp_path: Path
) -> None:
    home, data_dir, mlflow_dir = tmp_path / "home", tmp_path / "data", tmp_path / "mlflow"
    home.mkdir()
    tiny_store.write_reviews(data_dir)
    started = time.monotonic()
    with mlflow_server(mlflow_dir) as server:
        port = int(server.uri.rsplit(":", 1)[1])
        env = {"MLFLOW_TRACKING_URI": server.uri, **FAST_FAILURE}
        client = MlflowClient(tracking_uri=server.uri, registry_uri=server.uri)
        child = materialize_in_child(
            home, data_dir, tmp_path / "lost.log", env, store=TINY_WITHOUT_RETRIES
        )
        try:

            def second_variant_logging() -> str | None:
                # One variant registered, the other's nested run under way: stop the server.
                runs = client.search_runs(
                    [e.experiment_id for e in client.search_experiments()],
                    filter_string="tags.`ff_assets.variant` != ''",
                )
                running = [r.info.run_id for r in runs if r.info.status == "RUNNING"]
                done = [v for vs in _versions(client).values() for v in vs]
                return running[0] if len(done) == 1 and running else None

            logging_run = poll(second_variant_logging, child)
            server.server.stop()
            stopped_at = time.monotonic() - started
            code = child.wait(240)
        finally:
            child.kill()
    output = child.output()
    last = output.strip().splitlines()[-1]
    assert code == 1, output[-4000:]
    assert last.startswith("error: "), output[-4000:]
    assert "MLflow" in last and server.uri in last, last
    assert "re-run" in last or "running" in last, last  # says what to do

    # Dagster's record of the run: the step's error, and no teardown failure hiding it.
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        [failed] = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
        messages = [entry.user_message for entry in instance.all_logs(failed.run_id)]
    assert not [m for m in messages if "Teardown of resources" in m]
    assert [m for m in messages if "could not be ended as FAILED" in m]

    # The run's tables are whole: each at its one committed version, nothing half-written.
    tables = home / "tables"
    after_fault = states(tables)
    assert after_fault and all(s.version == 0 for s in after_fault.values())
    assert not [t for t in delta_tables(tables) if uncommitted_files(t)]

    with mlflow_server(mlflow_dir, port=port) as again:  # the same port and backend
        assert again.uri == server.uri and healthy(again.uri)
        client = MlflowClient(tracking_uri=again.uri, registry_uri=again.uri)
        before = {m: len(v) for m, v in _versions(client).items()}
        assert sum(before.values()) == 1  # the variant registered before the fault
        assert _assert_whole(client) == 1
        # The variant being logged has no version; its run is not FINISHED (MLflow could not
        # be told it ended: it stays RUNNING, with no version naming it).
        lost = client.get_run(logging_run)
        assert lost.info.status != "FINISHED"
        assert not _versions(client)[tiny_store.NORMALIZED_MODEL]
        parent = client.get_run(lost.data.tags["mlflow.parentRunId"]).info.status

        materialize_here(home, data_dir, tmp_path / "rerun.log", env, store=TINY_WITHOUT_RETRIES)
        after = {m: len(v) for m, v in _versions(client).items()}
        assert all(after[m] == before[m] + 1 for m in MODELS), (before, after)
        assert _assert_whole(client) == sum(after.values())
    rerun = states(tables)
    assert all(rerun[name].version == 1 for name in after_fault)
    print(
        f"\nserver stopped at {stopped_at:.1f} s while run {logging_run} logged; exit {code}: "
        f"{last}\nversions before/after re-run: {before} -> {after}; nested run left "
        f"{lost.info.status}, the Dagster run's MLflow run {parent}; "
        f"{time.monotonic() - started:.1f} s in all"
    )
