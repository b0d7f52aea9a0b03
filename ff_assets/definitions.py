"""The code location `workspace.yaml` loads: the example stores on embedded defaults
(`FF_ASSETS_HOME`, `FF_DATA_DIR`, `FF_ASSETS_SPARK_MASTER`, `FF_ASSETS_SPARK_CONF` and
`MLFLOW_TRACKING_URI` honoured, read once at load).

The tracking URI is handed to the settings resource as Dagster's `EnvVar`, so Dagit shows the
variable's name, never its value (which may carry a password)."""

import os

from dagster import EnvVar

from ff_assets.examples import bank, reviews
from ff_assets.orchestration import build_definitions

TRACKING_ENV = "MLFLOW_TRACKING_URI"

defs = build_definitions(
    [reviews.store, bank.store],
    mlflow_tracking_uri=EnvVar(TRACKING_ENV) if os.environ.get(TRACKING_ENV) else None,
)
