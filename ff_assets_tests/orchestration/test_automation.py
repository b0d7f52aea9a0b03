"""Schedules and sensors, evaluated with Dagster's test contexts (no JVM): the alias sensor
against a real SQLite MLflow registry, the source sensor against copied data files."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    build_schedule_context,
    build_sensor_context,
)
from dagster._core.definitions.sensor_definition import SensorExecutionData
from mlflow.tracking import MlflowClient

from ff_assets.config import data_dir
from ff_assets.core.errors import TrackingError
from ff_assets.examples import reviews
from ff_assets.examples.data import REVIEW_FILES
from ff_assets.orchestration.assets import EVERY_PARTITION
from ff_assets.orchestration.definitions import build_definitions
from ff_assets.tracking.registry import tracking_client
from ff_assets_tests.orchestration.tiny_store import (
    NORMALIZED_MODEL,
    STORE,
    TFIDF_MODEL,
    build_store,
    tiny_definitions,
    write_reviews,
)
from ff_assets_tests.tracking.helpers import register_version

ALIAS_SENSOR = f"{STORE}__model_alias_changed"
PREDICT_STAGING = f"{STORE}__sentiment_prediction__tfidf__predict_staging"
PREDICT_PRODUCTION_NORMALIZED = f"{STORE}__sentiment_prediction__normalized__predict_production"


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Definitions, MlflowClient, Path]:
    """The tiny store's definitions on a temp registry holding two tfidf versions and one
    normalized version, no alias set yet."""
    home = tmp_path_factory.mktemp("automation-home")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = tracking_client(uri)
    for name in (TFIDF_MODEL, TFIDF_MODEL, NORMALIZED_MODEL):
        register_version(client, name, home / "mlartifacts", test_accuracy=0.9)
    return tiny_definitions(home, write_reviews(home / "data").parent, uri), client, home


def _tick(
    defs: Definitions, name: str, cursor: str | None, instance: DagsterInstance
) -> SensorExecutionData:
    """One evaluation of a sensor, as the daemon runs it. (Calling the sensor directly,
    `sensor(context)`, fails in Dagster 1.13 for sensors declaring `required_resource_keys`:
    it passes the resources as keyword arguments the function does not take.)"""
    sensor = defs.resolve_sensor_def(name)
    context = build_sensor_context(
        cursor=cursor, resources={"settings": defs.resources["settings"]}, instance=instance
    )
    return sensor.evaluate_tick(context)


def test_alias_sensor_requests_the_prediction_job_of_each_moved_alias(
    registry: tuple[Definitions, MlflowClient, Path], instance: DagsterInstance
) -> None:
    defs, client, _ = registry
    sensor = defs.resolve_sensor_def(ALIAS_SENSOR)
    assert sensor.default_status is DefaultSensorStatus.STOPPED
    declared = {target.job_name for target in sensor.targets}
    assert {PREDICT_STAGING, PREDICT_PRODUCTION_NORMALIZED} <= declared

    nothing = _tick(defs, ALIAS_SENSOR, None, instance)
    assert nothing.run_requests == []
    assert json.loads(nothing.cursor) == {"aliases": {}, "moves": {}}
    assert nothing.skip_message == "no alias moved"

    client.set_registered_model_alias(TFIDF_MODEL, "staging", "1")
    moved = _tick(defs, ALIAS_SENSOR, nothing.cursor, instance)
    [request] = moved.run_requests
    assert request.job_name == PREDICT_STAGING
    assert request.run_key == f"{TFIDF_MODEL}@staging=1"
    assert request.tags == {
        "ff_assets/model": TFIDF_MODEL,
        "ff_assets/alias": "staging",
        "ff_assets/model_version": "1",
        "dagster/sensor_name": ALIAS_SENSOR,
    }
    assert json.loads(moved.cursor)["aliases"] == {f"{TFIDF_MODEL}@staging": "1"}

    unchanged = _tick(defs, ALIAS_SENSOR, moved.cursor, instance)
    assert unchanged.run_requests == []
    assert unchanged.skip_message == "no alias moved"
    assert unchanged.cursor == moved.cursor

    client.set_registered_model_alias(TFIDF_MODEL, "staging", "2")
    client.set_registered_model_alias(NORMALIZED_MODEL, "production", "1")
    both = _tick(defs, ALIAS_SENSOR, moved.cursor, instance)
    assert sorted((r.job_name, r.run_key) for r in both.run_requests) == [
        (PREDICT_PRODUCTION_NORMALIZED, f"{NORMALIZED_MODEL}@production=1"),
        (PREDICT_STAGING, f"{TFIDF_MODEL}@staging=2"),
    ]
    assert json.loads(both.cursor)["aliases"] == {
        f"{TFIDF_MODEL}@staging": "2",
        f"{NORMALIZED_MODEL}@production": "1",
    }
    client.set_registered_model_alias(TFIDF_MODEL, "staging", "1")  # a rollback
    rolled_back = _tick(defs, ALIAS_SENSOR, both.cursor, instance)
    [request] = rolled_back.run_requests
    assert request.run_key == f"{TFIDF_MODEL}@staging=1#2"  # not skipped as already requested
    client.delete_registered_model_alias(TFIDF_MODEL, "staging")
    client.delete_registered_model_alias(NORMALIZED_MODEL, "production")


def test_alias_sensor_with_a_bad_tracking_uri_says_what_to_do(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    defs = tiny_definitions(tmp_path, tmp_path / "data", "badscheme://x")
    with pytest.raises(TrackingError, match="'badscheme://x' cannot be used") as error:
        _tick(defs, ALIAS_SENSOR, None, instance)
    assert "MLFLOW_TRACKING_URI" in str(error.value)


# -- source data ------------------------------------------------------------------------------
@pytest.fixture
def copied_reviews(tmp_path: Path) -> tuple[Definitions, Path]:
    """The reviews example's code location over a copy of its data files."""
    source = data_dir(os.environ.get("FF_DATA_DIR"))
    for relative in REVIEW_FILES.values():
        (tmp_path / "data" / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, tmp_path / "data" / relative)
    defs = build_definitions([reviews.store], home=str(tmp_path), data_dir=str(tmp_path / "data"))
    return defs, tmp_path / "data"


