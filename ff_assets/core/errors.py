"""One exception class per refusal. Every message names the offending thing and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix naming the closest candidates, or '' when none is close."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


class FFAssetsError(Exception):
    """Base of every error ff_assets raises on purpose."""


class DeclarationError(FFAssetsError, ValueError):
    """A stage or feature is declared in a shape that cannot work."""


class DuplicateStageError(DeclarationError):
    """Two stages claim one name."""


class DuplicateFeatureError(DeclarationError):
    """One feature is declared twice with different metadata."""


class PlanningError(FFAssetsError):
    """The declarations are well formed but no safe plan exists for the requested outputs."""


class UnknownInputError(PlanningError):
    """A stage reads a feature that no stage writes."""


class UnproducedOutputError(PlanningError):
    """A requested output is not written by any stage."""


class UnknownPinError(PlanningError):
    """A pin names a feature or a producer that does not exist."""


class StageCycleError(PlanningError):
    """Stages depend on each other in a circle."""


class AmbiguousSplitError(PlanningError):
    """Two splits carry the same feature, so a reader cannot tell which rows it gets."""


class MissingSplitError(PlanningError):
    """A model has no train/test split upstream, so it cannot be evaluated on held-out rows."""


class EntityMismatchError(PlanningError):
    """A stage reads features keyed by different entities."""


class TestLeakageError(PlanningError):
    """A stage fitted on rows that include test rows feeds a model evaluated on test."""

    __test__ = False  # not a pytest test class, despite the name


class TargetLeakageError(PlanningError):
    """A model input is computed row-wise from the model's own label."""


class VariantExplosionError(PlanningError):
    """Alternative producers multiply into more variants than the configured cap."""


class UnknownNameError(FFAssetsError, LookupError):
    """A lookup (lineage, catalog) names nothing the store or plan knows."""


class DataNotFoundError(FFAssetsError, FileNotFoundError):
    """A source's data files are not where the configuration says."""


class DataFormatError(FFAssetsError, ValueError):
    """A data file is there but its content does not match what the source declares."""


class TrackingError(FFAssetsError):
    """MLflow cannot be reached or answers something ff_assets cannot use."""


class MissingAliasError(TrackingError, LookupError):
    """No model version carries the alias a prediction job asked for."""


class PromotionRefusedError(TrackingError):
    """A promotion would break a rule declared on the model (its metric threshold)."""
