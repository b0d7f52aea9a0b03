"""Running one planned stage on Spark DataFrames: read, split, join, fit, apply, evaluate.

No Dagster here: the orchestration layer decides which rows come in and where results go.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pyspark.ml import Estimator, Model, Transformer
from pyspark.ml.evaluation import (
    BinaryClassificationEvaluator,
    MulticlassClassificationEvaluator,
    RegressionEvaluator,
)
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ff_assets.core.errors import DeclarationError, MissingColumnError
from ff_assets.core.specs import (
    BINARY_METRICS,
    REGRESSION_METRICS,
    TEST,
    TRAIN,
    VALIDATION,
    HashSplit,
    StageSpec,
)
from ff_assets.spark.introspect import SparkStageFactory

SPLIT_COLUMN = "ff_split"
PARTITIONS = (TRAIN, VALIDATION, TEST)  # every partition a split may assign, in order
_BUCKETS = 10_000


def build(stage: StageSpec) -> Any:
    """The stage's runtime object: a Spark ML stage is instantiated now that Spark runs."""
    impl = stage.impl
    return impl.build() if isinstance(impl, SparkStageFactory) else impl


def read_source(stage: StageSpec, spark: SparkSession, data_dir: Path) -> DataFrame:
    """Call a source's loader and check it returns the entity key and every declared output."""
    frame = stage.impl(spark, data_dir)
    if not isinstance(frame, DataFrame):
        raise DeclarationError(
            f"source {stage.name!r} returned {type(frame).__name__}, not a Spark DataFrame: "
            "a source function takes (spark, data_dir) and returns a DataFrame."
        )
    wanted = [stage.entity_key or "", *stage.outputs]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise MissingColumnError(
            f"source {stage.name!r} returned no column(s) {', '.join(missing)} (it has "
            f"{', '.join(frame.columns)}): make the loader return every declared output."
        )
    return frame.select(*wanted)


def assign_split(frame: DataFrame, stage: StageSpec, key: str) -> DataFrame:
    """Add the partition column: a deterministic hash of the key (of the `group_by` feature
    when declared, so rows of equal value share a side), or the user's split rule.

    The lowest buckets are test, the next validation: adding a validation partition moves
    train rows only, so a row that was held out for testing stays so."""
    rule = stage.impl
    if isinstance(rule, HashSplit):
        hashed = F.col(rule.group_by or key).cast("string")
        bucket = F.pmod(F.xxhash64(hashed, F.lit(rule.seed)), F.lit(_BUCKETS))
        test_cut = int(rule.test_fraction * _BUCKETS)
        validation_cut = test_cut + int(rule.validation_fraction * _BUCKETS)
        side = F.when(bucket < test_cut, F.lit(TEST))
        if validation_cut > test_cut:
            side = side.when(bucket < validation_cut, F.lit(VALIDATION))
        return frame.withColumn(SPLIT_COLUMN, side.otherwise(F.lit(TRAIN)))
    if callable(rule):
        out = rule(frame)
        if SPLIT_COLUMN not in out.columns:
            raise DeclarationError(
                f"split {stage.name!r}: its function must add a column {SPLIT_COLUMN!r} holding "
                "'train' or 'test' for each row."
            )
        return out
    raise DeclarationError(
        f"split {stage.name!r} has no rule: declare it with store.split(...) or give a function "
        f"that adds the {SPLIT_COLUMN!r} column."
    )


