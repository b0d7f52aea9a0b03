"""Promotions of one registered model one at a time: the lock is held while promoting, taken
over when its holder died long ago, and refused with the fix while another holds it."""

from __future__ import annotations

import time

import pytest
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
from mlflow.tracking import MlflowClient

from ff_assets.core.errors import TrackingError
from ff_assets.tracking.registry import (
    LOCK_STALE_SECONDS,
    LOCK_SUFFIX,
    aliases_of,
    promote,
    promotion_lock,
)
from ff_assets_tests.tracking.helpers import Register

MODEL = "shop.churn"
LOCK = MODEL + LOCK_SUFFIX


def _locks(client: MlflowClient) -> list[str]:
    return [m.name for m in client.search_registered_models(f"name = '{LOCK}'")]


def test_the_lock_is_held_while_promoting_and_released_after(client: MlflowClient) -> None:
    with promotion_lock(client, MODEL):
        assert _locks(client) == [LOCK]
        with pytest.raises(TrackingError) as refused, promotion_lock(client, MODEL, wait=0.2):
            pass
    assert _locks(client) == []
    message = str(refused.value)
    assert f"another promotion of {MODEL} has held its lock" in message
    assert f"delete the registered model {LOCK!r} and promote again" in message


def test_an_abandoned_lock_is_taken_over(client: MlflowClient, register: Register) -> None:
    register(MODEL, validation_accuracy=0.9)
    since = str(time.time() - LOCK_STALE_SECONDS - 1)  # a promotion that died a minute ago
    client.create_registered_model(LOCK, tags={"ff_assets.lock_since": since})
    done = promote(client, MODEL, "staging", reason="after a crash")
    assert done.version == "1" and aliases_of(client, MODEL) == {"staging": "1"}
    assert _locks(client) == []
    record = client.get_model_version(MODEL, "1").tags["promoted_to_staging"]
    assert record.endswith(" (was unset): after a crash")


def test_a_lock_released_while_a_rival_asks_for_it_is_taken(
    client: MlflowClient, register: Register, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SQL store answers a create that lost the race by looking the winner's model up; when
    the winner released the lock in between, that lookup says RESOURCE_DOES_NOT_EXIST. The
    rival tries again and promotes (seen with two `ff-assets promote` against a server)."""
    register(MODEL, validation_accuracy=0.9)
    client.create_registered_model(LOCK, tags={"ff_assets.lock_since": str(time.time())})
    lookup = SqlAlchemyStore.get_registered_model
    released = []

    def winner_releases_first(store: SqlAlchemyStore, name: str) -> object:
        if name == LOCK and not released:
            released.append(name)
            store.delete_registered_model(name)  # the holder's promotion ends just now
        return lookup(store, name)

    monkeypatch.setattr(SqlAlchemyStore, "get_registered_model", winner_releases_first)
    done = promote(client, MODEL, "staging", reason="right after another")
    assert released == [LOCK]
    assert done.version == "1" and aliases_of(client, MODEL) == {"staging": "1"}
    assert _locks(client) == []
