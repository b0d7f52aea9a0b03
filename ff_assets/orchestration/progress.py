"""What a run shows while it goes, read from Dagster's own event log: a line per asset as its
materialization is recorded, failed checks as they are evaluated, and after a failure the root
cause's own message (the ff_assets error naming the thing and the fix, not Dagster's wrapper).

Dagster's console logger prints every event at DEBUG level; `console_logging` is the run
config that keeps it quiet unless asked for (`ff-assets materialize --verbose`). The events
still reach the instance's event log, where Dagit and `EventFeed` read them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    EventLogEntry,
)

from ff_assets.core.errors import StageFailedError
from ff_assets.core.plan import AssetRole, PlannedAsset

WATCHED = frozenset(
    {
        DagsterEventType.STEP_START,
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.ASSET_CHECK_EVALUATION,
    }
)


def console_logging(verbose: bool) -> dict[str, Any]:
    """Run config for Dagster's console logger: its DEBUG event stream with `verbose`, else
    nothing below CRITICAL (what ff_assets prints from the event log replaces it)."""
    level = "DEBUG" if verbose else "CRITICAL"
    return {"loggers": {"console": {"config": {"log_level": level}}}}


class EventFeed:
    """Hands each event log entry of run `run_id` of the watched kinds to `on_entry`, in
    order, while the run goes.

    A thread reads the instance's event log every `interval` seconds once the run has started
    (the SQLite storage creates a run's event database with its first event; reading earlier
    would race that). Leaving the block stops the thread and reads the rest in the calling
    thread, so every entry is handed over exactly once, never from two threads at a time.
    """

    def __init__(
        self,
        instance: DagsterInstance,
        run_id: str,
        on_entry: Callable[[EventLogEntry], None],
        *,
        kinds: Iterable[DagsterEventType] = WATCHED,
        interval: float = 0.25,
    ) -> None:
        self.instance = instance
        self.run_id = run_id
        self.on_entry = on_entry
        self.kinds = set(kinds)
        self.interval = interval
        self._cursor: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="ff-assets-events", daemon=True)

    def __enter__(self) -> EventFeed:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self._read()

    def _read(self) -> None:
        run = self.instance.get_run_by_id(self.run_id)
        if run is None or run.status is DagsterRunStatus.NOT_STARTED:
            return
        has_more = True
        while has_more:
            batch = self.instance.get_records_for_run(
                self.run_id, cursor=self._cursor, of_type=self.kinds
            )
            for record in batch.records:
                self.on_entry(record.event_log_entry)
            self._cursor, has_more = batch.cursor, batch.has_more


def kind_label(planned: PlannedAsset) -> str:
    """What a progress line calls an asset: `table` or `view` for data, else its role."""
    if planned.role in (AssetRole.SOURCE, AssetRole.SPLIT, AssetRole.FEATURES):
        return planned.storage.value
    return planned.role.value


@dataclass
class RunProgress:
    """Progress lines from a run's event log entries, one per asset when its (first)
    materialization is recorded: `[ 3/22] reviews/tokens  view  1.2 s`, the time being what
    passed since the step started or the previous asset was stored.

    `labels` holds every asset the run selected and what it is (see `kind_label`).
    """

    labels: Mapping[AssetKey, str]
    emit: Callable[[str], None]
    stored: list[AssetKey] = field(default_factory=list)
    checks_passed: int = 0
    checks_failed: list[AssetCheckEvaluation] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    _since: float | None = None

    def __call__(self, entry: EventLogEntry) -> None:
        event = entry.dagster_event
        if event is None:
            return
        if event.event_type is DagsterEventType.STEP_START:
            self._since = entry.timestamp
        elif event.event_type is DagsterEventType.ASSET_MATERIALIZATION:
            materialization = entry.asset_materialization
            assert materialization is not None  # an ASSET_MATERIALIZATION entry carries one
            self._stored(materialization.asset_key, materialization.metadata, entry.timestamp)
        elif event.event_type is DagsterEventType.ASSET_CHECK_EVALUATION:
            self._checked(event.event_specific_data)  # type: ignore[arg-type]

    def _stored(self, key: AssetKey, metadata: Mapping[str, Any], at: float) -> None:
        seconds = at - (self._since if self._since is not None else self.started)
        self._since = at
        if key in self.stored:  # a partitioned asset: one materialization per partition
            return
        self.stored.append(key)
        total = len(self.labels)
        width = max((len(k.to_user_string()) for k in self.labels), default=0)
        line = (
            f"[{len(self.stored):>{len(str(total))}}/{total}] "
            f"{key.to_user_string():<{width}}  {self.labels.get(key, ''):<10}  {seconds:6.1f} s"
        )
        detail = _detail({k: getattr(v, "value", v) for k, v in metadata.items()})
        self.emit(f"{line}  {detail}".rstrip())

    def _checked(self, evaluation: AssetCheckEvaluation) -> None:
        if evaluation.passed:
            self.checks_passed += 1
            return
        self.checks_failed.append(evaluation)
        why = f": {evaluation.description}" if evaluation.description else ""
        self.emit(
            f"  check {evaluation.check_name} of {evaluation.asset_key.to_user_string()} "
            f"FAILED{why}"
        )

    def summary(self, *, success: bool, run_id: str) -> str:
        """`Done in 41.2 s: 22 of 22 assets stored, 14 checks passed (Dagster run 1a2b...).`"""
        checks = f"{self.checks_passed} checks passed"
        if self.checks_failed:
            checks += f", {len(self.checks_failed)} failed"
        return (
            f"{'Done' if success else 'FAILED'} in {time.time() - self.started:.1f} s: "
            f"{len(self.stored)} of {len(self.labels)} assets stored, {checks} "
            f"(Dagster run {run_id})."
        )


def _detail(metadata: Mapping[str, Any]) -> str:
    if "model_version" in metadata:
        return f"model version {metadata['model_version']}"
    if "delta_version" in metadata:
        return f"delta version {metadata['delta_version']}"
    return ""


def error_chain(error: Any) -> Iterator[Any]:
    """A serialized error (Dagster's `SerializableErrorInfo`) and its causes, outermost first."""
    while error is not None:
        yield error
        error = error.cause


def _is_dagster(link: Any) -> bool:
    return link.message.startswith("dagster.")


def user_error(error: Any) -> str:
    """The outermost message of a step failure that is not Dagster's own wrapper ("Error
    occurred while executing op ..."), as it names every failed stage."""
    chain = list(error_chain(error))
    own = next((link for link in chain if not _is_dagster(link)), chain[0] if chain else None)
    return own.message.strip() if own is not None else "unknown error"


def root_cause(error: Any) -> str:
    """`DataFormatError: reviews.txt, line 3: ... Re-encode the file as UTF-8.`: the error a
    user acts on, from a step failure's chain of causes. That is the innermost ff_assets error
    other than the engine's summary (`StageFailedError`, whose cause is the first failed
    stage's own error), as its message names the thing and the fix; without one, the
    innermost error that is not Dagster's own (a stage's own exception, or the summary)."""
    chain = [link for link in error_chain(error) if not _is_dagster(link)]
    if not chain:
        return user_error(error)
    own = [
        link
        for link in chain
        if link.message.startswith("ff_assets.") and link.cls_name != StageFailedError.__name__
    ]
    chosen = own[-1] if own else chain[-1]
    head, colon, text = chosen.message.strip().partition(": ")
    return f"{chosen.cls_name}: {text if colon and head.endswith(chosen.cls_name) else head}"
