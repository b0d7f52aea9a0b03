"""Every table of both examples opens in delta-rs (the `deltalake` package), with the rows and
values Spark reads: vectors are stored as plain structs, not Spark ML's UDT (issue 8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable
from pyspark.ml.linalg import DenseVector, SparseVector, VectorUDT

from ff_assets.core.specs import Storage
from ff_assets.orchestration.keys import asset_key
from ff_assets_tests.orchestration.conftest import Materialized

pytestmark = pytest.mark.integration

SAMPLE = 20  # rows compared value by value, per table


def _stored(value: Any) -> Any:
    """What a non-Spark reader finds for a Spark value: a vector as its struct (written out
    here from the documented layout, not from the code under test)."""
    if isinstance(value, SparseVector):
        return {"type": 0, "size": value.size, "indices": value.indices.tolist(),
                "values": value.values.tolist()}  # fmt: skip
    if isinstance(value, DenseVector):
        return {"type": 1, "size": len(value), "indices": None, "values": value.values.tolist()}
    return value


def _kept_tables(m: Materialized) -> dict[Path, str]:
    """Every Delta table under the home, each the table of a planned asset ({path: key})."""
    planned = {
        m.table_path(asset_key(m.plan.store, a).path): a.name
        for a in m.plan.assets.values()
        if a.storage is Storage.TABLE and a.role.value in ("source", "split", "features")
    }
    on_disk = {p.parent for p in m.tables.glob("*/*/_delta_log")}
    assert on_disk == set(planned), "a table on disk is not a planned table, or one is missing"
    nodes = m.plan.nodes
    return {path: nodes[m.plan.assets[name].node].entity_key for path, name in planned.items()}


def _compare_every_table(m: Materialized) -> dict[str, int]:
    """Open each table with delta-rs and with Spark; the same rows and values. Returns how
    many vectors of each kind were compared."""
    kinds = {"sparse": 0, "dense": 0}
    for path, key in _kept_tables(m).items():
        arrow = DeltaTable(str(path)).to_pyarrow_table()
        spark = m.read_path(path)
        assert arrow.num_rows == spark.count() > 0, path
        assert set(arrow.column_names) == set(spark.columns), path
        rows = spark.orderBy(key).limit(SAMPLE).collect()
        keys = [r[key] for r in rows]
        picked = arrow.filter(pc.is_in(arrow[key], value_set=pa.array(keys))).to_pylist()
        by_key = {r[key]: r for r in picked}
        assert len(by_key) == len(rows), path
        for row in rows:
            for column, value in row.asDict().items():
                assert by_key[row[key]][column] == _stored(value), (path, row[key], column)
                if isinstance(value, SparseVector | DenseVector):
                    kinds["sparse" if isinstance(value, SparseVector) else "dense"] += 1
    return kinds


def test_every_reviews_table_opens_in_deltalake(reviews_materialized: Materialized) -> None:
    m = reviews_materialized
    assert m.report.success, m.report.failures
    kinds = _compare_every_table(m)
    assert kinds["sparse"] and kinds["dense"]  # TF-IDF and Word2Vec vectors, both compared
    # Spark still reads vectors: models and statistics see the type they always did.
    tfidf = m.read(["reviews", "text_vector__tfidf"])
    assert isinstance(tfidf.schema["text_vector"].dataType, VectorUDT)
    assert isinstance(m.load("term_counts").schema["term_counts"].dataType, VectorUDT)
    frame = DeltaTable(str(m.table_path(["reviews", "text_vector__tfidf"]))).to_pandas()
    assert len(frame) == tfidf.count()
    sparse = frame["text_vector"].iloc[0]
    assert sparse["size"] == 4096 and len(sparse["indices"]) == len(sparse["values"])


def test_every_bank_table_opens_in_deltalake(bank_materialized: Materialized) -> None:
    m = bank_materialized
    assert m.report.success, m.report.failures
    kinds = _compare_every_table(m)
    assert sum(kinds.values()) > 0  # the fitted scaler's and encoder's vectors were compared
