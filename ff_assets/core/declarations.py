"""A store's declarations frozen at one moment: the value the planner plans from.

`FeatureStore` is the mutable declaring API; `Declarations` is what it hands the planner, so
planning depends on a value and never on the store (nor the store on the planner's internals).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ff_assets.core.errors import DeclarationError
from ff_assets.core.specs import FeatureSpec, Retries, StageKind, StageSpec, Tags


def frozen_mapping(items: Mapping[str, object]) -> Mapping:
    """A read-only copy: later changes to the source do not show, writes raise TypeError."""
    return MappingProxyType(dict(items))


@dataclass(frozen=True, kw_only=True, eq=False)
class Declarations:
    """Stages, features and scoring sources of one store, with its metadata and defaults."""

    store: str
    stages: Mapping[str, StageSpec]  # in declaration order
    features: Mapping[str, FeatureSpec]  # declared or implied by a stage
    scoring_sources: Mapping[str, StageSpec]
    default_outputs: tuple[str, ...] = ()
    max_variants: int = 64
    description: str = ""
    owner: str = ""
    tags: Tags = ()
    retries: Retries = Retries()  # transient failures of the store's runs

    def __post_init__(self) -> None:
        for name in ("stages", "features", "scoring_sources"):
            object.__setattr__(self, name, frozen_mapping(getattr(self, name)))
        object.__setattr__(self, "default_outputs", tuple(self.default_outputs))

    def requested_outputs(self, outputs: Iterable[str] | None = None) -> tuple[str, ...]:
        """The outputs to plan: those given, else the declared defaults, else every model's."""
        if isinstance(outputs, str):
            raise DeclarationError(
                f"outputs must be a list of feature names, not the string {outputs!r}: "
                f"write [{outputs!r}]."
            )
        if outputs:
            return tuple(dict.fromkeys(outputs))
        if self.default_outputs:
            return self.default_outputs
        return tuple(
            f for s in self.stages.values() if s.kind is StageKind.MODEL for f in s.outputs
        )
