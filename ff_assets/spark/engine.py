"""The execution engine: a plan, or any selection of its assets, run as one Spark program.

What a run does, in the plan's (topological) order:
- works out, before touching data, which nodes it computes, which it fits, and which assets
  it reads back (`Schedule`): a selected asset is computed; an unselected view is recomputed
  from its recipe; an unselected table or fitted stage is read from storage, nothing else is;
- computes each node's frame once, by applying the stage to the frame it reads from, so a
  row-wise chain (tokenizer -> hashing TF -> ...) is one Spark lineage with no write or join
  between its stages; a frame read by two or more consumers (or written and summarized) is
  cached, pruned to the columns still needed, and released after its last use;
- fits an estimator on the train rows of its input frame, once, and keeps the fitted stage in
  memory for every later stage of the run and for the inference pipelines;
- writes each selected table once (Delta) or records each selected view's recipe; takes its
  statistics in one aggregation over the frame it just wrote, and evaluates its checks on
  what the run holds (the split's assignment, the fit's rows, the written schema);
- stops what depends on a failed stage or a failed blocking check, and carries on with
  everything independent of it (other variants).

It yields one outcome per selected asset and check; the Dagster layer turns them into
materializations and check results, and the tracking layer logs models to MLflow: each
model's inference pipeline as soon as it is fitted (`Assembled`, so MLflow logs it while the
engine writes its predictions and counts its metrics), then its metrics (`Evaluated`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pyspark.ml import PipelineModel, Transformer
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from ff_assets.core.errors import (
    DataFormatError,
    DeclarationError,
    PythonStageInPipelineError,
    StageFailedError,
)
from ff_assets.core.plan import AssetRole, FitRows, Node, Plan, PlannedAsset, Variant
from ff_assets.core.specs import TRAIN, HashSplit, StageKind, Storage, overlap_content
from ff_assets.spark import execute
from ff_assets.spark.execute import SPLIT_COLUMN
from ff_assets.spark.statistics import (
    feature_statistics,
    kind_of,
    observed_statistics,
    statistics_from_counts,
    token_statistics,
    wants_tokens,
)
from ff_assets.spark.storage import KeyPath, Layout
from ff_assets.spark.tables import read_table, schema_problems, table_exists, write_table

_SAMPLE = 5
# The checks a run evaluates (the Dagster layer declares them under these names).
DISJOINT = "train_test_disjoint"
OVERLAP = "train_test_overlap"  # not blocking: it warns, or errs above the split's max_overlap
FIT_ROWS = "fit_rows_are_train"
SCHEMA = "schema_matches_declaration"
FEATURE_ROLES = (AssetRole.SOURCE, AssetRole.SPLIT, AssetRole.FEATURES)
FIT_ROLES = (AssetRole.FITTED, AssetRole.MODEL)


# -- outcomes --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Materialized:
    """A selected asset stored by this run (a table, a view's recipe or a fitted stage)."""

    asset: str
    metadata: dict[str, Any]
    paths: dict[str, str] = field(default_factory=dict)
    partitions: tuple[str, ...] | None = None  # None: unpartitioned


class Severity(StrEnum):
    """How bad a failed check is (the Dagster layer maps it onto its own severities)."""

    WARN = "warn"
    ERROR = "error"


@dataclass(frozen=True)
class Checked:
    """A check evaluated on what the run holds."""

    asset: str
    check: str
    passed: bool
    description: str | None
    metadata: dict[str, Any]
    severity: Severity = Severity.ERROR


@dataclass(frozen=True)
class Assembled:
    """A registered model's inference pipeline, ready to be logged as soon as its model is
    fitted: its `Evaluated` (the same pipeline, with metrics) follows, or a `Failed`."""

    asset: str
    variant: Variant
    pipeline: PipelineModel
    stages: tuple[str, ...]


@dataclass(frozen=True)
class Evaluated:
    """A model's inference pipeline and its metrics per partition (`validation_accuracy`,
    `test_accuracy`, ...), ready to be registered; `selects_on` is the partition that chooses."""

    asset: str
    variant: Variant
    pipeline: PipelineModel
    metrics: dict[str, float]
    stages: tuple[str, ...]
    selects_on: str


@dataclass(frozen=True)
class Failed:
    """A selected asset this run did not store, and why."""

    asset: str
    stage: str
    reason: str
    error: BaseException | None = None  # the stage's own error; None when skipped


Outcome = Materialized | Checked | Assembled | Evaluated | Failed


@dataclass
class Record:
    """What a run did, for tests and benchmarks: each list in the order it happened."""

    computed: list[str] = field(default_factory=list)  # node frames computed
    fitted: list[str] = field(default_factory=list)
    loaded_tables: list[str] = field(default_factory=list)  # assets read back
    loaded_fitted: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # tables and views stored
    evaluated: list[str] = field(default_factory=list)  # models evaluated by a pass of their own
    counted_on_write: list[str] = field(default_factory=list)  # ... while their table was written


# -- the schedule (pure: decided before any data is read) -------------------------------------
@dataclass(frozen=True)
class Schedule:
    """Which nodes a run computes and fits, what it reads back, and how often it uses each
    frame (a frame used twice or more is cached)."""

    compute: frozenset[str]
    fit: frozenset[str]
    loads: frozenset[str]  # asset names read from storage
    load_fitted: frozenset[str]  # estimator nodes whose stored fit is used
    needs: Mapping[str, frozenset[tuple[str, str]]]  # node -> (feature, node) kept downstream
    uses: Mapping[str, int]  # node or loaded asset -> uses of its frame (2+: cached)
    last_use: Mapping[str, int]  # node or loaded asset -> index of the last node using it

    @classmethod
    def build(cls, plan: Plan, selection: Iterable[str], targets: Iterable[str] = ()) -> Schedule:
        """The schedule materializing `selection` (asset names); `targets` are node frames
        wanted without storing anything (a view being read)."""
        chosen = set(selection)
        compute, fit, loads = set(targets), set(), set()
        for name in chosen:
            asset = plan.assets[name]
            if asset.role in FEATURE_ROLES or asset.role is AssetRole.REGISTERED:
                compute.add(asset.node)
            elif asset.role in FIT_ROLES:
                fit.add(asset.node)
        order = list(plan.nodes)
        needs: dict[str, set[tuple[str, str]]] = {k: set() for k in order}
        for key in reversed(order):  # consumers before their producers
            if key not in compute and key not in fit:
                continue
            node = plan.nodes[key]
            for feature, dep in node.deps:
                holder = plan.asset_of(feature, dep)
                if holder.name in chosen or holder.storage is Storage.VIEW:
                    compute.add(dep)
                else:
                    loads.add(holder.name)
            upstream = set(node.deps)
            if key in compute:
                upstream |= {p for p in needs[key] if p[1] != key}
            for dep in node.dep_nodes():
                needs[dep] |= upstream
        uses: dict[str, int] = {}
        last: dict[str, int] = {}
        for index, key in enumerate(order):
            node = plan.nodes[key]
            if key in compute:
                stored = [a for a in plan.assets.values() if a.node == key and a.name in chosen]
                tables = [a for a in stored if a.role in FEATURE_ROLES]
                # A table's write is one use (its statistics are observed during it); a model's
                # evaluation is another, unless it is counted while its predictions table is
                # written (`execute.counted_evaluation`). A source is never cached: reading it
                # again costs less than caching it (measured), and the split after it is cached.
                own = sum(a.storage is Storage.TABLE for a in tables)
                if node.stage.kind is StageKind.MODEL:
                    written = any(holds_predictions(node, a) for a in tables)
                    counted = (node.stage.metric or "accuracy") in execute.CONFUSION_METRICS
                    own += not (written and counted)
                if node.stage.kind is StageKind.SOURCE:
                    own = -len(order)
                uses[key] = uses.get(key, 0) + own
                last[key] = max(last.get(key, index), index)
            if key not in compute and key not in fit:
                continue
            # One use per consumer, even when it both fits on the frame and applies to it:
            # recomputing a row-wise chain twice costs less than caching it (measured).
            for source in _sources(plan, node, compute):
                uses[source] = uses.get(source, 0) + 1
                last[source] = index
        load_fitted = frozenset(
            k for k in compute if plan.nodes[k].stage.is_estimator and k not in fit
        )
        return cls(
            compute=frozenset(compute), fit=frozenset(fit), loads=frozenset(loads),
            load_fitted=load_fitted, needs={k: frozenset(v) for k, v in needs.items()},
            uses=uses, last_use=last,
        )  # fmt: skip


def holds_predictions(node: Node, planned: PlannedAsset) -> bool:
    """Whether `planned` is the table of a model node's predictions (its evaluation can be
    counted while the table is written)."""
    return (
        node.stage.kind is StageKind.MODEL
        and planned.storage is Storage.TABLE
        and planned.role in FEATURE_ROLES
        and planned.features == node.stage.outputs[:1]
    )


def _sources(plan: Plan, node: Node, compute: set[str] | frozenset[str]) -> list[str]:
    """Where a node's inputs come from: computed node frames, or loaded asset names."""
    found: dict[str, None] = {}
    for feature, dep in node.deps:
        found[dep if dep in compute else plan.asset_of(feature, dep).name] = None
    return list(found)


# -- the run ---------------------------------------------------------------------------------
@dataclass
class _Frame:
    df: DataFrame
    columns: dict[str, str]  # feature -> node that wrote it
    partitioned: bool


class Engine:
    """Runs a plan's assets on one Spark session, storing them under a `Layout`."""

    def __init__(
        self,
        plan: Plan,
        spark: SparkSession,
        layout: Layout,
        *,
        data_dir: Path,
        run_id: str = "",
        statistics: bool = True,
    ) -> None:
        self.plan = plan
        self.spark = spark
        self.layout = layout
        self.data_dir = data_dir
        self.run_id = run_id
        self.statistics = statistics
        self.record = Record()

    def key(self, asset: str) -> tuple[str, str]:
        """The asset's key path (`store`, key name): its folder in every storage root."""
        return (self.plan.store, self.plan.assets[asset].key_name)

    # -- public entry points ---------------------------------------------------------------
    def run(
        self, selection: Iterable[str], partitions: Sequence[str] | None = None
    ) -> Iterator[Outcome]:
        """Materialize `selection` (planned asset names) for `partitions` (default: every
        partition of the plan), yielding outcomes in dependency order."""
        chosen = [a for a in self.plan.assets if a in set(selection)]
        wanted = tuple(partitions or self.plan.partitions)
        yield from _Run(self, Schedule.build(self.plan, chosen), chosen, wanted).go()

    def load(self, asset: str, partitions: Sequence[str] | None = None) -> DataFrame:
        """An asset's rows as a DataFrame: a table read from Delta, a view recomputed from the
        tables it reads (its recipe); the entity key, its features and the split column."""
        planned = self.plan.assets[asset]
        if planned.role not in FEATURE_ROLES:
            raise DeclarationError(
                f"asset {asset!r} is a {planned.role.value} asset, not a table of rows."
            )
        wanted = tuple(partitions or self.plan.partitions)
        if planned.storage is Storage.TABLE:
            frame = self.layout.read_table(self.spark, self.key(asset))
            if planned.partitioned:
                frame = frame.where(F.col(SPLIT_COLUMN).isin(list(wanted)))
            return frame
        run = _Run(self, Schedule.build(self.plan, (), targets=(planned.node,)), [], wanted)
        for _ in run.go():  # nothing is selected, so a failure shows in `broken` only
            pass
        if planned.node in run.broken:
            raise StageFailedError(
                f"view {'/'.join(self.key(asset))} could not be recomputed from its recipe: "
                f"{run.broken[planned.node]}. Fix that, then read the view again."
            )
        frame = run.frames[planned.node]
        node = self.plan.nodes[planned.node]
        return run.rows_of(frame, node, planned)


class _Run:
    """One run's state: frames, fitted stages, failures; `go()` yields the outcomes."""

    def __init__(
        self, engine: Engine, schedule: Schedule, selection: list[str], partitions: tuple
    ) -> None:
        self.e = engine
        self.plan = engine.plan
        self.s = schedule
        self.selection = selection
        self.partitions = partitions
        # Rows every frame keeps: the run's partitions, and train rows for any fit.
        self.rows = tuple(
            p for p in self.plan.partitions if p in partitions or (p == TRAIN and schedule.fit)
        )
        self.frames: dict[str, _Frame] = {}
        self.loaded: dict[str, _Frame] = {}
        self.cached: dict[str, _Frame] = {}
        self.fitted: dict[str, Transformer] = {}
        self.pipelines: dict[str, Assembled] = {}  # registered asset -> its pipeline
        self.broken: dict[str, str] = {}  # node -> why its outputs are unavailable
        self.overlap: dict[str, tuple[int, DataFrame | None]] = {}  # split -> keys in both
        self.fit_counts: dict[tuple[int, bool], int] = {}
        self.metrics: dict[str, dict[str, dict[str, float]]] = {}  # model -> partition -> m
        self.cells: dict[str, dict[str, execute.Cells]] = {}  # model -> partition -> counts
        # model -> its evaluation's aggregates, observed while its predictions are written
        self.pending: dict[str, tuple[list, Callable[[dict[str, Any]], Any]]] = {}
        self.sizes: dict[str, dict[str, int]] = {}  # node -> rows per partition written
        self.assignment: _Frame | None = None  # the split's rows, every partition

    # -- driver ----------------------------------------------------------------------------
    def go(self) -> Iterator[Outcome]:
        by_node: dict[str, list[PlannedAsset]] = {}
        for name in self.selection:
            planned = self.plan.assets[name]
            by_node.setdefault(planned.node, []).append(planned)
        try:
            for index, key in enumerate(self.plan.nodes):
                if key in self.s.compute or key in self.s.fit:
                    yield from self._node(key, by_node.get(key, []))
                self._release(index)
        finally:
            for frame in self.cached.values():
                frame.df.unpersist()
            self.cached.clear()

    def _node(self, key: str, selected: list[PlannedAsset]) -> Iterator[Outcome]:
        node = self.plan.nodes[key]
        upstream = next((self.broken[d] for d in node.dep_nodes() if d in self.broken), None)
        if upstream is not None:
            self.broken[key] = upstream
            for planned in selected:
                yield Failed(planned.name, node.stage.name, f"not run: {upstream}")
            return
        try:
            yield from self._compute(key, node, selected)
        except Exception as error:  # the stage's own failure: stop its downstream, go on
            reason = f"stage {node.stage.name!r} failed: {type(error).__name__}: {error}"
            self.broken.setdefault(key, reason)
            for planned in selected:
                yield Failed(planned.name, node.stage.name, reason, error)

    def _compute(self, key: str, node: Node, selected: list[PlannedAsset]) -> Iterator[Outcome]:
        stage = node.stage
        done: set[str] = set()
        if stage.kind is StageKind.SOURCE:
            raw = execute.read_source(stage, self.e.spark, self.e.data_dir)
            frame = _Frame(raw, {f: key for f in stage.outputs}, partitioned=False)
        else:
            inputs = self._assemble(node)
            if key in self.s.fit:
                yield from self._fit(key, node, inputs, selected, done)
                if key in self.broken or key not in self.s.compute:
                    return
            if stage.kind is StageKind.SPLIT:
                frame = self._split(key, node, inputs)
            else:
                fitted = self._fitted_stage(key) if stage.is_estimator else None
                out = execute.apply(stage, node.entity_key, inputs.df, fitted)
                columns = {**inputs.columns, **{f: key for f in stage.outputs}}
                if stage.kind is StageKind.MODEL:  # its extra columns serve the evaluation
                    columns.update({c: key for c in out.columns if c not in inputs.df.columns})
                else:
                    keep = [c for c in inputs.df.columns if c not in stage.outputs]
                    out = out.select(*keep, *stage.outputs)
                frame = self._maybe_cache(key, node, _Frame(out, columns, inputs.partitioned))
                if stage.kind is StageKind.MODEL:
                    self._evaluate(key, node, frame, selected, fitted)
        if stage.kind is StageKind.SOURCE:
            frame = self._maybe_cache(key, node, frame)
        self.frames[key] = frame
        self.e.record.computed.append(key)
        for planned in selected:
            if planned.name in done:
                continue
            if planned.role in FEATURE_ROLES:
                yield from self._store(node, planned, frame)
            elif planned.role is AssetRole.REGISTERED:
                self._evaluated_now(key)
                yield self._evaluated(node, planned)
        if stage.kind is StageKind.SPLIT:
            yield from self._disjoint(key, node, selected)
            yield from self._overlap(key, node, selected)

    # -- inputs ----------------------------------------------------------------------------
    def _source_frame(self, feature: str, dep: str) -> _Frame:
        if dep in self.s.compute:
            return self.frames[dep]
        holder = self.plan.asset_of(feature, dep)
        if holder.name not in self.loaded:
            df = self.e.layout.read_table(self.e.spark, self.e.key(holder.name))
            if holder.partitioned:
                self._remember_stored_split(holder, df)
                df = df.where(F.col(SPLIT_COLUMN).isin(list(self.rows)))
            frame = _Frame(df, {f: dep for f in holder.features}, holder.partitioned)
            if self.s.uses.get(holder.name, 0) > 1:
                frame.df = frame.df.cache()
                self.cached[holder.name] = frame
            self.loaded[holder.name] = frame
            self.e.record.loaded_tables.append(holder.name)
        return self.loaded[holder.name]

    def _assemble(self, node: Node) -> _Frame:
        """The node's input rows: the frame that already holds most of what it reads, joined
        on the entity key with whatever it lacks."""
        wanted = list(dict.fromkeys(node.deps))
        sources = {pair: self._source_frame(*pair) for pair in wanted}
        candidates = list({id(f): f for f in sources.values()}.values())
        base = max(candidates, key=lambda f: sum(f.columns.get(a) == b for a, b in wanted))
        df, columns, partitioned = base.df, dict(base.columns), base.partitioned
        missing: dict[int, list[str]] = {}
        for (feature, dep), frame in sources.items():
            if columns.get(feature) != dep:
                missing.setdefault(id(frame), []).append(feature)
        for frame in candidates:
            features = missing.get(id(frame))
            if not features:
                continue
            both = partitioned and frame.partitioned
            on = [node.entity_key, SPLIT_COLUMN] if both else [node.entity_key]
            extra = [SPLIT_COLUMN] if frame.partitioned and not partitioned else []
            df = df.drop(*[f for f in features if f in df.columns])
            df = df.join(frame.df.select(*on, *extra, *features), on=on, how="inner")
            columns.update({f: frame.columns[f] for f in features})
            partitioned = partitioned or frame.partitioned
        return _Frame(df, columns, partitioned)

    def _maybe_cache(self, key: str, node: Node, frame: _Frame) -> _Frame:
        if self.s.uses.get(key, 0) < 2:
            return frame
        needed = self.s.needs.get(key, frozenset())
        label = {node.stage.label} if node.stage.label else set()
        keep = [
            c
            for c in frame.df.columns
            if c in (node.entity_key, SPLIT_COLUMN)
            or frame.columns.get(c) == key
            or (c, frame.columns.get(c)) in needed
            or c in label
        ]
        columns = {c: n for c, n in frame.columns.items() if c in keep}
        cached = _Frame(frame.df.select(*keep).cache(), columns, frame.partitioned)
        self.cached[key] = cached
        self.e.record.cached.append(key)
        return cached

    def _release(self, index: int) -> None:
        for name, frame in list(self.cached.items()):
            if self.s.last_use.get(name, -1) <= index:
                frame.df.unpersist()
                del self.cached[name]

    # -- evaluation ------------------------------------------------------------------------
    def _evaluate(
        self, key: str, node: Node, frame: _Frame, selected: list[PlannedAsset], fitted: Any
    ) -> None:
        """A model's metrics per partition: counted while its predictions table is written
        when this run writes it (`counted_evaluation`), else one grouped count now."""
        written = any(holds_predictions(node, p) for p in selected)
        counted = execute.counted_evaluation(
            node.stage, self.partitions, getattr(fitted, "numClasses", None),
            SPLIT_COLUMN in frame.df.columns,
        )  # fmt: skip
        if written and counted is not None:
            self.pending[key] = counted
            return
        self._grouped_evaluation(key, frame.df)

    def _grouped_evaluation(self, key: str, scored: DataFrame) -> None:
        """A model's metrics from one grouped count over its scored rows (a pass of its own)."""
        stage = self.plan.nodes[key].stage
        self.metrics[key], self.cells[key] = execute.evaluate_partitions(
            stage, scored, self.partitions
        )
        self.e.record.evaluated.append(key)

    def _evaluated_now(self, key: str) -> None:
        """Evaluate a model whose counts were left for a write that did not count them."""
        if key in self.pending:
            del self.pending[key]
            self._grouped_evaluation(key, self.frames[key].df)

    # -- split -----------------------------------------------------------------------------
    def _split(self, key: str, node: Node, inputs: _Frame) -> _Frame:
        assigned = execute.assign_split(inputs.df.drop(SPLIT_COLUMN), node.stage, node.entity_key)
        columns = {f: key for f in node.stage.outputs}
        frame = _Frame(assigned, columns, partitioned=True)
        frame = self._maybe_cache(key, node, frame)
        self.assignment = frame  # every row, for the disjoint check
        if set(self.rows) != set(self.plan.partitions):
            frame = _Frame(frame.df.where(F.col(SPLIT_COLUMN).isin(list(self.rows))), columns, True)
        return frame

    def _disjoint(self, key: str, node: Node, selected: list[PlannedAsset]) -> Iterator[Checked]:
        planned = self.plan.assets[key]
        if planned not in selected and not self.s.fit:
            return  # nothing of this run depends on the split's keys being disjoint
        assert self.assignment is not None
        assignment = self.assignment.df.select(node.entity_key, SPLIT_COLUMN)
        path = self.e.layout.table_path(self.e.key(key))
        stored_elsewhere = set(self.partitions) != set(self.plan.partitions) and table_exists(
            self.e.spark, path
        )
        by_key = isinstance(node.stage.impl, HashSplit) and node.stage.impl.group_by is None
        if by_key and not stored_elsewhere:
            # A hash of the key gives every copy of a key the same partition: disjoint by
            # construction, so the run skips the pass over every key.
            count, keys, method = 0, None, "hash of the key (one partition per key)"
        else:
            if stored_elsewhere:
                # Rows of partitions this run does not write stay as stored: check them too.
                stored = read_table(self.e.spark, path).where(
                    ~F.col(SPLIT_COLUMN).isin(list(self.partitions))
                )
                assignment = assignment.unionByName(stored.select(node.entity_key, SPLIT_COLUMN))
            count, keys = _keys_in_both(assignment, node.entity_key)
            method = "every key's partitions counted"
        self.overlap[key] = (count, keys)
        if planned not in selected:
            return
        sample = [r[0] for r in keys.limit(_SAMPLE).collect()] if count and keys else []
        if count:
            self.broken[key] = f"check {DISJOINT} of {key!r} failed"
        yield Checked(
            asset=key, check=DISJOINT, passed=count == 0,
            description=None if count == 0 else f"{count} keys are in more than one partition "
            f"(e.g. {sample}): the split rule must give each key one partition; fix it and "
            "re-materialize every partition.",
            metadata={
                "keys_in_both": count, "rows_per_partition": self.sizes.get(key, {}),
                "method": method,
            },
        )  # fmt: skip

    def _overlap(self, key: str, node: Node, selected: list[PlannedAsset]) -> Iterator[Checked]:
        content = self.plan.overlap_on(key)
        if not content or self.plan.assets[key] not in selected:
            return
        rule = node.stage.impl
        assert self.assignment is not None
        both, rows, examples = execute.overlap(self.assignment.df, content, _SAMPLE)
        share = both / rows if rows else 0.0
        severity = Severity.ERROR if share > rule.max_overlap else Severity.WARN
        declared = overlap_content(node.stage)
        what = f"{declared!r}" if declared else f"copy of every feature ({', '.join(content)})"
        if rule.group_by:
            how = f"grouped by {rule.group_by!r}, so equal values share a side"
        elif declared:
            how = f"split by key: declare group_by={declared!r} to keep equal values on one side"
        else:
            how = (
                "split by key: these rows are duplicates; declare group_by= a feature that "
                "identifies them (for example a normalized text) to keep copies on one side"
            )
        yield Checked(
            asset=key, check=OVERLAP, passed=both == 0, severity=severity,
            description=None if both == 0 else f"{both} of {rows} rows ({share:.2%}) have a "
            f"{what} that is on more than one side of the split (e.g. {examples!r}); {how}.",
            metadata={
                "content": ", ".join(content), "rows_in_both": both, "share_in_both": share,
                "rows": rows, "max_overlap": rule.max_overlap,
                "examples": [str(e) for e in examples], "group_by": rule.group_by or "",
            },
        )  # fmt: skip

    def _remember_stored_split(self, holder: PlannedAsset, df: DataFrame) -> None:
        node = self.plan.nodes[holder.node]
        if node.stage.kind is StageKind.SPLIT and holder.node not in self.overlap and self.s.fit:
            self.overlap[holder.node] = _keys_in_both(df, node.entity_key)

    # -- fits ------------------------------------------------------------------------------
    def _fit(
        self, key: str, node: Node, inputs: _Frame, selected: list[PlannedAsset], done: set[str]
    ) -> Iterator[Outcome]:
        train_only = node.fit_rows is FitRows.TRAIN and inputs.partitioned
        rows = inputs.df.where(F.col(SPLIT_COLUMN) == TRAIN) if train_only else inputs.df
        rows = rows.drop(SPLIT_COLUMN) if SPLIT_COLUMN in rows.columns else rows
        check = self._fit_check(key, node, inputs, rows, train_only)
        fitted = execute.fit(node.stage, execute.in_tasks_of(rows, check.metadata["rows_fitted"]))
        self.fitted[key] = fitted
        self.e.record.fitted.append(key)
        planned = self.plan.assets[key]
        if planned in selected:
            target = self.e.layout.save_fitted(self.e.key(key), fitted, self.e.run_id)
            done.add(key)
            yield Materialized(
                asset=key,
                metadata={"stage_class": type(fitted).__name__, "rows_fitted": check.metadata[
                    "rows_fitted"]},
                paths={"path": str(target)},
            )  # fmt: skip
            yield check
        if not check.passed:
            self.broken[key] = f"check {FIT_ROWS} of {key!r} failed"
            return
        for registered in (p for p in selected if p.role is AssetRole.REGISTERED):
            assembled = None
            # A pipeline that cannot be built fails where the model is evaluated, with the
            # asset's other outcomes.
            with contextlib.suppress(PythonStageInPipelineError):
                assembled = self._assembled(node, registered)
            if assembled is not None:
                yield assembled

    def _fit_check(
        self, key: str, node: Node, inputs: _Frame, rows: DataFrame, train_only: bool
    ) -> Checked:
        """Every key the fit sees is a train key of each split upstream of it: the fit reads
        train rows only, and no key of those is also a test key of the split."""
        memo = (id(inputs.df), train_only)  # K models reading one frame: counted once
        if memo not in self.fit_counts:
            self.fit_counts[memo] = rows.count()
        seen = self.fit_counts[memo]
        leaked, sample = 0, []
        splits = [
            k for k in self.plan.upstream_nodes(key)
            if self.plan.nodes[k].stage.kind is StageKind.SPLIT
        ]  # fmt: skip
        for split in splits:
            count, keys = self.overlap.get(split, (0, None))
            if count and keys is not None:
                hits = rows.select(node.entity_key).join(keys, on=node.entity_key, how="inner")
                found = hits.count()
                leaked += found
                sample += [r[0] for r in hits.limit(_SAMPLE).collect()] if found else []
        passed = leaked == 0 or not train_only
        return Checked(
            asset=key, check=FIT_ROWS, passed=passed,
            description=None if passed else f"the fit saw {leaked} test rows (e.g. "
            f"{sample[:_SAMPLE]}): it must read only the train partition of its inputs.",
            metadata={
                "rows_fitted": seen, "test_rows_fitted": leaked,
                "declared_fit_rows": node.fit_rows.value if node.fit_rows else "n/a",
            },
        )  # fmt: skip

    def _fitted_stage(self, key: str) -> Transformer:
        if key not in self.fitted:
            stored = self.e.layout.load_fitted(self.e.spark, self.e.key(key))
            self.fitted[key] = stored
            self.e.record.loaded_fitted.append(key)
        return self.fitted[key]

    # -- storing ---------------------------------------------------------------------------
    def rows_of(self, frame: _Frame, node: Node, planned: PlannedAsset) -> DataFrame:
        split = [SPLIT_COLUMN] if planned.partitioned else []
        df = frame.df.select(node.entity_key, *planned.features, *split)
        if planned.partitioned and set(self.partitions) != set(self.rows):
            df = df.where(F.col(SPLIT_COLUMN).isin(list(self.partitions)))
        return df

    def _store(self, node: Node, planned: PlannedAsset, frame: _Frame) -> Iterator[Outcome]:
        rows = unobserved = self.rows_of(frame, node, planned)
        evaluation = None
        if node.key in self.pending and holds_predictions(node, planned):
            aggregates, decode = self.pending.pop(node.key)
            evaluation = (Observation(f"ff_assets_evaluation_{len(self.metrics)}"), decode)
            observed = frame.df.observe(evaluation[0], *aggregates)
            rows = self.rows_of(_Frame(observed, frame.columns, frame.partitioned), node, planned)
        key = self.e.key(planned.name)
        fields = {f.name: f.dataType.simpleString() for f in rows.schema}
        declared = self.plan.features
        types = {f: declared[f].dtype for f in planned.features if f in declared}
        types = {f: t for f, t in types.items() if t}
        problems = schema_problems(fields, node.entity_key, planned.features, types)
        if not problems and planned.role is AssetRole.SOURCE:
            _check_keys(key, node, rows)
        if problems:
            raise DataFormatError(
                f"asset {'/'.join(key)}: {'; '.join(problems)}. Nothing was written (the table "
                "keeps its last good version): make the stage write every declared output "
                "with its declared type."
            )
        partitions = self.partitions if planned.partitioned else None
        metadata: dict[str, Any] = {"storage": planned.storage.value}
        paths: dict[str, str] = {}
        commit = None
        finish = None
        if planned.storage is Storage.TABLE:
            if self.e.statistics and self._observe(node, planned, evaluation is not None):
                # Statistics gathered while the table is written: no pass of their own.
                rows, finish = observed_statistics(rows, planned.features, partitions)
            commit = write_table(
                rows, self.e.layout.table_path(key), partitions=partitions, marker=self.e.run_id
            )
            if evaluation is not None:  # the model's counts, observed during the write
                counted = evaluation[1](evaluation[0].get)
                if counted is None:  # a label the fit never saw: count those rows by group
                    self._grouped_evaluation(node.key, self.frames[node.key].df)
                else:
                    self.metrics[node.key], self.cells[node.key] = counted
                    self.e.record.counted_on_write.append(node.key)
            paths["path"] = str(self.e.layout.table_path(key))
            metadata.update({"delta_version": commit.version, "rows_written": commit.rows})
            if commit.attempts > 1:  # another run committed first: made again on its version
                metadata["delta_commit_attempts"] = commit.attempts
            metadata["dagster/row_count"] = commit.rows
        else:
            recipe = self._recipe(node, planned)
            paths["recipe"] = str(self.e.layout.write_view(key, recipe))
            metadata["recipe"] = recipe
        self.e.record.written.append(planned.name)
        if partitions:
            metadata["partitions"] = ", ".join(partitions)
        for partition, values in self.metrics.get(node.key, {}).items():
            metadata.update({f"{partition}_{name}": value for name, value in values.items()})
        stats = None
        if finish is not None:
            # Token lists and text need a row per token: one aggregation over the rows just
            # written, from memory when the frame is cached, else read back from Delta (not a
            # recomputation of their upstream).
            stats = finish()
            if wants_tokens(stats):
                written = (
                    unobserved
                    if node.key in self.cached
                    else read_table(
                        self.e.spark, self.e.layout.table_path(key), commit and commit.version
                    )
                )
                stats = token_statistics(written, stats, partitions)
        elif not self.e.statistics:
            stats = None
        elif commit is not None and self._delta_suffices(planned):
            # Delta's own file statistics (rows per partition, nulls, min, max) cost no pass.
            stats = _delta_statistics(commit, rows, planned.features, partitions)
            metadata["statistics_from"] = "Delta file statistics"
        elif commit is not None or node.key in self.cached:  # a view: only when it is in memory
            stats = self._statistics(node, planned, rows)
        if stats is not None:
            metadata["feature_statistics_json"] = stats
            first = stats[planned.features[0]]["partitions"]
            self.sizes[node.key] = {
                p: s["count"] for p, s in first.items() if p in self.plan.partitions
            }
        yield Materialized(planned.name, metadata, paths, partitions)
        yield Checked(
            asset=planned.name, check=SCHEMA, passed=True,
            description=None, metadata={"columns": fields},
        )  # fmt: skip

    def _observe(self, node: Node, planned: PlannedAsset, counting: bool) -> bool:
        """Whether a table's statistics are gathered during its write (not from counts the
        run already has, nor from Delta's file statistics)."""
        counted = self.cells.get(node.key) or counting
        counted = counted and planned.features == (node.stage.outputs[0],)
        return not counted and not self._delta_suffices(planned)

    def _delta_suffices(self, planned: PlannedAsset) -> bool:
        """A source's statistics are Delta's file statistics: the split right after it has
        the full statistics of the same features, per partition."""
        return planned.role is AssetRole.SOURCE

    def _statistics(self, node: Node, planned: PlannedAsset, rows: DataFrame) -> dict[str, Any]:
        """One aggregation over the rows written; a model's predictions come for free from
        the counts its evaluation made."""
        cells = self.cells.get(node.key)
        if cells and planned.features == (node.stage.outputs[0],):
            by_value: dict[str, dict[Any, int]] = {}
            for partition, pairs in cells.items():
                values = by_value.setdefault(partition, {})
                for (_, prediction), n in pairs.items():
                    values[prediction] = values.get(prediction, 0) + n
            return {planned.features[0]: statistics_from_counts(by_value)}
        partitions = self.partitions if planned.partitioned else None
        return feature_statistics(rows, list(planned.features), partitions)

    def _recipe(self, node: Node, planned: PlannedAsset) -> dict[str, Any]:
        """What a view is recomputed from: its stage and the assets that stage reads."""
        reads = []
        for feature, dep in node.deps:
            holder = self.plan.asset_of(feature, dep)
            reads.append({"feature": feature, "asset": "/".join(self.e.key(holder.name)),
                          "storage": holder.storage.value})  # fmt: skip
        return {
            "asset": "/".join(self.e.key(planned.name)),
            "stage": node.stage.name,
            "kind": node.stage.kind.value,
            "params": dict(node.stage.params),
            "reads": reads,
        }

    # -- models ----------------------------------------------------------------------------
    def _assembled(self, node: Node, planned: PlannedAsset) -> Assembled:
        """The registered asset's inference pipeline: every stage of its traversal, fitted
        stages from this run (or storage), built once per run."""
        if planned.name in self.pipelines:
            return self.pipelines[planned.name]
        variant = self.plan.registering(planned.name)
        stages: list[Transformer] = []
        for key in self.plan.upstream_nodes(node.key)[:-1]:
            upstream = self.plan.nodes[key]
            if upstream.stage.kind in (StageKind.SOURCE, StageKind.SPLIT):
                continue
            if upstream.stage.is_estimator:
                stages.append(self._fitted_stage(key))
                continue
            runtime = execute.build(upstream.stage)
            if not isinstance(runtime, Transformer):
                raise PythonStageInPipelineError(
                    f"stage {upstream.stage.name!r} is a Python function, so it cannot be part "
                    "of the registered inference pipeline (a Spark PipelineModel): declare it "
                    "as a Spark ML Transformer to register models that use it."
                )
            stages.append(runtime)
        model = self._fitted_stage(node.key)
        pipeline = PipelineModel(
            stages=[*stages, model, *execute.pyfunc_prediction(variant.output)]
        )
        assembled = Assembled(
            asset=planned.name, variant=variant, pipeline=pipeline,
            stages=tuple(type(s).__name__ for s in stages),
        )  # fmt: skip
        self.pipelines[planned.name] = assembled
        return assembled

    def _evaluated(self, node: Node, planned: PlannedAsset) -> Evaluated:
        assembled = self._assembled(node, planned)
        by_partition = self.metrics.get(node.key, {})
        return Evaluated(
            asset=planned.name, variant=assembled.variant, pipeline=assembled.pipeline,
            metrics={f"{p}_{k}": v for p, m in by_partition.items() for k, v in m.items()},
            selects_on=self.plan.selects_on(assembled.variant), stages=assembled.stages,
        )  # fmt: skip


def _check_keys(key: KeyPath, node: Node, rows: DataFrame) -> None:
    """Refuse a source whose entity key repeats or is null, before its table is written."""
    if node.entity_key and (problems := execute.key_problems(rows, node.entity_key, _SAMPLE)):
        raise DataFormatError(
            f"source {'/'.join(key)}: {'; '.join(problems)}. Nothing was written (the table "
            f"keeps its last good version): features are joined on {node.entity_key!r}, so "
            "a source needs one row per key, never null; drop or merge the repeated rows, or "
            "declare a key that is unique."
        )


def _delta_statistics(
    commit: Any, rows: DataFrame, features: Sequence[str], partitions: Sequence[str] | None
) -> dict[str, Any]:
    """Statistics from a commit's file statistics: rows per partition, and per column the
    nulls, min and max Delta collected (all partitions together, as `all`)."""
    counts = {p: commit.rows_per_partition.get(p, 0) for p in partitions} if partitions else {}
    result: dict[str, Any] = {}
    for feature in features:
        column = {"nulls": 0, **commit.columns.get(feature, {})}
        by_partition: dict[str, Any] = {p: {"count": n, "nulls": None} for p, n in counts.items()}
        by_partition["all"] = {"count": commit.rows, **column}
        kind = kind_of(rows.schema[feature].dataType)
        kind = {"string": "categorical"}.get(kind, kind)  # no distinct count to tell text by
        result[feature] = {"kind": kind, "partitions": by_partition}
    return result


def _keys_in_both(rows: DataFrame, key: str) -> tuple[int, DataFrame]:
    """How many keys appear in more than one partition, and those keys."""
    keys = (
        rows.groupBy(key)
        .agg(F.countDistinct(SPLIT_COLUMN).alias("partitions"))
        .where("partitions > 1")
        .select(key)
    )
    return keys.count(), keys
