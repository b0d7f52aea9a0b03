"""The `ff-assets` command: plan, validate and lineage never start Spark (no JVM here);
`materialize` (marked integration) reports a line per asset and, on failure, the user's error."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ff_assets.cli import main

VARIANTS = [
    "sentiment_prediction[tfidf]",
    "sentiment_prediction[word2vec]",
    "site_prediction[tfidf]",
    "site_prediction[word2vec]",
]
LEAKY = "ff_assets.examples.bank:leaky_store"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_human_lists_variants_stages_and_assets(capsys) -> None:
    code, out, err = run(capsys, "plan")
    assert (code, err) == (0, "")
    assert out.startswith("store reviews: 4 variants")
    for name in VARIANTS:
        assert name in out
    for stage in ("reviews_source", "split", "tokenizer", "hashing_tf", "tfidf", "word2vec"):
        assert stage in out
    assert "shared by 4" in out  # the tokenizer serves every variant
    assert "term_counts (train)" in out  # a fit reads the train partition


def test_plan_json_has_four_variants(capsys) -> None:
    code, out, _ = run(capsys, "plan", "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["store"] == "reviews"
    assert [v["name"] for v in plan["variants"]] == VARIANTS
    by_name = {v["name"]: v for v in plan["variants"]}
    assert by_name["site_prediction[word2vec]"]["choices"] == {"text_vector": "word2vec"}
    assert "tokenizer" in by_name["sentiment_prediction[tfidf]"]["stages"]
    assert "word2vec" not in by_name["sentiment_prediction[tfidf]"]["stages"]


def test_plan_pin_keeps_one_producer(capsys) -> None:
    code, out, _ = run(capsys, "plan", "--json", "--pin", "text_vector=tfidf")
    assert code == 0
    names = [v["name"] for v in json.loads(out)["variants"]]
    assert names == ["sentiment_prediction[tfidf]", "site_prediction[tfidf]"]


def test_plan_one_output(capsys) -> None:
    code, out, _ = run(capsys, "plan", "--json", "--output", "site_prediction")
    assert code == 0
    assert [v["name"] for v in json.loads(out)["variants"]] == VARIANTS[2:]


def test_validate_reviews_exits_0(capsys) -> None:
    code, out, err = run(capsys, "validate")
    assert (code, err) == (0, "")
    assert "store reviews: OK (4 variants" in out


def test_validate_bank_exits_0(capsys) -> None:
    code, out, _ = run(capsys, "validate", "--store", "ff_assets.examples.bank:store")
    assert code == 0
    assert "store bank: OK" in out


def test_validate_leaky_store_exits_1_with_the_leak_path(capsys) -> None:
    code, out, err = run(capsys, "validate", "--store", LEAKY)
    assert (code, out) == (1, "")
    assert err.startswith("error: TestLeakageError: ")
    assert "segment_kmeans (fit on all rows)" in err
    assert "nba_model (evaluated on test)" in err
    assert "fit_on=" in err  # the fix is named


FIXTURES = "ff_assets_tests.core.fixtures"


@pytest.mark.parametrize(
    ("fixture", "error", "expected"),
    [
        (
            "missing_scoring_input",
            "MissingScoringInputError",
            "'new_reviews' lacks text. Did you mean 'txt'?",
        ),
        (
            "python_in_pipeline",
            "PythonStageInPipelineError",
            "declare 'lowercase' as a Spark ML Transformer",
        ),
        ("asset_name_clash", "AssetNameClashError", "both get the asset key reviews/tokens"),
        ("unknown_metric", "UnknownMetricError", "Did you mean 'accuracy'?"),
        ("bad_owner", "InvalidOwnerError", "has owner 'ml-team@corp', which is neither"),
        ("threshold_on_test", "TestSelectionError", "production threshold on test rows"),
    ],
)
def test_validate_refuses_what_would_fail_later(capsys, fixture, error, expected) -> None:
    # Refused by `validate` (no data read, no Spark), not when definitions are built or a run
    # reaches the failing step.
    code, out, err = run(capsys, "validate", "--store", f"{FIXTURES}.{fixture}:store")
    assert (code, out) == (1, "")
    assert err.startswith(f"error: {error}: ")
    assert expected in err


def test_lineage_of_a_variant_is_its_upstream_tree(capsys) -> None:
    code, out, err = run(capsys, "lineage", "sentiment_prediction[tfidf]")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("sentiment_prediction[tfidf]")
    for stage in ("sentiment_model[tfidf]", "tfidf", "hashing_tf", "tokenizer", "split"):
        assert any(stage in line for line in lines), stage
    assert "reviews_source" in out
    assert "word2vec" not in out
    assert "fit on train rows" in out


def test_lineage_json(capsys) -> None:
    code, out, _ = run(capsys, "lineage", "--json", "site_prediction[word2vec]")
    assert code == 0
    tree = json.loads(out)
    variant = tree["children"][0]
    assert (variant["name"], variant["kind"]) == ("site_prediction[word2vec]", "variant")
    assert variant["children"][0]["name"] == "site_model[word2vec]"


def test_lineage_unknown_name_suggests_close_ones(capsys) -> None:
    code, out, err = run(capsys, "lineage", "sentiment_predction[tfidf]")
    assert (code, out) == (1, "")
    assert "UnknownNameError" in err and "'sentiment_prediction[tfidf]'" in err


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("nonsense", "must look like MODULE:ATTRIBUTE"),
        (":store", "must look like MODULE:ATTRIBUTE"),
        ("no_such_module_xyz:store", "no module named 'no_such_module_xyz'"),
        ("ff_assets.examples.reviews:stor", "Did you mean 'store'?"),
        ("ff_assets.examples.reviews:OWNER", "is not a FeatureStore (it has str)"),
        (".reviews:store", "with an absolute module name"),
        ("ff_assets.examples.reviewz:store", "Did you mean 'ff_assets.examples.reviews'"),
        ("ff_assets.examples.reviews:store:x", "Did you mean 'store'?"),
    ],
)
def test_bad_store_is_a_usage_error(capsys, store: str, expected: str) -> None:
    code, out, err = run(capsys, "plan", "--store", store)
    assert (code, out) == (1, "")
    assert err.startswith("error: UsageError: ")
    assert expected in err


@pytest.mark.parametrize(
    ("pin", "error", "expected"),
    [
        ("text_vector", "UsageError", "must look like FEATURE=STAGE"),
        ("=tfidf", "UsageError", "must look like FEATURE=STAGE"),
        ("text_vector=tfidx", "UnknownPinError", "its producers are tfidf, word2vec"),
        ("text_vec=tfidf", "UnknownPinError", "Did you mean 'text_vector'"),
        ("text_vector=tfidf=word2vec", "UsageError", "must look like FEATURE=STAGE"),
        ("text_vector=tfidf --pin text_vector=word2vec", "UsageError", "pinned to one producer"),
    ],
)
def test_bad_pin_exits_1(capsys, pin: str, error: str, expected: str) -> None:
    code, out, err = run(capsys, "plan", *f"--pin {pin}".split())
    assert (code, out) == (1, "")
    assert err.startswith(f"error: {error}: ")
    assert expected in err


def test_a_store_module_missing_a_dependency_says_which(capsys, tmp_path, monkeypatch) -> None:
    (tmp_path / "needs_missing.py").write_text("import no_such_dependency_xyz\nstore = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = run(capsys, "validate", "--store", "needs_missing:store")
    assert (code, out) == (1, "")
    assert err.startswith("error: UsageError: --store 'needs_missing:store': module")
    assert "imports 'no_such_dependency_xyz', which is not installed: install it" in err


def test_unknown_output_suggests_a_planned_one(capsys) -> None:
    code, out, err = run(capsys, "plan", "--output", "sentiment_predicton")
    assert (code, out) == (1, "")
    assert err.startswith("error: UnproducedOutputError: ")
    assert "'sentiment_predicton'" in err and "Did you mean 'sentiment_prediction'" in err


def test_unknown_output_of_compare_is_refused_before_mlflow(capsys) -> None:
    code, out, err = run(capsys, "compare", "sentiment_predicton", "--tracking-uri", "bad://x")
    assert (code, out) == (1, "")
    assert err.startswith("error: UnknownNameError: store 'reviews' plans no output")
    assert "Did you mean 'sentiment_prediction'" in err


def test_bad_partition_is_refused_before_the_instance_is_read(capsys, tmp_path) -> None:
    home = tmp_path / "home"
    code, out, err = run(capsys, "stats", "split", "--partition", "tran", "--home", str(home))
    assert (code, out) == (1, "")
    assert err.startswith("error: UsageError: --partition 'tran': store 'reviews' has the ")
    assert "train, validation, test. Did you mean 'train'?" in err
    assert not home.exists()  # no Dagster instance was created to answer it


def test_unknown_command_is_argparse_usage(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["frobnicate"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_console_script_runs() -> None:
    script = Path(sys.executable).with_name("ff-assets")
    assert script.is_file(), f"console script not installed at {script}"
    ok = subprocess.run(
        [str(script), "validate"], capture_output=True, text=True, timeout=120, check=False
    )
    assert ok.returncode == 0, ok.stderr
    assert "store reviews: OK (4 variants" in ok.stdout
    leaky = subprocess.run(
        [str(script), "validate", "--store", LEAKY],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert leaky.returncode == 1
    assert "TestLeakageError" in leaky.stderr


TINY = "ff_assets_tests.orchestration.tiny_store:store"
PROGRESS = re.compile(r"^\[ ?(\d+)/(\d+)\] (tiny/\S+) +(\w+) +\d+\.\d s")
DAGSTER_EVENTS = ("DEBUG", "RUN_START", "STEP_START", "ASSET_MATERIALIZATION")


def materialize(capsys, tmp_path: Path, monkeypatch, *argv: str) -> tuple[int, str, str]:
    """`ff-assets materialize --home <tmp>/home ...` in this process, on the session's Spark."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # MLflow sets it during runs
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return run(capsys, "materialize", "--home", str(tmp_path / "home"), *argv)


