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


class UnknownSplitFeatureError(DeclarationError):
    """A split groups by, or checks the overlap of, a feature it does not carry."""


class UnknownMetricError(DeclarationError):
    """A model is evaluated with a metric ff_assets cannot compute."""


class InvalidOwnerError(DeclarationError):
    """An owner is neither an e-mail address nor a team name."""


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


class MissingScoringInputError(PlanningError):
    """No scoring source provides every raw input of a model, so its rows cannot be scored."""


class PythonStageInPipelineError(PlanningError):
    """A Python-function stage sits in a registered model's inference pipeline, which is one
    Spark ML PipelineModel and can hold Spark ML stages only."""


class AssetNameClashError(PlanningError):
    """Two planned assets (or an asset and a scoring source) get the same asset key."""


class TestSelectionError(PlanningError):
    """A choice between models (a promotion threshold) would read test rows, which turns
    them into validation rows: choose on a validation partition instead."""

    __test__ = False  # a refusal, not a pytest test class


class UnknownNameError(FFAssetsError, LookupError):
    """A lookup (lineage, catalog) names nothing the store or plan knows."""


class UnknownStoreError(UnknownNameError):
    """A job's config names a store the code location does not serve."""


class UnknownAliasError(UnknownNameError):
    """A promotion names an alias other than `staging` and `production`."""


class DataNotFoundError(FFAssetsError, FileNotFoundError):
    """A source's data files are not where the configuration says."""


class DataFormatError(FFAssetsError, ValueError):
    """Rows do not match what is declared: a data file's content, or the columns and types a
    source or stage returns. Raised at run time, once rows exist; `DeclarationError` is for
    declarations that cannot work, refused before any data is read."""


class MissingColumnError(DataFormatError):
    """A declared column is missing from the rows at run time (a source's or a stage's output,
    a frame to write). A `DataFormatError`, not a `DeclarationError`: the declaration planned
    fine, and only the rows the code returned break it, so the fix is in that code."""


class NotMaterializedError(FFAssetsError, LookupError):
    """An asset is read before it was ever materialized."""


class ConfigurationError(FFAssetsError, ValueError):
    """A setting read from the environment or a settings file is malformed."""


class StageFailedError(FFAssetsError):
    """Stages of a run failed; the assets that depend on them were not stored or computed."""


class TransientError(FFAssetsError):
    """A failure that may pass on its own: runs retry it under the store's `Retries`."""


class ConcurrentWriteError(TransientError):
    """Other runs kept committing to the same Delta table while this run wrote it."""


class TrackingError(FFAssetsError):
    """MLflow cannot be reached or answers something ff_assets cannot use."""


class MissingAliasError(TrackingError, LookupError):
    """No model version carries the alias a prediction job asked for."""


class PromotionRefusedError(TrackingError):
    """A promotion would break a rule declared on the model (its metric threshold)."""
