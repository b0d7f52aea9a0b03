"""The code location `test_dagster_daemon.py` serves to `dagster-daemon` (through its
workspace.yaml): the tiny store, configured only by the environment the test gives the
daemon (`FF_ASSETS_HOME`, `FF_DATA_DIR`, `MLFLOW_TRACKING_URI`), its refit schedule every
minute and its sensors looking every few seconds, so the test waits seconds, not a week."""

import os

from ff_assets.orchestration import build_definitions
from ff_assets_tests.orchestration.tiny_store import build_store

REFIT_CRON = "* * * * *"
SENSOR_INTERVAL_SECONDS = 2

defs = build_definitions(
    [build_store()],
    home=os.environ["FF_ASSETS_HOME"],
    data_dir=os.environ["FF_DATA_DIR"],
    spark_master="local[2]",
    mlflow_tracking_uri=os.environ["MLFLOW_TRACKING_URI"],
    refit_cron=REFIT_CRON,
    sensor_interval_seconds=SENSOR_INTERVAL_SECONDS,
)
