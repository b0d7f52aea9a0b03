"""A temp SQLite MLflow per test (a copy of one created per session) and a `register` helper
that adds versions without Spark."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from ff_assets.tracking.registry import tracking_client
from ff_assets_tests.tracking.helpers import Register, register_version


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its tables created once (migrations take seconds)."""
    folder = tmp_path_factory.mktemp("mlflow-template")
    tracking_client(f"sqlite:///{folder / 'mlflow.db'}")
    return folder / "mlflow.db"


@pytest.fixture
def tracking_uri(tmp_path: Path, empty_mlflow_db: Path) -> str:
    db = tmp_path / "mlflow.db"
    shutil.copy(empty_mlflow_db, db)
    return f"sqlite:///{db}"


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    return tracking_client(tracking_uri)


@pytest.fixture
def register(client: MlflowClient, tmp_path: Path) -> Register:
    """`register("m", test_accuracy=0.9)` -> the new version number, as a string."""

    def make(name: str, **metrics: float) -> str:
        return register_version(client, name, tmp_path / "mlartifacts", **metrics)

    return make
