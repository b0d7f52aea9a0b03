"""Immutable declarations: features and the stages that read and write them.

Specs are plain values. Declaring one never touches Spark, Dagster, MLflow or data; the
runtime payload a stage carries (a Spark ML stage, a Python function, a loader) is opaque here.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

from ff_assets.core.errors import (
    DeclarationError,
    InvalidOwnerError,
    UnknownMetricError,
    did_you_mean,
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,7}")  # what Dagster accepts

# The metrics a model can be evaluated with, by the Spark ML evaluator that computes them
# (`ff_assets.spark.execute.evaluate` routes on these names).
BINARY_METRICS = ("areaUnderROC", "areaUnderPR")
REGRESSION_METRICS = ("rmse", "mse", "r2", "mae")
CLASSIFICATION_METRICS = (
    "accuracy", "f1", "weightedPrecision", "weightedRecall", "weightedTruePositiveRate",
    "weightedFalsePositiveRate", "weightedFMeasure", "truePositiveRateByLabel",
    "falsePositiveRateByLabel", "precisionByLabel", "recallByLabel", "fMeasureByLabel",
    "logLoss", "hammingLoss",
)  # fmt: skip
METRICS = (*CLASSIFICATION_METRICS, *BINARY_METRICS, *REGRESSION_METRICS)


class StageKind(StrEnum):
    """What a stage does with rows; decides how the planner and the runtime treat it."""

    SOURCE = "source"  # reads rows from outside
    SPLIT = "split"  # assigns every row to `train` or `test`, carries its inputs on
    TRANSFORM = "transform"  # row-wise, fits nothing
    FITTED = "fitted"  # an estimator: fitted on some rows, applied to all
    MODEL = "model"  # an estimator with a label: fitted, evaluated on test, registered


class Runtime(StrEnum):
    """What runs a stage, as far as planning needs to know (`impl` itself stays opaque).

    A registered model's inference pipeline is one Spark ML `PipelineModel`, which can hold
    Spark ML stages but not Python functions; the planner refuses the mix before a run does.
    """

    SPARK_ML = "spark_ml"  # a Spark ML stage (or a factory of one), set by its adapter
    PYTHON = "python"  # a Python function on DataFrames: only the engine can run it
    UNSPECIFIED = "unspecified"  # no payload the core can classify (plain specs, tests)


class Storage(StrEnum):
    """How a feature is kept, the way dbt materializes a model."""

    TABLE = "table"  # a Delta table, written once per run
    VIEW = "view"  # a recipe: recomputed from its upstream tables whenever it is read


# The partitions a split assigns rows to, in the order Dagster shows them (a partition range
# from the first to the last is every partition).
TRAIN, VALIDATION, TEST = "train", "validation", "test"


class FitOn(StrEnum):
    """Which rows a fitted stage or model learns from."""

    TRAIN = "train"  # the train partition of a split (the default, and the only safe one)
    ALL = "all"  # every row, test rows included
    EXTERNAL = "external"  # data outside the store (a pre-trained corpus); needs a reason


Tags = tuple[tuple[str, str], ...]


def freeze_tags(tags: Mapping[str, str] | Tags | None) -> Tags:
    """Tags as a sorted tuple of pairs, so specs stay hashable and comparisons stay stable."""
    items = dict(tags or {}).items()
    return tuple(sorted((str(k), str(v)) for k, v in items))


def check_name(what: str, name: str) -> str:
    """Raise unless `name` is an identifier (it becomes part of asset keys and table paths)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise DeclarationError(
            f"{what} name {name!r} is not valid: use letters, digits and underscores, "
            "starting with a letter (for example 'text_vector')."
        )
    return name


def check_owner(what: str, owner: str) -> str:
    """Raise unless `owner` is empty, an e-mail address or a team name (`ml` or `team:ml`):
    owners become Dagster asset owners, which refuse anything else when definitions load."""
    team = owner.removeprefix("team:").strip()
    if owner and not (_EMAIL.fullmatch(owner) if "@" in owner else team):
        raise InvalidOwnerError(
            f"{what} has owner {owner!r}, which is neither an e-mail address "
            "(ml@example.com) nor a team name ('ml-platform' or 'team:ml-platform'): fix the "
            "address, or name the team."
        )
    return owner


