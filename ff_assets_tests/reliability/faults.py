"""What the fault tests share: a store's run in a child process of its own (its own JVM, in a
process group to SIGKILL), a condition polled until it holds, and Delta state read without
Spark (`deltalake`)."""

from __future__ import annotations

import contextlib
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

from deltalake import DeltaTable

from ff_assets_tests.services.process import stop_group

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


def materialize_in_child(
    home: Path, data_dir: Path, log: Path, env: Mapping[str, str] | None = None, store: str = TINY
) -> Child:
    """`ff-assets materialize` of the tiny store (or `store`) into `home` (its Dagster instance
    and MLflow store there unless `env` says otherwise), importing this checkout."""
    command = [
        str(Path(sys.executable).with_name("ff-assets")), "materialize", "--store", store,
        "--home", str(home), "--data-dir", str(data_dir), "--no-statistics", "--quiet",
    ]  # fmt: skip
    variables = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DAGSTER_"))}
    variables.update(PYTHONPATH=str(WORKTREE), FF_ASSETS_SPARK_MASTER="local[2]", **(env or {}))
    with open(log, "ab") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=variables, cwd=home,
            start_new_session=True,
        )  # fmt: skip
    return Child(process, log)


def finished(child: Child, timeout: float = 300.0) -> Child:
    """Wait for `child` (stopped at the end, whatever happens); fail with its output unless
    it exits 0."""
    try:
        code = child.wait(timeout)
    finally:
        stop_group(child.process, 5)
    assert code == 0, f"materialize exited {code}:\n{child.output()[-4000:]}"
    return child


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
