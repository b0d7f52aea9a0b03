"""Where a project's assets are stored, in one place: Delta tables, view recipes and fitted
Spark ML stages, one folder per asset key (`<root>/<store>/<key name>`).

The engine, the Dagster layer and the CLI all go through `Layout`, so the key-to-path rule
exists once.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.ml import Transformer
from pyspark.sql import DataFrame, SparkSession

from ff_assets.config import Location, ProjectPaths
from ff_assets.core.errors import NotMaterializedError
from ff_assets.spark import files
from ff_assets.spark.tables import read_table, table_exists

KeyPath = Sequence[str]

__all__ = ["KeyPath", "Layout", "Location", "NotMaterializedError"]


@dataclass(frozen=True)
class Layout:
    """The folders of one project's storage: tables (Delta), views (recipes), fitted stages.

    Each is a local `Path` or a URI string of any Hadoop file system (`s3a://bucket/p/tables`);
    every file operation goes through Hadoop's FileSystem API (`spark.files`), so a running
    Spark session is needed, as it is for the tables and fits themselves.
    """

    tables: Location
    fitted: Location
    views: Location

    @classmethod
    def under(cls, home: Path | str, storage: str = "") -> Layout:
        """The layout of a project home, its storage under `storage` when one is given (an
        absolute path or URI, as `ff_assets.config.storage_root` returns it)."""
        paths = ProjectPaths(home=Path(home), storage=storage)
        return cls(tables=paths.tables, fitted=paths.fitted, views=paths.views)

    def table_path(self, key: KeyPath) -> Location:
        return files.join(self.tables, *key)

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

    def view_path(self, key: KeyPath) -> Location:
        return files.join(self.views, *key[:-1], f"{key[-1]}.json")

    # -- views ---------------------------------------------------------------------------
    def write_view(self, key: KeyPath, recipe: Mapping[str, Any]) -> Location:
        """Record a view's recipe (what it is recomputed from), replaced atomically."""
        path = self.view_path(key)
        files.replace_whole(path, json.dumps(recipe, indent=2, sort_keys=True))
        return path

    def has_view(self, key: KeyPath) -> bool:
        return files.is_file(self.view_path(key))

    # -- fitted stages -------------------------------------------------------------------
    def save_fitted(self, key: KeyPath, model: Transformer, run_id: str) -> Location:
        """Save a fitted stage with Spark ML's writer in a folder of its own, make it durable,
        then point `LATEST` at it (the folder and the stage's class, to load it with).

        Spark ML's `save(overwrite)` deletes before it writes; a new folder per save (a step
        retried in the same run gets another), durable before the pointer is replaced
        atomically (`files.replace_whole`: a rename on the local disk, a whole-object write
        on S3 and GCS), keeps the last good fit whenever a run dies half-way. A folder
        `LATEST` does not name is never read.
        """
        folder = files.join(self.fitted, *key)
        runs = files.join(folder, "runs")
        name = run_id or uuid.uuid4().hex
        if files.exists(files.join(runs, name)):
            name = f"{name}-{uuid.uuid4().hex[:8]}"
        target = files.join(runs, name)
        model.write().save(str(target))
        files.sync_tree(target)
        cls = type(model)
        pointer = {"path": str(target), "class": f"{cls.__module__}.{cls.__qualname__}"}
        files.replace_whole(files.join(folder, "LATEST"), json.dumps(pointer))
        return target

    @staticmethod
    def is_complete_fit(path: Location) -> bool:
        """Whether `path` looks like a whole saved stage: Spark ML's metadata committed (a
        part file under `metadata/`) and no write under way (`_temporary`) anywhere in it. The
        guarantee is `LATEST`, moved only after the save returned and was synced; this catches
        a pointer edited or copied by hand."""
        metadata = files.glob(files.join(path, "metadata", "part-*"))
        return bool(metadata) and not files.has_entry_named(path, "_temporary")

    def load_fitted(self, spark: SparkSession, key: KeyPath) -> Transformer:
        """The latest fitted stage stored for an asset key (`spark` must be running)."""
        del spark  # Spark ML's readers (and `files`) use the active session
        pointer = files.join(self.fitted, *key, "LATEST")
        if not files.is_file(pointer):
            raise NotMaterializedError(
                f"fitted stage {'/'.join(key)} has never been materialized (no {pointer}): "
                "materialize it first, or together with the assets that use it."
            )
        saved = json.loads(files.read_text(pointer))
        if not self.is_complete_fit(saved["path"]):
            raise NotMaterializedError(
                f"fitted stage {'/'.join(key)}: {pointer} names {saved['path']}, which is not a "
                "complete saved stage: materialize the stage again to store a new fit."
            )
        module, _, name = saved["class"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        return cls.load(saved["path"])
