"""A store's `Retries` as Dagster's `RetryPolicy`, and which failures it may retry.

Only transient failures are retried: a lost Spark or Py4J connection, a network error
(an MLflow server that does not answer), a Delta commit conflict, or any `TransientError`.
Everything else a step raises (a stage's own error, a refused declaration, missing data, a
leakage refusal) is deterministic: it is raised as `dagster.Failure(allow_retries=False)`, so
the policy is bypassed and the run fails at once, with the original error as the cause.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import Backoff as DagsterBackoff
from dagster import Failure, Jitter, RetryPolicy

from ff_assets.core.errors import TransientError
from ff_assets.core.specs import Backoff, Retries
from ff_assets.spark.tables import CONFLICTS

BACKOFFS = {Backoff.EXPONENTIAL: DagsterBackoff.EXPONENTIAL, Backoff.LINEAR: DagsterBackoff.LINEAR}

# Failures that may pass on their own, by class name anywhere in an exception's chain of causes
# and contexts (py4j's and requests' classes need not be loaded to judge them). Delta's commit
# conflicts are the ones `spark.tables.write_table` retries itself: one list, theirs.
TRANSIENT_CLASSES = frozenset(
    {
        "Py4JNetworkError",  # the driver lost its JVM gateway
        "ConnectionError",  # requests' (MLflow's client), which is no builtin ConnectionError
        "ConnectTimeout",
        "ReadTimeout",
        "ConcurrentModificationException",  # Delta's commit conflicts (the Java base class)
        *(conflict.__name__ for conflict in CONFLICTS),  # and delta.exceptions' (no shared base)
    }
)
TRANSIENT_TYPES = (ConnectionError, TimeoutError, TransientError)


def retry_policy(retries: Retries) -> RetryPolicy | None:
    """Dagster's policy for a store's `Retries` (None when it allows no retry)."""
    if retries.max_retries == 0:
        return None
    return RetryPolicy(
        max_retries=retries.max_retries,
        delay=retries.delay_seconds,
        backoff=BACKOFFS.get(Backoff(retries.backoff)),
        jitter=Jitter.PLUS_MINUS if retries.jitter and retries.delay_seconds else None,
    )


def describe(retries: Retries) -> str:
    """`transient failures retried 2 times, 30 s apart, growing exponentially, with jitter`."""
    if retries.max_retries == 0:
        return "transient failures are not retried"
    times = "once" if retries.max_retries == 1 else f"{retries.max_retries} times"
    growth = "" if retries.backoff == Backoff.CONSTANT else f", growing {retries.backoff}"
    jitter = ", with jitter" if retries.jitter else ""
    return (
        f"transient failures (lost Spark connection, MLflow unreachable, Delta commit conflict) "
        f"retried {times}, {retries.delay_seconds:g} s apart{growth}{jitter}; other failures "
        "are not retried"
    )


def is_transient(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from or while handling, may pass on retry."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        link = pending.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        if isinstance(link, TRANSIENT_TYPES) or type(link).__name__ in TRANSIENT_CLASSES:
            return True
        pending += [link.__cause__, link.__context__]
    return False


def not_retried(error: Exception) -> Failure:
    """`error` as a Failure the retry policy lets fail at once, caused by `error`."""
    failure = Failure(description=f"{type(error).__name__}: {error}", allow_retries=False)
    failure.__cause__ = error
    return failure


@contextmanager
def retried_if_transient() -> Iterator[None]:
    """Let transient errors through to the retry policy; raise every other one as a Failure
    the policy does not retry (`allow_retries=False`), caused by the original error."""
    try:
        yield
    except Failure:
        raise
    except Exception as error:
        if is_transient(error):
            raise
        raise not_retried(error) from error
