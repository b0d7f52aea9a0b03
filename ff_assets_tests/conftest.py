"""Shared fixtures. Spark is imported only inside fixtures, so core tests never load it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ff_assets.config import SPARK_CONF_ENV

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The JVM settings of the Spark drivers the tests start as processes (see the file); a value
# already in the environment wins. This process's own session keeps Spark's defaults: it
# lives for the whole suite, where C2's compiled code pays (the C1 compiler alone made
# `ff_assets_tests/spark` 13 % slower in it).
TEST_SPARK_CONF = Path(__file__).with_name("spark-tests.conf")
os.environ.setdefault(SPARK_CONF_ENV, str(TEST_SPARK_CONF))


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
