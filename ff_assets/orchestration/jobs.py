"""Asset jobs: one per store that materializes its whole plan."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from ff_assets.orchestration.assets import PARTITIONS


def materialize_job_name(store: str) -> str:
    return f"{store}__materialize"


def materialize_job(store: str):
    """Every asset and check of a store (its asset group), one partition per run."""
    return define_asset_job(
        materialize_job_name(store),
        selection=AssetSelection.groups(store),
        partitions_def=PARTITIONS,
        description=f"Materialize every feature, fit and model of store {store!r}.",
    )
