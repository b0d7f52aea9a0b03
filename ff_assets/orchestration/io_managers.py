"""The Delta IO manager of the scoring assets (rows to score, scored rows).

A store's own assets are stored by the engine (`ff_assets.spark.engine`), not through an IO
manager: its one step writes each selected table once and hands nothing between steps.

Delta gives the atomic writes, the partition overwrite (`replaceWhere`) and the table history
(version, rows written) that the materialization metadata reports; nothing here re-implements
them. A failed step writes nothing, so every table stays at its last good version.
"""

from __future__ import annotations

from dagster import ConfigurableIOManager, InputContext, MetadataValue, OutputContext
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ff_assets.core.errors import DataFormatError
from ff_assets.orchestration.resources import DeltaSparkResource
from ff_assets.spark.execute import SPLIT_COLUMN
from ff_assets.spark.statistics import feature_statistics, statistics_markdown
from ff_assets.spark.storage import Layout, Location
from ff_assets.spark.tables import read_table, schema_problems, write_table


class DeltaIOManager(ConfigurableIOManager):
    """Stores DataFrames as Delta tables of the project `home`, one per asset key (where:
    `spark.storage.Layout`, as for the engine).

    A partitioned asset's table is partitioned by the `ff_split` column, and materializing a
    partition overwrites only that partition.
    """

    home: str
    storage: str = ""  # as `FFAssetsSettings.storage`
    spark: DeltaSparkResource
    feature_statistics: bool = True

    def handle_output(self, context: OutputContext, obj: DataFrame) -> None:
        path = Layout.under(self.home, self.storage).table_path(context.asset_key.path)
        partitions = list(context.asset_partition_keys) if context.has_asset_partitions else None
        check_declared_schema(context.asset_key.to_user_string(), obj, _declared(context))
        commit = write_table(obj, path, partitions=partitions)
        metadata = {
            "path": MetadataValue.path(str(path)),
            "delta_version": commit.version,
            "rows_written": commit.rows,
            "dagster/row_count": commit.rows,
            **({"partitions": ", ".join(partitions)} if partitions else {}),
        }
        if self.feature_statistics:
            metadata.update(self._statistics(context, path, partitions))
        context.add_output_metadata(metadata)

    def _statistics(
        self, context: OutputContext, path: Location, partitions: list[str] | None
    ) -> dict[str, object]:
        """Statistics of the rows just written (read back from Delta: cheap, and it does not
        recompute the stage)."""
        written = read_table(self.spark.spark_session, path)
        if partitions:
            written = written.where(F.col(SPLIT_COLUMN).isin(partitions))
        key = getattr(key := (context.definition_metadata or {}).get("entity_key"), "value", key)
        features = [c for c in written.columns if c not in (key, SPLIT_COLUMN)]
        stats = feature_statistics(written, features)
        return {
            "feature_statistics": MetadataValue.md(statistics_markdown(stats)),
            "feature_statistics_json": MetadataValue.json(stats),
        }

    def load_input(self, context: InputContext) -> DataFrame:
        key = context.upstream_output.asset_key if context.upstream_output else context.asset_key
        frame = Layout.under(self.home, self.storage).read_table(self.spark.spark_session, key.path)
        if SPLIT_COLUMN in frame.columns and context.has_asset_partitions:
            frame = frame.where(F.col(SPLIT_COLUMN).isin(list(context.asset_partition_keys)))
        return frame


def _declared(context: OutputContext) -> dict[str, object]:
    """The asset's declared entity key, features and types, from its definition metadata."""
    raw = context.definition_metadata or {}
    return {k: getattr(v, "value", v) for k, v in raw.items()}


def check_declared_schema(asset: str, frame: DataFrame, declared: dict[str, object]) -> None:
    """Refuse, before anything is written, a frame whose columns or types break the
    declarations: the table keeps its last good version."""
    fields = {f.name: f.dataType.simpleString() for f in frame.schema}
    problems = schema_problems(
        fields,
        declared.get("entity_key"),  # type: ignore[arg-type]
        list(declared.get("features") or []),  # type: ignore[call-overload]
        dict(declared.get("declared_types") or {}),  # type: ignore[call-overload]
    )
    if problems:
        raise DataFormatError(
            f"asset {asset}: {'; '.join(problems)}. Nothing was written (the table keeps its last "
            "good version): make the stage write every declared output with its declared type."
        )