def overlap(
    assignment: DataFrame, content: str | Sequence[str], sample: int
) -> tuple[int, int, list[Any]]:
    """Rows whose `content` values are on more than one side of the split: (those rows, every
    row, up to `sample` of those values, most repeated first). Nulls in every column are no
    content: they never overlap.

    Rows are grouped by a 64-bit hash of their content and each side by its index, so the
    shuffle carries two numbers a row instead of the content (a text, a whole row); the
    examples are looked up afterwards (a scan, no shuffle of the content), only when there is
    an overlap.
    """
    columns = [content] if isinstance(content, str) else list(content)
    present = functools.reduce(lambda a, b: a | b, (F.col(c).isNotNull() for c in columns))
    side = F.array_position(F.lit(list(PARTITIONS)), F.col(SPLIT_COLUMN))
    hashed = assignment.select(
        F.xxhash64(*columns).alias("h"), side.alias("side"), present.alias("present")
    )
    per_value = hashed.groupBy("h").agg(
        F.min("side").alias("low"), F.max("side").alias("high"),
        F.count(F.lit(1)).alias("n"), F.max("present").alias("present"),
    )  # fmt: skip
    in_both = (F.col("low") != F.col("high")) & F.col("present")
    # One aggregation gives the counts and the most repeated values (a bounded heap of
    # `sample` hashes, ties by hash), so `per_value`'s shuffle runs once.
    totals = per_value.agg(
        F.sum(F.when(in_both, F.col("n")).otherwise(0)).alias("both"), F.sum("n").alias("rows"),
        F.max_by(F.col("h"), F.when(in_both, F.struct("n", "h")), sample).alias("top"),
    ).first()  # fmt: skip
    both, rows = int(totals["both"] or 0), int(totals["rows"] or 0)
    if not both:
        return 0, rows, []
    order = {h: i for i, h in enumerate(totals["top"] or [])}
    found = (
        assignment.select(F.xxhash64(*columns).alias("h"), *columns)
        .where(F.col("h").isin(list(order)))
        .dropDuplicates(["h"])
        .collect()
    )
    found.sort(key=lambda r: order[r["h"]])
    if len(columns) == 1:
        return both, rows, [r[columns[0]] for r in found]
    return both, rows, [{c: r[c] for c in columns} for r in found]


def key_problems(frame: DataFrame, key: str, sample: int) -> list[str]:
    """What makes `key` no entity key of `frame`: null keys, and keys on more than one row
    (with up to `sample` of them). One aggregation; a second only to name the repeats.

    Features are joined on the key, so a repeated key would multiply rows and a null one
    would drop them."""
    totals = frame.agg(
        F.count(F.lit(1)).alias("rows"), F.count(key).alias("keyed"),
        F.count_distinct(key).alias("distinct"),
    ).first()  # fmt: skip
    rows, keyed, distinct = int(totals["rows"]), int(totals["keyed"]), int(totals["distinct"])
    problems = []
    if keyed < rows:
        problems.append(f"{rows - keyed} of {rows} rows have no {key!r} (null)")
    if distinct < keyed:
        repeated = (
            frame.where(F.col(key).isNotNull()).groupBy(key).count().where("count > 1")
            .orderBy(F.desc("count"), key).limit(sample).collect()
        )  # fmt: skip
        shown = ", ".join(f"{r[key]!r} ({r['count']} rows)" for r in repeated)
        problems.append(f"{keyed - distinct} rows repeat a {key!r} already taken, e.g. {shown}")
    return problems


def join_on_key(frames: Sequence[DataFrame], key: str) -> DataFrame:
    """Inner-join feature tables on the entity key (and the train/test column where both have
    it); each table brings its own feature columns."""
    joined = frames[0]
    for frame in frames[1:]:
        on = (
            [key, SPLIT_COLUMN]
            if SPLIT_COLUMN in frame.columns and SPLIT_COLUMN in joined.columns
            else [key]
        )
        extra = [c for c in frame.columns if c in on or c not in joined.columns]
        joined = joined.join(frame.select(*extra), on=on, how="inner")
    return joined


ROWS_PER_FIT_TASK = 50_000  # rows a fit reads per partition, at most about (see `in_tasks_of`)


def in_tasks_of(frame: DataFrame, rows: int) -> DataFrame:
    """`frame` in as few partitions as `rows` need (`ROWS_PER_FIT_TASK` each), never more than
    it has: an iterative fit runs a Spark job per iteration, and on a few thousand rows each
    job's tasks cost more than their work (a logistic regression on 1,800 rows fitted in 1.1 s
    from one partition, 2.2 s from two; on 80,000 rows both took about 2.5 s: measured)."""
    return frame.coalesce(max(1, math.ceil(rows / ROWS_PER_FIT_TASK)))


