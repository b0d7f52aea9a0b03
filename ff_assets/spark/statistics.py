"""Per-materialization feature statistics, computed by Spark in one aggregation pass.

For every feature column, per partition (`train`, `test`) when the table is split: count,
nulls, approximate distinct values; for numbers also min, max, mean, standard deviation and
deciles (an equal-depth histogram); for arrays the same over their lengths. Train vs test
drift is the standardized mean difference |mean_train - mean_test| / pooled std.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BooleanType, NumericType, StringType

from ff_assets.spark.execute import PARTITIONS, SPLIT_COLUMN

_DECILES = [i / 10 for i in range(11)]


def _measured(frame: DataFrame, column: str) -> tuple[Column | None, str]:
    """The numeric expression summarizing a column, and what it measures."""
    dtype = frame.schema[column].dataType
    if isinstance(dtype, NumericType):
        return F.col(column).cast("double"), "value"
    if isinstance(dtype, BooleanType):
        return F.col(column).cast("double"), "value"
    if isinstance(dtype, ArrayType):
        return F.size(column).cast("double"), "length"
    if isinstance(dtype, StringType):
        return F.length(column).cast("double"), "length"
    return None, ""


def statistics_aggregates(
    frame: DataFrame, features: Sequence[str], partitions: Sequence[str] | None = None
) -> tuple[list[Column], Callable[[dict[str, Any]], dict[str, dict[str, Any]]]]:
    """The aggregate columns of every statistic, per partition (conditional aggregates, so one
    global aggregation or one observation computes them all), and the function that turns
    their values into `{feature: {partition: {statistic: value}, "train_test_drift": ...}}`."""
    split = SPLIT_COLUMN in frame.columns
    groups = list(partitions or PARTITIONS) if split else ["all"]
    aggregates: list[Column] = []
    measures: dict[str, str] = {}
    distinct: set[str] = set()
    for p, group in enumerate(groups):
        mask = F.col(SPLIT_COLUMN) == group if split else F.lit(True)
        aggregates.append(F.sum(F.when(mask, 1).otherwise(0)).alias(f"p{p}_rows"))
        for i, feature in enumerate(features):
            expr, what = _measured(frame, feature)
            nulls = F.when(mask & F.col(feature).isNull(), 1).otherwise(0)
            aggregates.append(F.sum(nulls).alias(f"p{p}_{i}_nulls"))
            if expr is None:
                continue
            if not isinstance(frame.schema[feature].dataType, ArrayType):
                distinct.add(feature)
                aggregates.append(
                    F.approx_count_distinct(F.when(mask, F.col(feature))).alias(
                        f"p{p}_{i}_distinct"
                    )
                )
            measures[feature] = what
            value = F.when(mask, expr)
            aggregates += [
                F.min(value).alias(f"p{p}_{i}_min"),
                F.max(value).alias(f"p{p}_{i}_max"),
                F.mean(value).alias(f"p{p}_{i}_mean"),
                F.stddev(value).alias(f"p{p}_{i}_std"),
                F.percentile_approx(value, _DECILES, 200).alias(f"p{p}_{i}_deciles"),
            ]

    def decode(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = {f: {} for f in features}
        for p, group in enumerate(groups):
            rows = int(values.get(f"p{p}_rows") or 0)
            if split and not rows:
                continue  # a partition this table does not hold
            for i, feature in enumerate(features):
                stats: dict[str, Any] = {"count": rows, "nulls": int(values[f"p{p}_{i}_nulls"])}
                if feature in distinct:
                    stats["distinct"] = values[f"p{p}_{i}_distinct"]
                if feature in measures:
                    stats["of"] = measures[feature]
                    for name in ("min", "max", "mean", "std"):
                        stats[name] = _number(values[f"p{p}_{i}_{name}"])
                    stats["deciles"] = [_number(v) for v in values[f"p{p}_{i}_deciles"] or []]
                result[feature][group] = stats
        for feature in features:
            drift = _drift(result[feature])
            if drift is not None:
                result[feature]["train_test_drift"] = drift
        return result

    return aggregates, decode


def feature_statistics(
    frame: DataFrame, features: Sequence[str], partitions: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The statistics of a table's features, in one aggregation over its rows."""
    aggregates, decode = statistics_aggregates(frame, features, partitions)
    return decode(frame.agg(*aggregates).collect()[0].asDict())


