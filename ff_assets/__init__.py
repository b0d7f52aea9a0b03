"""ff_assets: a feature store built as a Dagster asset graph over Spark, Delta Lake and MLflow."""

from ff_assets.core import FeatureStore, FitOn, Retries, StageKind, StageSpec
from ff_assets.spark.adapter import register as _register_spark_adapter

# The package root wires the layers: the core holds the stage-adapter registry, the Spark layer
# fills it (without loading pyspark), so `store.add(HashingTF(...))` works after any import.
_register_spark_adapter()

__all__ = ["FeatureStore", "FitOn", "Retries", "StageKind", "StageSpec"]