def fit(stage: StageSpec, frame: DataFrame) -> Transformer:
    """Fit an estimator stage (a Spark ML Estimator, or a function returning a Transformer)."""
    runtime = build(stage)
    fitted = runtime.fit(frame) if isinstance(runtime, Estimator) else runtime(frame)
    if not isinstance(fitted, Transformer):
        raise DeclarationError(
            f"stage {stage.name!r} fitted to {type(fitted).__name__}, not a Spark ML Transformer: "
            "a fitted function must return a pyspark.ml Model so it can be stored and reused."
        )
    return fitted


def apply(
    stage: StageSpec, key: str, frame: DataFrame, fitted: Transformer | None = None
) -> DataFrame:
    """Apply a transform or a fitted stage; keep the key and the stage's outputs."""
    runtime: Transformer | Callable[[DataFrame], DataFrame] = fitted or build(stage)
    out = runtime.transform(frame) if isinstance(runtime, Transformer) else runtime(frame)
    missing = [c for c in stage.outputs if c not in out.columns]
    if missing:
        raise MissingColumnError(
            f"stage {stage.name!r} did not produce {', '.join(missing)} (it returned "
            f"{', '.join(out.columns)}): make it write every declared output column."
        )
    return out


def evaluate(stage: StageSpec, scored: DataFrame) -> dict[str, float]:
    """The model's metric (and a few companions) on scored rows holding label and prediction."""
    label, prediction = stage.label or "label", stage.outputs[0]
    metric = stage.metric or "accuracy"
    metrics: dict[str, float] = {}
    if metric in BINARY_METRICS:
        raw = dict(stage.params).get("rawPredictionCol", "rawPrediction")
        for name in BINARY_METRICS:
            evaluator = BinaryClassificationEvaluator(
                labelCol=label, rawPredictionCol=raw, metricName=name
            )
            metrics[name] = float(evaluator.evaluate(scored))
        metric_names: tuple[str, ...] = ("accuracy", "f1")
    elif metric in REGRESSION_METRICS:
        evaluator = RegressionEvaluator(labelCol=label, predictionCol=prediction, metricName=metric)
        return {metric: float(evaluator.evaluate(scored))}
    else:
        metric_names = tuple(dict.fromkeys((metric, "accuracy", "f1")))
    for name in metric_names:
        evaluator = MulticlassClassificationEvaluator(
            labelCol=label, predictionCol=prediction, metricName=name
        )
        metrics[name] = float(evaluator.evaluate(scored))
    return metrics


def is_model(obj: object) -> bool:
    return isinstance(obj, Model)


# Metrics a confusion matrix gives: every partition's, from one aggregation over the scored
# rows (Spark's evaluators take one pass per metric and partition).
CONFUSION_METRICS = ("accuracy", "f1", "weightedPrecision", "weightedRecall")


def evaluate_partitions(
    stage: StageSpec, scored: DataFrame, partitions: Sequence[str]
) -> tuple[dict[str, dict[str, float]], dict[str, Cells]]:
    """The model's metrics per partition of its scored rows (`{"test": {"accuracy": ...}}`),
    and, for classification metrics, the (label, prediction) counts they came from.

    Classification metrics come from one grouped count (partition, label, prediction), with
    the definitions of Spark's MulticlassClassificationEvaluator (weighted by label counts);
    other metrics go through Spark's evaluators.
    """
    metric = stage.metric or "accuracy"
    has_split = SPLIT_COLUMN in scored.columns
    wanted = [p for p in partitions if p in PARTITIONS] if has_split else ["all"]
    if metric not in CONFUSION_METRICS:
        result = {}
        for partition in wanted:
            rows = scored.where(F.col(SPLIT_COLUMN) == partition) if has_split else scored
            result[partition] = evaluate(stage, rows)
        return result, {}
    label, prediction = stage.label or "label", stage.outputs[0]
    groups = [SPLIT_COLUMN] if has_split else []
    counts = scored.groupBy(*groups, label, prediction).count().collect()
    cells: dict[str, Cells] = {}
    for row in counts:
        partition = row[SPLIT_COLUMN] if has_split else "all"
        cells.setdefault(partition, {})[(row[label], row[prediction])] = int(row["count"])
    cells = {p: cells[p] for p in wanted if p in cells}
    return {p: confusion_metrics(c) for p, c in cells.items()}, cells


