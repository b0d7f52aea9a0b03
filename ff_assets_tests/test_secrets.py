"""Credentials come only from the environment and show nowhere: secrets planted in the
environment appear in no CLI output, asset or job metadata, tag or description, resource repr,
error or log of what runs without Spark."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ff_assets.cli import main
from ff_assets.config import redact_uri

PASSWORD = "s3cr3t-mlflow-password"
URI_SECRET = "s3cr3t-in-the-uri"
PG_SECRET = "s3cr3t-postgres"
SECRETS = (PASSWORD, URI_SECRET, PG_SECRET)
# A closed port on loopback: the tracking server never answers, so the error path runs too.
TRACKING_URI = f"http://ff:{URI_SECRET}@127.0.0.1:9"


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ff")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", TRACKING_URI)
    monkeypatch.setenv("DAGSTER_PG_URL", f"postgresql://dagster:{PG_SECRET}@db:5432/dagster")
    monkeypatch.setenv("FF_ASSETS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return tmp_path


def _clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{where} shows a secret: {text[:2000]}"


@pytest.mark.parametrize(
    "argv",
    [
        ["plan"],
        ["plan", "--json"],
        ["validate"],
        ["validate", "--store", "ff_assets.examples.bank:leaky_store"],
        ["lineage", "sentiment_prediction[tfidf]"],
        ["search", "text"],
        ["stats", "split"],
        ["compare", "sentiment_prediction"],
        ["promote", "sentiment_prediction", "--variant", "tfidf", "--to", "staging"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_no_cli_output_or_log_shows_a_secret(planted, capsys, caplog, argv) -> None:
    caplog.set_level(logging.DEBUG)
    main(argv)
    out, err = capsys.readouterr()
    _clean(out + err, f"ff-assets {' '.join(argv)}")
    _clean(caplog.text, "the log")


def test_no_definition_shows_a_secret(planted, caplog) -> None:
    import os

    from ff_assets.examples import bank, reviews
    from ff_assets.orchestration import build_definitions

    caplog.set_level(logging.DEBUG)
    defs = build_definitions(
        [reviews.store, bank.store], mlflow_tracking_uri=os.environ["MLFLOW_TRACKING_URI"]
    )
    seen = []
    for spec in defs.resolve_all_asset_specs():
        seen += [str(spec.metadata), str(spec.tags), str(spec.description), str(spec.owners)]
    for job in defs.resolve_all_job_defs():
        seen += [job.name, str(job.run_tags), str(job.description)]
    graph = defs.resolve_asset_graph()
    seen += [str(key) for key in graph.asset_check_keys]
    seen += [repr(resource) for resource in defs.resources.values()]
    seen.append(caplog.text)
    _clean("\n".join(seen), "the definitions")
    settings = defs.resources["settings"]
    assert "ff:***@127.0.0.1:9" in repr(settings)  # redacted, still telling where it points


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (f"http://ff:{URI_SECRET}@mlflow:5000/", "http://ff:***@mlflow:5000/"),
        (f"postgresql://dagster:{PG_SECRET}@db:5432/d", "postgresql://dagster:***@db:5432/d"),
        ("sqlite:////abs/mlflow.db", "sqlite:////abs/mlflow.db"),
        ("http://mlflow:5000", "http://mlflow:5000"),
    ],
)
def test_uris_are_shown_without_their_password(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


def test_the_code_location_configures_the_tracking_uri_as_an_env_var(planted) -> None:
    """Dagit's resource page shows configuration values: the shipped code location hands the
    tracking URI over as Dagster's `EnvVar`, so it shows the variable's name only."""
    import importlib

    from dagster import EnvVar

    import ff_assets.definitions as location

    location = importlib.reload(location)
    settings = location.defs.resources["settings"]
    assert settings.mlflow_tracking_uri == EnvVar("MLFLOW_TRACKING_URI")
    _clean(repr(settings), "the settings resource")
    # Resolved when a run starts: the run reads the real URI from the environment.
    assert settings.process_config_and_initialize().tracking_uri() == TRACKING_URI
