"""The pure planning core: specs, the store, the planner, leakage refusals, lineage.

Standard library only: importing it never loads dagster, pyspark or mlflow.
"""

from ff_assets.core.errors import (
    AmbiguousSplitError,
    DataFormatError,
    DataNotFoundError,
    DeclarationError,
    DuplicateFeatureError,
    DuplicateStageError,
    EntityMismatchError,
    FFAssetsError,
    MissingAliasError,
    MissingSplitError,
    PlanningError,
    PromotionRefusedError,
    StageCycleError,
    TargetLeakageError,
    TestLeakageError,
    TrackingError,
    UnknownInputError,
    UnknownNameError,
    UnknownPinError,
    UnproducedOutputError,
    VariantExplosionError,
)
from ff_assets.core.plan import AssetDep, AssetRole, FitRows, Node, Plan, PlannedAsset, Variant
from ff_assets.core.specs import FeatureSpec, FitOn, StageKind, StageSpec, Threshold
from ff_assets.core.store import FeatureStore, HashSplit

__all__ = [
    "AmbiguousSplitError",
    "AssetDep",
    "AssetRole",
    "DataFormatError",
    "DataNotFoundError",
    "DeclarationError",
    "DuplicateFeatureError",
    "DuplicateStageError",
    "EntityMismatchError",
    "FFAssetsError",
    "FeatureSpec",
    "FeatureStore",
    "FitOn",
    "FitRows",
    "HashSplit",
    "MissingAliasError",
    "MissingSplitError",
    "Node",
    "Plan",
    "PlannedAsset",
    "PlanningError",
    "PromotionRefusedError",
    "StageCycleError",
    "StageKind",
    "StageSpec",
    "TargetLeakageError",
    "TestLeakageError",
    "TrackingError",
    "Threshold",
    "UnknownInputError",
    "UnknownNameError",
    "UnknownPinError",
    "UnproducedOutputError",
    "Variant",
    "VariantExplosionError",
]
