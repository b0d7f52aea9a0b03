"""The driver's class-data archive: which options a new driver gets (no JVM), a dump checked
whole by a real JVM before it is adopted, and the warm-up (`ff_assets.spark.warm_up`) making
the archive that a later driver, in a process of its own, maps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ff_assets.spark import class_data, warm_up
from ff_assets.spark.class_data import JAVA_OPTIONS, ClassData, with_archive
from ff_assets.spark.tables import read_table

WORKTREE = Path(__file__).resolve().parents[2]


def _dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def _java() -> Path:
    java = class_data.java_binary()
    assert java is not None, "the tests need Java 17 (bash scripts/setup installs it)"
    return java


def test_a_first_driver_dumps_to_a_file_of_its_own(tmp_path: Path) -> None:
    settings: dict[str, str] = {JAVA_OPTIONS: "-XX:+UseSerialGC"}
    data = with_archive(settings, tmp_path)
    assert data is not None and data.dumping()
    options = settings[JAVA_OPTIONS]
    assert options.startswith("-XX:+UseSerialGC ")  # the user's options kept, first
    assert f"-XX:ArchiveClassesAtExit={tmp_path}/{data.key}.{os.getpid()}.dump" in options
    assert "-XX:+VerifySharedSpaces" in options and "-Xlog:cds*=off" in options


def test_an_archive_in_place_is_mapped(tmp_path: Path) -> None:
    key = class_data.archive_key({}, _java())
    (tmp_path / f"{key}.jsa").write_bytes(b"archive")
    settings: dict[str, str] = {}
    data = with_archive(settings, tmp_path)
    assert data is not None and not data.dumping()
    assert settings[JAVA_OPTIONS] == f"-XX:SharedArchiveFile={tmp_path}/{key}.jsa -Xlog:cds*=off"


@pytest.mark.parametrize(
    "given", ["-Xshare:off", "-XX:SharedArchiveFile=/mine.jsa", "-XX:ArchiveClassesAtExit=/x"]
)
def test_a_driver_that_chooses_its_own_class_sharing_is_left_alone(
    given: str, tmp_path: Path
) -> None:
    settings = {JAVA_OPTIONS: given}
    assert with_archive(settings, tmp_path) is None
    assert settings == {JAVA_OPTIONS: given}
    assert not tmp_path.joinpath("x").exists() and list(tmp_path.iterdir()) == []


def test_files_of_other_keys_unused_for_a_month_are_deleted(tmp_path: Path) -> None:
    java = _java()
    key = class_data.archive_key({}, java)
    month = class_data.STALE_S + 60
    own = tmp_path / f"{key}.jsa"
    stale = tmp_path / ("a" * 16 + ".jsa")
    stale_record = tmp_path / ("a" * 16 + ".123.driver")
    recent = tmp_path / ("b" * 16 + ".jsa")
    for path in (own, stale, stale_record, recent):
        path.write_bytes(b"x")
    old = os.stat(own).st_mtime - month
    for path in (own, stale, stale_record):
        os.utime(path, (old, old))
    options = ClassData(tmp_path, key, java).options()
    assert options.startswith(f"-XX:SharedArchiveFile={own} ")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([own.name, recent.name])
    assert own.stat().st_mtime > old + month - 120  # touched: in use


def test_the_key_follows_the_jars_spark_adds() -> None:
    java = _java()
    plain = class_data.archive_key({}, java)
    assert plain == class_data.archive_key({"spark.sql.shuffle.partitions": "2"}, java)
    assert plain != class_data.archive_key({"spark.jars.packages": "org.example:x:1"}, java)


def test_a_dump_whose_writer_still_runs_is_not_touched(tmp_path: Path) -> None:
    key = class_data.archive_key({}, _java())
    running = ClassData(tmp_path, key, _java(), pid=os.getppid())  # alive: pytest's parent
    running.dump.write_bytes(b"half written")
    running.record.write_text(json.dumps({"driver": os.getpid(), "classpath": "x"}))
    ClassData(tmp_path, key, _java()).options()
    assert running.dump.exists() and not (tmp_path / f"{key}.jsa").exists()


@pytest.mark.integration
def test_with_an_archive_in_place_a_finished_dump_is_deleted_unchecked(tmp_path: Path) -> None:
    java = _java()
    written, _ = _real_dump(tmp_path, java)
    archive = tmp_path / f"{written.key}.jsa"
    archive.write_bytes(b"adopted earlier")
    ClassData(tmp_path, written.key, java).options()
    assert list(tmp_path.iterdir()) == [archive] and archive.read_bytes() == b"adopted earlier"


def _real_dump(folder: Path, java: Path) -> tuple[ClassData, str]:
    """A class-data dump of a real JVM (a `-version` run) written by a process now gone."""
    classpath = str(Path(class_data.__file__).parent)  # any class path: it is recorded
    data = ClassData(folder, "k" * 16, java, pid=_dead_pid())
    subprocess.run(
        [str(java), f"-XX:ArchiveClassesAtExit={data.dump}", "-XX:+VerifySharedSpaces",
         "-Xlog:disable", "-cp", classpath, "-version"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    data.record.write_text(json.dumps({"driver": _dead_pid(), "classpath": classpath}))
    assert data.dump.stat().st_size > 0
    return data, classpath


@pytest.mark.integration
def test_a_whole_dump_is_adopted_once_a_jvm_has_checked_it(tmp_path: Path) -> None:
    java = _java()
    written, _ = _real_dump(tmp_path, java)
    size = written.dump.stat().st_size
    options = ClassData(tmp_path, written.key, java).options()
    archive = tmp_path / f"{written.key}.jsa"
    assert options.startswith(f"-XX:SharedArchiveFile={archive} ")
    assert archive.stat().st_size == size
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]  # dump and record gone


@pytest.mark.integration
def test_a_truncated_dump_is_deleted_and_the_driver_dumps_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a crashing JVM would leave its hs_err_pid*.log
    java = _java()
    written, _ = _real_dump(tmp_path, java)
    whole = written.dump.read_bytes()
    written.dump.chmod(0o644)
    written.dump.write_bytes(whole[: len(whole) // 2])  # a writer killed mid-dump
    reader = ClassData(tmp_path, written.key, java)
    options = reader.options()
    assert options.startswith(f"-XX:ArchiveClassesAtExit={reader.dump} ")
    assert list(tmp_path.iterdir()) == []  # a Java 17 JVM mapping it would die of SIGBUS


_DRIVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ff_assets.spark.session import spark_session

    spark = spark_session(master="local[1]", class_data_dir=Path(sys.argv[1]))
    assert spark.range(10).count() == 10
    """
)


