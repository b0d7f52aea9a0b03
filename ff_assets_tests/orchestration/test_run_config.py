"""Bad Dagster run config for a store's jobs is refused by Dagster's config system before a
step starts: no Spark session, no table, nothing written (no JVM)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterInvalidConfigError

from ff_assets.orchestration import build_definitions
from ff_assets_tests.orchestration import tiny_store

BAD_CONFIGS = {
    "an unknown op": ({"ops": {"tiny__asset": {"config": {}}}}, ["tiny__asset"]),
    "a wrongly typed resource field": (
        {"resources": {"settings": {"config": {"home": "/tmp/x", "feature_statistics": "yes"}}}},
        ["feature_statistics", "yes"],
    ),
    "an unknown resource field": (
        {"resources": {"settings": {"config": {"home": "/tmp/x", "statistics": False}}}},
        ["statistics"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_run_config_is_refused_before_anything_runs(tmp_path: Path, case: str) -> None:
    config, named = BAD_CONFIGS[case]
    home = tmp_path / "home"
    defs = build_definitions([tiny_store.build_store()], home=str(home), data_dir=str(tmp_path))
    job = defs.resolve_job_def(f"Materialize__{tiny_store.STORE}")
    with DagsterInstance.ephemeral() as instance, pytest.raises(DagsterInvalidConfigError) as error:
        job.execute_in_process(run_config=config, instance=instance)
    for word in named:
        assert word in str(error.value), str(error.value)
    assert not (home / "tables").exists() and not (home / "fitted").exists()
