"""Variants of one output side by side, from what the MLflow registry holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from ff_assets.tracking.registry import aliases_of


@dataclass(frozen=True)
class VariantRow:
    """One variant's newest registered version, its test metrics and the aliases it holds."""

    variant: str
    model: str
    version: str | None
    metrics: dict[str, float]
    staging: str | None
    production: str | None


def compare_variants(client: MlflowClient, models: Sequence[tuple[str, str]]) -> list[VariantRow]:
    """`models` is (variant name, registered model name); newest version of each, best first
    by nothing: the order given (the plan's), so tables stay stable between runs."""
    rows = []
    for variant, name in models:
        versions = client.search_model_versions(
            f"name = '{name}'", order_by=["version_number DESC"], max_results=1
        )
        aliases = aliases_of(client, name)
        if not versions:
            rows.append(VariantRow(variant, name, None, {}, None, None))
            continue
        newest = versions[0]
        logged = client.get_run(newest.run_id).data.metrics if newest.run_id else {}
        metrics = {k.removeprefix("test_"): v for k, v in logged.items() if k.startswith("test_")}
        rows.append(
            VariantRow(
                variant,
                name,
                str(newest.version),
                metrics,
                aliases.get("staging"),
                aliases.get("production"),
            )  # fmt: skip
        )
    return rows


def comparison_table(rows: Sequence[VariantRow], metric: str) -> tuple[list[str], list[list]]:
    """Headers and rows for a terminal or Markdown table."""
    others = sorted({m for r in rows for m in r.metrics} - {metric})
    headers = ["variant", "version", metric, *others, "staging", "production"]
    body = [
        [
            r.variant,
            r.version or "-",
            r.metrics.get(metric, "-"),
            *(r.metrics.get(m, "-") for m in others),
            r.staging or "-",
            r.production or "-",
        ]
        for r in rows
    ]
    return headers, body