def test_source_sensor_requests_a_refresh_when_a_data_file_changes(
    copied_reviews: tuple[Definitions, Path], instance: DagsterInstance
) -> None:
    defs, data = copied_reviews
    name = "reviews__source_data_changed"
    sensor = defs.resolve_sensor_def(name)
    assert sensor.default_status is DefaultSensorStatus.STOPPED
    assert sensor.job_name == "Materialize__reviews"

    first = _tick(defs, name, None, instance)
    assert first.run_requests == []
    assert first.skip_message == "first look at the data"
    assert set(json.loads(first.cursor)) == set(REVIEW_FILES.values())

    same = _tick(defs, name, first.cursor, instance)
    assert (same.run_requests, same.skip_message) == ([], "source data unchanged")
    assert same.cursor == first.cursor

    touched = data / next(iter(REVIEW_FILES.values()))
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    changed = _tick(defs, name, same.cursor, instance)
    [request] = changed.run_requests
    assert request.tags == {**EVERY_PARTITION, "dagster/sensor_name": name}
    assert request.run_key == changed.cursor != same.cursor
    assert _tick(defs, name, changed.cursor, instance).run_requests == []

    touched.unlink()
    gone = _tick(defs, name, changed.cursor, instance)
    assert len(gone.run_requests) == 1
    assert json.loads(gone.cursor)[touched.relative_to(data).as_posix()] == "missing"


# -- schedule ---------------------------------------------------------------------------------
def test_weekly_schedule_refits_both_partitions_in_one_run(
    copied_reviews: tuple[Definitions, Path], instance: DagsterInstance
) -> None:
    defs, _ = copied_reviews
    schedule = defs.resolve_schedule_def("reviews__weekly_refit")
    assert schedule.default_status is DefaultScheduleStatus.STOPPED
    assert (schedule.cron_schedule, schedule.job_name) == ("0 3 * * 1", "Materialize__reviews")
    when = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    context = build_schedule_context(instance=instance, scheduled_execution_time=when)
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "train"
    assert request.tags["dagster/asset_partition_range_end"] == "test"
    assert request.run_key == "refit-2026-11-30T03:00:00+00:00"
    assert schedule.evaluate_tick(context).run_requests[0].run_key == request.run_key


def test_refit_cron_and_sensor_interval_are_parameters_of_the_code_location(
    tmp_path: Path,
) -> None:
    """A deployment (or a test's daemon) chooses how often the store refits and how often its
    sensors look; the defaults are weekly and every minute."""
    defaults = tiny_definitions(tmp_path, tmp_path / "data")
    chosen = build_definitions(
        [build_store()], home=str(tmp_path), data_dir=str(tmp_path / "data"),
        refit_cron="*/5 * * * *", sensor_interval_seconds=5,
    )  # fmt: skip
    sensors = (ALIAS_SENSOR, f"{STORE}__source_data_changed")
    for defs, cron, interval in ((defaults, "0 3 * * 1", 60), (chosen, "*/5 * * * *", 5)):
        schedule = defs.resolve_schedule_def(f"{STORE}__weekly_refit")
        assert (schedule.cron_schedule, schedule.default_status) == (
            cron,
            DefaultScheduleStatus.STOPPED,
        )
        for name in sensors:
            assert defs.resolve_sensor_def(name).minimum_interval_seconds == interval
