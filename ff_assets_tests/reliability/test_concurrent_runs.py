"""Two runs materializing one store into one home at the same moment: two processes, each its
own Spark driver, on one Dagster instance (SQLite) and one MLflow store, started together.

What must hold afterwards, whatever Delta's optimistic concurrency decided: every table is
one run's rows, whole (the latest version's files were all added by one commit, made by one
run), never both runs' rows and never a partial commit; a run that lost every commit attempt
fails with `ConcurrentWriteError` naming the table and what to do. The Dagster instance is
new: both processes create it at once (`project_instance` serializes that), and it opens
afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ff_assets_tests.orchestration.tiny_store import NORMALIZED_MODEL, TFIDF_MODEL, write_reviews

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

PROJECT = Path(__file__).resolve().parents[2]
ROWS = 200  # tiny_store's sentences: every table of the store holds one row per sentence

# One child: its own Spark (started before the barrier, so both runs start their work
# together), one materialization of the tiny store, its report as JSON on the last line.
CHILD = """
import json, sys, time
from pathlib import Path
from ff_assets.spark.session import spark_session
from ff_assets.orchestration.materialize import materialize_store, project_instance
from ff_assets_tests.orchestration.tiny_store import build_store

home, data, name = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
spark_session(master="local[1]", conf={"spark.sql.shuffle.partitions": "2"})
(home / f"ready-{name}").touch()
while not (home / "go").exists():
    time.sleep(0.05)
started = time.time()
with project_instance(str(home)) as instance:
    report = materialize_store(build_store(), home=str(home), data_dir=data, instance=instance)
print(json.dumps({"success": report.success, "run": report.runs[0], "errors": report.errors,
                  "stored": len(report.materialized), "seconds": time.time() - started}))
"""


def _commits(table: Path) -> dict[int, dict]:
    """Each version's commit: its `userMetadata` (the run's id), operation and added files."""
    commits = {}
    for entry in sorted((table / "_delta_log").glob("*.json")):
        actions = [json.loads(line) for line in entry.read_text().splitlines() if line]
        info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
        commits[int(entry.stem)] = {
            "run": info.get("userMetadata"),
            "operation": info.get("operation"),
            "added": {a["add"]["path"] for a in actions if "add" in a},
        }
    return commits


def test_two_runs_at_once_leave_one_run_s_table_per_asset(tmp_path: Path) -> None:
    from deltalake import DeltaTable

    from ff_assets.tracking.registry import tracking_client

    home, data = tmp_path / "home", tmp_path / "data"
    (home / "dagster").mkdir(parents=True)
    write_reviews(data)
    # The project's MLflow store exists before the runs (as after any first run): a new SQLite
    # store's migrations are not safe to run twice at once.
    tracking_client(f"sqlite:///{home / 'mlflow.db'}")
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "DAGSTER_HOME": str(home / "dagster")}
    env.pop("MLFLOW_TRACKING_URI", None)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(home), str(data), name],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name in ("a", "b")
    ]
    try:
        deadline = time.monotonic() + 300
        while not all((home / f"ready-{n}").exists() for n in ("a", "b")):
            assert all(c.poll() is None for c in children), [c.communicate() for c in children]
            assert time.monotonic() < deadline, "the children's Spark did not start"
            time.sleep(0.1)
        (home / "go").touch()
        outputs = [c.communicate(timeout=600) for c in children]
    finally:
        for child in children:
            child.kill()
    reports = []
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err[-4000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    runs = {r["run"] for r in reports}
    print("reports:", json.dumps(reports, indent=1))

    # A run either stored everything, or failed naming the table it lost (never a mixed table).
    for report in reports:
        if not report["success"]:
            assert any("ConcurrentWriteError" in e for e in report["errors"]), report["errors"]
    assert any(r["success"] for r in reports)

    tables = sorted(p.parent for p in (home / "tables").glob("*/*/_delta_log"))
    assert len(tables) >= 5, tables  # source, split, fitted outputs, predictions
    seen = {}
    for table in tables:
        commits = _commits(table)
        latest = commits[max(commits)]
        snapshot = DeltaTable(str(table))
        files = set(snapshot.file_uris())
        # Every file of the latest version was added by its one commit: one run's rows, whole.
        assert {Path(f).name for f in files} == {Path(f).name for f in latest["added"]}, table
        assert latest["run"] in runs, (table, latest)
        assert snapshot.to_pyarrow_table().num_rows == ROWS, table
        # History: one WRITE per run that stored the table, each by one of the two runs.
        assert all(c["run"] in runs and c["operation"] == "WRITE" for c in commits.values())
        assert len(commits) <= 2, (table, commits)
        seen[table.name] = (len(commits), latest["run"])
    print("tables (commits, last run):", json.dumps(seen, indent=1))
    print("commits made again after a conflict:", _conflicts(home, runs))
    # MLflow: each run that succeeded registered its own version of each variant's model.
    client = tracking_client(f"sqlite:///{home / 'mlflow.db'}")
    succeeded = {r["run"] for r in reports if r["success"]}
    for model in (TFIDF_MODEL, NORMALIZED_MODEL):
        versions = client.search_model_versions(f"name = '{model}'")
        assert sorted(v.tags["dagster_run_id"] for v in versions) == sorted(succeeded), model


def _conflicts(home: Path, runs: set[str]) -> dict[str, int]:
    """{asset: commit attempts} of the writes another run's commit forced to be made again."""
    from dagster import DagsterEventType

    from ff_assets.orchestration.materialize import project_instance

    again = {}
    with project_instance(str(home)) as instance:
        for run in runs:
            for entry in instance.all_logs(run, of_type=DagsterEventType.ASSET_MATERIALIZATION):
                materialization = entry.asset_materialization
                attempts = materialization.metadata.get("delta_commit_attempts")
                if attempts is not None:
                    again[materialization.asset_key.to_user_string()] = attempts.value
    return again
