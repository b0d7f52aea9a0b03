"""Where a project keeps its state: one home folder for Delta tables, fitted stages, Dagster
and MLflow, so two copies of a project can run side by side and tests can use a temp folder.

Read when called, never at import: `FF_ASSETS_HOME` (default `.ff_assets` under the current
folder), `DAGSTER_HOME` (default `<home>/dagster`) and `FF_DATA_DIR`, the folder source
functions read their input files from (default `../shared/data`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

HOME_ENV = "FF_ASSETS_HOME"
DATA_DIR_ENV = "FF_DATA_DIR"


def data_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: the one configured, else `$FF_DATA_DIR`, else `../shared/data`."""
    chosen = configured or os.environ.get(DATA_DIR_ENV) or Path.cwd().parent / "shared" / "data"
    return Path(chosen).expanduser().resolve()


def redact_uri(uri: str) -> str:
    """`uri` with the password of its user info replaced by `***`: what metadata, logs and
    errors show of a tracking or database URI (`http://ml:***@mlflow:5000`)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def redact(text: str, uri: str) -> str:
    """`text` with the password of `uri`, wherever it appears, replaced by `***`."""
    password = urlsplit(uri).password
    return text.replace(uri, redact_uri(uri)).replace(password, "***") if password else text


@dataclass(frozen=True)
class ProjectPaths:
    """The folders and URIs under one home."""

    home: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> ProjectPaths:
        """The paths for `home`, else `$FF_ASSETS_HOME`, else `./.ff_assets`."""
        chosen = home or os.environ.get(HOME_ENV) or Path.cwd() / ".ff_assets"
        return cls(home=Path(chosen).expanduser().resolve())

    @property
    def tables(self) -> Path:
        """Delta tables, one folder per asset key."""
        return self.home / "tables"

    @property
    def fitted(self) -> Path:
        """Fitted Spark ML stages, one folder per asset key and run."""
        return self.home / "fitted"

    @property
    def views(self) -> Path:
        """View recipes, one JSON file per asset key."""
        return self.home / "views"

    @property
    def dagster_home(self) -> Path:
        """`$DAGSTER_HOME` when set, else `<home>/dagster`."""
        configured = os.environ.get("DAGSTER_HOME")
        return Path(configured).expanduser().resolve() if configured else self.home / "dagster"

    @property
    def mlflow_tracking_uri(self) -> str:
        """The default MLflow tracking and registry store: SQLite under the home."""
        return f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.home / "mlartifacts"
