"""The code location `workspace.yaml` loads: the example stores on embedded defaults
(`FF_ASSETS_HOME`, `FF_DATA_DIR`, `MLFLOW_TRACKING_URI` honoured, read once at load)."""

import os

from ff_assets.examples import bank, reviews
from ff_assets.orchestration import build_definitions

defs = build_definitions(
    [reviews.store, bank.store], mlflow_tracking_uri=os.environ.get("MLFLOW_TRACKING_URI")
)