def bad_byte_data(data_root: Path, target: Path) -> Path:
    """A copy of the reviews data with bytes that are not UTF-8 in line 40 of the Yelp file."""
    from ff_assets.examples.data import REVIEW_FILES

    folder = target / "sentiment_labelled_sentences"
    shutil.copytree(data_root / "sentiment_labelled_sentences", folder)
    path = target / REVIEW_FILES["yelp"]
    lines = path.read_bytes().split(b"\n")
    lines[39] = lines[39].replace(b" ", b" \xff\xfe ", 1)
    path.write_bytes(b"\n".join(lines))
    return target


@pytest.mark.integration
def test_materialize_prints_a_line_per_asset_and_no_dagster_events(
    capsys, tmp_path: Path, monkeypatch, spark
) -> None:
    from ff_assets_tests.orchestration import tiny_store

    data = tiny_store.write_reviews(tmp_path / "data").parent
    code, out, err = materialize(capsys, tmp_path, monkeypatch, "--store", TINY,
                                 "--data-dir", str(data))  # fmt: skip
    assert code == 0, err
    lines = [PROGRESS.match(line) for line in err.splitlines()]
    shown = [m.groups() for m in lines if m]
    plan = tiny_store.store.plan()
    assert [int(n) for n, *_ in shown] == list(range(1, len(plan.assets) + 1))
    assert {total for _, total, *_ in shown} == {str(len(plan.assets))}
    kinds = {key: kind for _, _, key, kind in shown}
    assert set(kinds) == {f"tiny/{a.key_name}" for a in plan.assets.values()}
    assert (kinds["tiny/reviews"], kinds["tiny/tokens"]) == ("table", "view")
    assert kinds["tiny/sentiment_model_registered__tfidf"] == "registered"
    assert f"{len(plan.assets)} of {len(plan.assets)} assets stored" in err
    assert "Done in " in err and "(Dagster run " in err
    for noise in DAGSTER_EVENTS:
        assert noise not in out + err
    assert "sentiment_prediction[tfidf]" in out and "accuracy" in out  # the results table
    assert out.splitlines()[0].split()[:4] == ["variant", "metric", "chosen", "on"]
    # The tiny store has no validation partition: the command says that test rows chose.
    [warning] = [line for line in err.splitlines() if line.startswith("warning: the models of")]
    assert "sentiment_prediction[tfidf]" in warning and "are chosen on test rows" in warning


