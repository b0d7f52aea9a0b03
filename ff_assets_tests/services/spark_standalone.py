"""A Spark standalone cluster on loopback: one master and one worker, started with the pyspark
wheel's own launcher (`bin/spark-class`; the wheel ships no `sbin/start-master.sh`), stopped
when the block ends."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyspark

from ff_assets_tests.services.process import LOOPBACK, Started, free_port, started

SPARK_HOME = Path(pyspark.__file__).resolve().parent
PROJECT = Path(__file__).resolve().parents[2]


def read_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.load(answer)


@dataclass(frozen=True)
class SparkCluster:
    """A running master and worker: the URL drivers connect to, and their state as their web
    UIs' JSON shows it (applications on the master, executors on the worker)."""

    url: str
    master_ui: str
    worker_ui: str
    work_dir: Path
    master: Started
    worker: Started

    def master_state(self) -> dict[str, Any]:
        """The master's `/json/`: `workers`, `activeapps`, `completedapps`, ..."""
        return read_json(f"{self.master_ui}/json/")

    def worker_state(self) -> dict[str, Any]:
        """The worker's `/json/`: `executors`, `finishedexecutors`, ..."""
        return read_json(f"{self.worker_ui}/json/")

    def completed_apps(self, name: str, *, timeout: float = 60.0) -> list[dict[str, Any]]:
        """The master's records of the finished applications named `name`, once none of that
        name is active: a driver's process may exit before the master hears that it ended."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.master_state()
            if not any(a["name"] == name for a in state["activeapps"]):
                return [a for a in state["completedapps"] if a["name"] == name]
            if time.monotonic() > deadline:
                raise AssertionError(f"application {name} still active after {timeout:.0f} s")
            time.sleep(0.5)

    def executors_of(self, app_id: str) -> list[dict[str, Any]]:
        """Every executor the worker ran for application `app_id` (running or finished)."""
        state = self.worker_state()
        found = state["executors"] + state["finishedexecutors"]
        return [e for e in found if e["appid"] == app_id]


def _state(ui: str) -> dict[str, Any] | None:
    """A web UI's JSON, or None while it does not answer with JSON: starting, a master's UI
    answered `/json/` with its HTML page for a moment (seen once in CI), not yet with JSON."""
    try:
        return read_json(f"{ui}/json/")
    except (OSError, ValueError):  # ValueError: json's JSONDecodeError
        return None


def _alive_worker(master_ui: str) -> bool:
    state = _state(master_ui)
    return state is not None and any(w["state"] == "ALIVE" for w in state["workers"])


@contextmanager
def spark_standalone(folder: Path, *, cores: int = 2, memory: str = "2g") -> Iterator[SparkCluster]:
    """A master and one worker (`cores`, `memory`) on free ports of 127.0.0.1 for the block;
    logs and the worker's folder under `folder`. Executors run `sys.executable` with this
    checkout on their `PYTHONPATH`."""
    folder.mkdir(parents=True, exist_ok=True)
    port, master_web, worker_web = free_port(), free_port(), free_port()
    url = f"spark://{LOOPBACK}:{port}"
    master_ui, worker_ui = f"http://{LOOPBACK}:{master_web}", f"http://{LOOPBACK}:{worker_web}"
    path = os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")]))
    env = {
        "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": LOOPBACK,
        "PYSPARK_PYTHON": sys.executable, "PYTHONPATH": path,
        "SPARK_CONF_DIR": str(folder / "conf"),  # none: not the wheel's, not the user's
    }  # fmt: skip
    launcher = str(SPARK_HOME / "bin" / "spark-class")
    deploy = "org.apache.spark.deploy"
    master_command = [
        launcher, f"{deploy}.master.Master", "--host", LOOPBACK, "--port", str(port),
        "--webui-port", str(master_web),
    ]  # fmt: skip
    worker_command = [
        launcher, f"{deploy}.worker.Worker", url, "--host", LOOPBACK, "--webui-port",
        str(worker_web), "--cores", str(cores), "--memory", memory,
        "--work-dir", str(folder / "work"),
    ]  # fmt: skip
    with (
        started(master_command, log=folder / "master.log", env=env,
                ready=lambda: _state(master_ui) is not None) as master,
        started(worker_command, log=folder / "worker.log", env=env,
                ready=lambda: _alive_worker(master_ui)) as worker,
    ):  # fmt: skip
        yield SparkCluster(url, master_ui, worker_ui, folder / "work", master, worker)
