"""Promotion of a planned variant's model: resolve the variant, check its threshold, set the
alias. Shared by `ff-assets promote` and the `promote_model` Dagster job."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from ff_assets.core.errors import UnknownNameError, did_you_mean
from ff_assets.core.plan import Plan, Variant
from ff_assets.tracking.registry import Promotion, promote, registered_model_name


def resolve_variant(plan: Plan, output: str, variant: str | None) -> Variant:
    """`sentiment_prediction` + `tfidf` -> the variant `sentiment_prediction[tfidf]`."""
    candidates = plan.variants_of(output)
    if not candidates:
        raise UnknownNameError(
            f"store {plan.store!r} plans no output {output!r}; planned outputs: "
            f"{', '.join(plan.outputs)}.{did_you_mean(output, plan.outputs)}"
        )
    if not variant and len(candidates) == 1:
        return candidates[0]
    name = f"{output}[{variant}]" if variant and not variant.startswith(output) else variant
    if not name:
        raise UnknownNameError(
            f"{output} has {len(candidates)} variants ({', '.join(v.slug for v in candidates)}): "
            "choose one with --variant (in the promote job: the config's variant)."
        )
    return plan.variant(name)


def promote_variant(
    client: MlflowClient,
    plan: Plan,
    output: str,
    variant: str | None,
    alias: str,
    *,
    version: str | None = None,
    reason: str = "",
) -> Promotion:
    """Point `alias` of the variant's registered model at `version` (default: newest); its
    threshold is checked on the rows that choose the variant's models (`Plan.selects_on`)."""
    chosen = resolve_variant(plan, output, variant)
    stage = plan.nodes[chosen.model_node].stage if chosen.model_node else None
    if stage is None:
        raise UnknownNameError(f"{chosen.name} is not produced by a model: nothing to promote.")
    name = registered_model_name(plan.store, chosen.output, chosen.slug)
    return promote(
        client, name, alias, version=version, threshold=stage.threshold,
        partition=plan.selects_on(chosen), reason=reason,
    )  # fmt: skip


def promotion_line(done: Promotion) -> str:
    """`reviews.sentiment_prediction.tfidf: production -> version 3 (validation accuracy
    0.8123) (was 2)`: what the CLI prints and the promote job logs."""
    checked = (
        f" ({done.partition} {done.metric} {done.value:.4f})" if done.value is not None else ""
    )
    return (
        f"{done.name}: {done.alias} -> version {done.version}{checked}"
        f" (was {done.previous or 'unset'})"
    )
