"""The only layer that imports Dagster: a plan becomes assets, checks, jobs and sensors."""

from ff_assets.orchestration.definitions import build_definitions, store_definitions

__all__ = ["build_definitions", "store_definitions"]
