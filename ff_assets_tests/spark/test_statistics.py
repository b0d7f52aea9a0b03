"""Feature statistics of every kind, on real Spark, checked against pandas on the same rows:
numbers (moments, deciles, histogram, top values), categories (top values), text and token
lists (length, vocabulary, top tokens), vectors (dimension, sparsity, norm), and the PSI of
each partition against train. The same statistics come out of a write's Observation as out
of an aggregation."""

from __future__ import annotations

import base64
import math
import random
import re
from collections import Counter
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession

from ff_assets.charts import feature_svg, histograms_markdown
from ff_assets.spark.execute import SPLIT_COLUMN
from ff_assets.spark.statistics import (
    DISTINCT_RSD,
    feature_statistics,
    observed_statistics,
    psi,
    statistics_from_counts,
    statistics_markdown,
    token_statistics,
    wants_tokens,
)

pytestmark = pytest.mark.integration

SITES = ["amazon", "imdb", "yelp", "other"]
WORDS = ["good", "bad", "great", "food", "service", "movie", "plot", "battery", "phone", "it's"]
FEATURES = ["amount", "label", "site", "text", "tokens", "vector"]
SVG = "{http://www.w3.org/2000/svg}"


def _rows(n: int = 600, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        split = "test" if i % 4 == 0 else "train"
        shift = 1.5 if split == "test" else 0.0  # test drifts: a known PSI above 0
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 9))]
        size = 50
        indices = sorted(rng.sample(range(size), rng.randint(0, 5)))
        values = [round(rng.uniform(-2, 2), 3) for _ in indices]
        rows.append(
            {
                "id": i,
                "amount": None if i % 37 == 0 else round(rng.gauss(10 + shift, 3), 4),
                "label": float(rng.random() < (0.3 if split == "train" else 0.6)),
                "site": rng.choices(SITES, weights=[5, 3, 2, 1])[0],
                "text": " ".join(w.capitalize() if rng.random() < 0.3 else w for w in words),
                "tokens": None if i % 53 == 0 else words,
                "vector": {"size": size, "indices": indices, "values": values},
                SPLIT_COLUMN: split,
            }
        )
    return rows


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return _rows()


@pytest.fixture(scope="module")
def frame(spark: SparkSession, rows: list[dict]) -> DataFrame:
    schema = (
        "id long, amount double, label double, site string, text string, "
        "tokens array<string>, vector struct<size:int,indices:array<int>,values:array<double>>, "
        f"{SPLIT_COLUMN} string"
    )
    return spark.createDataFrame(rows, schema)


@pytest.fixture(scope="module")
def stats(frame: DataFrame) -> dict:
    return feature_statistics(frame, FEATURES, ["train", "test"])


