"""MLflow's fluent API scoped to one store (`fluent_store`), and ending runs, on real SQLite
stores without Spark."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import mlflow
import pytest

from ff_assets.tracking.runs import TrackingStore, active_run_id, end_run, fluent_store
from ff_assets.tracking.sqlite_stores import create_sqlite_store


@pytest.fixture
def two_stores(tmp_path: Path) -> tuple[TrackingStore, TrackingStore]:
    stores = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        uri = f"sqlite:///{tmp_path / name / 'mlflow.db'}"
        create_sqlite_store(uri)
        stores.append(TrackingStore(uri=uri, artifact_root=tmp_path / name / "mlartifacts"))
    return stores[0], stores[1]


def test_fluent_store_points_mlflow_at_the_store_and_restores_what_was_there(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = f"sqlite:///{tmp_path / 'before.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", before)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    with fluent_store(tracking_uri):
        assert mlflow.get_tracking_uri() == tracking_uri
        assert mlflow.get_registry_uri() == tracking_uri
    assert os.environ["MLFLOW_TRACKING_URI"] == before
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    assert mlflow.get_tracking_uri() == before
    assert mlflow.get_registry_uri() == before


def test_fluent_store_restores_even_when_the_block_raises(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    with pytest.raises(RuntimeError, match="inside"), fluent_store(tracking_uri):
        mlflow.set_experiment("exported")  # what dagster-mlflow does inside the block
        raise RuntimeError("inside")
    assert "MLFLOW_EXPERIMENT_ID" not in os.environ
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    assert mlflow.get_tracking_uri() != tracking_uri


def test_end_run_ends_and_pops_the_threads_active_run(
    two_stores: tuple[TrackingStore, TrackingStore],
) -> None:
    store, _ = two_stores
    client = store.client()
    experiment = store.experiment_id(client)
    with fluent_store(store.uri):
        run_id = mlflow.start_run(experiment_id=experiment).info.run_id
    assert active_run_id() == run_id
    end_run(store, run_id, "FAILED")
    assert active_run_id() is None
    assert client.get_run(run_id).info.status == "FAILED"
    other = client.create_run(experiment).info.run_id  # not this thread's active run
    end_run(store, other, "FINISHED")
    assert client.get_run(other).info.status == "FINISHED"


def test_runs_logged_at_once_from_two_threads_stay_in_their_own_store(
    two_stores: tuple[TrackingStore, TrackingStore],
) -> None:
    experiments = {s.uri: s.experiment_id(s.client()) for s in two_stores}
    logged: dict[str, list[str]] = {s.uri: [] for s in two_stores}
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def log_runs(store: TrackingStore) -> None:
        try:
            start.wait()
            for i in range(15):
                with (
                    fluent_store(store.uri),
                    mlflow.start_run(
                        experiment_id=experiments[store.uri], run_name=f"{store.uri}-{i}"
                    ) as run,
                ):
                    mlflow.log_metric("i", i)
                logged[store.uri].append(run.info.run_id)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=log_runs, args=(s,)) for s in two_stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for store in two_stores:
        runs = store.client().search_runs([experiments[store.uri]])
        assert sorted(r.info.run_id for r in runs) == sorted(logged[store.uri])
        assert {r.info.run_name.rsplit("-", 1)[0] for r in runs} == {store.uri}
        assert {r.info.status for r in runs} == {"FINISHED"}
