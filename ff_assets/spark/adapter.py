"""The Spark ML stage adapter, registered with the core's adapter registry.

Importing this module loads no pyspark: a stage is claimed by the module its class comes from,
and `ff_assets.spark.introspect` (which needs pyspark) is imported only to read a claimed
stage, which the user's code built with pyspark already loaded.
"""

from __future__ import annotations

from typing import Any

from ff_assets.core.adapters import register_adapter
from ff_assets.core.specs import StageSpec

_MODULES = ("pyspark.ml.", "ff_assets.spark.")  # Spark ML stages and `spark_stage` factories


class SparkMLAdapter:
    """Reads a pyspark.ml Estimator or Transformer (or a `spark_stage` factory) as a spec."""

    name = "spark_ml"

    def claims(self, stage: object) -> bool:
        return type(stage).__module__.startswith(_MODULES)

    def to_spec(self, stage: Any, **overrides: Any) -> StageSpec:
        from ff_assets.spark.introspect import stage_from_spark

        return stage_from_spark(stage, **overrides)


def register() -> None:
    """Register the adapter (idempotent; `import ff_assets` does it)."""
    register_adapter(SparkMLAdapter())
