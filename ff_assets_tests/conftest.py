"""Shared fixtures. Spark is imported only inside fixtures, so core tests never load it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """One local Spark session with Delta Lake for the whole test run (a start costs ~6 s)."""
    from ff_assets.spark.session import spark_session

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = spark_session(
        master="local[2]",
        app_name="ff_assets_tests",
        conf={"spark.sql.shuffle.partitions": "2", "spark.sql.warehouse.dir": str(warehouse)},
    )
    yield session
    session.stop()


@pytest.fixture
def table_path(tmp_path: Path) -> Callable[[str], str]:
    """`table_path("name")`: a fresh folder under this test's tmp_path for a Delta table."""

    def make(name: str) -> str:
        return str(tmp_path / "tables" / name)

    return make
