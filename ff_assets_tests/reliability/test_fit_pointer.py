"""The `LATEST` pointer of a fitted stage names only whole saves: a step retried in the same
run saves into a new folder (the one `LATEST` names is never overwritten), and a pointer to a
folder that is not a whole save is refused with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.ml.feature import Tokenizer
from pyspark.sql import SparkSession

from ff_assets.core.errors import NotMaterializedError
from ff_assets.spark.storage import Layout

pytestmark = [pytest.mark.reliability, pytest.mark.integration]
KEY = ("tiny", "tokenizer")


def test_a_retried_save_in_the_same_run_keeps_the_fit_latest_names(
    spark: SparkSession, tmp_path: Path
) -> None:
    layout = Layout.under(tmp_path)
    first = layout.save_fitted(KEY, Tokenizer(inputCol="text", outputCol="a"), "run-1")
    second = layout.save_fitted(KEY, Tokenizer(inputCol="text", outputCol="b"), "run-1")
    assert first != second and first.name == "run-1" and second.name.startswith("run-1-")
    assert Tokenizer.load(str(first)).getOutputCol() == "a"  # untouched by the retry
    assert layout.load_fitted(spark, KEY).getOutputCol() == "b"
    assert not list(layout.fitted.joinpath(*KEY).glob(".LATEST.*"))


def test_a_pointer_to_a_partial_save_is_refused(spark: SparkSession, tmp_path: Path) -> None:
    layout = Layout.under(tmp_path)
    saved = layout.save_fitted(KEY, Tokenizer(inputCol="text", outputCol="a"), "run-1")
    partial = saved.parent / "run-2"
    (partial / "metadata" / "_temporary").mkdir(parents=True)
    pointer = layout.fitted.joinpath(*KEY) / "LATEST"
    pointer.write_text(json.dumps({**json.loads(pointer.read_text()), "path": str(partial)}))
    with pytest.raises(NotMaterializedError, match="not a complete saved stage: materialize"):
        layout.load_fitted(spark, KEY)