@pytest.mark.integration
def test_materialize_failure_ends_with_the_users_error_and_its_fix(
    capsys, tmp_path: Path, monkeypatch, spark
) -> None:
    from ff_assets_tests.orchestration.conftest import shared_data_dir

    data = bad_byte_data(shared_data_dir(), tmp_path / "data")
    code, out, err = materialize(capsys, tmp_path, monkeypatch, "--data-dir", str(data))
    assert code == 1
    assert out == ""  # no result tables, empty or not
    last = err.rstrip("\n").splitlines()[-1]
    assert last.startswith("error: DataFormatError: "), err
    assert "yelp_labelled.txt, line 40: bytes that are not UTF-8" in last
    assert last.endswith("Re-encode the file as UTF-8.")
    assert "not stored (" in err and "reviews/reviews_source" in err
    assert "dagster._core.errors" not in err
    for noise in DAGSTER_EVENTS:
        assert noise not in err


@pytest.mark.integration
def test_materialize_verbose_adds_dagsters_events_and_quiet_drops_the_progress(
    capsys, tmp_path: Path, monkeypatch, spark
) -> None:
    from ff_assets.examples import reviews
    from ff_assets_tests.orchestration.conftest import shared_data_dir

    data = str(bad_byte_data(shared_data_dir(), tmp_path / "data"))
    code, _, err = materialize(capsys, tmp_path, monkeypatch, "--data-dir", data, "--verbose")
    assert code == 1
    assert "RUN_START" in err and "STEP_FAILURE" in err  # Dagster's own stream
    assert err.rstrip("\n").splitlines()[-1].startswith("error: DataFormatError: ")
    code, out, err = materialize(capsys, tmp_path, monkeypatch, "--data-dir", data, "--quiet")
    assert (code, out) == (1, "")
    assets = len(reviews.store.plan().assets)
    assert [line.split(":")[0] for line in err.splitlines()] == [f"not stored ({assets})", "error"]


@pytest.mark.integration
def test_materialize_without_statistics_stores_none(
    capsys, tmp_path: Path, monkeypatch, spark
) -> None:
    """`--no-statistics`: the assets and their checks, no statistics; `ff-assets stats` then
    says why there are none and how to get them."""
    from ff_assets_tests.orchestration import tiny_store

    data = tiny_store.write_reviews(tmp_path / "data").parent
    code, _, err = materialize(capsys, tmp_path, monkeypatch, "--store", TINY, "--quiet",
                               "--data-dir", str(data), "--no-statistics")  # fmt: skip
    assert code == 0, err
    home = str(tmp_path / "home")
    code, out, err = run(capsys, "stats", "reviews", "--store", TINY, "--home", home)
    assert code == 1
    assert "NotMaterializedError" in err and "without feature statistics" in err
