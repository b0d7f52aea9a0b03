"""SIGKILL of a run's process group at the worst moments: while a Delta table is being
written, and while a fitted stage is being saved. Every table keeps its last good version (no
partial commit in Delta's history), the previous fit stays loadable, and a re-run completes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ff_assets.spark.storage import Layout
from ff_assets_tests.orchestration import tiny_store
from ff_assets_tests.reliability.faults import (
    committed_files,
    delta_tables,
    killed_when,
    materialize_here,
    materialize_in_child,
    states,
    uncommitted_files,
)

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

ROWS = 20_000  # enough for a table write to take a while (the stock 200 rows write in ms)


def _home(tmp_path: Path, rows: int) -> tuple[Path, Path]:
    home, data_dir = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    tiny_store.write_reviews(data_dir, rows=rows)
    return home, data_dir


def test_a_run_killed_mid_delta_write_leaves_every_table_at_its_last_good_version(
    spark: SparkSession, tmp_path: Path
) -> None:
    home, data_dir = _home(tmp_path, ROWS)
    tables = home / "tables"
    started = time.monotonic()
    materialize_here(home, data_dir, tmp_path / "first.log")
    before = states(tables)
    assert len(before) >= 5 and all(s.version == 0 for s in before.values())

    def writing() -> tuple[Path, list[str]] | None:
        for table in delta_tables(tables):
            if files := uncommitted_files(table):
                return table, files
        return None

    child = materialize_in_child(home, data_dir, tmp_path / "killed.log")
    table, files = killed_when(writing, child)
    killed_at = time.monotonic() - started

    # Killed for real in the middle: the data files it wrote are there, named by no commit.
    assert set(files) <= set(uncommitted_files(table))
    assert not set(files) & committed_files(table)
    after = states(tables)
    assert after == before, f"killed while writing {table.name}: {before} -> {after}"

    materialize_here(home, data_dir, tmp_path / "rerun.log")
    rerun = states(tables)
    assert set(rerun) == set(before)
    for name, state in rerun.items():
        assert state.version == before[name].version + 1, name
        assert state.rows == before[name].rows, name
    print(
        f"\nkilled while writing {table.relative_to(tables)} ({len(files)} uncommitted files) "
        f"at {killed_at:.1f} s; {len(before)} tables stayed at version 0 "
        f"(rows: {', '.join(f'{k}={s.rows}' for k, s in sorted(before.items()))}); "
        f"re-run committed version 1 of each, {time.monotonic() - started:.1f} s in all"
    )


def _pointer(folder: Path) -> str:
    return json.loads((folder / "LATEST").read_text())["path"]


def test_a_run_killed_mid_fit_save_keeps_the_previous_fit_and_its_pointer(
    spark: SparkSession, tmp_path: Path
) -> None:
    home, data_dir = _home(tmp_path, 200)
    started = time.monotonic()
    materialize_here(home, data_dir, tmp_path / "first.log")
    layout = Layout.under(home)
    fits = sorted(p.parent for p in layout.fitted.rglob("LATEST"))
    assert len(fits) == 3  # the IDF and the two models
    before = {f: _pointer(f) for f in fits}

    def saving() -> tuple[Path, Path] | None:
        for fit, latest in before.items():
            for run in (fit / "runs").iterdir():
                if str(run) != latest and _pointer(fit) == latest:
                    return fit, run
        return None

    child = materialize_in_child(home, data_dir, tmp_path / "killed.log")
    fit, partial = killed_when(saving, child)
    killed_at = time.monotonic() - started

    assert _pointer(fit) == before[fit], "the kill came after the pointer moved"
    assert {f: _pointer(f) for f in fits} == before
    for folder in fits:
        key = folder.relative_to(layout.fitted).parts
        loaded = layout.load_fitted(spark, key)  # the previous fit, complete
        assert type(loaded).__name__ in {"IDFModel", "LogisticRegressionModel"}
        assert layout.is_complete_fit(Path(_pointer(folder)))
    leftover_complete = layout.is_complete_fit(partial)

    materialize_here(home, data_dir, tmp_path / "rerun.log")
    for folder in fits:
        moved = _pointer(folder)
        assert moved not in {before[folder], str(partial)}
        assert layout.is_complete_fit(Path(moved))
        layout.load_fitted(spark, folder.relative_to(layout.fitted).parts)
    print(
        f"\nkilled while saving {fit.relative_to(layout.fitted)} at {killed_at:.1f} s "
        f"(partial folder complete: {leftover_complete}); LATEST of {len(fits)} fits unchanged, "
        f"re-run moved each, {time.monotonic() - started:.1f} s in all"
    )