Cells = dict[tuple[Any, Any], int]  # (label, prediction) -> rows

MAX_COUNTED_CLASSES = 20  # above it, a conditional count per cell costs more than a groupBy


def counted_evaluation(
    stage: StageSpec, partitions: Sequence[str], classes: int | None, has_split: bool
) -> tuple[list[Column], Callable[[dict[str, Any]], tuple[dict, dict] | None]] | None:
    """The evaluation of a classifier as conditional counts, one per (partition, label,
    prediction) cell, to observe while its predictions are written (no pass of its own), and
    the function that turns their values into `evaluate_partitions`' result; None when the
    metric or the number of classes does not suit. The function returns None when some rows
    fell outside the cells (a label the fit never saw): evaluate those rows by a groupBy.

    Spark's classifiers predict 0 .. numClasses - 1, and learn labels of that range.
    """
    metric = stage.metric or "accuracy"
    if metric not in CONFUSION_METRICS or not classes or classes > MAX_COUNTED_CLASSES:
        return None
    label, prediction = f"`{stage.label or 'label'}`", f"`{stage.outputs[0]}`"
    groups = [p for p in partitions if p in PARTITIONS] if has_split else ["all"]
    values: list[float | None] = [float(c) for c in range(classes)]
    # SQL text: one Py4J call per aggregate (a Column built call by call costs ten).
    aggregates: list[Column] = []
    cells: list[tuple[str, float | None, float, str]] = []
    for g, group in enumerate(groups):
        rows = f"{SPLIT_COLUMN} = '{group}'" if has_split else "true"
        aggregates.append(F.expr(f"count(CASE WHEN {rows} THEN 1 END) AS rows_{g}"))
        for i, truth in enumerate([*values, None]):
            is_label = f"{label} IS NULL" if truth is None else f"{label} = {truth}"
            for j, predicted in enumerate(values):
                name = f"cell_{g}_{i}_{j}"
                when = f"{rows} AND {is_label} AND {prediction} = {predicted}"
                aggregates.append(F.expr(f"count(CASE WHEN {when} THEN 1 END) AS {name}"))
                cells.append((group, truth, predicted, name))

    def decode(observed: dict[str, Any]) -> tuple[dict, dict] | None:
        by_group: dict[str, Cells] = {}
        for group, truth, predicted, name in cells:
            if observed[name]:
                by_group.setdefault(group, {})[(truth, predicted)] = int(observed[name])
        for g, group in enumerate(groups):
            if sum(by_group.get(group, {}).values()) != observed[f"rows_{g}"]:
                return None
        return {p: confusion_metrics(c) for p, c in by_group.items()}, by_group

    return aggregates, decode


def confusion_metrics(cells: Cells) -> dict[str, float]:
    """Accuracy and label-weighted F1, precision and recall from (label, prediction) counts."""
    cells = {pair: n for pair, n in cells.items() if None not in pair}
    total = sum(cells.values()) or 1
    labels: dict[float, int] = {}
    predicted: dict[float, int] = {}
    for (label, prediction), n in cells.items():
        labels[label] = labels.get(label, 0) + n
        predicted[prediction] = predicted.get(prediction, 0) + n
    f1 = precision = recall = 0.0
    for label, count in labels.items():
        tp = cells.get((label, label), 0)
        p = tp / predicted[label] if predicted.get(label) else 0.0
        r = tp / count
        weight = count / total
        precision += weight * p
        recall += weight * r
        f1 += weight * (2 * p * r / (p + r) if p + r else 0.0)
    accuracy = sum(n for (a, b), n in cells.items() if a == b) / total
    return {"accuracy": accuracy, "f1": f1, "weightedPrecision": precision,
            "weightedRecall": recall}  # fmt: skip


def pyfunc_prediction(output: str) -> list[Transformer]:
    """MLflow's pyfunc wrapper of a Spark model returns the column `prediction`: copy the
    output feature there, so a registered model serves through pyfunc too."""
    from pyspark.ml.feature import SQLTransformer

    if output == "prediction":
        return []
    return [SQLTransformer(statement=f"SELECT *, `{output}` AS prediction FROM __THIS__")]
