"""Feature statistics as the last materialization recorded them in the Dagster instance:
what Dagit shows, read back for `ff-assets stats` (no Spark, no pass over the rows)."""

from __future__ import annotations

from typing import Any

from dagster import DagsterInstance

from ff_assets.core.errors import NotMaterializedError
from ff_assets.core.plan import Plan, PlannedAsset
from ff_assets.orchestration.keys import asset_key


def latest_statistics(
    instance: DagsterInstance, plan: Plan, planned: PlannedAsset
) -> dict[str, Any]:
    """`{feature: {"kind", "partitions", "drift"}}` of the asset's latest materialization."""
    key = asset_key(plan.store, planned)
    records = instance.fetch_materializations(key, limit=1).records
    if not records:
        raise NotMaterializedError(
            f"asset {key.to_user_string()} has no materialization in this project's Dagster "
            "instance: run `ff-assets materialize` (or materialize it in Dagit) first."
        )
    event = records[0].event_log_entry.dagster_event
    metadata = event.materialization.metadata if event and event.materialization else {}
    stats = metadata.get("feature_statistics_json")
    if stats is None:
        raise NotMaterializedError(
            f"asset {key.to_user_string()} was materialized without feature statistics (a view "
            "that was not held in memory, or statistics turned off): materialize it together "
            "with the assets that read it, or store it as a table (storage='table')."
        )
    return stats.value
