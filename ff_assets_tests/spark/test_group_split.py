"""Group splits and the overlap check on generated rows with many duplicates, on real Spark.

`assign_split(group_by=...)` puts every group on one side with the declared fraction of the
groups; the engine's `train_test_overlap` counts, like pandas does on the same rows, the rows
whose content is on both sides, with a severity from the declared maximum share, and stops
nothing downstream.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ff_assets.core import FeatureStore
from ff_assets.spark import execute
from ff_assets.spark.engine import OVERLAP, Checked, Engine, Failed, Materialized, Severity
from ff_assets.spark.execute import SPLIT_COLUMN
from ff_assets.spark.storage import Layout

pytestmark = pytest.mark.integration

ROWS = 4000
GROUPS = 600
TEST_FRACTION = 0.25


def generated_rows(seed: int = 5) -> list[tuple[str, str, str]]:
    """(key, text, user): a skewed number of copies per text, from 1 to a few hundred."""
    rng = random.Random(seed)
    return [
        (f"r{i}", f"sentence {int(rng.random() ** 2 * GROUPS)}", f"u{rng.randrange(GROUPS)}")
        for i in range(ROWS)
    ]


@pytest.fixture(scope="module")
def rows(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(generated_rows(), schema="id string, text string, user string")


def build_store(**split: object) -> FeatureStore:
    store = FeatureStore(name="dups", owner="tests")
    data = generated_rows()

    @store.source(outputs=["text", "user"], entity_key="id")
    def source(spark: SparkSession, data_dir: Path) -> DataFrame:
        return spark.createDataFrame(data, schema="id string, text string, user string")

    store.split(inputs=["text", "user"], test_fraction=TEST_FRACTION, seed=3, **split)

    @store.transform(inputs=["text"], outputs=["n_chars"], storage="table")
    def count_chars(df: DataFrame) -> DataFrame:
        return df.withColumn("n_chars", F.length("text"))

    return store


def _assigned(rows: DataFrame, **split: object) -> pd.DataFrame:
    spec = build_store(**split).snapshot().stages["split"]
    return execute.assign_split(rows, spec, "id").toPandas()


def _sides(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame.groupby(column)[SPLIT_COLUMN].nunique()


@pytest.mark.parametrize("group", ["text", "user"])
def test_a_group_split_puts_every_group_on_one_side(rows: DataFrame, group: str) -> None:
    assigned = _assigned(rows, group_by=group)
    sides = _sides(assigned, group)
    assert (sides == 1).all(), sides[sides > 1].index.tolist()[:5]
    groups_in_test = assigned.loc[assigned[SPLIT_COLUMN] == "test", group].nunique()
    assert abs(groups_in_test / assigned[group].nunique() - TEST_FRACTION) < 0.05
    if group == "user":  # about 7 rows per user: the row share follows the group share
        assert abs((assigned[SPLIT_COLUMN] == "test").mean() - TEST_FRACTION) < 0.05


def test_a_split_by_key_puts_repeated_texts_on_both_sides(rows: DataFrame) -> None:
    assigned = _assigned(rows)
    assert (_sides(assigned, "text") > 1).sum() > GROUPS / 4
    assert abs((assigned[SPLIT_COLUMN] == "test").mean() - TEST_FRACTION) < 0.03


def _run(spark: SparkSession, home: Path, store: FeatureStore) -> list:
    plan = store.plan(["n_chars"])
    engine = Engine(plan, spark, Layout.under(home), data_dir=home, run_id="r1")
    return list(engine.run(plan.assets))


def _overlap(outcomes: list) -> Checked:
    (check,) = [o for o in outcomes if isinstance(o, Checked) and o.check == OVERLAP]
    return check


def _pandas_overlap(spark: SparkSession, home: Path) -> tuple[int, set[str]]:
    table = Layout.under(home).table_path(("dups", "split"))
    split = spark.read.format("delta").load(str(table)).toPandas()
    sides = _sides(split, "text")
    both = sides[sides > 1].index
    return int(split["text"].isin(both).sum()), set(both)


@pytest.mark.parametrize(
    ("max_overlap", "severity"), [(0.01, Severity.ERROR), (1.0, Severity.WARN)]
)
def test_the_overlap_check_counts_what_pandas_counts_and_stops_nothing(
    spark: SparkSession, tmp_path: Path, max_overlap: float, severity: Severity
) -> None:
    outcomes = _run(spark, tmp_path, build_store(overlap_on="text", max_overlap=max_overlap))
    check = _overlap(outcomes)
    expected, texts = _pandas_overlap(spark, tmp_path)
    assert expected > 0
    assert not check.passed and check.severity is severity
    assert check.metadata["rows_in_both"] == expected
    assert check.metadata["rows"] == ROWS
    assert check.metadata["share_in_both"] == pytest.approx(expected / ROWS)
    assert 0 < len(check.metadata["examples"]) <= 5 and set(check.metadata["examples"]) <= texts
    assert f"{expected} of {ROWS} rows" in check.description
    assert "group_by='text'" in check.description  # what to do about it
    assert not [o for o in outcomes if isinstance(o, Failed)]  # not blocking
    assert "n_chars" in {o.asset for o in outcomes if isinstance(o, Materialized)}


def test_a_split_grouped_by_its_content_overlaps_nowhere(
    spark: SparkSession, tmp_path: Path
) -> None:
    outcomes = _run(spark, tmp_path, build_store(group_by="text"))
    check = _overlap(outcomes)
    assert check.passed and check.metadata["rows_in_both"] == 0
    assert _pandas_overlap(spark, tmp_path)[0] == 0
    checks = [o for o in outcomes if isinstance(o, Checked)]
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]


def test_a_split_with_no_content_declared_counts_whole_duplicate_rows(
    spark: SparkSession, tmp_path: Path
) -> None:
    outcomes = _run(spark, tmp_path, build_store())
    check = _overlap(outcomes)
    table = Layout.under(tmp_path).table_path(("dups", "split"))
    split = spark.read.format("delta").load(str(table)).toPandas()
    sides = split.groupby(["text", "user"])[SPLIT_COLUMN].transform("nunique")
    expected = int((sides > 1).sum())
    assert expected > 0  # the generated rows repeat (text, user) pairs across the split
    assert check.metadata["content"] == "text, user"
    assert check.metadata["rows_in_both"] == expected
    assert "copy of every feature (text, user)" in (check.description or "")
    assert "declare group_by=" in (check.description or "")


def test_a_validation_partition_keeps_groups_whole_and_test_rows_where_they_were(
    rows: DataFrame,
) -> None:
    two = _assigned(rows, group_by="text").set_index("id")[SPLIT_COLUMN]
    three = _assigned(rows, group_by="text", validation_fraction=0.2)
    assert (_sides(three, "text") == 1).all()
    groups = three.groupby(SPLIT_COLUMN)["text"].nunique() / three["text"].nunique()
    for partition, share in (("test", TEST_FRACTION), ("validation", 0.2), ("train", 0.55)):
        assert abs(groups[partition] - share) < 0.05, groups
    by_key = three.set_index("id")[SPLIT_COLUMN]
    assert ((two == "test") == (by_key == "test")).all()  # only train rows moved
