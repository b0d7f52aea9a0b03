"""The reviews example materialized on a Spark standalone cluster (a master and a worker on
loopback, started from the pyspark wheel's launcher), tracked to an MLflow tracking server,
with `spark.master` set by configuration only (`FF_ASSETS_SPARK_MASTER`): issue 10, part 4.

The command runs as users run it, in a subprocess; then the state is read back from each
server and from storage: the master's record of the application and the worker's executors,
the Delta tables (through delta-rs, no Spark), and the registry's versions and metrics.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable
from mlflow.tracking import MlflowClient

from ff_assets.core.specs import Storage
from ff_assets.examples import reviews
from ff_assets.orchestration.keys import asset_key
from ff_assets.orchestration.registration import registered_model
from ff_assets.spark.execute import SPLIT_COLUMN
from ff_assets_tests.orchestration.conftest import shared_data_dir
from ff_assets_tests.services.mlflow_server import MlflowServer, mlflow_server
from ff_assets_tests.services.process import stop_group
from ff_assets_tests.services.spark_standalone import PROJECT, SparkCluster, spark_standalone

pytestmark = [pytest.mark.scaleout, pytest.mark.integration]

APP = "ff_assets"  # the application name `spark_session` gives the driver
ROWS = 3000  # 3 sites x 1000 labelled sentences
TIMEOUT = 900  # seconds for the whole materialization
OWN_SETTINGS = ("FF_", "DAGSTER_", "MLFLOW_", "SPARK_", "PYSPARK_")  # the test's, none inherited


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SparkCluster]:
    with spark_standalone(tmp_path / "spark") as started:
        yield started


@pytest.fixture
def tracking(tmp_path: Path) -> Iterator[MlflowServer]:
    with mlflow_server(tmp_path / "mlflow") as server:
        yield server


def test_reviews_materialize_on_a_standalone_cluster(
    cluster: SparkCluster, tracking: MlflowServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)},
        "FF_ASSETS_HOME": str(home), "DAGSTER_HOME": str(tmp_path / "dagster"),
        "FF_DATA_DIR": str(shared_data_dir()), "FF_ASSETS_SPARK_MASTER": cluster.url,
        "MLFLOW_TRACKING_URI": tracking.uri, "PYTHONPATH": str(PROJECT),
        # pyspark sends executors the driver's $PYSPARK_PYTHON, else `python3` from their PATH.
        "PYSPARK_PYTHON": sys.executable,
    }  # fmt: skip
    command = [str(Path(sys.executable).with_name("ff-assets")), "materialize"]
    began = time.monotonic()
    run = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = run.communicate(timeout=TIMEOUT)
    finally:
        stop_group(run)  # the command and its Spark driver, whatever happened
    print(f"ff-assets materialize on {cluster.url}: {time.monotonic() - began:.1f} s")
    assert run.returncode == 0, err[-6000:]
    plan = reviews.store.plan()
    assert f"{len(plan.assets)} of {len(plan.assets)} assets stored" in err
    assert "sentiment_prediction[tfidf]" in out

    # The master ran the driver's application to its end, on executors of the worker.
    apps = cluster.completed_apps(APP)
    assert [a["state"] for a in apps] == ["FINISHED"], cluster.master_state()
    app = apps[0]
    executors = cluster.executors_of(app["id"])
    assert executors, cluster.worker_state()
    logs = [cluster.work_dir / app["id"] / str(e["id"]) / "stderr" for e in executors]
    assert any("Finished task" in log.read_text() for log in logs), logs

    # Every table of the plan holds every review, read without Spark.
    tables = {
        a.name: home / "tables" / Path(*asset_key(plan.store, a).path)
        for a in plan.assets.values()
        if a.storage is Storage.TABLE and a.role.value in ("source", "split", "features")
    }
    assert len(tables) == 8
    for name, path in tables.items():
        assert DeltaTable(str(path)).to_pyarrow_table().num_rows == ROWS, name
    split = DeltaTable(str(tables["split"])).to_pandas(columns=[SPLIT_COLUMN])
    counts = split[SPLIT_COLUMN].value_counts().to_dict()
    assert set(counts) == {"train", "validation", "test"} and counts["train"] > ROWS / 2

    # The tracking server holds one version per variant, with its metrics and its model.
    client = MlflowClient(tracking_uri=tracking.uri, registry_uri=tracking.uri)
    for variant in plan.variants:
        [version] = client.search_model_versions(f"name = '{registered_model(plan, variant)}'")
        metrics = client.get_run(version.run_id).data.metrics
        for partition in ("train", "validation", "test"):
            assert 0.0 <= metrics[f"{partition}_accuracy"] <= 1.0, variant.name
        assert version.tags["selects_on"] == "validation"
        assert client.list_artifacts(version.run_id, "inference_pipeline"), variant.name
    # ... in the server's artifact store, which every process reaches, not on the driver's disk.
    experiment = client.get_experiment_by_name("ff_assets")
    assert experiment.artifact_location.startswith("mlflow-artifacts:"), experiment
    assert not (home / "mlartifacts").exists()
    models = list((tmp_path / "mlflow" / "artifacts").rglob("inference_pipeline/MLmodel"))
    assert len(models) == len(plan.variants), models
