"""New SQLite MLflow stores copied from the migrated template: the same store MLflow makes,
created in the working directory's name, and an existing store left alone; no Spark."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from ff_assets.tracking.sqlite_stores import create_sqlite_store


def _schema(database: Path) -> dict[str, list[str]]:
    """Every table's and index's SQL, as sorted clauses (alembic's table rebuilds order the
    constraints differently from one process to the next), and the store's migration."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall()
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    connection.close()
    clauses = {f"{kind} {name}": _clauses(sql) for kind, name, sql in rows}
    return clauses | {"alembic": [str(version)]}


def _clauses(sql: str | None) -> list[str]:
    return sorted(line.strip().rstrip(",") for line in (sql or "").splitlines())


def _default_experiment(uri: str) -> tuple[str, str]:
    experiment = MlflowClient(tracking_uri=uri).get_experiment("0")
    return experiment.name, experiment.artifact_location


def test_a_new_store_is_the_store_mlflow_creates_in_this_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    by_mlflow = tmp_path / "by_mlflow.db"
    subprocess.run(
        [sys.executable, "-c", "import sys; from mlflow.tracking import MlflowClient; "
         "MlflowClient(tracking_uri=sys.argv[1]).search_experiments()", f"sqlite:///{by_mlflow}"],
        check=True, capture_output=True, cwd=tmp_path,
    )  # fmt: skip
    copied = tmp_path / "copied.db"
    create_sqlite_store(f"sqlite:///{copied}")

    copy, made = _schema(copied), _schema(by_mlflow)
    assert copy.keys() == made.keys()
    assert {k: v for k, v in copy.items() if made[k] != v} == {}
    assert _default_experiment(f"sqlite:///{copied}") == _default_experiment(
        f"sqlite:///{by_mlflow}"
    )
    assert _default_experiment(f"sqlite:///{copied}")[1] == str(tmp_path / "mlruns" / "0")
    assert not list(tmp_path.glob(".*.new")), "a staged copy was left behind"


def test_an_existing_store_keeps_its_runs(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    create_sqlite_store(uri)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("kept", artifact_location=str(tmp_path / "artifacts"))
    run = client.create_run(experiment).info.run_id

    create_sqlite_store(uri)

    assert client.get_run(run).info.experiment_id == experiment


def test_threads_creating_one_store_at_once_leave_one_whole_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    errors: list[BaseException] = []

    def create() -> None:
        try:
            create_sqlite_store(uri)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion
            errors.append(error)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert MlflowClient(tracking_uri=uri).get_experiment("0").name == "Default"
    assert not list(tmp_path.glob(".*.new"))


def test_other_schemes_and_memory_are_left_to_mlflow(tmp_path: Path) -> None:
    create_sqlite_store("sqlite:///:memory:")
    create_sqlite_store("http://127.0.0.1:9")
    create_sqlite_store(f"postgresql://u@localhost/{tmp_path.name}")
    assert not list(tmp_path.iterdir())