@pytest.mark.integration
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_warm_up_makes_the_archive_and_a_later_driver_maps_it(tmp_path: Path) -> None:
    """`python -m ff_assets.spark.warm_up` (which `scripts/setup` runs): a Spark program in a
    process of its own (here a tiny one; the default's own test is below) dumps its driver's
    classes, the dump is checked and adopted; a second call finds it; a later driver, as every
    CLI run and Dagster run worker starts one, maps it (a driver without an archive would
    leave a dump and its record beside it)."""
    folder = tmp_path / "class-data"
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    env.pop("FF_ASSETS_SPARK_CONF", None)  # the driver's options are this test's subject

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, *args], env=env, cwd=tmp_path, capture_output=True, text=True,
            timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr[-4000:]
        return done

    warm_up = ["-m", "ff_assets.spark.warm_up", "--folder", str(folder), "--workload", TINY]
    assert "class-data archive made" in run(*warm_up).stdout
    [archive] = folder.iterdir()
    key = class_data.archive_key({}, _java())
    assert archive.name == f"{key}.jsa"
    assert archive.stat().st_size > 10_000_000  # Spark's and Delta's classes, not the JDK's
    assert f"class-data archive in place: {archive}" in run(*warm_up).stdout
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER)
    mapped = run(str(script), str(folder))
    assert "[warning][cds]" not in mapped.stdout + mapped.stderr  # the JVM's CDS logging is off
    assert list(folder.iterdir()) == [archive]


TINY = "ff_assets_tests.spark.test_class_data:tiny_workload"


def tiny_workload(spark: SparkSession, folder: Path) -> None:
    """A warm-up program of one Spark job: the mechanism's test needs no more."""
    assert spark.range(10).count() == 10


@pytest.mark.integration
def test_the_default_warm_up_program_runs_what_a_run_runs(spark: SparkSession, tmp_path: Path):
    """Delta writes and reads with statistics, a Spark ML pipeline fitted, saved, loaded and
    applied, Word2Vec: all through the package's own functions, on this session."""
    warm_up.workload(spark, tmp_path)
    scored = read_table(spark, str(tmp_path / "scored"))
    assert scored.count() == 200
    assert {r["ff_split"] for r in scored.select("ff_split").distinct().collect()} == {
        "train",
        "test",
    }


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("no_such_module:f", "No module named 'no_such_module'"),
        ("ff_assets.spark.warm_up:nothing", "is no function: give MODULE:FUNCTION"),
        ("ff_assets.spark.warm_up", "is no function: give MODULE:FUNCTION"),
    ],
)
def test_a_bad_workload_is_refused_before_any_jvm(
    given: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        warm_up.main(["--folder", str(tmp_path), "--workload", given])
    assert exited.value.code == 2
    assert says in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no dump, no record: nothing started
