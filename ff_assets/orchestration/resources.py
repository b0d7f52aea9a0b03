"""Typed resources: the project's settings and a lazy Spark session with Delta Lake."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from mlflow.tracking import MlflowClient
from pydantic import PrivateAttr
from pyspark.sql import SparkSession

from ff_assets.config import ProjectPaths, data_dir, redact_uri
from ff_assets.spark.session import spark_session
from ff_assets.spark.storage import Layout
from ff_assets.tracking.runs import DEFAULT_EXPERIMENT, TrackingStore


class FFAssetsSettings(ConfigurableResource):
    """Where this project's state and input data live (see `ff_assets.config`)."""

    home: str
    storage: str = ""  # tables, views and fitted stages: "" for the home, else a path or URI
    data_dir: str = ""
    mlflow_tracking_uri: str = ""
    mlflow_experiment: str = DEFAULT_EXPERIMENT
    feature_statistics: bool = True  # one aggregation per stored table, shown in Dagit

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """The fields as pydantic shows them, the tracking URI's password redacted."""
        for name, value in super().__repr_args__():
            hide = name == "mlflow_tracking_uri" and isinstance(value, str)
            yield name, redact_uri(value) if hide else value

    @property
    def paths(self) -> ProjectPaths:
        return ProjectPaths.resolve(self.home, self.storage)

    def data_path(self) -> Path:
        """The data folder `build_definitions` resolved (`ff_assets.config.data_dir`: the one
        given, else `$FF_DATA_DIR`, else `../shared/data`), resolved alike when none is set."""
        return data_dir(self.data_dir or None)

    def tracking_uri(self) -> str:
        """The MLflow tracking and registry URI: configured, else SQLite under the home."""
        return self.mlflow_tracking_uri or self.paths.mlflow_tracking_uri

    def tracking_store(self) -> TrackingStore:
        """The MLflow store: URI, experiment, and artifacts under the home."""
        return TrackingStore(
            uri=self.tracking_uri(),
            experiment=self.mlflow_experiment,
            artifact_root=self.paths.mlflow_artifacts,
        )

    def mlflow_client(self) -> MlflowClient:
        """A registry client, checked to answer (a clear error names the URI otherwise)."""
        return self.tracking_store().client()

    @property
    def layout(self) -> Layout:
        """Where tables, views and fitted stages live: under the storage root, else the home."""
        return Layout.under(self.paths.home, self.storage)


class DeltaSparkResource(ConfigurableResource):
    """A lazy Spark session with Delta Lake and its cached jars (`ff_assets.spark.session`).

    Not dagster-pyspark's `LazyPySparkResource`: it builds its session from a bare builder,
    while Delta's jars must come from `configure_spark_with_delta_pip`. The JVM starts on the
    first use of `spark_session`, once per process (later runs get the same session).
    """

    master: str = "local[*]"
    spark_config: dict[str, Any] = {}
    _session: SparkSession | None = PrivateAttr(default=None)

    @property
    def spark_session(self) -> SparkSession:
        if self._session is None:
            conf = {str(k): str(v) for k, v in self.spark_config.items()}
            self._session = spark_session(master=self.master, conf=conf)
        return self._session


def spark_resource(
    *, master: str = "local[*]", conf: Mapping[str, str] | None = None
) -> DeltaSparkResource:
    """The Spark resource for a code location: `master` and extra Spark settings."""
    return DeltaSparkResource(master=master, spark_config=dict(conf or {}))
