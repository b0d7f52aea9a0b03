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
    MissingSplitError,
    PlanningError,
    StageCycleError,
    TargetLeakageError,
    TestLeakageError,
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
    "MissingSplitError",
    "Node",
    "Plan",
    "PlannedAsset",
    "PlanningError",
    "StageCycleError",
    "StageKind",
    "StageSpec",
    "TargetLeakageError",
    "TestLeakageError",
    "Threshold",
    "UnknownInputError",
    "UnknownNameError",
    "UnknownPinError",
    "UnproducedOutputError",
    "Variant",
    "VariantExplosionError",
]
