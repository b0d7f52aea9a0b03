"""Two processes open the project's new Dagster instance (SQLite) at the same moment, as two
`ff-assets materialize` runs of a new project do. Both must open it, and so must any process
afterwards. Without `project_instance`'s lock, every trial here broke: one process failed on
SQLite's schema creation, or `runs.db` was left with two alembic heads, which no process can
open ("Version table 'alembic_version' has more than one head present")."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.reliability

PROJECT = Path(__file__).resolve().parents[2]
TRIALS = 2
CHILD = """
import sys, time
from pathlib import Path
from ff_assets.orchestration.materialize import project_instance
home = Path(sys.argv[1])
(home / f"ready-{sys.argv[2]}").touch()
while not (home / "go").exists():
    time.sleep(0.005)
with project_instance(str(home)) as instance:
    print(len(instance.get_runs(limit=1)))
"""


def test_two_processes_create_the_instance_at_once_and_it_opens(tmp_path: Path) -> None:
    from dagster import DagsterInstance

    for trial in range(TRIALS):
        home = tmp_path / f"home-{trial}"
        home.mkdir()
        env = {**os.environ, "PYTHONPATH": str(PROJECT), "DAGSTER_HOME": str(home / "dagster")}
        children = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, str(home), str(i)],
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )  # fmt: skip
            for i in range(2)
        ]
        deadline = time.monotonic() + 120
        while not all((home / f"ready-{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline and all(c.poll() is None for c in children)
            time.sleep(0.01)
        (home / "go").touch()
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err[-3000:]
            assert out.strip() == "0"
        with DagsterInstance.from_config(str(home / "dagster")) as instance:
            assert instance.get_runs(limit=1) == []
