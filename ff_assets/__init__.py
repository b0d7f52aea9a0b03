"""ff_assets: a feature store built as a Dagster asset graph over Spark, Delta Lake and MLflow."""

from ff_assets.core import FeatureStore, FitOn, StageKind, StageSpec

__all__ = ["FeatureStore", "FitOn", "StageKind", "StageSpec"]
