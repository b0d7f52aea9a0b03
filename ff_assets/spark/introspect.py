"""Declare a Spark ML stage as it is: its features are read from its column params.

`inputCol(s)`/`featuresCol` (and `weightCol` when set) are the inputs,
`outputCol(s)`/`predictionCol` the outputs and `labelCol` the label. Side columns of models
(`probabilityCol`, `rawPredictionCol`, ...) are not features. Only params that are set or have
a default count; a default Spark derives from the random uid (`<uid>__output`) does not, because
it would name a different feature on every run.

A pyspark.ml constructor needs a running SparkContext (it creates the JVM twin of the stage).
`spark_stage(HashingTF, inputCol=..., ...)` declares the same stage without one: the returned
factory is read through a params-only instance (every class `__init__` above the concrete one:
the shared column params and their defaults, no JVM object) and builds the real stage later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.ml import Estimator, Pipeline, PipelineModel, Transformer
from pyspark.ml.base import Predictor
from pyspark.ml.param import Params

from ff_assets.core.errors import DeclarationError, did_you_mean
from ff_assets.core.specs import (
    FitOn,
    Runtime,
    StageKind,
    StageSpec,
    Storage,
    Tags,
    Threshold,
)

INPUT_PARAMS = ("inputCol", "inputCols", "featuresCol", "weightCol")
OUTPUT_PARAMS = ("outputCol", "outputCols", "predictionCol")
LABEL_PARAM = "labelCol"
_MODEL_MODULES = ("pyspark.ml.classification", "pyspark.ml.regression")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(class_name: str) -> str:
    """`HashingTF` -> `hashing_tf`, `KMeans` -> `k_means`, `Word2Vec` -> `word2vec`."""
    return _CAMEL_BOUNDARY.sub("_", class_name).lower()


@dataclass(frozen=True)
class SparkStageFactory:
    """A Spark ML stage declared by class and params; `build()` makes it once Spark runs."""

    stage_class: type[Params]
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        """The constructor keywords, lists as lists again."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.params}

    def build(self) -> Params:
        """The real stage (needs an active SparkContext)."""
        return self.stage_class(**self.kwargs)

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"spark_stage({self.stage_class.__name__}{args})"

    def describe(self) -> Params:
        """A params-only instance of the stage: readable without a SparkContext, not runnable."""
        blank = self.stage_class.__new__(self.stage_class)
        super(self.stage_class, blank).__init__()  # skip only the concrete JVM-creating __init__
        for param_name, value in self.kwargs.items():
            if value is not None:
                blank.set(blank.getParam(param_name), value)
        return blank


def spark_stage(stage_class: type[Params], /, **params: Any) -> SparkStageFactory:
    """Declare `stage_class(**params)` without a SparkContext; params are checked now."""
    _check_stage_class(stage_class, getattr(stage_class, "__name__", repr(stage_class)))
    probe = _describe(SparkStageFactory(stage_class))
    for param_name, value in params.items():
        if not probe.hasParam(param_name):
            known = [p.name for p in probe.params]
            raise DeclarationError(
                f"{stage_class.__name__} has no param {param_name!r}."
                + did_you_mean(param_name, known)
            )
        if value is not None:
            try:
                probe.set(probe.getParam(param_name), value)
            except (TypeError, ValueError) as error:
                raise DeclarationError(
                    f"{stage_class.__name__} param {param_name}={value!r} is invalid: {error}"
                ) from error
    frozen = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items())
    return SparkStageFactory(stage_class, frozen)


def stage_from_spark(
    obj: Any,
    *,
    name: str | None = None,
    kind: StageKind | str | None = None,
    description: str = "",
    owner: str = "",
    tags: Mapping[str, str] | Tags | None = None,
    fit_on: FitOn | str = FitOn.TRAIN,
    external_reason: str | None = None,
    metric: str | None = None,
    threshold: Threshold | None = None,
    storage: Storage | str | None = None,
) -> StageSpec:
    """A StageSpec for a pyspark.ml Estimator or Transformer (or a `spark_stage` factory).

    Estimators are FITTED stages, or MODEL stages when they are classifiers or regressors
    with a label; Transformers are TRANSFORM stages. `kind=` may only turn an estimator into a
    model or back. `name` defaults to the class name in snake_case; `impl` is `obj`.
    """
    if isinstance(obj, SparkStageFactory):
        stage = _describe(obj)
    else:
        _check_stage_class(type(obj), f"{obj!r:.60} (a {type(obj).__name__})")
        stage = obj
    cls = type(stage).__name__
    stage_name = name if name is not None else snake_case(cls)
    inputs = _columns(stage, INPUT_PARAMS)
    outputs = _columns(stage, OUTPUT_PARAMS)
    _require(stage, stage_name, "input", inputs, INPUT_PARAMS[:3])
    _require(stage, stage_name, "output", outputs, OUTPUT_PARAMS)
    chosen = _kind(stage, stage_name, kind)
    label = _columns(stage, (LABEL_PARAM,)) if chosen is not StageKind.TRANSFORM else ()
    return StageSpec(
        name=stage_name,
        kind=chosen,
        inputs=inputs,
        outputs=outputs,
        label=label[0] if label else None,
        fit_on=fit_on,
        external_reason=external_reason,
        metric=metric,
        threshold=threshold,
        storage=storage,  # type: ignore[arg-type]  # StageSpec checks and converts it
        description=description,
        owner=owner,
        tags=tags,
        params=_readable_params(stage),
        runtime=Runtime.SPARK_ML,
        impl=obj,
    )


