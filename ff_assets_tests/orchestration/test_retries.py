"""A store's `Retries` as Dagster's `RetryPolicy` on its assets, and which failures it retries
(no JVM: definitions only, and exceptions built by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import Backoff, Failure, Jitter, RetryPolicy
from py4j.protocol import Py4JNetworkError

from ff_assets.core import (
    ConcurrentWriteError,
    DataNotFoundError,
    Retries,
    StageFailedError,
    TestLeakageError,
    TrackingError,
)
from ff_assets.orchestration.definitions import build_definitions
from ff_assets.orchestration.retries import (
    describe,
    is_transient,
    retried_if_transient,
    retry_policy,
)
from ff_assets_tests.orchestration.tiny_store import build_store


@pytest.mark.parametrize(
    ("retries", "policy"),
    [
        (Retries(), RetryPolicy(2, 30.0, Backoff.EXPONENTIAL, Jitter.PLUS_MINUS)),
        (Retries(4, 1, "linear", jitter=False), RetryPolicy(4, 1.0, Backoff.LINEAR)),
        (Retries(1, 10, "constant"), RetryPolicy(1, 10.0, None, Jitter.PLUS_MINUS)),
        (Retries(3, 0, jitter=True), RetryPolicy(3, 0.0, Backoff.EXPONENTIAL)),
        (Retries(max_retries=0), None),
    ],
    ids=["default", "linear", "constant", "no delay", "off"],
)
def test_retries_map_onto_dagster_policies(retries: Retries, policy: RetryPolicy | None) -> None:
    assert retry_policy(build_store(retries=retries).retries) == policy


def test_every_asset_of_the_store_carries_its_policy(tmp_path: Path) -> None:
    retries = Retries(max_retries=3, delay_seconds=7)
    defs = build_definitions([build_store(retries=retries)], home=str(tmp_path))
    ops = {a.op.name: a.op for a in defs.assets if hasattr(a, "op")}  # type: ignore[union-attr]
    assert ops and {op.retry_policy for op in ops.values()} == {retry_policy(retries)}
    assert "retried 3 times, 7 s apart, growing exponential, with jitter" in (
        ops["tiny__assets"].description or ""
    )
    promote = defs.resolve_job_def("promote_model_job").nodes[0].definition
    assert promote.retry_policy == RetryPolicy(2, 5.0, Backoff.EXPONENTIAL, Jitter.PLUS_MINUS)


def test_the_description_says_what_is_retried() -> None:
    assert describe(Retries(max_retries=0)) == "transient failures are not retried"
    assert describe(Retries(1, 2.5, "constant", jitter=False)).startswith(
        "transient failures (lost Spark connection, MLflow unreachable, Delta commit conflict) "
        "retried once, 2.5 s apart; other failures are not retried"
    )


def _raised(error: Exception, *, cause: BaseException | None = None, context: bool = False):
    """`error` as raised from `cause` (`raise .. from`), or while handling it (`context`)."""
    try:
        try:
            if cause is not None:
                raise cause
        except BaseException as inner:
            if context:
                raise error from None
            raise error from inner
        raise error
    except Exception as raised:
        return raised


class ConcurrentAppendException(Exception):
    """Named like delta-spark's (`delta.exceptions`): judged by class name."""


TRANSIENT = {
    "connection refused": ConnectionRefusedError(111, "Connection refused"),
    "py4j gateway lost": Py4JNetworkError("Answer from Java side is empty"),
    "delta conflict": ConcurrentAppendException("Files were added to partition ..."),
    "ff_assets conflict": ConcurrentWriteError("table t: ..."),
    # tracking_client raises `from None`: the connection error stays its context
    "mlflow unreachable": _raised(
        TrackingError("MLflow tracking URI ... cannot be used"),
        cause=ConnectionError("no server answers"), context=True,
    ),
    "a stage lost its connection": _raised(
        StageFailedError("registering failed"), cause=TimeoutError("timed out")
    ),
}  # fmt: skip
DETERMINISTIC = {
    "a stage raised": _raised(StageFailedError("broken"), cause=ValueError("on purpose")),
    "missing data": DataNotFoundError("reviews.csv is not there"),  # a FileNotFoundError
    "leakage refusal": TestLeakageError("test rows reach a fit"),
    "a bug": KeyError("x"),
}


@pytest.mark.parametrize("error", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_transient_failures_go_to_the_policy(error: Exception) -> None:
    assert is_transient(error)
    with pytest.raises(type(error)), retried_if_transient():
        raise error


@pytest.mark.parametrize("error", DETERMINISTIC.values(), ids=DETERMINISTIC.keys())
def test_deterministic_failures_bypass_the_policy(error: Exception) -> None:
    assert not is_transient(error)
    with pytest.raises(Failure) as raised, retried_if_transient():
        raise error
    assert raised.value.allow_retries is False
    assert raised.value.__cause__ is error
    assert raised.value.description.startswith(type(error).__name__)
