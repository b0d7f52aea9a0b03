"""`computed_ahead`: a generator iterated in a thread on a real Spark session; its outcomes
arrive in order, its exception where it raised, and an early close cancels its Spark job."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ff_assets.spark.ahead import computed_ahead

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.integration


class StageBroke(Exception):
    pass


def test_outcomes_arrive_in_order_with_spark_work_between_them(spark: SparkSession) -> None:
    consumer = threading.current_thread()
    seen: list[str] = []

    def outcomes() -> Iterator[int]:
        for n in range(1, 5):
            seen.append(threading.current_thread().name)
            yield spark.range(n * 10).count()

    assert list(computed_ahead(outcomes(), spark)) == [10, 20, 30, 40]
    assert consumer.name not in seen  # computed in the thread, not by the consumer


def test_the_producers_exception_is_raised_to_the_consumer_after_what_came_before(
    spark: SparkSession,
) -> None:
    closed: list[bool] = []

    def outcomes() -> Iterator[int]:
        try:
            yield spark.range(3).count()
            raise StageBroke("stage 'tfidf' raised")
        finally:
            closed.append(True)

    got = []
    with pytest.raises(StageBroke, match="tfidf"):
        for value in computed_ahead(outcomes(), spark):
            got.append(value)
    assert got == [3]
    assert closed == [True]


def test_closing_early_cancels_the_running_spark_job_and_closes_the_producer(
    spark: SparkSession,
) -> None:
    started = threading.Event()
    ended: list[str] = []

    def slow(n: int) -> int:
        import time

        time.sleep(1.0)  # 400 rows on 2 cores: minutes unless the job is cancelled
        return n

    def outcomes() -> Iterator[str]:
        yield "first"
        try:
            rdd = spark.sparkContext.parallelize(range(400), 4).map(slow)
            started.set()
            rdd.count()
            ended.append("finished")
        except Exception as error:  # noqa: BLE001 - what the cancellation raised is the result
            ended.append(f"failed: {error}")
        finally:
            ended.append("closed")
        yield "second"

    outcomes_ahead = computed_ahead(outcomes(), spark)
    with contextlib.closing(outcomes_ahead):
        assert next(outcomes_ahead) == "first"
        started.wait()
        while not spark.sparkContext.statusTracker().getActiveJobsIds():
            threading.Event().wait(0.05)  # the job is running: now the consumer goes away
    assert ended[-1] == "closed"
    assert len(ended) == 2 and "cancel" in ended[0].lower(), ended
    assert not spark.sparkContext.statusTracker().getActiveJobsIds()
