"""`mlflow server` on loopback with a SQL backend (SQLite in a temp folder) and proxied
artifacts: the tracking server a deployment runs, started and stopped by the test."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ff_assets_tests.services.process import LOOPBACK, Started, free_port, started


@dataclass(frozen=True)
class MlflowServer:
    """A running tracking server: its URI and its process (to stop it early, as a fault)."""

    uri: str
    backend_uri: str
    server: Started


def healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@contextmanager
def mlflow_server(folder: Path, *, port: int | None = None) -> Iterator[MlflowServer]:
    """An MLflow tracking server for the block: SQLite backend and artifacts under `folder`,
    on `port` (default a free one) of 127.0.0.1, one worker."""
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    uri = f"http://{LOOPBACK}:{port}"
    backend = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    command = [
        mlflow, "server", "--host", LOOPBACK, "--port", str(port), "--workers", "1",
        "--backend-store-uri", backend, "--artifacts-destination", str(folder / "artifacts"),
    ]  # fmt: skip
    with started(command, log=folder / "server.log", ready=lambda: healthy(uri)) as server:
        yield MlflowServer(uri=uri, backend_uri=backend, server=server)
