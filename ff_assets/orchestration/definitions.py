"""Build `dagster.Definitions` from any store: users put their stores behind their own code
locations with one call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dagster import Definitions, in_process_executor

from ff_assets.config import ProjectPaths
from ff_assets.core.store import FeatureStore
from ff_assets.orchestration.assets import AssetGraph, build_assets
from ff_assets.orchestration.checks import build_checks
from ff_assets.orchestration.io_managers import DeltaIOManager, FittedStageIOManager
from ff_assets.orchestration.jobs import materialize_job
from ff_assets.orchestration.resources import FFAssetsSettings, spark_resource


@dataclass(frozen=True)
class StorePlan:
    """A store with the outputs (default: the store's own) and pins to plan it with."""

    store: FeatureStore
    outputs: Iterable[str] | None = None
    pins: Mapping[str, str] | None = None


def store_definitions(entry: StorePlan) -> Definitions:
    """The assets, checks and jobs of one store's plan (resources: `build_definitions`)."""
    graph = AssetGraph.of(entry.store, entry.store.plan(entry.outputs, pins=entry.pins))
    return Definitions(
        assets=build_assets(graph),
        asset_checks=build_checks(graph),
        jobs=[materialize_job(entry.store.name)],
    )


def build_definitions(
    stores: Sequence[FeatureStore | StorePlan],
    *,
    home: str | None = None,
    data_dir: str | None = None,
    spark_master: str = "local[*]",
    spark_conf: Mapping[str, str] | None = None,
) -> Definitions:
    """A code location serving `stores` (each planned for its default outputs, or a StorePlan).

    All steps of a run share one process and so one Spark session (in-process executor).
    """
    paths = ProjectPaths.resolve(home)
    spark = spark_resource(master=spark_master, conf=spark_conf)
    parts = [
        store_definitions(entry if isinstance(entry, StorePlan) else StorePlan(entry))
        for entry in stores
    ]
    resources = {
        "spark": spark,
        "settings": FFAssetsSettings(home=str(paths.home), data_dir=data_dir or ""),
        "delta_io_manager": DeltaIOManager(root=str(paths.tables), spark=spark),
        "fitted_io_manager": FittedStageIOManager(root=str(paths.fitted)),
    }
    return Definitions.merge(*parts, Definitions(resources=resources, executor=in_process_executor))
