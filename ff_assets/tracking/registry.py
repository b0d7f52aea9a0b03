"""The MLflow model registry as ff_assets uses it: names, versions, aliases, promotion.

Aliases `staging` and `production` (registry stages are deprecated) select what the prediction
jobs score. Promotions are recorded as tags on the version they point at.
"""

from __future__ import annotations

import getpass
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ff_assets.config import redact
from ff_assets.core.errors import MissingAliasError, PromotionRefusedError, TrackingError
from ff_assets.core.plan import selection_warning
from ff_assets.core.specs import VALIDATION, Threshold
from ff_assets.tracking.sqlite_stores import create_sqlite_store

ALIASES = ("staging", "production")

# Clients are opened one at a time, so two threads never create the same store twice (a new
# SQLite store is created from a template: `sqlite_stores`).
_OPENING = threading.Lock()


def registered_model_name(store: str, output: str, variant_slug: str) -> str:
    """`reviews.sentiment_prediction.tfidf`: stable per store, output and variant."""
    return ".".join(part for part in (store, output, variant_slug) if part)


def tracking_client(uri: str) -> MlflowClient:
    """A client for `uri` (tracking and registry), checked to answer before it is used."""
    try:
        _check_server_answers(uri)
        with _OPENING:
            create_sqlite_store(uri)
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments(max_results=1)
    except (MlflowException, OSError) as exc:  # unknown scheme, no server, unusable store
        raise TrackingError(
            redact(
                f"MLflow tracking URI {uri!r} cannot be used: {type(exc).__name__}: {exc}. "
                "Point mlflow_tracking_uri (or MLFLOW_TRACKING_URI) at a running MLflow server "
                "(http://host:5000) or a SQLite file (sqlite:////abs/path/mlflow.db).",
                uri,
            )
        ) from None
    return client


def is_server(uri: str) -> bool:
    """Whether `uri` names a tracking server (http or https), not a store of this process."""
    return urlsplit(uri).scheme in ("http", "https")


def _check_server_answers(uri: str, timeout: float = 5.0) -> None:
    """Fail in seconds when an HTTP tracking server cannot be reached: MLflow's own client
    retries a refused connection with backoff for about four minutes before giving up.
    Any HTTP answer (even an error status) or a TLS problem is left to MLflow to judge."""
    if not is_server(uri):
        return
    try:
        requests.get(uri.rstrip("/") + "/health", timeout=timeout)
    except requests.exceptions.SSLError:
        return
    except (requests.exceptions.ConnectionError, requests.exceptions.ConnectTimeout) as exc:
        raise ConnectionError(f"no server answers at {uri} ({exc})") from exc  # an OSError
    except requests.exceptions.RequestException:
        return


def ensure_experiment(client: MlflowClient, name: str, artifact_root: Path | None) -> str:
    """The experiment's id, creating it with artifacts under `artifact_root` when it is new.

    MLflow's `set_experiment` would create it with artifacts under the current folder.
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = artifact_root.resolve().as_uri() if artifact_root else None
    return client.create_experiment(name, artifact_location=location)


def version_for_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion:
    """The version `alias` points at, or MissingAliasError saying how to set it."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        raise MissingAliasError(
            f"no version of registered model {name!r} has the alias {alias!r}. Materialize the "
            f"variant's fit job, then set the alias: ff-assets promote OUTPUT --variant VARIANT "
            f"--to {alias} (or the promote_model job)."
        ) from None


def aliases_of(client: MlflowClient, name: str) -> dict[str, str]:
    """{alias: version} of a registered model ({} when it is not registered yet)."""
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return {}
    return {alias: str(version) for alias, version in (model.aliases or {}).items()}


def latest_version(client: MlflowClient, name: str) -> ModelVersion:
    """The newest version of a registered model."""
    versions = client.search_model_versions(f"name = '{name}'", order_by=["version_number DESC"])
    if not versions:
        raise MissingAliasError(
            f"registered model {name!r} has no version yet: materialize the variant's fit job."
        )
    return versions[0]


def metric_of(
    client: MlflowClient, version: ModelVersion, metric: str, partition: str
) -> float | None:
    """The metric on `partition`'s rows logged by the run that registered `version`."""
    if not version.run_id:
        return None
    return client.get_run(version.run_id).data.metrics.get(f"{partition}_{metric}")


@dataclass(frozen=True)
class Promotion:
    """What a promotion did; `partition` names the rows its threshold was checked on."""

    name: str
    alias: str
    version: str
    previous: str | None
    metric: str | None
    value: float | None
    partition: str = VALIDATION

    @property
    def warning(self) -> str | None:
        """Said when test rows decided the promotion."""
        if self.metric is None:
            return None
        return selection_warning(self.partition, f"{self.name}'s production versions")


