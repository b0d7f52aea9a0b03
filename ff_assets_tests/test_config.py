"""Where a project finds its state and its input data (`ff_assets.config`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ff_assets.config import data_dir, spark_conf, spark_master
from ff_assets.core.errors import ConfigurationError


def test_data_dir_prefers_configured_then_env_then_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FF_DATA_DIR", str(tmp_path / "env"))
    assert data_dir(tmp_path / "given") == (tmp_path / "given").resolve()
    assert data_dir() == (tmp_path / "env").resolve()
    monkeypatch.delenv("FF_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert data_dir() == (tmp_path.parent / "shared" / "data").resolve()


def test_spark_master_prefers_configured_then_env_then_local(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FF_ASSETS_SPARK_MASTER", raising=False)
    assert spark_master() == "local[*]"
    monkeypatch.setenv("FF_ASSETS_SPARK_MASTER", "spark://127.0.0.1:7077")
    assert spark_master() == "spark://127.0.0.1:7077"
    assert spark_master("local[2]") == "local[2]"


def test_a_malformed_spark_master_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FF_ASSETS_SPARK_MASTER", "127.0.0.1:7077")
    with pytest.raises(ConfigurationError, match=r"\$FF_ASSETS_SPARK_MASTER.*spark://host:7077"):
        spark_master()


def test_spark_conf_reads_spark_defaults_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "spark-defaults.conf"
    conf.write_text(
        "# executors\nspark.executor.memory   2g\n\nspark.sql.shuffle.partitions=8\n"
        "spark.driver.host: 10.0.0.5\n"
    )
    monkeypatch.setenv("FF_ASSETS_SPARK_CONF", str(conf))
    assert spark_conf() == {
        "spark.executor.memory": "2g",
        "spark.sql.shuffle.partitions": "8",
        "spark.driver.host": "10.0.0.5",
    }
    monkeypatch.delenv("FF_ASSETS_SPARK_CONF")
    assert spark_conf() == {}


def test_spark_conf_names_the_file_and_line_of_a_bad_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "spark-defaults.conf"
    conf.write_text("spark.executor.memory 2g\nexecutor.cores 2\n")
    monkeypatch.setenv("FF_ASSETS_SPARK_CONF", str(conf))
    with pytest.raises(ConfigurationError, match=r"spark-defaults.conf:2: 'executor.cores 2'"):
        spark_conf()
    monkeypatch.setenv("FF_ASSETS_SPARK_CONF", str(tmp_path / "missing.conf"))
    with pytest.raises(ConfigurationError, match="not a file"):
        spark_conf()
