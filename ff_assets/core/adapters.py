"""The registry of stage adapters: what turns a runtime stage object into a `StageSpec`.

The core holds the registry and never imports an adapter's package. A layer that knows a kind
of stage registers an adapter for it (`ff_assets.spark.adapter` registers Spark ML's when
`ff_assets` is imported), and `FeatureStore.add` asks the registry for any object that is not
a `StageSpec`.
"""

from __future__ import annotations

from typing import Any, Protocol

from ff_assets.core.specs import StageSpec


class StageAdapter(Protocol):
    """Claims the stage objects it understands and reads a spec off them."""

    name: str

    def claims(self, stage: object) -> bool:
        """Whether this adapter reads `stage` (cheap: no import of the stage's library)."""
        ...

    def to_spec(self, stage: Any, **overrides: Any) -> StageSpec:
        """The spec of a claimed stage; `overrides` are the `StageSpec` fields the user set."""
        ...


_ADAPTERS: dict[str, StageAdapter] = {}


def register_adapter(adapter: StageAdapter) -> None:
    """Add an adapter, or replace the one registered under the same name."""
    _ADAPTERS[adapter.name] = adapter


def unregister_adapter(name: str) -> None:
    """Remove the adapter registered under `name` (no error when there is none)."""
    _ADAPTERS.pop(name, None)


def adapter_for(stage: object) -> StageAdapter | None:
    """The first registered adapter that claims `stage`, else None."""
    return next((a for a in _ADAPTERS.values() if a.claims(stage)), None)


def adapter_names() -> tuple[str, ...]:
    """Names of the registered adapters, in registration order."""
    return tuple(_ADAPTERS)
