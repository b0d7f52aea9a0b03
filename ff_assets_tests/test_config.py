"""Where a project finds its state and its input data (`ff_assets.config`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ff_assets.config import ProjectPaths, data_dir, spark_conf, spark_master, storage_root
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


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("s3a://bucket/prefix/", "s3a://bucket/prefix"),
        ("S3A://bucket", "s3a://bucket"),
        ("gs://bucket/a/b", "gs://bucket/a/b"),
        (
            "abfss://data@account.dfs.core.windows.net/ff",
            "abfss://data@account.dfs.core.windows.net/ff",
        ),
        ("file:///srv/ff/", "file:///srv/ff"),
        ("file://localhost/srv/ff", "file:///srv/ff"),
        ("/srv/ff/", "/srv/ff"),
    ],
)
def test_storage_root_takes_absolute_paths_and_hadoop_uris(configured: str, expected: str) -> None:
    assert storage_root(configured) == expected


def test_storage_root_prefers_configured_then_env_then_the_home(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FF_ASSETS_STORAGE", raising=False)
    assert storage_root() == ""
    monkeypatch.setenv("FF_ASSETS_STORAGE", "gs://env-bucket/ff")
    assert storage_root() == "gs://env-bucket/ff"
    assert storage_root("s3a://given/ff") == "s3a://given/ff"
    monkeypatch.setenv("FF_ASSETS_STORAGE", "  ")
    assert storage_root() == ""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tables/here", r"neither an absolute path nor a URI.*s3a://bucket/prefix"),
        ("bucket/prefix", r"neither an absolute path nor a URI"),
        ("s3a:/bucket/prefix", r"neither an absolute path nor a URI"),
        ("s3a://bucket/prefix?x=1", r"neither an absolute path nor a URI"),
        ("s3://bucket/prefix", r"no file system for s3://, use s3a://bucket/prefix"),
        ("s3a:///prefix", r"without a bucket, container or host"),
        ("file://host/srv", r"not a local file URI: write file:///absolute/path"),
        ("file:relative", r"neither an absolute path nor a URI"),
    ],
)
def test_a_bad_storage_root_is_refused_naming_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("FF_ASSETS_STORAGE", value)
    with pytest.raises(ConfigurationError, match=rf"\$FF_ASSETS_STORAGE is '.*'.*{message}"):
        storage_root()
    with pytest.raises(ConfigurationError, match=r"^storage is "):
        storage_root(value)


def test_the_storage_root_holds_tables_fits_and_views_and_the_home_the_rest(
    tmp_path: Path,
) -> None:
    local = ProjectPaths.resolve(tmp_path)
    assert (local.tables, local.fitted, local.views) == (
        tmp_path / "tables", tmp_path / "fitted", tmp_path / "views",
    )  # fmt: skip
    remote = ProjectPaths.resolve(tmp_path, "s3a://bucket/ff")
    assert (remote.tables, remote.fitted, remote.views) == (
        "s3a://bucket/ff/tables", "s3a://bucket/ff/fitted", "s3a://bucket/ff/views",
    )  # fmt: skip
    assert remote.mlflow_tracking_uri == local.mlflow_tracking_uri  # the rest stays home
    elsewhere = ProjectPaths.resolve(tmp_path, str(tmp_path / "disk"))
    assert elsewhere.fitted == tmp_path / "disk" / "fitted"


def test_build_definitions_and_the_cli_refuse_a_bad_storage_root_before_spark_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ff_assets.cli import main
    from ff_assets.examples.reviews import store
    from ff_assets.orchestration.definitions import build_definitions

    monkeypatch.setenv("FF_ASSETS_STORAGE", "relative/folder")
    with pytest.raises(ConfigurationError, match=r"\$FF_ASSETS_STORAGE is 'relative/folder'"):
        build_definitions([store], home=str(tmp_path))
    monkeypatch.delenv("FF_ASSETS_STORAGE")
    code = main(["materialize", "--home", str(tmp_path), "--storage", "s3://bucket/ff"])
    assert code == 1
    assert "ConfigurationError: storage is 's3://bucket/ff'" in capsys.readouterr().err
