"""Where a project's assets live on disk, in one place: Delta tables, view recipes and fitted
Spark ML stages, one folder per asset key (`<root>/<store>/<key name>`).

The engine, the Dagster layer and the CLI all go through `Layout`, so the key-to-path rule
exists once.
"""

from __future__ import annotations

import importlib
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.ml import Transformer
from pyspark.sql import DataFrame, SparkSession

from ff_assets.config import ProjectPaths
from ff_assets.core.errors import NotMaterializedError
from ff_assets.spark.tables import read_table, table_exists

KeyPath = Sequence[str]

__all__ = ["KeyPath", "Layout", "NotMaterializedError"]


@dataclass(frozen=True)
class Layout:
    """The folders of one project home: tables (Delta), views (recipes), fitted stages."""

    tables: Path
    fitted: Path
    views: Path

    @classmethod
    def under(cls, home: Path) -> Layout:
        """The layout of a project home (the folders `ff_assets.config.ProjectPaths` names)."""
        paths = ProjectPaths(home=Path(home))
        return cls(tables=paths.tables, fitted=paths.fitted, views=paths.views)

    def table_path(self, key: KeyPath) -> Path:
        return self.tables.joinpath(*key)

    def read_table(self, spark: SparkSession, key: KeyPath) -> DataFrame:
        """The stored table of asset `key` (vectors as Spark ML vectors), or a
        `NotMaterializedError` saying how to store it."""
        path = self.table_path(key)
        if not table_exists(spark, path):
            raise NotMaterializedError(
                f"asset {'/'.join(key)} has no Delta table at {path}: materialize it first (or "
                "together with the assets that read it)."
            )
        return read_table(spark, path)

    def view_path(self, key: KeyPath) -> Path:
        return self.views.joinpath(*key[:-1], f"{key[-1]}.json")

    # -- views ---------------------------------------------------------------------------
    def write_view(self, key: KeyPath, recipe: Mapping[str, Any]) -> Path:
        """Record a view's recipe (what it is recomputed from), replaced atomically."""
        path = self.view_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(json.dumps(recipe, indent=2, sort_keys=True))
        os.replace(tmp, path)
        return path

    def has_view(self, key: KeyPath) -> bool:
        return self.view_path(key).is_file()

    # -- fitted stages -------------------------------------------------------------------
    def save_fitted(self, key: KeyPath, model: Transformer, run_id: str) -> Path:
        """Save a fitted stage with Spark ML's writer in a folder of its own, make it durable,
        then point `LATEST` at it (the folder and the stage's class, to load it with).

        Spark ML's `save(overwrite)` deletes before it writes; a new folder per save (a step
        retried in the same run gets another), synced to disk before an atomic pointer swap,
        keeps the last good fit whenever a run dies half-way. A folder `LATEST` does not name
        is never read.
        """
        folder = self.fitted.joinpath(*key)
        runs = folder / "runs"
        target = runs / (run_id or uuid.uuid4().hex)
        if target.exists():
            target = runs / f"{target.name}-{uuid.uuid4().hex[:8]}"
        model.write().save(str(target))
        _sync_tree(target)
        cls = type(model)
        pointer = {"path": str(target), "class": f"{cls.__module__}.{cls.__qualname__}"}
        tmp = folder / f".LATEST.{uuid.uuid4().hex}"
        with tmp.open("w") as handle:
            handle.write(json.dumps(pointer))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / "LATEST")
        _sync_dir(folder)
        return target

    @staticmethod
    def is_complete_fit(path: Path) -> bool:
        """Whether `path` looks like a whole saved stage: Spark ML's metadata committed (a
        part file under `metadata/`) and no write under way (`_temporary`) anywhere in it. The
        guarantee is `LATEST`, moved only after the save returned and was synced; this catches
        a pointer edited or copied by hand."""
        return any((path / "metadata").glob("part-*")) and not any(path.rglob("_temporary"))

    def load_fitted(self, spark: SparkSession, key: KeyPath) -> Transformer:
        """The latest fitted stage stored for an asset key (`spark` must be running)."""
        del spark  # Spark ML's readers use the active session
        pointer = self.fitted.joinpath(*key) / "LATEST"
        if not pointer.is_file():
            raise NotMaterializedError(
                f"fitted stage {'/'.join(key)} has never been materialized (no {pointer}): "
                "materialize it first, or together with the assets that use it."
            )
        saved = json.loads(pointer.read_text())
        if not self.is_complete_fit(Path(saved["path"])):
            raise NotMaterializedError(
                f"fitted stage {'/'.join(key)}: {pointer} names {saved['path']}, which is not a "
                "complete saved stage: materialize the stage again to store a new fit."
            )
        module, _, name = saved["class"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        return cls.load(saved["path"])


def _sync_tree(root: Path) -> None:
    """fsync every file and folder under `root` (local paths), so a pointer to it is never
    on disk before its contents."""
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _sync_dir(Path(folder))
    _sync_dir(root.parent)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
