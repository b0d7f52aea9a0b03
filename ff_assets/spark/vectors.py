"""Spark ML vectors stored in standard Delta types, so any Delta reader opens the tables.

Spark ML's `vector` column type is a user-defined type (`VectorUDT`); Delta records it as
`udt`, which only Spark can read (delta-rs: "Unsupported Delta table type: 'udt'"). A stored
table therefore holds a vector column as the plain struct underneath that type:

    struct<type: tinyint, size: int, indices: array<int>, values: array<double>>

    type 0, sparse: `size` dimensions; `values[i]` sits at `indices[i]`, every other entry is 0
    type 1, dense:  `values` is the vector; `size` is its length; `indices` is null

One layout for sparse and dense vectors, because one column can hold both (VectorAssembler and
OneHotEncoder pick, row by row, whichever is smaller), so a declared `vector` feature has one
stored type. It is VectorUDT's own `sqlType` (the layout Spark already writes to Parquet
under the UDT), so the write is a relabel in the JVM (`unwrap_udt`, no copy, no Python), and a
sparse vector (TF-IDF over 2^k hashed terms) is never densified. `size` is also set for dense
vectors (Spark leaves it null there), so a reader always finds the dimension in one place.

The stored field carries `STORED_AS` in its column metadata (kept in the Delta schema), so a
read turns back exactly the columns that were vectors, and a table written before this layout
(a `udt` column) still reads as it did. Every read and write of a table goes through
`ff_assets.spark.tables`, which asks this module; nothing else converts vectors.
"""

from __future__ import annotations

from typing import Any

from pyspark.ml.functions import array_to_vector
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, StructField, StructType

STORED_AS = {"ff_assets.stored_as": "spark_ml_vector"}  # column metadata of a stored vector
_SPARSE, _DENSE = 0, 1  # VectorUDT's `type` field
# The JVM's JSON reader builds a VectorUDT value from its sqlType's fields: the one SQL
# conversion from that struct back to a vector (`cast` refuses a struct -> UDT cast).
_AS_VECTOR = StructType([StructField("v", VectorUDT())])


def is_vector(dtype: DataType) -> bool:
    return isinstance(dtype, VectorUDT)


def is_stored_vector(field: StructField) -> bool:
    return all(field.metadata.get(k) == v for k, v in STORED_AS.items())


def stored_vectors(frame: DataFrame) -> DataFrame:
    """`frame` with every vector column as its stored struct (and unchanged without any)."""
    if not any(is_vector(f.dataType) for f in frame.schema):
        return frame
    return frame.select(
        *(
            _stored(frame[f.name]).alias(f.name, metadata=STORED_AS)
            if is_vector(f.dataType)
            else frame[f.name]
            for f in frame.schema
        )
    )


def read_vectors(frame: DataFrame) -> DataFrame:
    """`frame` (rows read from a table) with every stored vector column a Spark ML vector
    again, as the models and the statistics expect; other columns as they are."""
    if not any(is_stored_vector(f) for f in frame.schema):
        return frame
    return frame.select(
        *(
            _vector(frame[f.name]).alias(f.name) if is_stored_vector(f) else frame[f.name]
            for f in frame.schema
        )
    )


def stored_nulls(counted: Any) -> Any:
    """A column's null count from Delta's file statistics. Delta counts a struct's nulls per
    field; a stored vector's `type` is null exactly when the vector is, so its count is the
    vector's. Any other value is returned as it is."""
    if isinstance(counted, dict) and isinstance(counted.get("type"), int):
        return counted["type"]
    return counted


def _stored(vector: Column) -> Column:
    raw = F.unwrap_udt(vector)
    values = raw.getField("values")
    size = F.coalesce(raw.getField("size"), F.size(values))
    stored = F.struct(
        raw.getField("type").alias("type"),
        size.alias("size"),
        raw.getField("indices").alias("indices"),
        values.alias("values"),
    )
    return F.when(vector.isNotNull(), stored)


def _vector(stored: Column) -> Column:
    dense = array_to_vector(stored.getField("values"))  # a JVM function: the cheap path
    sparse = F.from_json(F.to_json(F.struct(stored.alias("v"))), _AS_VECTOR).getField("v")
    kind = stored.getField("type")
    return F.when(kind == _DENSE, dense).when(kind == _SPARSE, sparse)  # null stays null