def check_names(what: str, argument: str, names: Iterable[str]) -> tuple[str, ...]:
    """`names` as a tuple; a single string is refused, not read as its letters."""
    if isinstance(names, str):
        raise DeclarationError(
            f"{what}: {argument}={names!r} is a string, not a list of names: "
            f"write {argument}=[{names!r}]."
        )
    return tuple(names)


def check_max_variants(what: str, value: object) -> int:
    """Raise unless `value` is a whole number of variants, at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DeclarationError(
            f"{what}: max_variants={value!r} is not a number of variants: give a whole "
            "number of at least 1 (the default is 64), or pin producers instead."
        )
    return value


class Backoff(StrEnum):
    """How the wait between two attempts grows."""

    EXPONENTIAL = "exponential"  # delay, 2 x delay, 4 x delay, ...
    LINEAR = "linear"  # delay, 2 x delay, 3 x delay, ...
    CONSTANT = "constant"  # delay every time


@dataclass(frozen=True)
class Retries:
    """How often a store's runs retry a transient failure (a lost Spark or Py4J connection,
    an unreachable MLflow server, a Delta commit conflict), and how long they wait first.

    Deterministic failures (a stage that raises, a refused declaration, missing data, a
    leakage refusal) are never retried, whatever this says. The default fits a Spark job: two
    more attempts, 30 s then about 60 s later (exponential backoff, with jitter so that runs
    failed together do not retry together). `Retries(max_retries=0)` turns retries off.
    """

    max_retries: int = 2
    delay_seconds: float = 30.0
    backoff: Backoff | str = Backoff.EXPONENTIAL
    jitter: bool = True


def check_retries(what: str, value: object) -> Retries:
    """Raise unless `value` is a `Retries` of a whole number of retries (at least 0), a finite
    delay (at least 0 seconds) and a known backoff; return it with the backoff as a `Backoff`."""
    if not isinstance(value, Retries):
        raise DeclarationError(
            f"{what}: retries={value!r} is not a Retries: write "
            "retries=Retries(max_retries=2, delay_seconds=30.0) (from ff_assets import Retries)."
        )
    count = value.max_retries
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise DeclarationError(
            f"{what}: Retries(max_retries={count!r}) is not a number of retries: give a whole "
            "number of at least 0 (0 turns retries off; the default is 2)."
        )
    delay = value.delay_seconds
    if (
        isinstance(delay, bool)
        or not isinstance(delay, int | float)
        or not math.isfinite(delay)
        or delay < 0
    ):
        raise DeclarationError(
            f"{what}: Retries(delay_seconds={delay!r}) is not a wait: give a finite number of "
            "seconds of at least 0 (the default is 30.0)."
        )
    if not isinstance(value.jitter, bool):
        raise DeclarationError(f"{what}: Retries(jitter={value.jitter!r}) must be True or False.")
    backoff = check_choice(what, "Retries backoff", Backoff, value.backoff)
    return Retries(
        max_retries=count, delay_seconds=float(delay), backoff=backoff, jitter=value.jitter
    )


E = TypeVar("E", bound=StrEnum)


def check_choice(what: str, argument: str, kind: type[E], value: object) -> E:
    """`value` as the enum `kind`, or DeclarationError listing the values it takes."""
    try:
        return kind(value)
    except ValueError:
        allowed = [m.value for m in kind]
        hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
        raise DeclarationError(
            f"{what}: {argument}={value!r} is not known.{hint} Use one of "
            f"{', '.join(repr(a) for a in allowed)}."
        ) from None


@dataclass(frozen=True, kw_only=True)
class FeatureSpec:
    """A named column keyed by an entity key. Names are unique in a store."""

    name: str
    description: str = ""
    dtype: str | None = None  # a Spark SQL type name ("string", "double", "vector", ...)
    entity: str | None = None
    owner: str = ""
    tags: Tags = ()

    def __post_init__(self) -> None:
        check_name("feature", self.name)
        check_owner(f"feature {self.name!r}", self.owner)
        object.__setattr__(self, "tags", freeze_tags(self.tags))


@dataclass(frozen=True, kw_only=True)
class Threshold:
    """A metric bound a model must meet before `production` may point at it."""

    metric: str
    minimum: float
    partition: str | None = None  # the rows it is checked on; None: the rows that choose

    def __post_init__(self) -> None:
        number = isinstance(self.minimum, int | float) and not isinstance(self.minimum, bool)
        if not number or not math.isfinite(self.minimum):
            raise DeclarationError(
                f"threshold={self.minimum!r} on {self.metric} is not a finite number: give the "
                f"minimum {self.metric} a model must reach as a number (threshold=0.7)."
            )

    def holds(self, value: float) -> bool:
        return value >= self.minimum


@dataclass(frozen=True, kw_only=True)
class StageSpec:
    """One declared stage: what kind it is, which features it reads and which it writes.

    `impl` is the runtime payload (a Spark ML stage, a function, a source loader); the core
    never looks inside it. `params` are the readable parameters shown in metadata.
    """

    name: str
    kind: StageKind
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    label: str | None = None
    fit_on: FitOn = FitOn.TRAIN
    external_reason: str | None = None
    entity_key: str | None = None
    data_files: tuple[str, ...] = ()  # sources: files under the data folder (sensors watch them)
    metric: str | None = None
    threshold: Threshold | None = None
    storage: Storage | None = None  # None: views for transforms' outputs, tables otherwise
    runtime: Runtime | None = None  # None: PYTHON for a function `impl`, else UNSPECIFIED
    description: str = ""
    owner: str = ""
    tags: Tags = ()
    params: Tags = ()
    impl: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_name("stage", self.name)
        where = f"stage {self.name!r}"
        check_owner(where, self.owner)
        kind = check_choice(where, "kind", StageKind, self.kind)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "fit_on", check_choice(where, "fit_on", FitOn, self.fit_on))
        if self.storage is not None:
            storage = check_choice(where, "storage", Storage, self.storage)
            object.__setattr__(self, "storage", storage)
        object.__setattr__(self, "runtime", _runtime(where, self.runtime, self.impl))
        for argument in ("inputs", "outputs", "data_files"):
            names = check_names(where, argument, getattr(self, argument))
            object.__setattr__(self, argument, names)
        object.__setattr__(self, "tags", freeze_tags(self.tags))
        object.__setattr__(self, "params", freeze_tags(self.params))
        for feature in (*self.inputs, *self.outputs):
            check_name(f"feature of stage {self.name!r}", feature)
        self._check_shape(kind)

    def _check_shape(self, kind: StageKind) -> None:
        where = f"stage {self.name!r} ({kind.value})"
        if not self.outputs:
            raise DeclarationError(f"{where} writes no feature: declare at least one output.")
        if len(set(self.outputs)) != len(self.outputs):
            raise DeclarationError(f"{where} lists an output twice: {list(self.outputs)}.")
        if kind is StageKind.SOURCE:
            if self.inputs:
                raise DeclarationError(f"{where} reads rows from outside: it takes no inputs.")
            if not self.entity_key:
                raise DeclarationError(
                    f"{where} needs entity_key=, the column that identifies a row "
                    "(for example 'review_id')."
                )
            check_name(f"entity key of {where}", self.entity_key)
        elif not self.inputs:
            raise DeclarationError(f"{where} reads no feature: declare its inputs.")
        if kind is StageKind.SPLIT and set(self.outputs) != set(self.inputs):
            raise DeclarationError(
                f"{where} must carry exactly the features it reads (outputs == inputs); "
                f"it reads {sorted(self.inputs)} but writes {sorted(self.outputs)}."
            )
        if kind is StageKind.MODEL:
            if not self.label:
                raise DeclarationError(f"{where} needs label=, the feature it learns to predict.")
            check_name(f"label of {where}", self.label)
            if self.metric is not None and self.metric not in METRICS:
                raise UnknownMetricError(
                    f"{where} is evaluated with metric={self.metric!r}, which no Spark ML "
                    f"evaluator computes.{did_you_mean(self.metric, METRICS)} Use one of "
                    f"{', '.join(METRICS)}."
                )
        elif self.label is not None and kind is not StageKind.FITTED:
            raise DeclarationError(f"{where} cannot have a label: only estimators learn from one.")
        elif self.label is not None:  # a fitted stage may learn from a label too
            check_name(f"label of {where}", self.label)
        if self.fit_on is FitOn.EXTERNAL and not (self.external_reason or "").strip():
            raise DeclarationError(
                f"{where} is fitted on external data: say why with external_reason= "
                "(the reason is shown in the asset's metadata)."
            )
        if self.storage is Storage.VIEW and kind not in (StageKind.TRANSFORM, StageKind.FITTED):
            raise DeclarationError(
                f"{where} cannot be stored as a view: sources, splits and model predictions "
                "are tables (drop storage=, or use storage='table')."
            )
        if self.fit_on is not FitOn.TRAIN and kind not in (StageKind.FITTED, StageKind.MODEL):
            raise DeclarationError(f"{where} fits nothing, so fit_on= does not apply to it.")

    @property
    def stored_as(self) -> Storage:
        """Where the stage's output features live: declared, else views for row-wise
        transforms (cheap to recompute) and tables for everything that reads outside data,
        assigns rows or was fitted."""
        if self.storage is not None:
            return self.storage
        return Storage.VIEW if self.kind is StageKind.TRANSFORM else Storage.TABLE

    @property
    def is_estimator(self) -> bool:
        """Fitted stages and models learn from rows."""
        return self.kind in (StageKind.FITTED, StageKind.MODEL)

    @property
    def reads(self) -> tuple[str, ...]:
        """Every feature the stage reads: its inputs and, for estimators, its label."""
        if self.label and self.label not in self.inputs:
            return (*self.inputs, self.label)
        return self.inputs


STAGE_FIELDS = tuple(f.name for f in fields(StageSpec))


def check_stage_fields(what: str, given: Iterable[str]) -> None:
    """Raise unless every keyword in `given` is a `StageSpec` field (a typo names the field)."""
    for keyword in given:
        if keyword not in STAGE_FIELDS:
            raise DeclarationError(
                f"{what}: unknown keyword {keyword!r}.{did_you_mean(keyword, STAGE_FIELDS)} "
                f"A stage takes {', '.join(STAGE_FIELDS)}."
            )


def _runtime(where: str, declared: Runtime | str | None, impl: Any) -> Runtime:
    if declared is not None:
        return check_choice(where, "runtime", Runtime, declared)
    is_function = inspect.isroutine(impl) or isinstance(impl, functools.partial)
    return Runtime.PYTHON if is_function else Runtime.UNSPECIFIED


@dataclass(frozen=True)
class HashSplit:
    """A deterministic split rule: a row is `test` when hash(key, seed) falls under the test
    fraction, `validation` when it falls in the next `validation_fraction`, else `train`.

    Stable across runs and machines, unlike random sampling, so a re-run never moves a row
    from test to train. With `group_by` the hash is of that feature's value, so rows of equal
    value land on one side. `content` is the feature whose values the overlap check counts on
    both sides (`overlap_on`, else `group_by`; None: no overlap check); a share of rows above
    `max_overlap` is an error, any share above 0 a warning.
    """

    test_fraction: float
    seed: int
    group_by: str | None = None
    overlap_on: str | None = None
    max_overlap: float = 0.01
    validation_fraction: float = 0.0

    @property
    def partitions(self) -> tuple[str, ...]:
        """The partitions the rule assigns rows to."""
        return (TRAIN, VALIDATION, TEST) if self.validation_fraction else (TRAIN, TEST)

    @property
    def content(self) -> str | None:
        return self.overlap_on or self.group_by


def split_partitions(stage: StageSpec) -> tuple[str, ...]:
    """The partitions a split assigns rows to: its rule's, or train and test for a function
    (which adds the split column itself)."""
    rule = stage.impl
    return rule.partitions if isinstance(rule, HashSplit) else (TRAIN, TEST)


def overlap_content(stage: StageSpec) -> str | None:
    """The feature a split's overlap check counts on both sides, if the split declares one."""
    rule = stage.impl
    return rule.content if isinstance(rule, HashSplit) else None
