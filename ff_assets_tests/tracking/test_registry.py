"""The registry as ff_assets uses it, on a real (SQLite) MLflow: names, clients, aliases,
promotion with thresholds."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from ff_assets.core.errors import MissingAliasError, PromotionRefusedError, TrackingError
from ff_assets.core.specs import Threshold
from ff_assets.tracking.registry import (
    aliases_of,
    ensure_experiment,
    latest_version,
    promote,
    registered_model_name,
    tracking_client,
    version_for_alias,
)
from ff_assets.tracking.runs import TrackingStore
from ff_assets_tests.tracking.helpers import Register

MODEL = "reviews.sentiment_prediction.tfidf"
THRESHOLD = Threshold(metric="accuracy", minimum=0.8)
ADVICE = "Point mlflow_tracking_uri (or MLFLOW_TRACKING_URI) at a running MLflow server"


def _state(client: MlflowClient, name: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Aliases and every version's tags: what a refused promotion must leave alone."""
    tags = {v.version: dict(v.tags) for v in client.search_model_versions(f"name = '{name}'")}
    return aliases_of(client, name), tags


def test_registered_model_name_is_store_output_variant() -> None:
    assert registered_model_name("reviews", "sentiment_prediction", "tfidf") == MODEL
    assert registered_model_name("bank", "nba_prediction", "") == "bank.nba_prediction"


def test_experiment_is_created_under_the_artifact_root_once(
    client: MlflowClient, tmp_path: Path
) -> None:
    first = ensure_experiment(client, "ff_assets", tmp_path / "mlartifacts")
    assert ensure_experiment(client, "ff_assets", tmp_path / "elsewhere") == first
    location = client.get_experiment(first).artifact_location
    assert location == (tmp_path / "mlartifacts").resolve().as_uri()


def test_on_a_tracking_server_the_experiment_keeps_the_servers_artifact_store(
    tmp_path: Path,
) -> None:
    """Not a folder on the driver's disk: every machine that logs or loads a model reaches the
    server's store (`mlflow server --artifacts-destination`)."""
    created: dict[str, str | None] = {}

    class NewServer:  # what MlflowClient answers on a server without the experiment
        def get_experiment_by_name(self, name: str) -> None:
            return None

        def create_experiment(self, name: str, artifact_location: str | None = None) -> str:
            created[name] = artifact_location
            return "1"

    store = TrackingStore(uri="http://127.0.0.1:5000", artifact_root=tmp_path / "mlartifacts")
    assert store.experiment_id(NewServer()) == "1"  # type: ignore[arg-type]
    assert created == {"ff_assets": None}


# -- bad tracking URIs: fail at once, say what to do ------------------------------------------
def test_unknown_scheme_fails_with_advice() -> None:
    with pytest.raises(TrackingError) as error:
        tracking_client("badscheme://x")
    message = str(error.value)
    assert "'badscheme://x' cannot be used" in message
    assert ADVICE in message
    assert "sqlite:////abs/path/mlflow.db" in message


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_server_fails_in_seconds_with_advice() -> None:
    # MLflow's client alone retries a refused connection for about four minutes.
    uri = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    with pytest.raises(TrackingError) as error:
        tracking_client(uri)
    assert time.monotonic() - started < 30
    assert f"{uri!r} cannot be used" in str(error.value)
    assert "no server answers" in str(error.value)
    assert ADVICE in str(error.value)