def observed_statistics(
    frame: DataFrame, features: Sequence[str], partitions: Sequence[str] | None = None
) -> tuple[DataFrame, Callable[[], dict[str, dict[str, Any]]]]:
    """`frame` with its statistics attached as a Spark `Observation`, and the function that
    reads them once an action (the table's write) has run: no pass of their own."""
    aggregates, decode = statistics_aggregates(frame, features, partitions)
    observation = Observation("ff_assets_statistics")
    observed = frame.observe(observation, *aggregates)
    return observed, lambda: decode(observation.get)


def statistics_from_counts(counts: dict[str, dict[Any, int]]) -> dict[str, Any]:
    """The statistics `feature_statistics` gives for one numeric column, computed exactly from
    its value counts per partition (a model's predictions: its evaluation already counted
    them), so no pass over the rows is needed."""
    result: dict[str, Any] = {}
    for partition, by_value in counts.items():
        values = sorted((float(v), n) for v, n in by_value.items() if v is not None)
        present = sum(n for _, n in values)
        stats: dict[str, Any] = {
            "count": present + by_value.get(None, 0),
            "nulls": by_value.get(None, 0),
            "distinct": len(values),
            "of": "value",
        }
        if present:
            mean = sum(v * n for v, n in values) / present
            var = sum(n * (v - mean) ** 2 for v, n in values) / (present - 1) if present > 1 else 0
            stats.update(min=_number(values[0][0]), max=_number(values[-1][0]),
                         mean=_number(mean), std=_number(math.sqrt(var)))  # fmt: skip
            stats["deciles"] = [_number(_quantile(values, present, q)) for q in _DECILES]
        else:
            stats.update(min=None, max=None, mean=None, std=None, deciles=[])
        result[partition] = stats
    drift = _drift(result)
    if drift is not None:
        result["train_test_drift"] = drift
    return result


def _quantile(values: list[tuple[float, int]], total: int, q: float) -> float:
    """The smallest value whose cumulative count reaches q of the rows."""
    rank, seen = max(1, math.ceil(q * total)), 0
    for value, n in values:
        seen += n
        if seen >= rank:
            return value
    return values[-1][0]


def _number(value: Any) -> float | None:
    return None if value is None else round(float(value), 6)


def _drift(by_partition: dict[str, Any]) -> float | None:
    train, test = by_partition.get("train"), by_partition.get("test")
    if not train or not test or train.get("mean") is None or test.get("mean") is None:
        return None
    pooled = math.sqrt(((train.get("std") or 0.0) ** 2 + (test.get("std") or 0.0) ** 2) / 2)
    if pooled == 0:
        return 0.0 if train["mean"] == test["mean"] else None
    return round(abs(train["mean"] - test["mean"]) / pooled, 6)


def statistics_markdown(stats: dict[str, dict[str, Any]]) -> str:
    """A Markdown table of the statistics, one row per feature and partition."""
    lines = [
        "| feature | rows | count | nulls | distinct | min | max | mean | std | drift |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for feature, by_partition in stats.items():
        drift = by_partition.get("train_test_drift")
        for partition, s in by_partition.items():
            if partition == "train_test_drift":
                continue
            of = f" ({s['of']})" if s.get("of") == "length" else ""
            cells = [
                f"{feature}{of}", partition, s["count"], s["nulls"], s.get("distinct", ""),
                *(_cell(s.get(k)) for k in ("min", "max", "mean", "std")),
                _cell(drift) if partition == "test" else "",
            ]  # fmt: skip
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "" if value is None else f"{value:.4g}"
