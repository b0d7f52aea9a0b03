"""A storage root apart from the home (`FF_ASSETS_STORAGE`, `build_definitions(storage=)`):
the tiny store's Delta tables, fitted stages and view recipes land there, and later runs read
them back from there, through Hadoop's FileSystem API.

Two roots: a `file://` URI outside the home, through Dagster; and `viewfs://`, a Hadoop file
system of another scheme (a mount table over a local folder, in the pyspark wheel's Hadoop
client, nothing downloaded), through the engine. Python's own file functions mean nothing
for a `viewfs://` name, so a run there proves every read and write of the layout goes
through Hadoop, as it must for `s3a://`, `gs://` or `abfss://`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from dagster import DagsterInstance
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from ff_assets.core import Storage
from ff_assets.core.plan import AssetRole, Plan
from ff_assets.orchestration.materialize import materialize_store
from ff_assets.spark.engine import FEATURE_ROLES, Engine, Failed, Materialized
from ff_assets.spark.storage import Layout
from ff_assets.spark.tables import commit_of
from ff_assets_tests.orchestration import tiny_store

pytestmark = pytest.mark.integration

MOUNT = "ffstore"  # viewfs://ffstore/data is a local folder, through Hadoop's mount table


def _keys(plan: Plan) -> tuple[list[str], list[str], list[str]]:
    """Key names of the plan's tables, fitted stages and views."""
    rows = [a for a in plan.assets.values() if a.role in FEATURE_ROLES]
    tables = [a.key_name for a in rows if a.storage is Storage.TABLE]
    views = [a.key_name for a in rows if a.storage is Storage.VIEW]
    fitted = (AssetRole.FITTED, AssetRole.MODEL)
    fits = [a.key_name for a in plan.assets.values() if a.role in fitted]
    return tables, fits, views


def _assert_stored_under(folder: Path, plan: Plan) -> None:
    """Every table, fit pointer and view recipe of the tiny store is in `folder`."""
    tables, fits, views = _keys(plan)
    assert tables and fits and views
    for name in tables:
        assert (folder / "tables" / "tiny" / name / "_delta_log").is_dir(), name
    for name in fits:
        pointer = json.loads((folder / "fitted" / "tiny" / name / "LATEST").read_text())
        assert "/fitted/tiny/" in pointer["path"], pointer
    for name in views:
        assert (folder / "views" / "tiny" / f"{name}.json").is_file(), name
    leftovers = [p for p in folder.rglob(".*") if re.fullmatch(r"\..+\.[0-9a-f]{32}", p.name)]
    assert not leftovers  # no temp file of a replaced pointer or recipe is left


def test_a_file_uri_storage_root_outside_the_home_holds_and_serves_the_store(
    spark: SparkSession, tmp_path: Path
) -> None:
    home, root = tmp_path / "home", tmp_path / "bucket" / "prefix"
    storage = f"file://{root}"
    data_dir = tmp_path / "data"
    tiny_store.write_reviews(data_dir)
    store = tiny_store.build_store()
    plan = store.plan()
    (tmp_path / "dagster").mkdir()
    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        for _ in range(2):  # the second run replaces every table, fit pointer and recipe
            report = materialize_store(
                store, home=str(home), storage=storage, data_dir=str(data_dir), instance=instance
            )
            assert report.success, report.errors

    _assert_stored_under(root, plan)
    assert not any((home / name).exists() for name in ("tables", "fitted", "views"))
    assert (home / "mlflow.db").is_file()  # MLflow stays in the home
    layout = Layout.under(home, storage)
    split = layout.table_path(("tiny", "split"))
    assert split == f"{storage}/tables/tiny/split"
    assert commit_of(split).version == 1  # two runs: versions 0 and 1, read through Hadoop
    assert DeltaTable.forPath(spark, split).history().count() == 2
    _, fits, _ = _keys(plan)
    for name in fits:
        assert layout.load_fitted(spark, ("tiny", name)) is not None

    # A later run on the engine reads the stored tables and fits back from the root.
    again = Engine(plan, spark, layout, data_dir=data_dir, run_id="later")
    outcomes = list(again.run(["sentiment_prediction[tfidf]"]))
    assert not [o for o in outcomes if isinstance(o, Failed)]
    assert again.record.loaded_fitted == ["sentiment_model[tfidf]"]
    assert sorted(again.record.loaded_tables) == ["split", "text_vector[tfidf]"]
    assert again.load("tokens").count() == 200  # a view, recomputed from the stored split


def test_a_storage_root_of_another_hadoop_scheme_serves_the_engine(
    spark: SparkSession, tmp_path: Path
) -> None:
    backing = tmp_path / "mounted"
    backing.mkdir()
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    hadoop.set(f"fs.viewfs.mounttable.{MOUNT}.link./data", backing.as_uri())
    storage = f"viewfs://{MOUNT}/data"
    data_dir = tmp_path / "data"
    tiny_store.write_reviews(data_dir)
    store = tiny_store.build_store()
    plan = store.plan()
    layout = Layout.under(tmp_path / "home", storage)
    assert layout.fitted == f"{storage}/fitted"

    for run_id in ("r1", "r2"):
        engine = Engine(plan, spark, layout, data_dir=data_dir, run_id=run_id)
        outcomes = list(engine.run(plan.assets))
        assert not [o for o in outcomes if isinstance(o, Failed)]
    paths = [p for o in outcomes if isinstance(o, Materialized) for p in o.paths.values()]
    assert paths and all(p.startswith(f"{storage}/") for p in paths)

    _assert_stored_under(backing, plan)
    assert not (tmp_path / "home").exists()
    split = layout.table_path(("tiny", "split"))
    assert commit_of(split).version == 1 and commit_of(split, "r1").version == 0
    _, fits, views = _keys(plan)
    assert all(layout.has_view(("tiny", name)) for name in views)
    pointer = layout.fitted + f"/tiny/{fits[0]}/LATEST"
    saved = json.loads((backing / "fitted" / "tiny" / fits[0] / "LATEST").read_text())
    assert saved["path"].startswith(f"{storage}/fitted/tiny/{fits[0]}/runs/r2"), pointer
    assert layout.is_complete_fit(saved["path"])

    later = Engine(plan, spark, layout, data_dir=data_dir, run_id="r3")
    outcomes = list(later.run(["sentiment_prediction[tfidf]"]))
    assert not [o for o in outcomes if isinstance(o, Failed)]
    assert later.record.loaded_fitted == ["sentiment_model[tfidf]"]
    assert later.load("tokens").count() == 200