class _NotMlflow(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_error(404)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def not_mlflow_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotMlflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_server_that_answers_but_is_not_mlflow_is_left_to_mlflow(not_mlflow_server: str) -> None:
    # The reachability probe lets any HTTP answer through: MLflow itself then refuses.
    started = time.monotonic()
    with pytest.raises(TrackingError) as error:
        tracking_client(not_mlflow_server)
    assert time.monotonic() - started < 30
    assert "no server answers" not in str(error.value)
    assert ADVICE in str(error.value)


# -- aliases -----------------------------------------------------------------------------------
def test_missing_alias_says_how_to_set_it(client: MlflowClient, register: Register) -> None:
    register(MODEL, validation_accuracy=0.9)
    with pytest.raises(MissingAliasError) as error:
        version_for_alias(client, MODEL, "production")
    message = str(error.value)
    assert f"no version of registered model {MODEL!r} has the alias 'production'" in message
    assert "ff-assets promote OUTPUT --variant VARIANT --to production" in message
    assert "promote_model job" in message


def test_alias_of_an_unregistered_model_is_missing_too(client: MlflowClient) -> None:
    with pytest.raises(MissingAliasError, match="Materialize the variant's fit job"):
        version_for_alias(client, "nobody.registered.this", "staging")
    assert aliases_of(client, "nobody.registered.this") == {}


def test_latest_version_of_a_model_without_versions(client: MlflowClient) -> None:
    client.create_registered_model(MODEL)
    with pytest.raises(MissingAliasError, match="has no version yet: materialize"):
        latest_version(client, MODEL)


def test_alias_resolves_to_its_version(client: MlflowClient, register: Register) -> None:
    register(MODEL, validation_accuracy=0.9)
    register(MODEL, validation_accuracy=0.7)
    client.set_registered_model_alias(MODEL, "staging", "1")
    assert str(version_for_alias(client, MODEL, "staging").version) == "1"
    assert str(latest_version(client, MODEL).version) == "2"
    assert aliases_of(client, MODEL) == {"staging": "1"}


# -- promotion ---------------------------------------------------------------------------------
def test_promote_points_the_alias_at_the_newest_version_and_records_why(
    client: MlflowClient, register: Register
) -> None:
    register(MODEL, validation_accuracy=0.9)
    register(MODEL, validation_accuracy=0.95)
    done = promote(client, MODEL, "staging", threshold=THRESHOLD, reason="weekly refit")
    assert (done.name, done.alias, done.version, done.previous) == (MODEL, "staging", "2", None)
    assert (done.metric, done.value) == ("accuracy", 0.95)
    assert aliases_of(client, MODEL) == {"staging": "2"}
    record = client.get_model_version(MODEL, "2").tags["promoted_to_staging"]
    assert record.endswith(": weekly refit")
    again = promote(client, MODEL, "staging", version="1")
    assert (again.version, again.previous) == ("1", "2")


def test_production_promotion_meeting_the_threshold(
    client: MlflowClient, register: Register
) -> None:
    register(MODEL, validation_accuracy=0.8)  # the bound itself holds
    done = promote(client, MODEL, "production", threshold=THRESHOLD)
    assert (done.version, done.value) == ("1", 0.8)
    assert aliases_of(client, MODEL) == {"production": "1"}


def test_production_promotion_below_the_threshold_is_refused_and_changes_nothing(
    client: MlflowClient, register: Register
) -> None:
    register(MODEL, validation_accuracy=0.9)
    promote(client, MODEL, "production", threshold=THRESHOLD)
    promote(client, MODEL, "staging", threshold=THRESHOLD)
    register(MODEL, validation_accuracy=0.6)
    before = _state(client, MODEL)
    with pytest.raises(PromotionRefusedError) as error:
        promote(client, MODEL, "production", threshold=THRESHOLD, reason="try it")
    assert str(error.value) == (
        f"{MODEL} version 2 has validation accuracy 0.6000, below the production threshold 0.8: "
        "improve the model (or lower the threshold declared on it) and promote a version that "
        "meets it."
    )
    assert _state(client, MODEL) == before
    assert aliases_of(client, MODEL) == {"production": "1", "staging": "1"}
    assert "promoted_to_production" not in client.get_model_version(MODEL, "2").tags


def test_staging_takes_a_version_below_the_threshold(
    client: MlflowClient, register: Register
) -> None:
    # The threshold guards production only: staging is where such a version gets looked at.
    register(MODEL, validation_accuracy=0.5)
    assert promote(client, MODEL, "staging", threshold=THRESHOLD).version == "1"


def test_production_without_the_metric_is_refused(client: MlflowClient, register: Register) -> None:
    register(MODEL, test_f1=0.9)
    before = _state(client, MODEL)
    with pytest.raises(PromotionRefusedError, match="has no validation_accuracy metric"):
        promote(client, MODEL, "production", threshold=THRESHOLD)
    assert _state(client, MODEL) == before


def test_unknown_alias_and_version_are_refused(client: MlflowClient, register: Register) -> None:
    register(MODEL, validation_accuracy=0.9)
    register(MODEL, validation_accuracy=0.9)
    with pytest.raises(PromotionRefusedError, match="'champion' is not one"):
        promote(client, MODEL, "champion")
    with pytest.raises(PromotionRefusedError, match=f"{MODEL!r} has no version 7; it has 1, 2"):
        promote(client, MODEL, "staging", version="7")
    assert aliases_of(client, MODEL) == {}
