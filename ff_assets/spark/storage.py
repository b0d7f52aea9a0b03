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
        """Save a fitted stage with Spark ML's writer in a folder of its own, then point
        `LATEST` at it (the folder and the stage's class, to load it with).

        Spark ML's `save(overwrite)` deletes before it writes; a new folder per run and an
        atomic pointer swap keep the last good fit if a run fails half-way.
        """
        folder = self.fitted.joinpath(*key)
        target = folder / "runs" / (run_id or uuid.uuid4().hex)
        model.write().overwrite().save(str(target))
        cls = type(model)
        pointer = {"path": str(target), "class": f"{cls.__module__}.{cls.__qualname__}"}
        tmp = folder / f".LATEST.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(pointer))
        os.replace(tmp, folder / "LATEST")
        return target

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
        module, _, name = saved["class"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        return cls.load(saved["path"])
