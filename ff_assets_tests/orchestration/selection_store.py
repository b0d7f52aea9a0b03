"""A store whose validation and test rows disagree on purpose, so a test can tell from the
outcome which rows a choice read (issue 9, selection).

Two producers of `vec` make two variants of `label_prediction`:
- `from_x`: on train and validation rows the label is `x`; on test rows it is `1 - x`. Its
  model scores 1.0 on validation and 0.0 on test.
- `from_y`: `y` agrees with the label on 80% of train rows, 60% of validation rows and every
  test row. Its model scores about 0.6 on validation and 1.0 on test.

Validation rows choose `from_x`; test rows would choose `from_y`. The labels follow the
split's own assignment (`execute.assign_split` with the declared rule), computed in Spark.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ff_assets.core import FeatureStore
from ff_assets.spark import execute
from ff_assets.spark.introspect import spark_stage

STORE = "chooser"
OUTPUT = "label_prediction"
ROWS = 2000
THRESHOLD = 0.9
AGREEMENT = {"train": 0.8, "validation": 0.6, "test": 1.0}  # y == label, share of rows


def build_store(*, validation: bool = True) -> FeatureStore:
    """The store; without `validation` its split has train and test rows only."""
    store = FeatureStore(name=STORE, description="Rows that tell which partition chose.")
    split = store.split(
        inputs=["x", "y", "label"], test_fraction=0.2,
        validation_fraction=0.2 if validation else 0.0, seed=5,
    )  # fmt: skip

    @store.source(outputs=["x", "y", "label"], entity_key="row_id")
    def rows(spark: SparkSession, data_dir: Path) -> DataFrame:
        """Generated rows, labelled by the partition the split gives each."""
        ids = spark.range(ROWS).select(F.format_string("r%05d", "id").alias("row_id"))
        side = F.col(execute.SPLIT_COLUMN)
        frame = execute.assign_split(ids, split, "row_id").withColumn(
            "x", (F.xxhash64("row_id", F.lit(1)) % 2 == 0).cast("double")
        )
        label = F.when(side == "test", 1.0 - F.col("x")).otherwise(F.col("x"))
        share = F.pmod(F.xxhash64("row_id", F.lit(2)), F.lit(100)) / 100.0
        agreement = F.coalesce(*(F.when(side == p, F.lit(a)) for p, a in AGREEMENT.items()))
        y = F.when(share < agreement, label).otherwise(1.0 - label)
        return frame.select("row_id", "x", y.alias("y"), label.alias("label"))

    for name, column in (("from_x", "x"), ("from_y", "y")):
        store.add(spark_stage(VectorAssembler, inputCols=[column], outputCol="vec"), name=name)
    store.model(
        spark_stage(
            LogisticRegression, featuresCol="vec", labelCol="label",
            predictionCol=OUTPUT, maxIter=20,
        ),
        name="model", threshold=THRESHOLD,
    )  # fmt: skip
    return store


store = build_store()  # for `ff-assets --store ff_assets_tests.orchestration.selection_store:store`
