"""The blocking runtime checks catch a tampered split, stop downstream assets and keep what
was stored (issue 3).

A small store: a source of generated rows, a split rule given as a function (which the planner
cannot look into), an assembler, a fitted scaler and a model. Its tampered rule puts some keys
in both train and test. One home sees, in order: the `train` partition alone of the tampered
store on a fresh home (as Dagit launches one partition), the good store, the tampered store
again, and a fit run alone on the tampered train rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ff_assets.core import FeatureStore, StageKind, StageSpec
from ff_assets.orchestration.definitions import StorePlan, build_definitions
from ff_assets.orchestration.materialize import MaterializeReport, materialize_store
from ff_assets.spark.execute import SPLIT_COLUMN
from ff_assets.spark.introspect import spark_stage
from ff_assets_tests.orchestration.conftest import (
    check_evaluations,
    delta_version,
    materialized_keys,
)

pytestmark = pytest.mark.integration

STORE = "tampered"
ROWS = 48
IN_BOTH = 8  # keys row-000 .. row-007 are put in train and in test
TABLES = ("rows", "split", "scaled", "y_prediction")  # `features` is a view (row-wise)
FITS = ("scaler", "y_model")


def rows(spark: SparkSession, data_dir: Path) -> DataFrame:
    data = [(f"row-{i:03d}", float(i % 7), float((i * 5) % 11), float(i % 2)) for i in range(ROWS)]
    return spark.createDataFrame(data, "row_id string, x1 double, x2 double, y double")


def _good_split(frame: DataFrame) -> DataFrame:
    """Every fourth row in test, the others in train."""
    number = F.substring("row_id", 5, 3).cast("int")
    return frame.withColumn(
        SPLIT_COLUMN, F.when(number % 4 == 0, F.lit("test")).otherwise(F.lit("train"))
    )


def _tampered_split(frame: DataFrame) -> DataFrame:
    """The good rule, except that the first IN_BOTH keys are put in both partitions."""
    labels = frame.sparkSession.createDataFrame([("train",), ("test",)], f"{SPLIT_COLUMN} string")
    leaked = F.col("row_id") < F.lit(f"row-{IN_BOTH:03d}")
    return frame.where(leaked).crossJoin(labels).unionByName(_good_split(frame.where(~leaked)))


def make_store(*, tampered: bool) -> FeatureStore:
    store = FeatureStore(name=STORE, owner="qa@example.com", default_outputs=("y_prediction",))
    store.source(outputs=["x1", "x2", "y"], entity_key="row_id")(rows)
    rule = _tampered_split if tampered else _good_split
    carried = ("x1", "x2", "y")
    store.add(StageSpec(name="split", kind=StageKind.SPLIT, inputs=carried, outputs=carried,
                        impl=rule))  # fmt: skip
    store.add(
        spark_stage(VectorAssembler, inputCols=["x1", "x2"], outputCol="features"),
        name="assembler",
    )
    store.add(spark_stage(StandardScaler, inputCol="features", outputCol="scaled"), name="scaler")
    store.model(
        spark_stage(
            LogisticRegression, featuresCol="scaled", labelCol="y", predictionCol="y_prediction",
            maxIter=10,
        ),
        name="y_model",
    )  # fmt: skip
    return store


@dataclass(frozen=True)
class Stored:
    """Delta versions of the tables and fitted-stage pointers of the store's home."""

    tables: dict[str, int | None]
    fits: dict[str, str | None]

    @classmethod
    def read(cls, spark: SparkSession, home: Path) -> Stored:
        tables, fitted = home / "tables" / STORE, home / "fitted" / STORE
        return cls(
            tables={n: _version(spark, tables / n) for n in TABLES},
            fits={n: _latest(fitted / n) for n in FITS},
        )


@dataclass(frozen=True)
class Runs:
    home: Path
    instance: DagsterInstance
    train_only: ExecuteInProcessResult  # the tampered store's train partition, fresh home
    after_train_only: Stored
    good: MaterializeReport  # then the good store
    again: MaterializeReport  # then the tampered store again
    before: Stored  # what was stored before `again`
    after: Stored  # and after it


@pytest.fixture(scope="module")
def runs(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    home = tmp_path_factory.mktemp("tampered-home")
    (home / "dagster").mkdir()

    def materialize(*, tampered: bool) -> MaterializeReport:
        store = make_store(tampered=tampered)
        return materialize_store(store, home=str(home), data_dir=str(home), instance=instance)

    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        train_only = run_partition(home, instance, (*TABLES, "features", *FITS), "train")
        after_train_only = Stored.read(spark, home)
        good = materialize(tampered=False)
        before = Stored.read(spark, home)
        again = materialize(tampered=True)
        after = Stored.read(spark, home)
        yield Runs(home, instance, train_only, after_train_only, good, again, before, after)


def run_partition(
    home: Path, instance: DagsterInstance, names: tuple[str, ...], partition: str
) -> ExecuteInProcessResult:
    """Materialize some assets of the tampered store for one partition, as Dagit launches it
    (the implicit asset job)."""
    defs = build_definitions(
        [StorePlan(make_store(tampered=True))], home=str(home), data_dir=str(home)
    )
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        partition_key=partition,
        asset_selection=[AssetKey([STORE, name]) for name in names],
        raise_on_error=False,
    )


