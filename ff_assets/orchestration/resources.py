"""Typed resources: the project's settings and a lazy Spark session with Delta Lake."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from dagster_pyspark import LazyPySparkResource
from mlflow.tracking import MlflowClient

from ff_assets.config import ProjectPaths
from ff_assets.examples.data import data_dir
from ff_assets.spark.session import spark_session
from ff_assets.spark.storage import Layout
from ff_assets.tracking.registry import tracking_client


class FFAssetsSettings(ConfigurableResource):
    """Where this project's state and input data live (see `ff_assets.config`)."""

    home: str
    data_dir: str = ""
    mlflow_tracking_uri: str = ""
    mlflow_experiment: str = "ff_assets"
    feature_statistics: bool = True  # one aggregation per stored table, shown in Dagit

    @property
    def paths(self) -> ProjectPaths:
        return ProjectPaths.resolve(self.home)

    def data_path(self) -> Path:
        """The configured data folder, else `$FF_DATA_DIR`, else `../shared/data`."""
        return data_dir(self.data_dir or None)

    def tracking_uri(self) -> str:
        """The MLflow tracking and registry URI: configured, else SQLite under the home."""
        return self.mlflow_tracking_uri or self.paths.mlflow_tracking_uri

    def mlflow_client(self) -> MlflowClient:
        """A registry client, checked to answer (a clear error names the URI otherwise)."""
        return tracking_client(self.tracking_uri())

    @property
    def layout(self) -> Layout:
        """Where tables, views and fitted stages live under the home."""
        return Layout.under(self.paths.home)


class DeltaSparkResource(LazyPySparkResource):
    """dagster-pyspark's lazy Spark session, built with Delta Lake and its cached jars.

    dagster-pyspark builds its session from a bare builder; Delta's jars must come from
    `configure_spark_with_delta_pip` (see `ff_assets.spark.session`), so only the session
    creation is replaced. The JVM starts on first use in a run, once per process.
    """

    master: str = "local[*]"
    spark_config: dict[str, Any] = {}

    def _init_session(self) -> None:
        if self._spark_session is None:
            conf = {str(k): str(v) for k, v in self.spark_config.items()}
            self._spark_session = spark_session(master=self.master, conf=conf)


def spark_resource(
    *, master: str = "local[*]", conf: Mapping[str, str] | None = None
) -> DeltaSparkResource:
    """The Spark resource for a code location: `master` and extra Spark settings."""
    return DeltaSparkResource(master=master, spark_config=dict(conf or {}))
