"""The declared feature graph: who writes each feature, which split carries it, who reads what.

Resolution rule for a stage reading feature X: when a split carries X and the split does not
itself depend on the stage, the stage reads X from the split (train/test rows); otherwise it
reads X from X's producers (all rows). So a stage placed before a split by its own outputs
(the split carries them) sees all rows, and everything else sees split rows.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from dataclasses import dataclass

from ff_assets.core.errors import (
    AmbiguousSplitError,
    StageCycleError,
    UnknownInputError,
    did_you_mean,
)
from ff_assets.core.specs import StageKind, StageSpec


@dataclass(frozen=True)
class FeatureGraph:
    """Producers, split carriers and stage-to-stage dependencies of a set of declarations."""

    stages: Mapping[str, StageSpec]
    producers: Mapping[str, tuple[str, ...]]  # feature -> non-split stages writing it
    carrier: Mapping[str, str]  # feature -> the split that carries it
    before_split: Mapping[str, frozenset[str]]  # split -> stages it depends on

    @classmethod
    def build(cls, stages: Mapping[str, StageSpec]) -> FeatureGraph:
        """Index the declarations and refuse unknown inputs, ambiguous splits and cycles."""
        producers: dict[str, list[str]] = {}
        carrier: dict[str, str] = {}
        for stage in stages.values():
            if stage.kind is StageKind.SPLIT:
                for feature in stage.outputs:
                    if feature in carrier:
                        raise AmbiguousSplitError(
                            f"splits {carrier[feature]!r} and {stage.name!r} both carry feature "
                            f"{feature!r}: a reader cannot tell which train/test rows it gets. "
                            "Let one split carry it."
                        )
                    carrier[feature] = stage.name
            else:
                for feature in stage.outputs:
                    producers.setdefault(feature, []).append(stage.name)
        frozen = {f: tuple(p) for f, p in producers.items()}
        _check_inputs(stages, frozen)
        graph = cls(
            stages=stages, producers=frozen, carrier=carrier,
            before_split=_before_split(stages, frozen),
        )  # fmt: skip
        graph._check_cycles()
        return graph

    def resolve(self, consumer: str | None, feature: str) -> tuple[str, ...]:
        """The stages `consumer` may read `feature` from (several means competing variants)."""
        split = self.carrier.get(feature)
        if split is not None and split != consumer and consumer not in self.before_split[split]:
            return (split,)
        return self.producers[feature]

    def is_choice(self, consumer: str | None, feature: str) -> bool:
        return len(self.resolve(consumer, feature)) > 1

    def _check_cycles(self) -> None:
        deps = {
            name: {p for f in stage.reads for p in self.resolve(name, f)}
            for name, stage in self.stages.items()
        }
        try:
            graphlib.TopologicalSorter(deps).prepare()
        except graphlib.CycleError as exc:
            cycle: list[str] = exc.args[1]
            hops = []
            for upstream, downstream in zip(cycle, cycle[1:], strict=False):
                written = self.stages[upstream].outputs
                feature = next(f for f in self.stages[downstream].reads if f in written)
                hops.append(f"{upstream} -({feature})->")
            path = " ".join(hops) + f" {cycle[-1]}"
            raise StageCycleError(
                f"stages form a cycle: {path}. A stage cannot (even indirectly) read what it "
                "writes: rename one of these features or drop one of these inputs."
            ) from None


def _check_inputs(stages: Mapping[str, StageSpec], producers: Mapping[str, tuple[str, ...]]):
    for stage in stages.values():
        for feature in stage.reads:
            if feature not in producers:
                hint = did_you_mean(feature, producers)
                raise UnknownInputError(
                    f"stage {stage.name!r} reads feature {feature!r}, which no stage writes.{hint}"
                    f" Fix the name, or declare a stage whose outputs include {feature!r}."
                )


def _before_split(
    stages: Mapping[str, StageSpec], producers: Mapping[str, tuple[str, ...]]
) -> dict[str, frozenset[str]]:
    """For each split, every stage its carried features are computed from (all alternatives)."""
    result: dict[str, frozenset[str]] = {}
    for split in (s for s in stages.values() if s.kind is StageKind.SPLIT):
        seen: set[str] = set()
        stack = [p for f in split.inputs for p in producers[f]]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            stack.extend(p for f in stages[name].reads for p in producers.get(f, ()))
        result[split.name] = frozenset(seen)
    return result
