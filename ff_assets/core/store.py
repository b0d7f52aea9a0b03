"""The declaration API: a store users add stages to, and decorators for Python-function stages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from ff_assets.core.adapters import adapter_for
from ff_assets.core.declarations import Declarations
from ff_assets.core.errors import (
    DeclarationError,
    DuplicateFeatureError,
    DuplicateStageError,
    UnknownNameError,
    UnknownSplitFeatureError,
    did_you_mean,
)
from ff_assets.core.plan import Plan
from ff_assets.core.planner import plan as plan_declarations
from ff_assets.core.specs import (
    FeatureSpec,
    HashSplit,
    Retries,
    StageKind,
    StageSpec,
    Threshold,
    check_max_variants,
    check_name,
    check_names,
    check_owner,
    check_retries,
    check_stage_fields,
    freeze_tags,
)

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_MAX_VARIANTS = 64
DEFAULT_RETRIES = Retries()  # two more attempts, 30 s then about 60 s later


class FeatureStore:
    """A named set of feature and stage declarations; it plans, it never runs anything.

    >>> store = FeatureStore(name="reviews")
    >>> store.add(Tokenizer(inputCol="text", outputCol="tokens"))  # a Spark ML stage as it is

    >>> @store.transform(inputs=["text"], outputs=["n_chars"])
    ... def count_chars(df): ...
    """

    def __init__(
        self,
        *,
        name: str,
        description: str = "",
        owner: str = "",
        tags: Mapping[str, str] | None = None,
        default_outputs: Iterable[str] = (),
        max_variants: int = DEFAULT_MAX_VARIANTS,
        retries: Retries = DEFAULT_RETRIES,
    ) -> None:
        self.name = check_name("store", name)
        self.description = description
        self.owner = check_owner(f"store {name!r}", owner)
        self.tags = freeze_tags(tags)
        self.default_outputs = check_names(f"store {name!r}", "default_outputs", default_outputs)
        self.max_variants = check_max_variants(f"store {name!r}", max_variants)
        self.retries = check_retries(f"store {name!r}", retries)
        self._stages: dict[str, StageSpec] = {}
        self._features: dict[str, FeatureSpec] = {}
        self._scoring: dict[str, StageSpec] = {}
        self._stage_features: set[str] = set()  # every feature a declared stage reads or writes
        # The snapshot is built once per change: orchestration asks for `features` per asset,
        # and rebuilding them each time (a FeatureSpec per feature) made definitions quadratic.
        self._snapshot: Declarations | None = None

    # -- reading -------------------------------------------------------------------------
    @property
    def stages(self) -> Mapping[str, StageSpec]:
        """Declared stages by name, in declaration order."""
        return dict(self._stages)

    @property
    def features(self) -> Mapping[str, FeatureSpec]:
        """Every feature a stage reads or writes, declared explicitly or implied by a stage."""
        return dict(self.snapshot().features)

    def snapshot(self) -> Declarations:
        """The declarations as they are now, as an immutable value (what the planner plans)."""
        if self._snapshot is None:
            implied = {
                f: FeatureSpec(name=f)
                for stage in self._stages.values()
                for f in (*stage.reads, *stage.outputs)
                if f not in self._features
            }
            self._snapshot = Declarations(
                store=self.name, stages=self._stages, features={**self._features, **implied},
                scoring_sources=self._scoring, default_outputs=self.default_outputs,
                max_variants=self.max_variants, description=self.description, owner=self.owner,
                tags=self.tags, retries=self.retries,
            )  # fmt: skip
        return self._snapshot

    def stage(self, name: str) -> StageSpec:
        """The stage called `name`, or UnknownNameError with the closest names."""
        try:
            return self._stages[name]
        except KeyError:
            raise UnknownNameError(
                f"store {self.name!r} has no stage {name!r}.{did_you_mean(name, self._stages)}"
            ) from None

    # -- declaring -----------------------------------------------------------------------
    def feature(
        self,
        name: str,
        *,
        description: str = "",
        dtype: str | None = None,
        entity: str | None = None,
        owner: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> FeatureSpec:
        """Declare a feature's metadata (optional: stages imply the features they touch)."""
        spec = FeatureSpec(
            name=name, description=description, dtype=dtype, entity=entity, owner=owner,
            tags=freeze_tags(tags),
        )  # fmt: skip
        existing = self._features.get(name)
        if existing is not None and existing != spec:
            raise DuplicateFeatureError(
                f"feature {name!r} is declared twice with different metadata in store "
                f"{self.name!r}: declare it once."
            )
        self._check_clash(name, "feature")
        self._features[name] = spec
        self._snapshot = None
        return spec

    def add(self, stage: Any, **overrides: Any) -> StageSpec:
        """Add a StageSpec, or a stage object a registered adapter reads (a Spark ML stage as
        it is, its params saying what it reads and writes: an instance, or
        `spark_stage(Class, **params)` to declare one without a SparkContext)."""
        check_stage_fields(f"store {self.name!r}: add()", overrides)
        adapter = None if isinstance(stage, StageSpec) else adapter_for(stage)
        if isinstance(stage, StageSpec):
            spec = replace(stage, **overrides) if overrides else stage
        elif adapter is not None:
            spec = adapter.to_spec(stage, **overrides)
        else:
            raise DeclarationError(
                f"cannot add {stage!r} to store {self.name!r}: pass a StageSpec, a pyspark.ml "
                "stage, or decorate a function with @store.transform/@store.fitted/..."
            )
        if spec.name in self._stages or spec.name in self._scoring:
            raise DuplicateStageError(
                f"two stages claim the name {spec.name!r} in store {self.name!r}: "
                "rename one (name=...)."
            )
        touched = (*spec.reads, *spec.outputs)
        if spec.name in touched:
            raise DeclarationError(
                f"stage {spec.name!r} reads or writes a feature of its own name in store "
                f"{self.name!r}; a stage cannot share a feature's name (both become asset keys): "
                "rename one."
            )
        self._check_clash(spec.name, "stage")
        for feature in touched:
            self._check_clash(feature, "feature")
        self._stages[spec.name] = spec
        self._stage_features.update(touched)
        self._snapshot = None
        return spec

    def _check_clash(self, name: str, as_what: str) -> None:
        # Stages and features become asset keys side by side, so one name cannot be both.
        other = "stage" if as_what == "feature" else "feature"
        if other == "stage":
            taken = name in self._stages
        else:
            taken = name in self._features or name in self._stage_features
        if taken:
            raise DeclarationError(
                f"{name!r} is already a {other} in store {self.name!r}; a {as_what} cannot share "
                "its name (both become asset keys): rename one."
            )

    # -- decorators for Python-function stages -------------------------------------------
    def source(self, *, outputs: Iterable[str], entity_key: str, **meta: Any) -> Callable[[F], F]:
        """Declare a function `(spark, data_dir) -> DataFrame` that reads rows from outside."""
        return self._decorator(StageKind.SOURCE, outputs=outputs, entity_key=entity_key, **meta)

    def scoring_source(
        self, *, outputs: Iterable[str], entity_key: str, **meta: Any
    ) -> Callable[[F], F]:
        """Declare a function `(spark, data_dir) -> DataFrame` of new, unlabelled rows that the
        prediction jobs score; it is not part of the feature flow (its features are raw inputs
        of the models, not new producers)."""

        check_stage_fields(f"store {self.name!r}: @scoring_source", meta)

        def register(fn: F) -> F:
            name = meta.pop("name", None) or fn.__name__
            description = meta.pop("description", None) or (fn.__doc__ or "").strip()
            spec = StageSpec(
                name=name, kind=StageKind.SOURCE, outputs=tuple(outputs), entity_key=entity_key,
                description=description, impl=fn, **meta,
            )  # fmt: skip
            if name in self._stages or name in self._scoring:
                raise DuplicateStageError(
                    f"two stages claim the name {name!r} in store {self.name!r}: rename one."
                )
            self._scoring[name] = spec
            self._snapshot = None
            return fn

        return register

    @property
    def scoring_sources(self) -> Mapping[str, StageSpec]:
        """Sources of new rows to score, by name."""
        return dict(self._scoring)

    def transform(
        self, *, inputs: Iterable[str], outputs: Iterable[str], **meta: Any
    ) -> Callable[[F], F]:
        """Declare a row-wise function `DataFrame -> DataFrame` that adds its outputs."""
        return self._decorator(StageKind.TRANSFORM, inputs=inputs, outputs=outputs, **meta)

    def fitted(
        self, *, inputs: Iterable[str], outputs: Iterable[str], **meta: Any
    ) -> Callable[[F], F]:
        """Declare a function `DataFrame -> Spark ML Model` fitted on train rows."""
        return self._decorator(StageKind.FITTED, inputs=inputs, outputs=outputs, **meta)

    def split(
        self,
        *,
        name: str = "split",
        inputs: Iterable[str],
        test_fraction: float = 0.2,
        validation_fraction: float = 0.0,
        seed: int = 42,
        group_by: str | None = None,
        overlap_on: str | None = None,
        max_overlap: float = 0.01,
        **meta: Any,
    ) -> StageSpec:
        """Declare a deterministic train/test split carrying `inputs` on (hash of key and seed).

        `validation_fraction` adds a `validation` partition: models are fitted on train and
        chosen (variant comparison, promotion threshold) on validation, so test rows stay
        untouched by every choice.

        `group_by` hashes that feature's value instead of the key, so equal values stay on one
        side. The split's overlap check counts rows whose `overlap_on` value (default: the
        `group_by` feature) is in both train and test: a warning above 0, an error above the
        share `max_overlap`.
        """
        if not 0.0 < test_fraction < 1.0:
            raise DeclarationError(
                f"split {name!r}: test_fraction must be between 0 and 1, got {test_fraction}."
            )
        if not 0.0 <= validation_fraction < 1.0 or test_fraction + validation_fraction >= 1.0:
            raise DeclarationError(
                f"split {name!r}: validation_fraction must be at least 0 and leave train rows "
                f"(test_fraction + validation_fraction < 1), got {validation_fraction} with "
                f"test_fraction {test_fraction}."
            )
        if not 0.0 <= max_overlap <= 1.0:
            raise DeclarationError(
                f"split {name!r}: max_overlap is a share of rows, between 0 and 1, "
                f"got {max_overlap}."
            )
        inputs = check_names(f"split {name!r}", "inputs", inputs)
        for argument, feature in (("group_by", group_by), ("overlap_on", overlap_on)):
            if feature is not None and feature not in inputs:
                raise UnknownSplitFeatureError(
                    f"split {name!r}: {argument}={feature!r} is not a feature it carries "
                    f"({', '.join(inputs)}): add it to inputs or name one of them."
                    + did_you_mean(feature, inputs)
                )
        rule = HashSplit(
            test_fraction=test_fraction, seed=seed, group_by=group_by, overlap_on=overlap_on,
            max_overlap=max_overlap, validation_fraction=validation_fraction,
        )  # fmt: skip
        params = {"test_fraction": str(test_fraction), "seed": str(seed)}
        if validation_fraction:
            params["validation_fraction"] = str(validation_fraction)
        params |= {k: str(v) for k, v in (("group_by", group_by), ("overlap_on", overlap_on)) if v}
        if rule.content:
            params["max_overlap"] = str(max_overlap)
        spec = StageSpec(
            name=name, kind=StageKind.SPLIT, inputs=inputs, outputs=inputs,
            params=freeze_tags(params), impl=rule, **meta,
        )  # fmt: skip
        return self.add(spec)

    def _decorator(self, kind: StageKind, **fields: Any) -> Callable[[F], F]:
        check_stage_fields(f"store {self.name!r}: @{kind.value}", fields)

        def register(fn: F) -> F:
            name = fields.pop("name", None) or fn.__name__
            description = fields.pop("description", None) or (fn.__doc__ or "").strip()
            self.add(StageSpec(name=name, kind=kind, description=description, impl=fn, **fields))
            return fn

        return register

    def model(
        self,
        stage: Any,
        *,
        metric: str = "accuracy",
        threshold: float | None = None,
        threshold_on: str | None = None,
        **overrides: Any,
    ) -> StageSpec:
        """Add an estimator with a label as a model, with its evaluation metric and an optional
        minimum the metric must reach before the model may be promoted to `production`.

        The threshold is checked on the rows that choose: `validation` when the split declares
        it (`threshold_on` may only say so), else `test`, which the promotion says plainly.
        """
        bound = (
            Threshold(metric=metric, minimum=threshold, partition=threshold_on)
            if threshold is not None
            else None
        )
        return self.add(stage, kind=StageKind.MODEL, metric=metric, threshold=bound, **overrides)

    def plan(
        self,
        outputs: Iterable[str] | None = None,
        *,
        pins: Mapping[str, str] | None = None,
        max_variants: int | None = None,
    ) -> Plan:
        """Plan the requested outputs (default: the store's default outputs, else every model's)."""
        return plan_declarations(self.snapshot(), outputs, pins=pins, max_variants=max_variants)

    def requested_outputs(self, outputs: Iterable[str] | None = None) -> tuple[str, ...]:
        """The outputs to plan: those given, else the declared defaults, else every model's."""
        return self.snapshot().requested_outputs(outputs)
