"""Per-materialization feature statistics, computed by Spark in one aggregation pass.

For every feature column, per partition (`train`, `test`) when the table is split: count,
nulls, approximate distinct values; for numbers also min, max, mean, standard deviation and
deciles (an equal-depth histogram); for arrays the same over their lengths. Train vs test
drift is the standardized mean difference |mean_train - mean_test| / pooled std.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BooleanType, NumericType, StringType

from ff_assets.spark.execute import SPLIT_COLUMN

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


def feature_statistics(frame: DataFrame, features: Sequence[str]) -> dict[str, dict[str, Any]]:
    """{feature: {partition: {statistic: value}, "drift": ...}} for the table `frame`."""
    groups = [SPLIT_COLUMN] if SPLIT_COLUMN in frame.columns else []
    aggregates: list[Column] = [F.count(F.lit(1)).alias("__rows")]
    measures: dict[str, str] = {}
    for i, feature in enumerate(features):
        expr, what = _measured(frame, feature)
        aggregates += [
            F.count(F.when(F.col(feature).isNull(), 1)).alias(f"{i}_nulls"),
        ]
        if not isinstance(frame.schema[feature].dataType, ArrayType) and expr is not None:
            aggregates.append(F.approx_count_distinct(feature).alias(f"{i}_distinct"))
        if expr is not None:
            measures[feature] = what
            aggregates += [
                F.min(expr).alias(f"{i}_min"),
                F.max(expr).alias(f"{i}_max"),
                F.mean(expr).alias(f"{i}_mean"),
                F.stddev(expr).alias(f"{i}_std"),
                F.percentile_approx(expr, _DECILES, 200).alias(f"{i}_deciles"),
            ]
    rows = frame.groupBy(*groups).agg(*aggregates).collect()
    result: dict[str, dict[str, Any]] = {f: {} for f in features}
    for row in rows:
        values = row.asDict()
        partition = values.get(SPLIT_COLUMN, "all")
        for i, feature in enumerate(features):
            stats = {
                "count": values["__rows"],
                "nulls": values[f"{i}_nulls"],
            }
            if f"{i}_distinct" in values:
                stats["distinct"] = values[f"{i}_distinct"]
            if feature in measures:
                stats["of"] = measures[feature]
                for name in ("min", "max", "mean", "std"):
                    stats[name] = _number(values[f"{i}_{name}"])
                stats["deciles"] = [_number(v) for v in values[f"{i}_deciles"] or []]
            result[feature][partition] = stats
    for feature in features:
        drift = _drift(result[feature])
        if drift is not None:
            result[feature]["train_test_drift"] = drift
    return result


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
