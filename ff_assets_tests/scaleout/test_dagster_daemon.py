"""A production Dagster instance, started by the test: PostgreSQL (Debian's package) through
dagster-postgres, the QueuedRunCoordinator with the per-store limit of docs/DEPLOYMENT.md, and
`dagster-daemon run` evaluating the tiny store's refit schedule and alias sensor.

The schedule's tick materializes the store (so model versions exist); `ff-assets promote`
sets `staging`; the alias sensor sees it and the daemon's queue launches the prediction run.
Every state is read back from the Postgres instance: runs, tags, ticks, heartbeats.
Credentials reach Dagster only through the environment (`{env: DAGSTER_PG_PASSWORD}`), and
the password is in no log, file or stored event.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus
from deltalake import DeltaTable

from ff_assets.orchestration.jobs import STORE_TAG
from ff_assets.tracking.registry import aliases_of, tracking_client
from ff_assets_tests.orchestration.tiny_store import STORE, TFIDF_MODEL, write_reviews
from ff_assets_tests.services.postgres import Postgres, postgres_server
from ff_assets_tests.services.process import Started, started

pytestmark = [pytest.mark.scaleout, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]  # the checkout the daemon and its runs import
BIN = Path(sys.executable).parent
SCHEDULE = f"{STORE}__weekly_refit"
ALIAS_SENSOR = f"{STORE}__model_alias_changed"
REFIT_JOB = f"Materialize__{STORE}"
PREDICT_STAGING = f"{STORE}__sentiment_prediction__tfidf__predict_staging"
SCORED_STAGING = (STORE, "sentiment_prediction_scored_staging__tfidf")
DAEMONS = {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR"}
LOCATION = "ff_assets_tests.scaleout.daemon_location"  # imported by the daemon, not here
T = TypeVar("T")


def dagster_yaml() -> dict:
    """The instance of docs/DEPLOYMENT.md: every credential from the environment."""
    return {
        "storage": {
            "postgres": {
                "postgres_db": {
                    **{
                        key: {"env": f"DAGSTER_PG_{key.upper()}"}
                        for key in ("hostname", "port", "db_name", "username", "password")
                    },
                    # dagster-postgres installs psycopg2; SQLAlchemy 2.1's default driver for
                    # `postgresql://` is psycopg 3, which nothing installs.
                    "scheme": "postgresql+psycopg2",
                }
            }
        },
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "max_concurrent_runs": 4,
                "tag_concurrency_limits": [
                    {"key": STORE_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
                ],
            },
        },
        "telemetry": {"enabled": False},
    }


def instance_env(pg: Postgres, dagster_home: Path) -> dict[str, str]:
    return {
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_HOSTNAME": pg.host,
        "DAGSTER_PG_PORT": str(pg.port),
        "DAGSTER_PG_DB_NAME": pg.database,
        "DAGSTER_PG_USERNAME": pg.username,
        "DAGSTER_PG_PASSWORD": pg.password,
    }


class Deployment:
    """The started pieces and how to wait on them."""

    def __init__(self, instance: DagsterInstance, daemon: Started, workspace: Path, env: dict):
        self.instance = instance
        self.daemon = daemon
        self.workspace = workspace
        self.env = env

    def wait(self, what: str, probe: Callable[[], T | None], timeout: float = 240.0) -> T:
        """Poll `probe` until it returns a value; fail with the daemon's output if the daemon
        exits or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while (found := probe()) is None:
            if self.daemon.process.poll() is not None:
                pytest.fail(f"dagster-daemon exited waiting for {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.5)
        return found

    def tail(self) -> str:
        return self.daemon.output()[-6000:]

    def dagster(self, *args: str) -> subprocess.Popen:
        """A `dagster` CLI command on the workspace and the instance."""
        return subprocess.Popen(
            [str(BIN / "dagster"), *args, "-w", str(self.workspace)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def state(self, name: str):
        [state] = [s for s in self.instance.all_instigator_state() if s.instigator_name == name]
        return state

    def ticks(self, name: str) -> list:
        state = self.state(name)
        return list(self.instance.get_ticks(state.instigator_origin_id, state.selector_id))

    def first_run_of(self, name: str) -> str | None:
        """The run id of the first tick of `name` that launched one."""
        launched = [t for t in self.ticks(name) if t.run_ids]
        return min(launched, key=lambda t: t.timestamp).run_ids[0] if launched else None

    def finished(self, run_id: str):
        run = self.instance.get_run_by_id(run_id)
        if run is None or not run.is_finished:
            return None
        if run.status is not DagsterRunStatus.SUCCESS:
            errors = [
                e.message for e in self.instance.all_logs(run_id) if e.level >= 40 and e.message
            ]
            pytest.fail(f"run {run_id} ({run.job_name}) ended {run.status}:\n" + "\n".join(errors))
        return run


def finish(command: subprocess.Popen, timeout: float = 180.0) -> str:
    out, _ = command.communicate(timeout=timeout)
    assert command.returncode == 0, out[-4000:]
    return out


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    """Postgres, the instance on it, the code location and a running dagster-daemon; all
    stopped at teardown, failed test or not (postgres last)."""
    data = write_reviews(tmp_path / "data").parent
    home = tmp_path / "home"
    tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    home.mkdir()
    # MLflow creates its SQLite tables on first use: here, before the daemon's code server
    # and the run workers open the file at once.
    tracking_client(tracking_uri).search_experiments()
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(dagster_yaml(), sort_keys=False))
    workspace = tmp_path / "workspace.yaml"
    location = {"module_name": LOCATION, "working_directory": str(ROOT)}
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": location}]}))

    with postgres_server(tmp_path / "postgres.log") as pg:
        env = {
            **instance_env(pg, dagster_home),
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "FF_ASSETS_HOME": str(home),
            "FF_DATA_DIR": str(data),
            "MLFLOW_TRACKING_URI": tracking_uri,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        # Opening the instance creates Dagster's tables in Postgres, before the daemon does.
        with DagsterInstance.from_config(str(dagster_home)) as instance:

            def beating() -> bool:
                return set(instance.get_daemon_heartbeats()) >= DAEMONS

            command = [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]
            log = tmp_path / "daemon.log"
            with started(command, log=log, ready=beating, env=env, cwd=tmp_path) as daemon:
                yield Deployment(instance, daemon, workspace, {**os.environ, **env})
            # The code server and the run workers (and their JVMs) are in the daemon's group.
            left = _reap(daemon.process.pid)
        assert not left, f"processes of the daemon's group outlived it (killed): {left}"


def _group(group: int) -> list[str]:
    """The live (not zombie) processes of a process group: `pid command` each."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, fields = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
        state, _, pgrp = fields.split()[:3]
        if int(pgrp) == group and state != "Z":
            found.append(f"{stat.parent.name} {name}")
    return found


def _reap(group: int, timeout: float = 30.0) -> list[str]:
    """Wait for a stopped process group to be gone; SIGKILL what is still there after
    `timeout` and return it."""
    deadline = time.monotonic() + timeout
    while (left := _group(group)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if left:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    return left


def test_the_daemon_runs_the_schedule_and_the_alias_sensor_on_postgres(
    deployment: Deployment, tmp_path: Path
) -> None:
    began = time.monotonic()
    d = deployment
    instance = d.instance
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"

    # Turned on as an operator would: Dagster's CLI, on the same workspace and instance.
    finish(d.dagster("schedule", "start", SCHEDULE))
    finish(d.dagster("sensor", "start", ALIAS_SENSOR))
    assert d.state(SCHEDULE).status.value == "RUNNING"
    assert d.state(ALIAS_SENSOR).status.value == "RUNNING"

    # The schedule ticks at the next minute and its run materializes the store.
    refit_id = d.wait("refit run from the schedule", lambda: d.first_run_of(SCHEDULE), 150)
    assert d.state(SCHEDULE).status.value == "RUNNING"
    beats = instance.get_daemon_heartbeats()
    assert set(beats) >= DAEMONS
    assert all(not beats[name].errors for name in DAEMONS), {n: beats[n].errors for n in DAEMONS}
    # One refit is enough: stop the schedule while the run goes on (no second tick queued).
    stopping = d.dagster("schedule", "stop", SCHEDULE)
    refit = d.wait("end of the refit run", lambda: d.finished(refit_id), 300)
    finish(stopping)
    assert refit.job_name == REFIT_JOB
    assert refit.tags[STORE_TAG] == STORE
    assert refit.tags["dagster/schedule_name"] == SCHEDULE
    refit_seconds = time.monotonic() - began

    # An operator moves staging; the sensor sees it and the queue launches the prediction.
    promote = subprocess.run(
        [
            str(BIN / "ff-assets"), "promote", "sentiment_prediction", "--variant", "tfidf",
            "--to", "staging", "--version", "1",
            "--store", "ff_assets_tests.orchestration.tiny_store:store",
        ],
        env=d.env, capture_output=True, text=True,
    )  # fmt: skip
    assert promote.returncode == 0, promote.stderr[-3000:]
    promoted = time.monotonic()
    client = tracking_client(os.environ["MLFLOW_TRACKING_URI"])
    assert aliases_of(client, TFIDF_MODEL)["staging"] == "1"
    predict_id = d.wait("the alias sensor's run", lambda: d.first_run_of(ALIAS_SENSOR))
    queued = time.monotonic()
    predict = d.wait("end of the prediction run", lambda: d.finished(predict_id))
    assert predict.job_name == PREDICT_STAGING
    assert predict.tags[STORE_TAG] == STORE
    assert predict.tags["dagster/sensor_name"] == ALIAS_SENSOR
    assert predict.tags["ff_assets/model_version"] == "1"
    assert predict.tags["ff_assets/alias"] == "staging"

    # The ticks, as the daemon recorded them in Postgres.
    [schedule_tick] = [t for t in d.ticks(SCHEDULE) if t.run_ids]
    assert schedule_tick.status.value == "SUCCESS"
    assert list(schedule_tick.run_ids) == [refit_id]
    sensor_ticks = d.ticks(ALIAS_SENSOR)
    [launched] = [t for t in sensor_ticks if t.run_ids]
    assert launched.status.value == "SUCCESS"
    assert list(launched.run_ids) == [predict_id]
    assert any(t.skip_reason == "no alias moved" for t in sensor_ticks)

    # The scored rows: the 20 incoming sentences, by version 1 under staging.
    home = Path(os.environ["FF_ASSETS_HOME"])
    scored = DeltaTable(str(home / "tables" / Path(*SCORED_STAGING))).to_pyarrow_table()
    assert scored.num_rows == 20
    assert set(scored.column("model_version").to_pylist()) == {"1"}
    assert set(scored.column("model_alias").to_pylist()) == {"staging"}
    assert set(scored.column("sentiment_prediction").to_pylist()) == {0.0, 1.0}

    # The password only ever came from the environment.
    password = os.environ["DAGSTER_PG_PASSWORD"]
    assert password not in d.daemon.output()
    assert password not in (Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml").read_text()
    for path in Path(os.environ["DAGSTER_HOME"]).rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    for run_id in (refit_id, predict_id):
        assert not [e for e in instance.all_logs(run_id) if password in str(e)], run_id
        assert password not in str(instance.get_run_by_id(run_id))

    elapsed = time.monotonic() - began
    print(
        f"\ntest body {elapsed:.1f} s: {refit_seconds:.1f} s to the refit's end, "
        f"{queued - promoted:.1f} s from the promotion to the sensor's run, "
        f"{time.monotonic() - queued:.1f} s more to its end"
    )
