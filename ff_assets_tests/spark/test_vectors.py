"""Vectors written by `write_table` are plain structs in Delta and Spark ML vectors again when
`read_table` reads them: sparse stays sparse, dense stays dense, nulls and NaN survive."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.ml.linalg import DenseVector, SparseVector, Vectors, VectorUDT
from pyspark.sql import SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from ff_assets.core.errors import DataFormatError
from ff_assets.spark.execute import SPLIT_COLUMN
from ff_assets.spark.tables import read_table, write_table

pytestmark = pytest.mark.integration

SCHEMA = StructType(
    [
        StructField("id", StringType()),
        StructField("v", VectorUDT()),
        StructField(SPLIT_COLUMN, StringType()),
    ]
)
ROWS = [
    ("sparse", Vectors.sparse(1 << 18, {3: 1.5, 200_000: -2.0}), "train"),
    ("dense", Vectors.dense(0.1, 2.0 / 3.0, 1e-300), "train"),
    ("nan", Vectors.dense(float("nan"), float("inf")), "test"),
    ("empty_sparse", Vectors.sparse(7, {}), "test"),
    ("empty_dense", Vectors.dense([]), "test"),
    ("none", None, "train"),
]


def _same(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    assert type(a) is type(b), (a, b)
    if isinstance(a, SparseVector):
        assert isinstance(b, SparseVector)
        return a.size == b.size and a.indices.tolist() == b.indices.tolist() and _floats(a, b)
    assert isinstance(a, DenseVector) and isinstance(b, DenseVector)
    return len(a) == len(b) and _floats(a, b)


def _floats(a: SparseVector | DenseVector, b: SparseVector | DenseVector) -> bool:
    return all(
        (math.isnan(x) and math.isnan(y)) or x == y
        for x, y in zip(a.values.tolist(), b.values.tolist(), strict=True)
    )


def test_vectors_round_trip_and_any_delta_reader_opens_the_table(
    spark: SparkSession, table_path: Callable[[str], str]
) -> None:
    path = Path(table_path("vectors"))
    write_table(spark.createDataFrame(ROWS, SCHEMA), path, partitions=["train", "test"])

    back = read_table(spark, path)
    assert isinstance(back.schema["v"].dataType, VectorUDT)
    read = {r["id"]: r["v"] for r in back.collect()}
    assert set(read) == {r[0] for r in ROWS}
    for name, vector, _ in ROWS:
        assert _same(read[name], vector), name

    arrow = {r["id"]: r["v"] for r in DeltaTable(str(path)).to_pyarrow_table().to_pylist()}
    assert arrow["sparse"] == {"type": 0, "size": 1 << 18, "indices": [3, 200_000],
                               "values": [1.5, -2.0]}  # fmt: skip
    assert arrow["dense"] == {"type": 1, "size": 3, "indices": None,
                              "values": [0.1, 2.0 / 3.0, 1e-300]}  # fmt: skip
    assert arrow["empty_dense"]["size"] == 0 and arrow["none"] is None


def test_a_partition_rewrite_and_time_travel_keep_vectors(
    spark: SparkSession, table_path: Callable[[str], str]
) -> None:
    path = Path(table_path("partitioned"))
    write_table(spark.createDataFrame(ROWS, SCHEMA), path, partitions=["train", "test"])
    again = [("dense", Vectors.sparse(3, {0: 9.0}), "train")]
    write_table(spark.createDataFrame(again, SCHEMA), path, partitions=["train"])

    current = {r["id"]: r["v"] for r in read_table(spark, path).collect()}
    assert _same(current["dense"], Vectors.sparse(3, {0: 9.0}))
    assert "sparse" not in current and _same(current["empty_sparse"], Vectors.sparse(7, {}))
    first = {r["id"]: r["v"] for r in read_table(spark, path, version=0).collect()}
    assert _same(first["sparse"], ROWS[0][1])


def test_a_table_written_with_sparks_vector_type_reads_and_is_rewritten_in_the_new_layout(
    spark: SparkSession, table_path: Callable[[str], str]
) -> None:
    """Tables stored before this layout hold a `udt` column: they read as they always did;
    rewriting one partition is refused with the fix, rewriting both converts the table."""
    path = Path(table_path("legacy"))
    legacy = spark.createDataFrame(ROWS, SCHEMA)
    legacy.write.format("delta").partitionBy(SPLIT_COLUMN).save(str(path))
    read = {r["id"]: r["v"] for r in read_table(spark, path).collect()}
    for name, vector, _ in ROWS:
        assert _same(read[name], vector), name

    with pytest.raises(DataFormatError, match="materialize both partitions"):
        write_table(legacy.where(f"{SPLIT_COLUMN} = 'train'"), path, partitions=["train"])
    write_table(legacy, path, partitions=["train", "test"])
    arrow = DeltaTable(str(path))
    assert arrow.metadata().partition_columns == [SPLIT_COLUMN]
    assert arrow.to_pyarrow_table().num_rows == len(ROWS)
    assert _same(read_table(spark, path).where("id = 'sparse'").first()["v"], ROWS[0][1])
