"""Build `dagster.Definitions` from any store: users put their stores behind their own code
locations with one call."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from dagster import Definitions, EnvVar, in_process_executor

from ff_assets.config import ProjectPaths, storage_root
from ff_assets.config import data_dir as resolve_data_dir
from ff_assets.config import spark_conf as configured_spark_conf
from ff_assets.config import spark_master as configured_spark_master
from ff_assets.core.plan import Plan
from ff_assets.core.store import FeatureStore
from ff_assets.orchestration.assets import AssetGraph, build_store_assets
from ff_assets.orchestration.automation import (
    REFIT_CRON,
    SENSOR_INTERVAL_SECONDS,
    alias_sensor,
    refit_schedule,
    source_change_sensor,
)
from ff_assets.orchestration.io_managers import DeltaIOManager
from ff_assets.orchestration.jobs import promote_job, store_jobs
from ff_assets.orchestration.model_assets import build_scoring_assets
from ff_assets.orchestration.resources import FFAssetsSettings, spark_resource
from ff_assets.orchestration.tracking import MlflowRunResource
from ff_assets.tracking.runs import DEFAULT_EXPERIMENT


@dataclass(frozen=True)
class StorePlan:
    """A store with the outputs (default: the store's own) and pins to plan it with."""

    store: FeatureStore
    outputs: Iterable[str] | None = None
    pins: Mapping[str, str] | None = None

    @cached_property
    def plan(self) -> Plan:
        """The store planned once: the definitions, their runs, the CLI and the promote job
        all use this one value."""
        return self.store.plan(self.outputs, pins=self.pins)


def store_definitions(
    entry: StorePlan,
    *,
    refit_cron: str = REFIT_CRON,
    sensor_interval_seconds: int = SENSOR_INTERVAL_SECONDS,
) -> Definitions:
    """Assets, checks, jobs, schedule and sensors of one store's plan (resources come from
    `build_definitions`): the refit schedule on `refit_cron`, the sensors evaluated no more
    often than every `sensor_interval_seconds`."""
    graph = AssetGraph.of(entry.plan)
    scoring_assets, scoring = build_scoring_assets(graph)
    jobs = store_jobs(graph, scoring)
    by_name = {j.name: j for j in jobs}
    sensors = [source_change_sensor(graph, sensor_interval_seconds)]
    if scoring:
        sensors.append(alias_sensor(graph, scoring, by_name, sensor_interval_seconds))
    return Definitions(
        assets=[*build_store_assets(graph), *scoring_assets],
        jobs=jobs,
        schedules=[refit_schedule(graph, refit_cron)],
        sensors=sensors,
    )


def build_definitions(
    stores: Sequence[FeatureStore | StorePlan],
    *,
    home: str | None = None,
    storage: str | None = None,
    data_dir: str | None = None,
    spark_master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    mlflow_tracking_uri: str | EnvVar | None = None,
    mlflow_experiment: str = DEFAULT_EXPERIMENT,
    feature_statistics: bool = True,
    refit_cron: str = REFIT_CRON,
    sensor_interval_seconds: int = SENSOR_INTERVAL_SECONDS,
) -> Definitions:
    """A code location serving `stores` (each planned for its default outputs, or a StorePlan).

    State lives under `home` and source files under `data_dir` (see `ff_assets.config`, which
    resolves both here); Delta tables, view recipes and fitted stages under `storage`, else
    `$FF_ASSETS_STORAGE`, else the home (a path or a Hadoop URI, `s3a://bucket/prefix`);
    MLflow tracks to `mlflow_tracking_uri` (a value, or an `EnvVar` that Dagster resolves when a
    run starts), else SQLite under the home.
    Spark runs on `spark_master`, else `$FF_ASSETS_SPARK_MASTER`, else `local[*]`, with the
    settings of `$FF_ASSETS_SPARK_CONF` under `spark_conf` (see `ff_assets.config`).
    `MLFLOW_TRACKING_URI` is not read here: entry points read it once at start.
    All steps of a run share one process and so one Spark session (in-process executor).
    `feature_statistics=False` skips the statistics (checks still run).
    Each store's refit schedule runs on `refit_cron` (default weekly, Monday 03:00) and its
    sensors are evaluated no more often than every `sensor_interval_seconds` (default 60); all
    are off until turned on (Dagit, `dagster schedule start`, `dagster sensor start`).
    """
    paths = ProjectPaths.resolve(home, storage_root(storage))
    tracking_uri = mlflow_tracking_uri or paths.mlflow_tracking_uri
    entries = [s if isinstance(s, StorePlan) else StorePlan(s) for s in stores]
    spark = spark_resource(
        master=configured_spark_master(spark_master),
        conf={**configured_spark_conf(), **(spark_conf or {})},
    )
    settings = FFAssetsSettings(
        home=str(paths.home), storage=paths.storage, data_dir=str(resolve_data_dir(data_dir)),
        mlflow_tracking_uri=tracking_uri,
        mlflow_experiment=mlflow_experiment, feature_statistics=feature_statistics,
    )  # fmt: skip
    resources = {
        "spark": spark,
        "settings": settings,
        "delta_io_manager": DeltaIOManager(
            home=str(paths.home),
            storage=paths.storage,
            spark=spark,
            feature_statistics=feature_statistics,
        ),
        "mlflow": MlflowRunResource(settings=settings),
    }
    shared = Definitions(
        jobs=[promote_job([e.plan for e in entries])],
        resources=resources,
        executor=in_process_executor,
    )
    automation = {"refit_cron": refit_cron, "sensor_interval_seconds": sensor_interval_seconds}
    return Definitions.merge(*(store_definitions(e, **automation) for e in entries), shared)
