"""The store's retry policy at work: a transient fault injected for real (the MLflow tracking
server stopped in the middle of the first attempt, just before its first registration, and
started again once Dagster has put the step up for retry) is retried and the run succeeds; a
stage that raises is not retried. Attempts are counted from Dagster's event log."""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from dagster import DagsterEventType, DagsterInstance

from ff_assets.core import Retries
from ff_assets.orchestration import registration
from ff_assets.orchestration.jobs import STORE_TAG
from ff_assets.orchestration.materialize import materialize_store
from ff_assets.tracking.registry import tracking_client
from ff_assets.tracking.runs import log_model_run
from ff_assets_tests.orchestration.tiny_store import (
    NORMALIZED_MODEL,
    TFIDF_MODEL,
    build_store,
    build_store_with_a_broken_producer,
    write_reviews,
)
from ff_assets_tests.services.mlflow_server import mlflow_server
from ff_assets_tests.services.process import free_port

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

STEP_EVENTS = (
    DagsterEventType.STEP_START, DagsterEventType.STEP_UP_FOR_RETRY,
    DagsterEventType.STEP_RESTARTED, DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_SUCCESS,
)  # fmt: skip


def step_events(instance: DagsterInstance, run_id: str) -> Counter:
    """How often each step event of the run's one engine step was recorded."""
    counted: Counter = Counter()
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is not None and event.event_type in STEP_EVENTS:
            counted[event.event_type] += 1
    return counted


def _events_of_the_run(instance: DagsterInstance, kind: DagsterEventType) -> bool:
    runs = instance.get_runs(limit=1)
    return bool(runs) and bool(
        instance.get_records_for_run(runs[0].run_id, of_type=kind, limit=1).records
    )


class FlakyTracking:
    """The MLflow server of a run, stopped (SIGTERM, waited for) when the first attempt is about
    to register its first version, so that attempt fails registering against a server that is
    really gone; started again on the same port and store once the step is up for retry.

    The stop is made where a model's logging starts (`log_model_run`, wrapped: the real call
    then runs against the stopped server) and a retried attempt registers only once the server is
    back. Watching Dagster's event log instead raced the run: under load, one variant could be
    registered before the server was down, which made the count of versions a matter of timing.
    """

    def __init__(self, folder: Path, instance: DagsterInstance) -> None:
        self.folder, self.instance, self.port = folder, instance, free_port()
        self.stack = ExitStack()
        self.uri = self.stack.enter_context(mlflow_server(folder, port=self.port)).uri
        self.timeline: list[tuple[str, float]] = []
        self.stopped, self.retrying = threading.Event(), threading.Event()
        self.back, self.done = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._restart, daemon=True)

    def log_model_run(self, *args: Any, **kwargs: Any) -> Any:
        """`log_model_run`, after stopping the server the first time it is called. Later
        calls of the first attempt meet the stopped server; a retried attempt's calls wait
        until it is back (or the test ends)."""
        if not self.stopped.is_set():
            self.stack.close()
            self.timeline.append(("server stopped", time.monotonic()))
            self.stopped.set()
        elif self.retrying.is_set():
            while not (self.back.is_set() or self.done.is_set()):
                self.back.wait(0.1)
        return log_model_run(*args, **kwargs)

    def _restart(self) -> None:
        while not self.done.is_set():
            if self.stopped.is_set() and _events_of_the_run(
                self.instance, DagsterEventType.STEP_UP_FOR_RETRY
            ):
                self.timeline.append(("step up for retry", time.monotonic()))
                self.retrying.set()
                self.stack.enter_context(mlflow_server(self.folder, port=self.port))
                self.timeline.append(("server started again", time.monotonic()))
                self.back.set()
                return
            time.sleep(0.05)

    def __enter__(self) -> FlakyTracking:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(120)
        self.stack.close()


def test_a_transient_fault_is_retried_and_the_run_succeeds(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    (home / "dagster").mkdir(parents=True)
    write_reviews(data)
    # 5 s, then 10 s, then 20 s: time enough for the server to come back.
    store = build_store(retries=Retries(max_retries=3, delay_seconds=5, jitter=False))
    with (
        DagsterInstance.from_config(str(home / "dagster")) as instance,
        FlakyTracking(tmp_path / "mlflow", instance) as tracking,
    ):
        monkeypatch.setattr(registration, "log_model_run", tracking.log_model_run)
        started = time.monotonic()
        report = materialize_store(
            store, home=str(home), data_dir=str(data), instance=instance,
            tracking_uri=tracking.uri,
        )  # fmt: skip
        took = time.monotonic() - started
        events = step_events(instance, report.runs[0])
        # A run executed in process (as `ff-assets materialize` runs) carries the store's tag
        # too: the run queue counts it among a store's runs in progress, yet never queues it.
        tags = instance.get_run_by_id(report.runs[0]).tags  # type: ignore[union-attr]
        client = tracking_client(tracking.uri)
        versions = {
            m: [v.version for v in client.search_model_versions(f"name = '{m}'")]
            for m in (TFIDF_MODEL, NORMALIZED_MODEL)
        }
    print(f"run took {took:.1f} s; step events {dict(events)}; timeline {tracking.timeline}")
    assert [what for what, _ in tracking.timeline] == [
        "server stopped", "step up for retry", "server started again",
    ]  # fmt: skip
    assert report.success, report.errors
    assert tags[STORE_TAG] == "tiny"
    # One retry: the retried attempt registers only once the server is back.
    assert events[DagsterEventType.STEP_UP_FOR_RETRY] == 1
    assert events[DagsterEventType.STEP_RESTARTED] == 1
    assert events[DagsterEventType.STEP_START] == 1  # a restart is not a start
    assert events[DagsterEventType.STEP_SUCCESS] == 1
    assert events[DagsterEventType.STEP_FAILURE] == 0
    # The failed attempt registered nothing: one version per variant, from the last attempt.
    assert versions == {TFIDF_MODEL: ["1"], NORMALIZED_MODEL: ["1"]}


def test_a_stage_that_raises_is_not_retried(spark: SparkSession, tmp_path: Path) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    (home / "dagster").mkdir(parents=True)
    write_reviews(data)
    store = build_store_with_a_broken_producer(
        retries=Retries(max_retries=3, delay_seconds=30, jitter=False)
    )
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        started = time.monotonic()
        report = materialize_store(store, home=str(home), data_dir=str(data), instance=instance)
        took = time.monotonic() - started
        events = step_events(instance, report.runs[0])
    print(f"run took {took:.1f} s; step events {dict(events)}")
    assert not report.success
    assert any("the broken vectorizer failed on purpose" in e for e in report.errors)
    assert events == Counter(
        {DagsterEventType.STEP_START: 1, DagsterEventType.STEP_FAILURE: 1}
    )  # one attempt: no STEP_UP_FOR_RETRY, no STEP_RESTARTED, so no wait of the policy's
    # The independent variant was still stored and registered.
    assert any(a.endswith("sentiment_model__tfidf") for a, _, _ in report.materialized)
