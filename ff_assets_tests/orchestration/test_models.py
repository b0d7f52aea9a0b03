"""Models through Dagster on real Spark, Delta and a SQLite MLflow (issue 4): the fit job
registers a version per run, the promote job and its threshold, the alias sensor starting the
prediction job that scores with the aliased version, the comparison, and a registered model
scoring raw rows in a fresh process that never imports ff_assets.

The JVM tests share one module fixture: the tiny store (200 sentences) fitted twice, first on
clean labels (version 1 meets the 0.8 threshold), then on labels flipped at random (version 2
does not).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    build_sensor_context,
    define_asset_job,
)
from mlflow.tracking import MlflowClient
from pyspark.sql import SparkSession

from ff_assets.cli import main
from ff_assets.orchestration.materialize import run_job
from ff_assets.spark.tables import read_table
from ff_assets.tracking.registry import aliases_of, promote, tracking_client
from ff_assets_tests.orchestration import tiny_store
from ff_assets_tests.orchestration.tiny_store import (
    FIT_JOB,
    NORMALIZED_MODEL,
    STORE,
    TFIDF_MODEL,
    THRESHOLD,
    failure_text,
    promote_config,
    tiny_definitions,
    write_reviews,
)
from ff_assets_tests.tracking.helpers import register_version

REGISTERED = AssetKey([STORE, "sentiment_model_registered__tfidf"])
COMPARISON = AssetKey([STORE, "sentiment_prediction_comparison"])
SCORED_STAGING = AssetKey([STORE, "sentiment_prediction_scored_staging__tfidf"])
ALIAS_SENSOR = f"{STORE}__model_alias_changed"
PREDICT_STAGING = f"{STORE}__sentiment_prediction__tfidf__predict_staging"
MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _metadata(result: ExecuteInProcessResult, key: AssetKey) -> dict[str, Any]:
    [event] = [
        e.event_specific_data.materialization  # type: ignore[union-attr]
        for e in result.get_asset_materialization_events()
        if e.asset_key == key
    ]
    return {name: value.value for name, value in event.metadata.items()}


def _state(client: MlflowClient, name: str) -> tuple[dict[str, str], dict[int, dict[str, str]]]:
    versions = client.search_model_versions(f"name = '{name}'")
    return aliases_of(client, name), {int(v.version): dict(v.tags) for v in versions}


# -- the promote job on a hand-made registry (no JVM) ------------------------------------------
@pytest.fixture
def hand_registry(tmp_path: Path) -> tuple[Definitions, MlflowClient]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = tracking_client(uri)
    register_version(client, TFIDF_MODEL, tmp_path / "mlartifacts", test_accuracy=0.95)
    register_version(client, TFIDF_MODEL, tmp_path / "mlartifacts", test_accuracy=0.5)
    return tiny_definitions(tmp_path, tmp_path / "data", uri), client


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def test_promote_job_sets_the_alias(
    hand_registry: tuple[Definitions, MlflowClient], instance: DagsterInstance
) -> None:
    defs, client = hand_registry
    config = promote_config(variant="tfidf", to="production", version="1", reason="reviewed")
    result = run_job(defs, "promote_model_job", instance, run_config=config)
    assert result.success, failure_text(result)
    assert aliases_of(client, TFIDF_MODEL) == {"production": "1"}
    assert (
        client.get_model_version(TFIDF_MODEL, "1")
        .tags["promoted_to_production"]
        .endswith(": reviewed")
    )


def test_promote_job_refuses_a_version_below_the_threshold_and_changes_nothing(
    hand_registry: tuple[Definitions, MlflowClient], instance: DagsterInstance
) -> None:
    defs, client = hand_registry
    client.set_registered_model_alias(TFIDF_MODEL, "production", "1")
    before = _state(client, TFIDF_MODEL)
    config = promote_config(variant="tfidf", to="production")
    result = run_job(defs, "promote_model_job", instance, run_config=config)
    assert not result.success
    assert (
        f"{TFIDF_MODEL} version 2 has test accuracy 0.5000, below the production threshold "
        f"{THRESHOLD}: improve the model" in failure_text(result)
    )
    assert _state(client, TFIDF_MODEL) == before


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"variant": "tfidf", "to": "prod"}, "to='prod': choose staging or production."),
        ({"variant": "tfidff", "to": "staging"}, "Did you mean 'sentiment_prediction[tfidf]'"),
        (
            {"to": "staging"},
            "has 2 variants (tfidf, normalized): choose one with --variant "
            "(in the promote job: the config's variant).",
        ),
        ({"to": "Production"}, "to='Production': choose staging or production."),
        ({"variant": "tfidf", "store": "tiny2"}, "store='tiny2': this code location serves tiny"),
        ({"output": "sentiment_predicton"}, "Did you mean 'sentiment_prediction'?"),
        ({"variant": "tfidf", "version": "7"}, "has no version 7; it has 1, 2: name one"),
        ({"variant": "tfidf", "version": "one"}, "has no version one; it has 1, 2"),
    ],
    ids=["alias", "variant", "no variant", "alias case", "store", "output", "version", "word"],
)
def test_promote_job_config_errors_say_what_to_choose(
    hand_registry: tuple[Definitions, MlflowClient],
    instance: DagsterInstance,
    config: dict[str, str],
    message: str,
) -> None:
    defs, client = hand_registry
    result = run_job(defs, "promote_model_job", instance, run_config=promote_config(**config))
    assert not result.success
    assert message in failure_text(result)
    assert aliases_of(client, TFIDF_MODEL) == {}


@pytest.mark.parametrize("uri", ["badscheme://x", "http://127.0.0.1:9"])
def test_promote_job_with_a_bad_tracking_uri_says_what_to_do(
    tmp_path: Path, instance: DagsterInstance, uri: str
) -> None:
    defs = tiny_definitions(tmp_path, tmp_path / "data", uri)
    config = promote_config(variant="tfidf", to="staging")
    result = run_job(defs, "promote_model_job", instance, run_config=config)
    assert not result.success
    text = failure_text(result)
    assert f"MLflow tracking URI {uri!r} cannot be used" in text
    assert "Point mlflow_tracking_uri (or MLFLOW_TRACKING_URI) at a running MLflow server" in text


# -- the tiny store, fitted twice through Dagster ---------------------------------------------
@dataclass(frozen=True)
class Fitted:
    home: Path
    defs: Definitions
    instance: DagsterInstance
    client: MlflowClient
    spark: SparkSession
    clean: ExecuteInProcessResult  # version 1
    noisy: ExecuteInProcessResult  # version 2

    def run(self, job_name: str, **kwargs: Any) -> ExecuteInProcessResult:
        return run_job(self.defs, job_name, self.instance, **kwargs)


@pytest.fixture(scope="module")
def fitted(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fitted]:
    home = tmp_path_factory.mktemp("tiny-home")
    data = home / "data"
    write_reviews(data)
    defs = tiny_definitions(home, data, f"sqlite:///{home / 'mlflow.db'}")
    (home / "dagster").mkdir()
    inherited = {name: os.environ.get(name) for name in MLFLOW_URI_VARIABLES}
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        clean = run_job(defs, FIT_JOB, instance)
        assert clean.success, failure_text(clean)
        write_reviews(data, noise=0.45)  # same sentences, labels flipped at random
        # What a prediction run of another code location leaves in this process (MLflow's
        # process-wide registry URI, and MLFLOW_REGISTRY_URI for subprocesses): the next fit
        # must still register where its own code location says.
        mlflow.set_registry_uri(stray_registry(home))
        noisy = run_job(defs, FIT_JOB, instance)
        assert noisy.success, failure_text(noisy)
        client = tracking_client(f"sqlite:///{home / 'mlflow.db'}")
        yield Fitted(home, defs, instance, client, spark, clean, noisy)
    for name, value in inherited.items():  # MLflow exports the URIs it is given
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def stray_registry(home: Path) -> str:
    (home / "stray").mkdir(exist_ok=True)
    return f"sqlite:///{home / 'stray' / 'mlflow.db'}"


@pytest.mark.integration
def test_each_fit_run_registers_a_new_version(fitted: Fitted) -> None:
    versions = fitted.client.search_model_versions(f"name = '{TFIDF_MODEL}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    by_version = {str(v.version): v for v in versions}
    for version, result in (("1", fitted.clean), ("2", fitted.noisy)):
        meta = _metadata(result, REGISTERED)
        assert meta["model_version"] == version
        assert by_version[version].tags["dagster_run_id"] == result.run_id
        assert by_version[version].tags["variant"] == "sentiment_prediction[tfidf]"
    assert not fitted.client.search_model_versions(f"name = '{NORMALIZED_MODEL}'")


@pytest.mark.integration
def test_fit_registers_in_its_own_registry_whatever_mlflow_pointed_at(fitted: Fitted) -> None:
    assert tracking_client(stray_registry(fitted.home)).search_registered_models() == []
    assert fitted.client.get_model_version(TFIDF_MODEL, "2").tags["dagster_run_id"] == (
        fitted.noisy.run_id
    )


@pytest.mark.integration
def test_registered_asset_metadata_has_version_metrics_and_run(fitted: Fitted) -> None:
    clean, noisy = _metadata(fitted.clean, REGISTERED), _metadata(fitted.noisy, REGISTERED)
    assert clean["registered_model"] == TFIDF_MODEL
    assert clean["model_uri"] == f"models:/{TFIDF_MODEL}/1"
    assert clean["stages_in_pipeline"] == ["RegexTokenizer", "HashingTF", "IDFModel"]
    assert clean["test_accuracy"] >= 0.95 and 0.0 <= clean["test_f1"] <= 1.0
    assert clean["meets_production_threshold"] is True
    assert noisy["test_accuracy"] < THRESHOLD
    assert noisy["meets_production_threshold"] is False
    version = fitted.client.get_model_version(TFIDF_MODEL, "1")
    assert clean["mlflow_run_id"] == version.run_id
    logged = fitted.client.get_run(version.run_id).data
    assert logged.metrics["test_accuracy"] == clean["test_accuracy"]
    assert logged.params["sentiment_model.regParam"] == "0.01"


@pytest.mark.integration
def test_each_dagster_run_has_its_own_mlflow_run_ended_after_run_job(fitted: Fitted) -> None:
    experiment = fitted.client.get_experiment_by_name("ff_assets")
    assert mlflow.active_run() is None  # nothing left open in this process either
    for version, result in (("1", fitted.clean), ("2", fitted.noisy)):
        runs = fitted.client.search_runs(
            [experiment.experiment_id], filter_string=f"tags.dagster_run_id = '{result.run_id}'"
        )
        [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        [nested] = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        assert parent.info.run_name == FIT_JOB
        assert parent.info.status == "FINISHED"
        assert nested.info.status == "FINISHED"
        assert nested.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert fitted.client.get_model_version(TFIDF_MODEL, version).run_id == nested.info.run_id


@pytest.mark.integration
def test_prediction_job_without_the_alias_fails_with_advice(fitted: Fitted) -> None:
    # The normalized variant was never fitted: no version, so no alias.
    result = fitted.run(f"{STORE}__sentiment_prediction__normalized__predict_staging")
    assert not result.success
    assert (
        f"no version of registered model {NORMALIZED_MODEL!r} has the alias 'staging'. "
        "Materialize the variant's fit job, then set the alias: ff-assets promote OUTPUT "
        "--variant VARIANT --to staging (or the promote_model job)."
    ) in failure_text(result)


@pytest.mark.integration
def test_staging_promotion_triggers_scoring_with_that_version(fitted: Fitted) -> None:
    settings = fitted.defs.resources["settings"]

    def tick(cursor: str | None):
        context = build_sensor_context(
            cursor=cursor, resources={"settings": settings}, instance=fitted.instance
        )
        return fitted.defs.resolve_sensor_def(ALIAS_SENSOR).evaluate_tick(context)

    if "staging" in aliases_of(fitted.client, TFIDF_MODEL):
        fitted.client.delete_registered_model_alias(TFIDF_MODEL, "staging")
    before = tick(None)
    assert not [r for r in before.run_requests if r.job_name == PREDICT_STAGING]
    # Version 1, not the newest: the alias, not recency, decides what scores.
    config = promote_config(variant="tfidf", to="staging", version="1")
    promoted = fitted.run("promote_model_job", run_config=config)
    assert promoted.success, failure_text(promoted)
    assert aliases_of(fitted.client, TFIDF_MODEL)["staging"] == "1"

    after = tick(before.cursor)
    [request] = after.run_requests
    assert request.job_name == PREDICT_STAGING
    assert request.run_key == f"{TFIDF_MODEL}@staging=1"
    assert tick(after.cursor).run_requests == []

    scored = fitted.run(request.job_name, both_partitions=False)
    assert scored.success, failure_text(scored)
    assert _metadata(scored, SCORED_STAGING)["model_version"] == "1"
    table = read_table(fitted.spark, fitted.home / "tables" / Path(*SCORED_STAGING.path))
    rows = table.collect()
    assert len(rows) == 20
    assert {(r.model_version, r.model_alias) for r in rows} == {("1", "staging")}
    assert {r.sentiment_prediction for r in rows} == {0.0, 1.0}


@pytest.mark.integration
def test_cli_predict_scores_with_the_alias(
    fitted: Fitted, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # the CLI's instance: <home>/dagster
    promote(fitted.client, TFIDF_MODEL, "staging", version="2")
    code = main([
        "predict", "sentiment_prediction", "--store", f"{tiny_store.__name__}:store",
        "--variant", "tfidf", "--alias", "staging", "--home", str(fitted.home),
        "--data-dir", str(fitted.home / "data"),
        "--tracking-uri", f"sqlite:///{fitted.home / 'mlflow.db'}",
    ])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    assert out.out.strip() == (
        f"{SCORED_STAGING.to_user_string()}: 20 rows scored by {TFIDF_MODEL} version 2 (staging)"
    )


@pytest.mark.integration
def test_unmet_threshold_promotion_is_refused_and_changes_nothing(fitted: Fitted) -> None:
    before = _state(fitted.client, TFIDF_MODEL)
    config = promote_config(variant="tfidf", to="production")
    result = fitted.run("promote_model_job", run_config=config)
    assert not result.success
    assert f"{TFIDF_MODEL} version 2 has test accuracy" in failure_text(result)
    assert f"below the production threshold {THRESHOLD}" in failure_text(result)
    assert _state(fitted.client, TFIDF_MODEL) == before


@pytest.mark.integration
def test_comparison_has_one_row_per_variant(fitted: Fitted) -> None:
    job = define_asset_job("compare_tiny", selection=AssetSelection.assets(COMPARISON))
    defs = Definitions.merge(fitted.defs, Definitions(jobs=[job]))
    result = run_job(defs, "compare_tiny", fitted.instance)
    assert result.success, failure_text(result)
    meta = _metadata(result, COMPARISON)
    rows = {row["variant"]: row for row in meta["rows"]}
    assert list(rows) == ["sentiment_prediction[tfidf]", "sentiment_prediction[normalized]"]
    assert rows["sentiment_prediction[tfidf]"]["version"] == "2"
    # The tiny store has no validation partition: test rows choose, and the comparison says so.
    assert float(rows["sentiment_prediction[tfidf]"]["test accuracy (chooses)"]) < THRESHOLD
    assert rows["sentiment_prediction[normalized]"]["version"] == "-"
    assert meta["best_variant"] == "sentiment_prediction[tfidf]"
    assert meta["selects_on"] == "test"
    assert "chosen on test rows" in meta["selection_warning"]
    assert meta["comparison"].startswith("| variant | version | test accuracy (chooses) |")


SCORE_IN_FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import mlflow, mlflow.spark
    import pandas as pd
    from pyspark.sql import SparkSession

    uri, model = sys.argv[1], sys.argv[2]
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "1").getOrCreate())
    texts = ["a great and lovely phone", "the food was awful, a waste"]
    rows = spark.createDataFrame(list(zip(["a", "b"], texts)), "review_id string, text string")
    pipeline = mlflow.spark.load_model(f"models:/{model}@production")
    scored = pipeline.transform(rows).orderBy("review_id").collect()
    out = {"spark": [r.sentiment_prediction for r in scored]}
    try:
        pyfunc = mlflow.pyfunc.load_model(f"models:/{model}@production")
        out["pyfunc"] = [float(p) for p in pyfunc.predict(pd.DataFrame({"text": texts}))]
    except Exception as exc:
        out["pyfunc_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    out["ff_assets_modules"] = sorted(m for m in sys.modules if m.split(".")[0] == "ff_assets")
    spark.stop()
    print("RESULT " + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def fresh_process(fitted: Fitted) -> dict[str, Any]:
    """Promote version 1 to production, then score two raw sentences with
    `models:/...@production` in a new Python process that imports only MLflow and PySpark."""
    promote(fitted.client, TFIDF_MODEL, "production", version="1")
    uri = f"sqlite:///{fitted.home / 'mlflow.db'}"
    done = subprocess.run(
        [sys.executable, "-c", SCORE_IN_FRESH_PROCESS, uri, TFIDF_MODEL],
        cwd=fitted.home, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


@pytest.mark.integration
def test_production_model_scores_raw_rows_without_ff_assets(fresh_process: dict[str, Any]) -> None:
    assert fresh_process["ff_assets_modules"] == []
    assert fresh_process["spark"] == [1.0, 0.0]


@pytest.mark.integration
def test_production_model_scores_through_pyfunc(fresh_process: dict[str, Any]) -> None:
    assert fresh_process.get("pyfunc") == [1.0, 0.0], fresh_process.get("pyfunc_error")
