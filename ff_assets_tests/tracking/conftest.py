"""A temp SQLite MLflow per test (`create_sqlite_store`) and a `register` helper
that adds versions without Spark."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from ff_assets.tracking.registry import tracking_client
from ff_assets.tracking.sqlite_stores import create_sqlite_store
from ff_assets_tests.tracking.helpers import Register, register_version


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    """A new SQLite store (its tables created: a copy of ff_assets' migrated template)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    create_sqlite_store(uri)
    return uri


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    return tracking_client(tracking_uri)


@pytest.fixture
def register(client: MlflowClient, tmp_path: Path) -> Register:
    """`register("m", test_accuracy=0.9)` -> the new version number, as a string."""

    def make(name: str, **metrics: float) -> str:
        return register_version(client, name, tmp_path / "mlartifacts", **metrics)

    return make