def promote(
    client: MlflowClient,
    name: str,
    alias: str,
    *,
    version: str | None = None,
    threshold: Threshold | None = None,
    partition: str = VALIDATION,
    reason: str = "",
) -> Promotion:
    """Point `alias` at `version` (default: the newest), after checking the threshold on
    `partition`'s metrics for `production`; record who, when, why and on which rows it was
    chosen on the version: `<UTC time, microseconds> by <user> (was version N): <reason>`.
    Refusals change nothing; promotions of one model run one at a time (`promotion_lock`), so
    each record names the version its promotion really replaced."""
    if alias not in ALIASES:
        raise PromotionRefusedError(
            f"alias {alias!r} is not one ff_assets uses: choose {' or '.join(ALIASES)}."
        )
    chosen = _version(client, name, version)
    value = metric_of(client, chosen, threshold.metric, partition) if threshold else None
    if alias == "production" and threshold is not None:
        if value is None:
            raise PromotionRefusedError(
                f"{name} version {chosen.version} has no {partition}_{threshold.metric} metric, "
                f"so the production threshold ({threshold.metric} >= {threshold.minimum} on "
                f"{partition} rows) cannot be checked: re-materialize the variant's registered "
                "model."
            )
        if not threshold.holds(value):
            raise PromotionRefusedError(
                f"{name} version {chosen.version} has {partition} {threshold.metric} "
                f"{value:.4f}, below the production threshold {threshold.minimum}: improve the "
                "model (or lower the threshold declared on it) and promote a version that "
                "meets it."
            )
    with promotion_lock(client, name):
        previous = aliases_of(client, name).get(alias)
        client.set_registered_model_alias(name, alias, chosen.version)
        stamp = datetime.now(UTC).isoformat(timespec="microseconds")
        was = f"version {previous}" if previous else "unset"
        record = f"{stamp} by {getpass.getuser()} (was {was}): {reason or 'no reason given'}"
        client.set_model_version_tag(name, chosen.version, f"promoted_to_{alias}", record)
        if threshold is not None and alias == "production":
            client.set_model_version_tag(name, chosen.version, "production_threshold_on", partition)
    return Promotion(
        name=name, alias=alias, version=str(chosen.version), previous=previous,
        metric=threshold.metric if threshold else None, value=value, partition=partition,
    )  # fmt: skip


LOCK_SUFFIX = ".promotion_lock"
LOCK_STALE_SECONDS = 60.0  # a promotion takes well under a second: older locks were abandoned
LOCK_WAIT_SECONDS = 120.0
CONTENDED = frozenset({"RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"})


@contextmanager
def promotion_lock(
    client: MlflowClient, name: str, *, wait: float = LOCK_WAIT_SECONDS
) -> Iterator[None]:
    """Promotions of `name` one at a time, across threads, processes and machines.

    MLflow has no compare-and-set: two promotions at once would both read the same previous
    version, and on a SQL store the second to insert a new alias fails on its UNIQUE constraint
    (`set_registered_model_alias` reads, then inserts). The lock is a registered model named
    `<name>.promotion_lock`, as creating a registered model is the one call every MLflow store
    makes atomic (a name is created once); deleting it releases the lock. A lock older than
    `LOCK_STALE_SECONDS` (its holder died) is taken over."""
    lock = name + LOCK_SUFFIX
    holder = f"{getpass.getuser()}@{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + wait
    pause = 0.02
    while True:
        try:
            tags = {"ff_assets.lock_holder": holder, "ff_assets.lock_since": str(time.time())}
            client.create_registered_model(
                lock, tags=tags, description=f"Held while {name} is promoted; deleted after."
            )
            break
        except MlflowException as exc:
            # A SQL store answers a create that lost the race with a lookup of the winner's
            # model (`SqlAlchemyStore.create_registered_model`): RESOURCE_DOES_NOT_EXIST
            # when the winner released the lock in between. Both mean "taken": try again.
            if exc.error_code not in CONTENDED:
                raise
        _release_if_stale(client, lock)
        if time.monotonic() > deadline:
            raise TrackingError(
                f"another promotion of {name} has held its lock (registered model {lock!r}) for "
                f"over {wait:.0f} s: wait for it to end and promote again; if none is running, "
                f"delete the registered model {lock!r} and promote again."
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    try:
        yield
    finally:
        client.delete_registered_model(lock)


def _release_if_stale(client: MlflowClient, lock: str) -> None:
    try:
        since = float(client.get_registered_model(lock).tags.get("ff_assets.lock_since", "0"))
    except MlflowException:  # released meanwhile
        return
    if time.time() - since > LOCK_STALE_SECONDS:
        with suppress(MlflowException):  # another waiter took it over first
            client.delete_registered_model(lock)


def _version(client: MlflowClient, name: str, version: str | None) -> ModelVersion:
    if version is None:
        return latest_version(client, name)
    try:
        return client.get_model_version(name, str(version))
    except MlflowException:
        known = [v.version for v in client.search_model_versions(f"name = '{name}'")]
        raise PromotionRefusedError(
            f"registered model {name!r} has no version {version}; it has "
            f"{', '.join(map(str, sorted(known, key=int))) or 'none'}: name one of them, or "
            "leave the version out to promote the newest."
        ) from None