def _check_stage_class(stage_class: Any, what: str) -> None:
    if not (isinstance(stage_class, type) and issubclass(stage_class, Estimator | Transformer)):
        raise DeclarationError(
            f"{what} is not a Spark ML stage: pass a pyspark.ml Estimator or Transformer "
            "(for example HashingTF(inputCol=..., outputCol=...)), or declare a Python function "
            "as a stage instead."
        )
    if issubclass(stage_class, Pipeline | PipelineModel):
        raise DeclarationError(
            f"{what} bundles several stages: declare each stage of it on its own, so that "
            "ff_assets can share, vary and check them one by one."
        )


def _describe(factory: SparkStageFactory) -> Params:
    try:
        return factory.describe()
    except (TypeError, ValueError) as error:
        raise DeclarationError(
            f"cannot read the params of {factory.stage_class.__name__}: {error}"
        ) from error


def _kind(stage: Params, stage_name: str, requested: StageKind | str | None) -> StageKind:
    cls = type(stage).__name__
    if not isinstance(stage, Estimator):
        if requested is not None and StageKind(requested) is not StageKind.TRANSFORM:
            raise DeclarationError(
                f"stage {stage_name!r} ({cls}) is a Transformer: it fits nothing, so it can only "
                f"be a transform, not {StageKind(requested).value}."
            )
        return StageKind.TRANSFORM
    has_label = bool(_columns(stage, (LABEL_PARAM,)))
    if requested is not None:
        kind = StageKind(requested)
        if kind not in (StageKind.FITTED, StageKind.MODEL):
            raise DeclarationError(
                f"stage {stage_name!r} ({cls}) is an Estimator: it is fitted, so it can be a "
                f"fitted stage or a model, not {kind.value}."
            )
        if kind is StageKind.MODEL and not has_label:
            reason = (
                "declares no label: set labelCol=."
                if stage.hasParam(LABEL_PARAM)
                else "has no labelCol param: only classifiers and regressors learn a label."
            )
            raise DeclarationError(f"stage {stage_name!r} ({cls}) cannot be a model: it {reason}")
        return kind
    is_predictor = isinstance(stage, Predictor) or type(stage).__module__ in _MODEL_MODULES
    return StageKind.MODEL if is_predictor and has_label else StageKind.FITTED


def _columns(stage: Params, param_names: tuple[str, ...]) -> tuple[str, ...]:
    """The column names the given params hold, in param order, without duplicates."""
    found: list[str] = []
    for param_name in param_names:
        value = _value(stage, param_name)
        for column in [] if value is None else [value] if isinstance(value, str) else value:
            if column and column not in found:
                found.append(column)
    return tuple(found)


def _value(stage: Params, param_name: str) -> Any:
    """The param's value when set or defaulted, else None.

    A default derived from the random uid (`outputCol` is `<uid>__output`) counts as unset:
    it would name a different feature on every run.
    """
    if not stage.hasParam(param_name):
        return None
    param = stage.getParam(param_name)
    if not stage.isDefined(param):
        return None
    value = stage.getOrDefault(param)
    if not stage.isSet(param) and isinstance(value, str) and value.startswith(stage.uid):
        return None
    return value


def _require(
    stage: Params, stage_name: str, what: str, columns: tuple[str, ...], names: tuple[str, ...]
) -> None:
    if columns:
        return
    cls = type(stage).__name__
    settable = [p for p in names if stage.hasParam(p)]
    if not settable:
        raise DeclarationError(
            f"stage {stage_name!r} ({cls}) has no {what} column param ({', '.join(names)}): "
            "declare it as a Python function stage with explicit features instead."
        )
    raise DeclarationError(
        f"stage {stage_name!r} ({cls}) declares no {what} column: set "
        + " or ".join(f"{p}=" for p in settable)
        + "."
    )


def _readable_params(stage: Params) -> tuple[tuple[str, str], ...]:
    """Explicitly set params that are not columns, as (name, value) strings."""
    return tuple(
        (param.name, str(stage.getOrDefault(param)))
        for param in stage.params
        if stage.isSet(param) and not param.name.endswith(("Col", "Cols"))
    )
