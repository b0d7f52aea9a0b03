"""The code location `workspace.yaml` loads: the example stores on embedded defaults."""

from ff_assets.examples import bank, reviews
from ff_assets.orchestration import build_definitions

defs = build_definitions([reviews.store, bank.store])
