"""Bad input data fails the source asset with a message naming the file and the column, and
leaves the stored tables as they were (issue 3).

The sources of both examples are materialized once from the real data into a temp home; each
case then copies the data folder, corrupts one file and materializes the source again.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult
from pyspark.sql import SparkSession

from ff_assets.examples import bank, reviews
from ff_assets.examples.data import BANK_FILE, REVIEW_FILES
from ff_assets.orchestration.definitions import build_definitions
from ff_assets.orchestration.jobs import materialize_job_name
from ff_assets_tests.orchestration.conftest import delta_version
from ff_assets_tests.orchestration.tiny_store import failure_text

pytestmark = pytest.mark.integration

SOURCES = {"reviews": ("reviews_source", 3000), "bank": ("clients", 4521)}


@dataclass(frozen=True)
class SourcesHome:
    home: Path
    instance: DagsterInstance
    spark: SparkSession

    def materialize(self, store: str, data_dir: Path) -> ExecuteInProcessResult:
        """Materialize only the source asset of `store`, reading `data_dir`."""
        defs = build_definitions([reviews.store, bank.store], home=str(self.home),
                                 data_dir=str(data_dir))  # fmt: skip
        job = defs.resolve_job_def(materialize_job_name(store))
        return job.execute_in_process(
            instance=self.instance,
            partition_key="train",
            asset_selection=[AssetKey([store, SOURCES[store][0]])],
            raise_on_error=False,
        )

    def source_table(self, store: str) -> Path:
        return self.home / "tables" / store / SOURCES[store][0]


@pytest.fixture(scope="module")
def sources_home(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, data_root: Path
) -> Iterator[SourcesHome]:
    home = tmp_path_factory.mktemp("bad-data-home")
    (home / "dagster").mkdir()
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        sources = SourcesHome(home=home, instance=instance, spark=spark)
        for store in SOURCES:
            result = sources.materialize(store, data_root)
            assert result.success, failure_text(result)
        yield sources


def _corrupt_copy(data_root: Path, target: Path) -> Path:
    shutil.copytree(data_root, target, copy_function=shutil.copyfile)
    for path in (target, *target.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def _replace_line(number: int, new: Callable[[str], str]) -> Callable[[Path], None]:
    def corrupt(path: Path) -> None:
        lines = path.read_bytes().split(b"\n")
        lines[number - 1] = new(lines[number - 1].decode("utf-8")).encode("utf-8")
        path.write_bytes(b"\n".join(lines))

    return corrupt


def _drop_bank_column(column: str) -> Callable[[Path], None]:
    def corrupt(path: Path) -> None:
        lines = path.read_text().split("\n")
        index = [c.strip('"') for c in lines[0].split(";")].index(column)
        kept = [";".join(c for i, c in enumerate(line.split(";")) if i != index) for line in lines]
        path.write_text("\n".join(kept))

    return corrupt


def _bytes_in_line(number: int) -> Callable[[Path], None]:
    def corrupt(path: Path) -> None:
        lines = path.read_bytes().split(b"\n")
        lines[number - 1] = lines[number - 1].replace(b" ", b" \xff\xfe ", 1)
        path.write_bytes(b"\n".join(lines))

    return corrupt


def _set_bank_value(number: int, column: str, value: str) -> Callable[[Path], None]:
    def replace(line: str) -> str:
        header = [c.strip('"') for c in HEADER.split(";")]
        cells = line.split(";")
        cells[header.index(column)] = value
        return ";".join(cells)

    return _replace_line(number, replace)


HEADER = '"age";"job";"marital";"education";"default";"balance";"housing";"loan";"contact";"day";"month";"duration";"campaign";"pdays";"previous";"poutcome";"y"'  # noqa: E501


CASES = {
    # case: (store, file, corruption, words the failure must contain)
    "missing_column": (
        "bank", BANK_FILE, _drop_bank_column("balance"), ["column(s) balance missing"],
    ),
    "wrong_type": (
        "bank", BANK_FILE, _set_bank_value(7, "age", "forty"),
        ["line 7, column age", "'forty' is not a number"],
    ),
    "wrong_label": (
        "reviews", REVIEW_FILES["yelp"], _replace_line(12, lambda line: line[:-1] + "positive"),
        ["line 12, column sentiment", "'positive' is not 0 or 1"],
    ),
    "no_sentiment_column": (
        "reviews", REVIEW_FILES["amazon"], _replace_line(5, lambda line: line.replace("\t", " ")),
        ["line 5", "no tab before the sentiment column"],
    ),
    "empty_file": (
        "reviews", REVIEW_FILES["imdb"], lambda path: path.write_bytes(b""), ["is empty"],
    ),
    "undecodable_line": (
        "reviews", REVIEW_FILES["imdb"], _bytes_in_line(40), ["line 40", "not UTF-8"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bad_data_fails_the_source_and_keeps_the_table(
    sources_home: SourcesHome, data_root: Path, tmp_path: Path, case: str
) -> None:
    store, relative, corrupt, words = CASES[case]
    table = sources_home.source_table(store)
    version = delta_version(sources_home.spark, table)
    broken = _corrupt_copy(data_root, tmp_path / "data")
    corrupt(broken / relative)

    result = sources_home.materialize(store, broken)

    assert not result.success
    [failure] = result.get_step_failure_events()  # the store's one step
    message = failure_text(result)
    assert f"stage {SOURCES[store][0]!r} failed" in message  # the run names the stage
    assert "DataFormatError" in message
    assert str(broken / relative) in message  # the file, by its full path
    for word in words:
        assert word in message, (word, message)
    assert not result.get_asset_materialization_events()
    assert delta_version(sources_home.spark, table) == version
    rows = sources_home.spark.read.format("delta").load(str(table)).count()
    assert rows == SOURCES[store][1]


def test_missing_data_folder_says_where_to_get_the_data(
    sources_home: SourcesHome, tmp_path: Path
) -> None:
    table = sources_home.source_table("reviews")
    version = delta_version(sources_home.spark, table)

    result = sources_home.materialize("reviews", tmp_path / "no-data-here")

    assert not result.success
    message = failure_text(result)
    assert "DataNotFoundError" in message
    assert str(tmp_path / "no-data-here") in message
    assert "archive.ics.uci.edu" in message
    assert delta_version(sources_home.spark, table) == version
