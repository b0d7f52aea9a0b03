"""What the fault tests share: a store's run in a child process of its own (its own JVM, in a
process group to SIGKILL) or, for the runs no fault reaches, in the test process; a condition
polled until it holds; and Delta state read without Spark (`deltalake`)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote

import mlflow
import pytest
from deltalake import DeltaTable

WORKTREE = Path(__file__).resolve().parents[2]
TINY = "ff_assets_tests.orchestration.tiny_store:store"
TINY_WITHOUT_RETRIES = "ff_assets_tests.orchestration.tiny_store:store_without_retries"
T = TypeVar("T")


@dataclass(frozen=True)
class Child:
    """A materialization running in a process group of its own, its output in `log`."""

    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole group (the Python driver and its JVM) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def wait(self, timeout: float = 300.0) -> int:
        return self.process.wait(timeout)


def _command(home: Path, data_dir: Path, store: str) -> list[str]:
    """The arguments of `ff-assets materialize` for a fault test's run (the command's name
    left out)."""
    return [
        "materialize", "--store", store, "--home", str(home), "--data-dir", str(data_dir),
        "--no-statistics", "--quiet",
    ]  # fmt: skip


def _environment(env: Mapping[str, str] | None) -> dict[str, str]:
    """A run's environment: this one without its MLflow and Dagster settings, importing this
    checkout, on `local[2]`, then `env`."""
    variables = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DAGSTER_"))}
    variables.update(PYTHONPATH=str(WORKTREE), FF_ASSETS_SPARK_MASTER="local[2]", **(env or {}))
    return variables


def materialize_in_child(
    home: Path, data_dir: Path, log: Path, env: Mapping[str, str] | None = None, store: str = TINY
) -> Child:
    """`ff-assets materialize` of the tiny store (or `store`) into `home` (its Dagster instance
    and MLflow store there unless `env` says otherwise), importing this checkout."""
    command = [str(Path(sys.executable).with_name("ff-assets")), *_command(home, data_dir, store)]
    with open(log, "ab") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=_environment(env), cwd=home,
            start_new_session=True,
        )  # fmt: skip
    return Child(process, log)


def materialize_here(
    home: Path, data_dir: Path, log: Path, env: Mapping[str, str] | None = None, store: str = TINY
) -> None:
    """The run `materialize_in_child` makes, to its end, through the CLI's entry point in this
    process, on the session's Spark (ask for the `spark` fixture): the child's arguments,
    environment and folder for the call only, its output in `log`; fails with that output
    unless it exits 0. MLflow's process-wide tracking and registry URIs, which a run leaves at
    its store, are put back to what the environment says afterwards."""
    from ff_assets.cli import main
    from ff_assets.tracking.runs import FLUENT_VARIABLES

    output = io.StringIO()
    try:
        with pytest.MonkeyPatch.context() as patch:
            variables = _environment(env)
            # MLflow exports its URIs and experiment: undone with the rest on leaving.
            for name in (set(os.environ) - set(variables)) | set(FLUENT_VARIABLES):
                patch.delenv(name, raising=False)
            for name, value in variables.items():
                patch.setenv(name, value)
            patch.chdir(home)
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                code = main(_command(home, data_dir, store))
    finally:
        mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI"))
        mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI") or "")
        with open(log, "a") as sink:
            sink.write(output.getvalue())
    assert code == 0, f"materialize exited {code}:\n{output.getvalue()[-4000:]}"


def poll(probe: Callable[[], T | None], child: Child, timeout: float = 240.0) -> T:
    """The first true answer of `probe`, asked every few milliseconds while `child` runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := probe()) is not None:
            return found
        if child.process.poll() is not None:
            raise AssertionError(
                f"the run ended ({child.process.returncode}) before the fault could be "
                f"injected:\n{child.output()[-4000:]}"
            )
        time.sleep(0.002)
    raise AssertionError(f"no fault point within {timeout:.0f} s:\n{child.output()[-4000:]}")


def killed_when(probe: Callable[[], T | None], child: Child) -> T:
    """SIGKILL `child` the moment `probe` answers (polled as in `poll`); that answer. The
    child is killed whatever happens."""
    try:
        return poll(probe, child)
    finally:
        child.kill()


# -- Delta, without Spark ---------------------------------------------------------------------
def delta_tables(root: Path) -> list[Path]:
    """Every Delta table under `root` (a folder holding `_delta_log`)."""
    return sorted(log.parent for log in root.rglob("_delta_log"))


@dataclass(frozen=True)
class TableState:
    version: int
    commits: int  # entries in Delta's history
    rows: int


def table_state(path: Path) -> TableState:
    table = DeltaTable(str(path))
    return TableState(
        version=table.version(),
        commits=len(table.history()),
        rows=table.to_pyarrow_dataset().count_rows(),
    )


def states(root: Path) -> dict[str, TableState]:
    return {str(p.relative_to(root)): table_state(p) for p in delta_tables(root)}


def committed_files(table: Path) -> set[str]:
    """Data files any commit of the table's log adds (paths relative to the table)."""
    named = set()
    for commit in sorted((table / "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            if line and "add" in (action := json.loads(line)):
                named.add(unquote(action["add"]["path"]))
    return named


def uncommitted_files(table: Path) -> list[str]:
    """Parquet data files in the table's folder that no commit names: a write under way (or
    one that never committed)."""
    files = [
        str(p.relative_to(table))
        for p in table.rglob("*.parquet")
        if "_delta_log" not in p.parts and not p.name.startswith(".")
    ]
    if not files:
        return []
    named = committed_files(table)
    return [f for f in files if f not in named]
