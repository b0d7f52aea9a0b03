"""Bank marketing calls: a customer segmentation feeding a "next best action" model.

`store` splits first and fits the KMeans segmentation on train rows only. `leaky_store` is the
talk's mistake (segmentation fitted on all clients, split afterwards): planning it raises
TestLeakageError before any data is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.ml.classification import LogisticRegression
from pyspark.ml.clustering import KMeans
from pyspark.ml.feature import OneHotEncoder, StandardScaler, VectorAssembler

from ff_assets.core import FeatureStore
from ff_assets.examples.data import (
    BANK_CATEGORIES,
    BANK_FILE,
    BANK_FLAGS,
    BANK_NUMERIC,
    read_bank,
)
from ff_assets.spark.introspect import spark_stage

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

OWNER = "marketing-analytics@example.com"
PROFILE = ("age", "balance", "campaign", "pdays", "previous")
CLIENT_FEATURES = (*BANK_NUMERIC, *BANK_CATEGORIES, *BANK_FLAGS)
NBA_INPUTS = ("age", "balance", "campaign", "pdays", "previous", "housing", "loan", "default")


def _schema(columns: tuple[str, ...] | list[str]) -> str:
    types = ", ".join(f"{c} {'string' if c in BANK_CATEGORIES else 'double'}" for c in columns)
    return f"client_id string, {types}"


def _declare(name: str, *, split_first: bool) -> FeatureStore:
    store = FeatureStore(
        name=name,
        description="Will a client subscribe a term deposit if called? (UCI bank marketing)",
        owner=OWNER,
        tags={"domain": "tabular", "dataset": "uci_bank_marketing"},
        default_outputs=("nba_prediction",),
    )
    store.feature("y", description="1.0 when the client subscribed a term deposit.")
    store.feature("segment", description="The client's KMeans segment.", dtype="int")

    @store.source(
        outputs=list(CLIENT_FEATURES), entity_key="client_id", owner=OWNER, data_files=(BANK_FILE,)
    )
    def clients(spark: SparkSession, data_dir: Path) -> DataFrame:
        """Clients called in the campaign (UCI bank.csv, 4521 rows)."""
        return spark.createDataFrame(read_bank(data_dir), schema=_schema(CLIENT_FEATURES))

    features = [c for c in CLIENT_FEATURES if c != "y"]

    @store.scoring_source(outputs=features, entity_key="client_id", data_files=(BANK_FILE,))
    def clients_to_call(spark: SparkSession, data_dir: Path) -> DataFrame:
        """Clients to score for the next campaign (here: bank.csv again, outcome dropped)."""
        rows = [{k: v for k, v in r.items() if k != "y"} for r in read_bank(data_dir)]
        return spark.createDataFrame(rows, schema=_schema(features))

    carried = [*CLIENT_FEATURES] if split_first else [*CLIENT_FEATURES, "segment"]
    if split_first:
        store.split(inputs=carried, test_fraction=0.25, seed=3)
    store.add(
        spark_stage(VectorAssembler, inputCols=list(PROFILE), outputCol="profile"),
        name="profile_assembler",
    )
    store.add(
        spark_stage(StandardScaler, inputCol="profile", outputCol="scaled_profile"),
        name="profile_scaler",
    )
    store.add(
        spark_stage(KMeans, featuresCol="scaled_profile", predictionCol="segment", k=5, seed=5),
        name="segment_kmeans",
        description="Customer segments from the client's financial profile.",
    )
    if not split_first:  # the talk's mistake: split after the segmentation was fitted
        store.split(inputs=carried, test_fraction=0.25, seed=3)
    store.add(
        spark_stage(OneHotEncoder, inputCols=["segment"], outputCols=["segment_vector"]),
        name="segment_encoder",
    )
    store.add(
        spark_stage(
            VectorAssembler, inputCols=[*NBA_INPUTS, "segment_vector"], outputCol="nba_features"
        ),
        name="nba_assembler",
    )
    store.model(
        spark_stage(
            LogisticRegression, featuresCol="nba_features", labelCol="y",
            predictionCol="nba_prediction", maxIter=100, regParam=0.01,
        ),
        name="nba_model",
        metric="areaUnderROC",
        threshold=0.6,
        description="Next best action: call this client about a term deposit?",
    )  # fmt: skip
    return store


store = _declare("bank", split_first=True)
leaky_store = _declare("bank_leaky", split_first=False)
