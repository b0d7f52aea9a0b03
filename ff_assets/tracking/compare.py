"""Variants of one output side by side, from what the MLflow registry holds, and the one that
the partition which chooses (validation, else test) ranks best."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from ff_assets.core.plan import Plan, selection_warning
from ff_assets.core.specs import TEST, TRAIN, VALIDATION
from ff_assets.tracking.registry import aliases_of, registered_model_name

# The partitions a registered version logs metrics for, as `<partition>_<metric>`.
_LOGGED = (VALIDATION, TEST, TRAIN)


@dataclass(frozen=True)
class VariantRow:
    """One variant's newest registered version, its metrics per partition and its aliases."""

    variant: str
    model: str
    version: str | None
    metrics: dict[str, dict[str, float]]  # partition -> metric -> value
    staging: str | None
    production: str | None


@dataclass(frozen=True)
class Comparison:
    """The variants of one output, the metric that ranks them and the partition it is read on."""

    output: str
    metric: str
    selects_on: str
    rows: tuple[VariantRow, ...]

    @property
    def best(self) -> VariantRow | None:
        """The variant with the highest metric on the choosing partition (None before any
        version is registered)."""
        scored = [r for r in self.rows if self.metric in r.metrics.get(self.selects_on, {})]
        return max(scored, key=lambda r: r.metrics[self.selects_on][self.metric], default=None)

    @property
    def warning(self) -> str | None:
        """Said wherever the comparison is shown when test rows choose."""
        return selection_warning(self.selects_on, f"{self.output}'s variants")

    def table(self) -> tuple[list[str], list[list]]:
        """Headers and rows for a terminal or Markdown table: the metric on the choosing
        partition first, then on the others, then the other metrics of the choosing one."""
        shown = [self.selects_on, *(p for p in _LOGGED if p != self.selects_on)]
        shown = [p for p in shown if any(self.metric in r.metrics.get(p, {}) for r in self.rows)]
        shown = shown or [self.selects_on]
        others = sorted({m for r in self.rows for m in r.metrics.get(self.selects_on, {})})
        others = [m for m in others if m != self.metric]
        headers = ["variant", "version"]
        headers += [f"{p} {self.metric}" + (" (chooses)" if p == self.selects_on else "")
                    for p in shown]  # fmt: skip
        headers += [f"{self.selects_on} {m}" for m in others]
        headers += ["staging", "production"]
        body = [
            [
                r.variant,
                r.version or "-",
                *(r.metrics.get(p, {}).get(self.metric, "-") for p in shown),
                *(r.metrics.get(self.selects_on, {}).get(m, "-") for m in others),
                r.staging or "-",
                r.production or "-",
            ]
            for r in self.rows
        ]
        return headers, body


def compare_output(client: MlflowClient, plan: Plan, output: str) -> Comparison:
    """The planned variants of `output`, each with its newest registered version."""
    variants = plan.variants_of(output)
    models = [(v.name, registered_model_name(plan.store, v.output, v.slug)) for v in variants]
    metric = plan.nodes[variants[0].model_node or ""].stage.metric or "accuracy"
    selects_on = plan.selects_on(variants[0])
    return Comparison(output, metric, selects_on, tuple(compare_variants(client, models)))


def compare_variants(client: MlflowClient, models: Sequence[tuple[str, str]]) -> list[VariantRow]:
    """`models` is (variant name, registered model name); the newest version of each, in the
    order given (the plan's), so tables stay stable between runs."""
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
        rows.append(
            VariantRow(
                variant,
                name,
                str(newest.version),
                metrics_by_partition(logged),
                aliases.get("staging"),
                aliases.get("production"),
            )  # fmt: skip
        )
    return rows


def metrics_by_partition(logged: dict[str, float]) -> dict[str, dict[str, float]]:
    """`{"validation_accuracy": 0.8}` -> `{"validation": {"accuracy": 0.8}}`."""
    result: dict[str, dict[str, float]] = {}
    for key, value in logged.items():
        partition, _, metric = key.partition("_")
        if partition in _LOGGED and metric:
            result.setdefault(partition, {})[metric] = value
    return result
