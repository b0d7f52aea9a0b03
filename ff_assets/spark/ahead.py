"""Outcomes computed ahead: the engine runs the next stage while the caller records the last.

The engine's outcomes are recorded by code that does not need Spark (Dagster's event log,
MLflow's logging and registration), and the engine's own work is mostly a wait on the JVM
with Python's GIL released. Iterating the engine in a thread lets the two overlap; the
caller still sees every outcome, in order, and every exception the engine raises.

Neither Python nor PySpark offers a prefetching iterator that also stops Spark's work when
its consumer goes away, hence this module: on an early close (the consumer raised, Dagster
interrupted the step) the thread's running Spark jobs are cancelled through their job tag
and the thread is joined before the close returns, so no stage runs past its step and an
interrupted write never commits (Delta commits a write whole, or not at all).
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from typing import TypeVar

from pyspark import InheritableThread
from pyspark.sql import SparkSession

T = TypeVar("T")

_POLL = 0.1  # seconds: how often a blocked hand-over looks whether the consumer has gone


class _End:
    """The producer has finished: with the exception it raised, if any."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def computed_ahead(outcomes: Iterator[T], spark: SparkSession, depth: int = 1) -> Iterator[T]:
    """Yield what `outcomes` yields, computed in a thread at most `depth` outcomes ahead of
    the consumer (plus the one it is computing); re-raise its exception where it raised.

    Closing this iterator early cancels the Spark jobs the thread is running and waits for
    the thread, which closes `outcomes` (its `finally` blocks run, releasing cached frames).
    """
    handed: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    gone = threading.Event()
    tag = f"ff_assets-ahead-{uuid.uuid4().hex}"

    def hand(item: T | _End) -> bool:
        while not gone.is_set():
            try:
                handed.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        spark.sparkContext.addJobTag(tag)  # this thread's jobs, cancelled as one if abandoned
        try:
            for outcome in outcomes:
                if not hand(outcome):
                    break
        except BaseException as error:  # noqa: BLE001 - handed over and re-raised by the consumer
            hand(_End(error))
        else:
            hand(_End())
        finally:
            close = getattr(outcomes, "close", None)
            if close is not None:
                close()

    thread = InheritableThread(target=produce, name="ff_assets-engine", daemon=True)
    thread.start()
    try:
        while True:
            item = handed.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        gone.set()
        if thread.is_alive():
            spark.sparkContext.cancelJobsWithTag(tag)
        thread.join()