@pytest.fixture(scope="module")
def pandas_rows(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _part(df: pd.DataFrame, partition: str) -> pd.DataFrame:
    return df[df[SPLIT_COLUMN] == partition]


def _close(a: float | None, b: float, tol: float = 1e-4) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def test_kinds(stats: dict) -> None:
    kinds = {f: s["kind"] for f, s in stats.items()}
    assert kinds == {
        "amount": "numeric", "label": "numeric", "site": "categorical", "text": "text",
        "tokens": "tokens", "vector": "vector",
    }  # fmt: skip


@pytest.mark.parametrize("partition", ["train", "test"])
def test_numeric_against_pandas(stats: dict, pandas_rows: pd.DataFrame, partition: str) -> None:
    values = _part(pandas_rows, partition)["amount"]
    s = stats["amount"]["partitions"][partition]
    present = values.dropna()
    assert s["count"] == len(values) and s["nulls"] == values.isna().sum()
    assert s["distinct"] == pytest.approx(present.nunique(), rel=2 * DISTINCT_RSD)  # HLL++
    assert _close(s["min"], present.min()) and _close(s["max"], present.max())
    assert _close(s["mean"], present.mean()) and _close(s["std"], present.std(ddof=1))
    # percentile_approx gives the smallest value whose rank reaches q: "inverted_cdf".
    expected = np.quantile(present, [i / 10 for i in range(11)], method="inverted_cdf")
    assert s["deciles"] == pytest.approx(list(expected), abs=1e-6)
    histogram = s["histogram"]
    edges = np.array(histogram["edges"])
    exact, _ = np.histogram(present, bins=edges)
    assert sum(histogram["counts"]) == pytest.approx(len(present), abs=len(edges))
    # Read off 101 percentiles: each bin within about 1.5 % of the rows of the exact count.
    assert max(abs(a - b) for a, b in zip(histogram["counts"], exact, strict=True)) <= max(
        3, 0.015 * len(present)
    )


def test_few_distinct_numbers_count_exactly(stats: dict, pandas_rows: pd.DataFrame) -> None:
    for partition in ("train", "test"):
        labels = _part(pandas_rows, partition)["label"]
        s = stats["label"]["partitions"][partition]
        counts = labels.value_counts()
        assert s["histogram"] == {
            "values": [0.0, 1.0],
            "counts": [int(counts.get(0.0, 0)), int(counts.get(1.0, 0))],
        }
        assert s["top_values"] == [[v, int(n)] for v, n in counts.items()]
    assert "top_values" not in stats["amount"]["partitions"]["train"]  # all seen once or so


def test_categorical_top_values(stats: dict, pandas_rows: pd.DataFrame) -> None:
    for partition in ("train", "test"):
        sites = _part(pandas_rows, partition)["site"]
        s = stats["site"]["partitions"][partition]
        assert s["distinct"] == sites.nunique()
        assert {v: n for v, n in s["top_values"]} == sites.value_counts().to_dict()
        assert "length" not in s


def _tokens_of(text: str) -> list[str]:
    return [t for t in re.split(r"[^\w']+", text.lower()) if t]


@pytest.mark.parametrize("feature", ["text", "tokens"])
def test_text_and_tokens_against_pandas(
    stats: dict, pandas_rows: pd.DataFrame, feature: str
) -> None:
    for partition in ("train", "test"):
        column = _part(pandas_rows, partition)[feature]
        s = stats[feature]["partitions"][partition]
        present = column.dropna()
        lengths = present.map(len).astype(float)
        assert s["nulls"] == column.isna().sum()
        assert _close(s["length"]["mean"], lengths.mean())
        assert _close(s["length"]["min"], lengths.min())
        assert _close(s["length"]["max"], lengths.max())
        assert _close(s["length"]["std"], lengths.std(ddof=1))
        tokens = Counter(
            t for value in present for t in (_tokens_of(value) if feature == "text" else value)
        )
        assert s["vocabulary"] == len(tokens)
        assert s["tokens"] == sum(tokens.values())
        assert {t: n for t, n in s["top_tokens"]} == dict(tokens.most_common(10))


def test_vectors_against_numpy(stats: dict, pandas_rows: pd.DataFrame) -> None:
    for partition in ("train", "test"):
        vectors = _part(pandas_rows, partition)["vector"]
        s = stats["vector"]["partitions"][partition]
        norms = vectors.map(lambda v: math.sqrt(sum(x * x for x in v["values"])))
        nonzero = vectors.map(lambda v: sum(1 for x in v["values"] if x != 0))
        assert s["dimension"] == 50
        assert _close(s["sparsity"], 1 - nonzero.mean() / 50)
        assert _close(s["nonzero"]["mean"], nonzero.mean())
        assert _close(s["norm"]["mean"], norms.mean()) and _close(s["norm"]["max"], norms.max())


def _psi_pandas(train: pd.Series, other: pd.Series) -> float:
    """PSI over the train deciles, computed independently with numpy."""
    edges = np.unique(np.quantile(train, [i / 10 for i in range(1, 10)], method="inverted_cdf"))
    bins = [-np.inf, *edges, np.inf]

    def shares(values: pd.Series) -> np.ndarray:
        counts, _ = np.histogram(values, bins=bins)
        return counts / counts.sum()

    e, a = np.maximum(shares(train), 1e-4), np.maximum(shares(other), 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


def test_psi_against_pandas(stats: dict, pandas_rows: pd.DataFrame) -> None:
    train = _part(pandas_rows, "train")["amount"].dropna()
    test = _part(pandas_rows, "test")["amount"].dropna()
    expected = _psi_pandas(train, test)
    assert expected > 0.25  # the test rows drift by design
    assert stats["amount"]["drift"]["test"] == pytest.approx(expected, rel=0.1, abs=0.02)
    # Categories: PSI over the train's values, exact.
    sites_train = _part(pandas_rows, "train")["site"].value_counts(normalize=True)
    sites_test = _part(pandas_rows, "test")["site"].value_counts(normalize=True)
    keys = list(sites_train.index)
    e = [*[sites_train[k] for k in keys], 0.0]
    a = [*[sites_test.get(k, 0.0) for k in keys], 0.0]
    assert stats["site"]["drift"]["test"] == pytest.approx(psi(e, a), abs=1e-6)


def test_psi_of_equal_shares_is_zero() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0
    assert psi([0.9, 0.1], [0.1, 0.9]) == pytest.approx(0.8 * math.log(9) * 2)


def test_observation_during_a_write_gives_the_same(frame: DataFrame, stats: dict, tmp_path) -> None:
    observed, finish = observed_statistics(frame, FEATURES, ["train", "test"])
    observed.write.format("delta").save(str(tmp_path / "t"))
    result = finish()
    assert wants_tokens(result)
    result = token_statistics(frame, result, ["train", "test"])
    assert result == stats


def test_statistics_from_counts_match_an_aggregation(spark: SparkSession) -> None:
    counts = {"train": {0.0: 30, 1.0: 10, 2.0: 5}, "test": {0.0: 8, 1.0: 7, None: 1}}
    rows = [
        (float(v) if v is not None else None, p)
        for p, by in counts.items()
        for v, n in by.items()
        for _ in range(n)
    ]
    frame = spark.createDataFrame(rows, f"prediction double, {SPLIT_COLUMN} string")
    from_counts = statistics_from_counts(counts)
    aggregated = feature_statistics(frame, ["prediction"], ["train", "test"])["prediction"]
    for partition in ("train", "test"):
        a, b = from_counts["partitions"][partition], aggregated["partitions"][partition]
        for key in ("count", "nulls", "distinct", "min", "max", "mean", "std", "deciles"):
            assert a[key] == pytest.approx(b[key]), key
        assert a["histogram"] == b["histogram"]
        assert sorted(a["top_values"]) == sorted(b["top_values"])
    assert from_counts["drift"] == pytest.approx(aggregated["drift"])


def test_markdown_and_pictures(stats: dict) -> None:
    markdown = statistics_markdown(stats)
    for kind in ("numeric", "categorical", "text", "tokens", "vector"):
        assert f"**{kind}**" in markdown
    pictures = histograms_markdown(stats)
    assert set(pictures) == {f"histogram_{f}" for f in FEATURES}
    for feature in FEATURES:
        prefix = f"![{feature}](data:image/svg+xml;base64,"
        picture = pictures[f"histogram_{feature}"]
        assert picture.startswith(prefix) and picture.endswith(")")
        svg = ElementTree.fromstring(base64.b64decode(picture[len(prefix) : -1]))
        assert svg.tag == f"{SVG}svg" and svg.get("width") and svg.get("height")
        drawn = [g.get("data-partition") for g in svg.iter(f"{SVG}g")]
        assert drawn == ["train", "test"], feature  # every partition, in order
        title = next(svg.iter(f"{SVG}text")).text
        assert title is not None and title.startswith(feature)


def test_a_picture_draws_each_partition_s_shares_and_its_drift(stats: dict) -> None:
    """The numeric feature's step line rises where its histogram's counts do, the legend
    gives each partition's PSI against train, and text is escaped."""
    svg = ElementTree.fromstring(feature_svg("amount", stats["amount"]))
    for group in svg.iter(f"{SVG}g"):
        partition = group.get("data-partition")
        histogram = stats["amount"]["partitions"][partition]["histogram"]
        [line] = group.iter(f"{SVG}polyline")
        points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
        zero = points[0][1]  # the line starts and ends on the x axis; y grows downwards
        heights = [zero - y for _, y in points[1:-1:2]]  # one step per bin
        counts = histogram["counts"]
        assert len(heights) == len(counts)
        for height, count in zip(heights, counts, strict=True):
            assert height / max(heights) == pytest.approx(count / max(counts), abs=0.01)
    legend = [t.text for t in svg.iter(f"{SVG}text") if t.text and "PSI" in t.text]
    assert legend == [f"test (PSI {stats['amount']['drift']['test']:.3f})"]
    odd = {"kind": "categorical", "partitions": {"all": {"top_values": [["<a & b>", 3]]}}}
    labels = [t.text for t in ElementTree.fromstring(feature_svg("f", odd)).iter(f"{SVG}text")]
    assert "<a & b>" in labels


def test_spark_ml_vectors_have_the_same_statistics_as_their_stored_struct(
    spark: SparkSession, frame: DataFrame, stats: dict
) -> None:
    """A frame holding Spark ML vectors (what the engine writes) gets the statistics of the
    same vectors in their stored layout."""
    from pyspark.ml.linalg import SparseVector, VectorUDT
    from pyspark.sql.types import StringType, StructField, StructType

    rows = [
        (SparseVector(r["vector"]["size"], r["vector"]["indices"], r["vector"]["values"]),
         r[SPLIT_COLUMN])
        for r in frame.select("vector", SPLIT_COLUMN).collect()
    ]  # fmt: skip
    schema = StructType(
        [StructField("vector", VectorUDT()), StructField(SPLIT_COLUMN, StringType())]
    )
    vectors = spark.createDataFrame(rows, schema)
    ml = feature_statistics(vectors, ["vector"], ["train", "test"])["vector"]
    assert ml["kind"] == "vector"
    for partition in ("train", "test"):
        a, b = ml["partitions"][partition], stats["vector"]["partitions"][partition]
        for key in ("count", "nulls", "dimension", "sparsity", "nonzero", "norm"):
            assert a[key] == b[key], key
