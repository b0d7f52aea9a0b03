"""The MLflow side of a store's run: registered models and variant comparisons.

- `<model>_registered__<variant>`: the engine hands over the variant's inference pipeline
  (every stage of its traversal as one Spark `PipelineModel`, fitted stages straight from the
  run) as soon as the model is fitted, and it is logged to MLflow with params in a run nested
  in the Dagster run's MLflow run (the `mlflow` resource's) while the engine writes the
  predictions; when the metrics per partition follow, they are logged, the run finishes and
  the model is registered as a new version (`ff_assets.tracking.runs`, in the settings'
  store only);
- `<output>_comparison`: the variants of one output side by side, read back from MLflow.

Both say which partition chooses (`Plan.selects_on`): validation when the split declares one,
else test, with a warning that test rows then stop being held out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyspark
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue

from ff_assets.config import redact_uri
from ff_assets.core.plan import Plan, PlannedAsset, Variant, selection_warning
from ff_assets.spark.engine import Assembled, Evaluated
from ff_assets.tracking.compare import compare_output
from ff_assets.tracking.registry import registered_model_name
from ff_assets.tracking.runs import LoggedModel, abandon, finish_and_register, log_model_run

if TYPE_CHECKING:
    from ff_assets.orchestration.assets import AssetGraph


def registered_model(plan: Plan, variant: Variant) -> str:
    """The MLflow registered-model name of a variant (`reviews.sentiment_prediction.tfidf`)."""
    return registered_model_name(plan.store, variant.output, variant.slug)


def _params(plan: Plan, variant: Variant) -> dict[str, str]:
    params = {}
    for key in variant.nodes:
        stage = plan.nodes[key].stage
        params.update({f"{stage.name}.{name}": value for name, value in stage.params})
    return params


class ModelLogs:
    """The models of one step's run in MLflow: each logged when the engine has fitted it
    (`start`), finished and registered when its metrics arrive (`register`); a logged model
    whose metrics never come is ended FAILED (`fail`, or on leaving the block)."""

    def __init__(self, context: AssetExecutionContext, graph: AssetGraph) -> None:
        self.context = context
        self.graph = graph
        self.store = context.resources.mlflow.store
        self.logged: dict[str, LoggedModel | Exception] = {}  # asset -> its run, or why not

    def __enter__(self) -> ModelLogs:
        return self

    def __exit__(self, *exc: object) -> None:
        for asset in list(self.logged):
            self.fail(asset)

    def start(self, assembled: Assembled) -> None:
        """Log a fitted model's pipeline and params in a nested run left RUNNING; an error is
        kept and raised by `register`, where the asset's failure is reported."""
        try:
            self.logged[assembled.asset] = self._log(assembled)
        except Exception as error:  # noqa: BLE001 - raised again by register()
            self.logged[assembled.asset] = error

    def fail(self, asset: str) -> None:
        """End the run of `asset`'s logged model FAILED: it will not be registered."""
        logged = self.logged.pop(asset, None)
        if isinstance(logged, LoggedModel):
            abandon(self.store, logged)

    def register(self, evaluated: Evaluated) -> MaterializeResult:
        """Log the metrics per partition, end the run and register a version tagged with the
        partition that chooses it (logging the model first when `start` did not)."""
        logged = self.logged.pop(evaluated.asset, None) or self._log(evaluated)
        if isinstance(logged, Exception):
            raise logged
        plan, variant = self.graph.plan, evaluated.variant
        run_id = self.context.run.run_id
        registered = finish_and_register(
            self.store, logged, name=registered_model(plan, variant),
            metrics=evaluated.metrics,
            version_tags={
                "dagster_run_id": run_id, "variant": variant.name,
                "selects_on": evaluated.selects_on,
            },
        )  # fmt: skip
        return self._result(evaluated, registered.version, registered.run_id)

    def _log(self, model: Assembled | Evaluated) -> LoggedModel:
        plan, variant = self.graph.plan, model.variant
        tags = {
            "dagster_run_id": self.context.run.run_id, "ff_assets.store": plan.store,
            "ff_assets.output": variant.output, "ff_assets.variant": variant.name,
            "ff_assets.asset": self.graph.keys[model.asset].to_user_string(),
        }  # fmt: skip
        return log_model_run(
            self.store, model.pipeline, name=registered_model(plan, variant),
            parent_run_id=self.context.resources.mlflow.run_id, run_name=variant.name,
            tags=tags, params=_params(plan, variant), lineage={"stages": list(variant.nodes)},
            # Stated, not inferred: inference starts a Python subprocess per model.
            pip_requirements=[f"pyspark=={pyspark.__version__}"],
        )  # fmt: skip

    def _result(self, evaluated: Evaluated, version: str, mlflow_run_id: str) -> MaterializeResult:
        plan, variant = self.graph.plan, evaluated.variant
        stage = plan.nodes[variant.model_node or ""].stage
        name = registered_model(plan, variant)
        metric = f"{evaluated.selects_on}_{stage.metric or 'accuracy'}"
        meets: Any = "no threshold"
        if stage.threshold and metric in evaluated.metrics:
            meets = stage.threshold.holds(evaluated.metrics[metric])
        warning = selection_warning(evaluated.selects_on, f"{variant.name}'s production versions")
        return MaterializeResult(
            asset_key=self.graph.keys[evaluated.asset],
            metadata={
                "registered_model": name,
                "model_version": version,
                "model_uri": f"models:/{name}/{version}",
                "mlflow_run_id": mlflow_run_id,
                "tracking_uri": redact_uri(self.store.uri),
                "stages_in_pipeline": MetadataValue.json(list(evaluated.stages)),
                **evaluated.metrics,
                "meets_production_threshold": meets,
                "selects_on": evaluated.selects_on,
                **({"selection_warning": warning} if warning else {}),
            },
        )


def compare(
    context: AssetExecutionContext, graph: AssetGraph, planned: PlannedAsset
) -> MaterializeResult:
    """The variants of one output side by side, from the MLflow registry; the best on the
    partition that chooses."""
    plan = graph.plan
    output = planned.base.removesuffix("_comparison")
    comparison = compare_output(context.resources.settings.mlflow_client(), plan, output)
    headers, body = comparison.table()
    best = comparison.best
    warning = selection_warning(comparison.selects_on, f"{output}'s variants")
    return MaterializeResult(
        asset_key=graph.keys[planned.name],
        metadata={
            "comparison": MetadataValue.md(_markdown(headers, body)),
            "best_variant": best.variant if best else "none registered",
            "selects_on": comparison.selects_on,
            **({"selection_warning": warning} if warning else {}),
            "rows": MetadataValue.json(
                [dict(zip(headers, map(str, r), strict=True)) for r in body]
            ),
        },
    )


def _markdown(headers: list[str], body: list[list]) -> str:
    rule = "|" + "|".join("---" for _ in headers) + "|"
    cells = ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in body]
    return "\n".join(["| " + " | ".join(headers) + " |", rule, *cells])


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