def _version(spark: SparkSession, path: Path) -> int | None:
    return delta_version(spark, path) if path.exists() else None


def _latest(fitted_folder: Path) -> str | None:
    pointer = fitted_folder / "LATEST"
    return pointer.read_text() if pointer.exists() else None


def _failed(evaluations, name: str) -> list:
    return [e for e in evaluations if e.check_name == name and not e.passed]


def _done(instance: DagsterInstance, report: MaterializeReport) -> set[tuple[str, str | None]]:
    return {k for run_id in report.runs for k in materialized_keys(instance, run_id)}


def test_plan_accepts_either_rule() -> None:
    """The planner cannot see inside a split function: only the runtime checks can."""
    for tampered in (False, True):
        plan = make_store(tampered=tampered).plan()
        assert [v.name for v in plan.variants] == ["y_prediction"]
        assert plan.nodes["scaler"].fit_rows is not None
        assert plan.nodes["scaler"].fit_rows.value == "train"


def test_train_partition_alone_stops_a_tampered_split_before_any_fit(runs: Runs) -> None:
    """A run of the `train` partition on a fresh home stores no test rows: the check must
    still see the overlap (from the split rule itself) and stop every fit of that run."""
    result = runs.train_only
    assert not result.success
    evaluations = result.get_asset_check_evaluations()
    [failed] = _failed(evaluations, "train_test_disjoint")
    assert failed.asset_key == AssetKey([STORE, "split"])
    assert failed.metadata["keys_in_both"].value == IN_BOTH
    assert "in more than one partition" in (failed.description or "")
    done = {k for k, _ in materialized_keys(runs.instance, result.run_id)}
    assert done == {f"{STORE}/rows", f"{STORE}/split"}
    assert not [e for e in evaluations if e.check_name == "fit_rows_are_train"]
    stored = runs.after_train_only
    assert stored.fits == {n: None for n in FITS}
    assert [n for n, v in stored.tables.items() if v is not None] == ["rows", "split"]


def test_good_split_passes_every_check(runs: Runs) -> None:
    report = runs.good
    assert report.success
    evaluations = check_evaluations(runs.instance, report.runs)
    disjoint = [e.passed for e in evaluations if e.check_name == "train_test_disjoint"]
    assert disjoint and all(disjoint)
    assert all(e.passed for e in evaluations)
    assert [(m.variant, m.metric) for m in report.metrics if isinstance(m.value, float)] == [
        ("y_prediction", "accuracy")
    ]
    assert all(version is not None for version in runs.before.tables.values())
    assert all(pointer is not None for pointer in runs.before.fits.values())


def test_tampered_materialization_blocks_downstream_and_keeps_what_was_stored(
    runs: Runs, spark: SparkSession
) -> None:
    report = runs.again
    assert not report.success
    [failed] = _failed(check_evaluations(runs.instance, report.runs), "train_test_disjoint")
    assert failed.metadata["keys_in_both"].value == IN_BOTH
    assert {k for k, _ in _done(runs.instance, report)} == {f"{STORE}/rows", f"{STORE}/split"}
    assert not [m for m in report.metrics if isinstance(m.value, float)]

    # Downstream tables and fitted stages keep their last good version.
    downstream = [n for n in TABLES if n not in ("rows", "split")]
    assert {n: runs.after.tables[n] for n in downstream} == {
        n: runs.before.tables[n] for n in downstream
    }
    assert runs.after.fits == runs.before.fits
    # The split itself was written (a blocking check runs after its asset), and the previous
    # good version stays readable.
    split_path = str(runs.home / "tables" / STORE / "split")
    previous = runs.before.tables["split"]
    assert runs.after.tables["split"] > previous
    good = spark.read.format("delta").option("versionAsOf", previous).load(split_path)
    assert good.count() == ROWS
    assert good.groupBy("row_id").agg(F.countDistinct(SPLIT_COLUMN).alias("n")).where(
        "n > 1"
    ).count() == 0  # fmt: skip


def test_fit_on_leaked_keys_fails_the_fit_check_and_blocks_downstream(
    runs: Runs, spark: SparkSession
) -> None:
    """Fit the scaler alone on the stored train rows, some of which the stored test partition
    holds too: the fit_rows_are_train check fails and the scaled features are not written."""
    home, instance = runs.home, runs.instance
    split = spark.read.format("delta").load(str(home / "tables" / STORE / "split"))
    overlap = (
        split.groupBy("row_id").agg(F.countDistinct(SPLIT_COLUMN).alias("n")).where("n > 1")
    ).count()
    assert overlap > 0
    scaled = home / "tables" / STORE / "scaled"
    scaled_version = _version(spark, scaled)
    result = run_partition(home, instance, ("features", "scaler", "scaled"), "train")

    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [(e.asset_key, e.check_name) for e in failed] == [
        (AssetKey([STORE, "scaler"]), "fit_rows_are_train")
    ]
    assert failed[0].metadata["test_rows_fitted"].value == overlap
    assert "test rows" in (failed[0].description or "")
    done = {k for k, _ in materialized_keys(instance, result.run_id)}
    assert f"{STORE}/scaler" in done  # stored, then found wrong by its blocking check
    assert f"{STORE}/scaled" not in done
    assert _version(spark, scaled) == scaled_version
