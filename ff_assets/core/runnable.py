"""Refusals of plans that are safe but would fail later, when definitions are built or a run
starts: asset keys two assets share, a model no scoring source can feed, a Python function
inside a registered model's inference pipeline, and a promotion threshold that would choose on
test rows. Checked on the plan, before any data is read."""

from __future__ import annotations

from ff_assets.core.errors import (
    AssetNameClashError,
    MissingScoringInputError,
    PythonStageInPipelineError,
    TestSelectionError,
    did_you_mean,
)
from ff_assets.core.plan import Plan, Variant
from ff_assets.core.specs import TEST, VALIDATION, Runtime, StageKind


def check_runnable(plan: Plan) -> None:
    """Refuse what `build_definitions` or a run would refuse, naming the thing and the fix."""
    check_asset_names(plan)
    for variant in plan.variants:
        if variant.model_node is not None:
            check_inference_pipeline(plan, variant)
            check_scoring_source(plan, variant)
            check_threshold_rows(plan, variant)


def check_asset_names(plan: Plan) -> None:
    """Every planned asset and every scoring source gets an asset key of its own
    (`<store>/<key name>`); Dagster refuses two definitions of one key."""
    owner: dict[str, str] = {}
    claims = [(a.key_name, f"asset {a.name!r}", a.base) for a in plan.assets.values()]
    claims += [(s, f"scoring source {s!r}", s) for s in plan.scoring_sources]
    bases: dict[str, str] = {}
    for key, what, base in claims:
        if key in owner:
            rename = " or ".join(repr(b) for b in dict.fromkeys((bases[key], base)))
            raise AssetNameClashError(
                f"{owner[key]} and {what} of store {plan.store!r} both get the asset key "
                f"{plan.store}/{key}: rename {rename} (a `__` in a name can repeat a variant's "
                "key, which joins the producers with `__`)."
            )
        owner[key], bases[key] = what, base


def check_inference_pipeline(plan: Plan, variant: Variant) -> None:
    """The registered model is logged as one Spark ML PipelineModel of the stages between the
    raw inputs and the model: fitted stages (Spark ML models) and row-wise Spark ML stages.
    A row-wise Python function cannot be saved in it."""
    model = variant.model_node or ""
    for key in plan.upstream_nodes(model)[:-1]:
        stage = plan.nodes[key].stage
        if stage.kind is StageKind.TRANSFORM and stage.runtime is Runtime.PYTHON:
            raise PythonStageInPipelineError(
                f"model {model!r} of {variant.name} is registered with its inference pipeline, "
                f"one Spark ML PipelineModel, and stage {stage.name!r} in it is a Python "
                "function, which a PipelineModel cannot hold: declare "
                f"{stage.name!r} as a Spark ML Transformer (store.add(SQLTransformer(...)) or "
                "another pyspark.ml stage), or compute its outputs in the source."
            )


def check_threshold_rows(plan: Plan, variant: Variant) -> None:
    """A promotion threshold chooses which model goes to production, so it reads the rows
    that choose (validation), never test rows (they would stop being held out)."""
    model = plan.nodes[variant.model_node or ""].stage
    declared = model.threshold.partition if model.threshold else None
    if declared is None or (declared == VALIDATION and plan.selects_on(variant) == VALIDATION):
        return
    if declared == TEST:
        raise TestSelectionError(
            f"model {model.name!r} declares its production threshold on test rows "
            f"(threshold_on='test'), so test rows would choose the model and stop being held "
            "out: drop threshold_on (the threshold is then checked on validation rows) and "
            "declare validation_fraction= on the split."
        )
    if declared == VALIDATION:
        raise TestSelectionError(
            f"model {model.name!r} of {variant.name} declares its threshold on validation rows, "
            "but its split has no validation partition, so the threshold would be checked on "
            "test rows: declare validation_fraction= on the split (store.split(..., "
            "validation_fraction=0.2))."
        )
    raise TestSelectionError(
        f"model {model.name!r} declares threshold_on={declared!r}: a threshold is checked on "
        f"{VALIDATION!r} rows (drop threshold_on, or write threshold_on='validation')."
        f"{did_you_mean(declared, [VALIDATION])}"
    )


def check_scoring_source(plan: Plan, variant: Variant) -> None:
    """When the store declares scoring sources, one of them provides every raw input of the
    variant's inference pipeline (its prediction jobs score that source's rows)."""
    if not plan.scoring_sources or plan.scoring_source_for(variant) is not None:
        return
    needed = plan.raw_features(variant)
    lacks = []
    for source in plan.scoring_sources.values():
        missing = [f for f in needed if f not in source.outputs]
        hints = "".join(did_you_mean(f, source.outputs) for f in missing)
        lacks.append(f"{source.name!r} lacks {', '.join(missing)}.{hints}")
    raise MissingScoringInputError(
        f"no scoring source of store {plan.store!r} provides every raw input of {variant.name} "
        f"({', '.join(needed)}): {' '.join(lacks)} Add the missing features to a scoring "
        "source's outputs (@store.scoring_source(outputs=[...]))."
    )
