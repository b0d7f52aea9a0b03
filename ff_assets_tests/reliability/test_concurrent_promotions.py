"""Two `ff-assets promote` processes promote two versions of one registered model to
`production` at the same moment, against a SQLite MLflow store and against a tracking server.

Afterwards the alias names one of the two versions, both promotions are recorded on their
versions, and the records agree with the alias: the version holding it says it replaced the
other, which says it replaced nothing. Before promotions took `promotion_lock`, one of two
often failed on the SQL store's UNIQUE constraint (its promotion lost), and both said
"was unset".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from ff_assets.tracking.registry import LOCK_SUFFIX, aliases_of, ensure_experiment, tracking_client
from ff_assets_tests.orchestration.tiny_store import TFIDF_MODEL
from ff_assets_tests.services.mlflow_server import mlflow_server

pytestmark = pytest.mark.reliability

PROJECT = Path(__file__).resolve().parents[2]
TRIALS = 2  # on each backend; the lock is the fix, these trials its regression test
RECORD = re.compile(r"^\S+ by \S+ \(was (unset|version (\d+))\): from child (\d+)$")

# `ff-assets promote`, entered once both processes have imported everything.
CHILD = """
import sys, time
from pathlib import Path
from ff_assets.cli import main
go, version, uri = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
(go.parent / f"ready-{version}").touch()
while not go.exists():
    time.sleep(0.01)
sys.exit(main([
    "promote", "sentiment_prediction", "--store", "ff_assets_tests.orchestration.tiny_store:store",
    "--variant", "tfidf", "--to", "production", "--version", version,
    "--reason", f"from child {version}", "--tracking-uri", uri,
]))
"""


def _register(client: MlflowClient) -> None:
    """A version of the tiny store's tfidf model from a run with its test accuracy (no
    artifact: promotion never opens it)."""
    run = client.create_run(ensure_experiment(client, "ff_assets", None))
    client.log_metric(run.info.run_id, "test_accuracy", 0.9)
    client.set_terminated(run.info.run_id)
    if not client.search_registered_models(f"name = '{TFIDF_MODEL}'"):
        client.create_registered_model(TFIDF_MODEL)
    source = f"runs:/{run.info.run_id}/model"
    client.create_model_version(TFIDF_MODEL, source=source, run_id=run.info.run_id)


@contextmanager
def registry(backend: str, folder: Path) -> Iterator[str]:
    if backend == "server":
        with mlflow_server(folder) as server:
            yield server.uri
    else:
        yield f"sqlite:///{folder / 'mlflow.db'}"


def _promote_at_once(folder: Path, uri: str) -> list[subprocess.CompletedProcess]:
    go = folder / "go"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(go), version, uri],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for version in ("1", "2")
    ]
    try:
        deadline = time.monotonic() + 300  # two CLI imports on 2 loaded cores
        while not all((folder / f"ready-{v}").exists() for v in ("1", "2")):
            assert time.monotonic() < deadline and all(c.poll() is None for c in children)
            time.sleep(0.01)
        go.touch()
        return [
            subprocess.CompletedProcess(c.args, c.wait(300), *c.communicate()) for c in children
        ]
    finally:
        for child in children:
            child.kill()


@pytest.mark.parametrize("backend", ["sqlite", "server"])
def test_two_promotions_at_once_leave_one_alias_and_both_records(
    backend: str, tmp_path: Path
) -> None:
    winners = []
    with registry(backend, tmp_path / "mlflow") as uri:
        client = tracking_client(uri)
        for trial in range(TRIALS):
            folder = tmp_path / f"trial-{trial}"
            folder.mkdir()
            if trial:
                client.delete_registered_model(TFIDF_MODEL)
            for _ in range(2):
                _register(client)
            started = time.monotonic()
            done = _promote_at_once(folder, uri)
            took = time.monotonic() - started
            for child in done:
                assert child.returncode == 0, child.stderr[-3000:]
            alias = aliases_of(client, TFIDF_MODEL)
            records = {
                str(v.version): v.tags.get("promoted_to_production", "")
                for v in client.search_model_versions(f"name = '{TFIDF_MODEL}'")
            }
            locks = client.search_registered_models(f"name = '{TFIDF_MODEL}{LOCK_SUFFIX}'")
            print(f"{backend} trial {trial}: {took:.1f} s, alias {alias}, records {records}")
            assert alias.keys() == {"production"} and alias["production"] in ("1", "2")
            holder = alias["production"]
            other = "2" if holder == "1" else "1"
            parsed = {v: RECORD.match(r) for v, r in records.items()}
            assert all(parsed.values()), records  # both promotions recorded, by their children
            assert parsed[holder].group(2) == other  # the one in effect replaced the other
            assert parsed[other].group(1) == "unset"  # which replaced nothing
            assert {p.group(3) for p in parsed.values()} == {"1", "2"}
            assert not locks  # the lock is released
            for child, version in zip(done, ("1", "2"), strict=True):
                assert f"production -> version {version}" in child.stdout, child.stdout
            winners.append(holder)
    print(f"{backend}: alias held by version {winners} over {TRIALS} trials")
