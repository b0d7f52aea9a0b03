"""`ff-assets promote` and `compare` against a temp MLflow: exit codes and messages."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from ff_assets.cli import main
from ff_assets.tracking.registry import aliases_of
from ff_assets_tests.tracking.helpers import Register

TFIDF = "reviews.sentiment_prediction.tfidf"


def _promote(uri: str, *args: str) -> int:
    return main(["promote", "sentiment_prediction", "--tracking-uri", uri, *args])


def test_promote_to_staging(
    tracking_uri: str, client: MlflowClient, register: Register, capsys: pytest.CaptureFixture
) -> None:
    register(TFIDF, validation_accuracy=0.75)
    assert _promote(tracking_uri, "--variant", "tfidf", "--to", "staging") == 0
    assert capsys.readouterr().out.strip() == (
        f"{TFIDF}: staging -> version 1 (validation accuracy 0.7500) (was unset)"
    )
    assert aliases_of(client, TFIDF) == {"staging": "1"}


def test_unknown_variant_exits_1_with_did_you_mean(
    tracking_uri: str, capsys: pytest.CaptureFixture
) -> None:
    assert _promote(tracking_uri, "--variant", "bogus", "--to", "staging") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: UnknownNameError: plan of store 'reviews' has no variant")
    assert "Did you mean 'sentiment_prediction[tfidf]'" in err


def test_refused_production_promotion_exits_1_and_changes_nothing(
    tracking_uri: str, client: MlflowClient, register: Register, capsys: pytest.CaptureFixture
) -> None:
    register(TFIDF, validation_accuracy=0.6)  # below reviews' declared 0.7
    assert _promote(tracking_uri, "--variant", "tfidf", "--to", "production") == 1
    err = capsys.readouterr().err
    assert "PromotionRefusedError" in err
    assert "below the production threshold 0.7" in err
    assert aliases_of(client, TFIDF) == {}
    assert client.get_model_version(TFIDF, "1").tags == {}


def test_bad_tracking_uri_exits_1_with_advice(capsys: pytest.CaptureFixture) -> None:
    assert _promote("badscheme://x", "--variant", "tfidf", "--to", "staging") == 1
    err = capsys.readouterr().err
    assert "TrackingError: MLflow tracking URI 'badscheme://x' cannot be used" in err
    assert "MLFLOW_TRACKING_URI" in err


def test_compare_prints_every_variant_and_which_rows_chose(
    tracking_uri: str, client: MlflowClient, register: Register, capsys: pytest.CaptureFixture
) -> None:
    register(TFIDF, validation_accuracy=0.81, validation_f1=0.8, test_accuracy=0.7756)
    client.set_registered_model_alias(TFIDF, "staging", "1")
    assert main(["compare", "sentiment_prediction", "--tracking-uri", tracking_uri]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == [
        "variant", "version", "validation", "accuracy", "(chooses)", "test", "accuracy",
        "validation", "f1", "staging", "production",
    ]  # fmt: skip
    assert lines[2].split() == [
        "sentiment_prediction[tfidf]", "1", "0.8100", "0.7756", "0.8000", "1", "-",
    ]  # fmt: skip
    assert lines[3].split() == ["sentiment_prediction[word2vec]", "-", "-", "-", "-", "-", "-"]
    assert lines[-1] == "chosen on validation rows (accuracy): sentiment_prediction[tfidf]"
    assert err == ""


def test_compare_and_promote_say_when_test_rows_choose(
    tracking_uri: str, register: Register, capsys: pytest.CaptureFixture
) -> None:
    # The bank example declares no validation partition: its test rows choose.
    name = "bank.nba_prediction"
    register(name, test_areaUnderROC=0.71)
    store = ["--store", "ff_assets.examples.bank:store", "--tracking-uri", tracking_uri]
    assert main(["compare", "nba_prediction", *store]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "chosen on test rows (areaUnderROC): nba_prediction"
    assert err.startswith("warning: nba_prediction's variants are chosen on test rows")
    assert main(["promote", "nba_prediction", "--to", "production", *store]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"{name}: production -> version 1 (test areaUnderROC 0.7100) (was unset)"
    assert "validation_fraction=" in err
