"""Dagit in a real browser: `dagster dev -w workspace.yaml` serves both example stores, their
assets and jobs, the asset pages show the declarations (fit rows, partitions, views), the
lineage graph's labels are unique, and "Materialize all" on the `reviews` group is one run
(train, validation and test) that ends in SUCCESS.

One `dagster dev` for the module, on a free port, with its own FF_ASSETS_HOME and DAGSTER_HOME
under a temp folder; Chromium from the system (`/usr/bin/chromium`), headless, allowed to reach
127.0.0.1 only. Every browser check saves a screenshot and names it in its failure message.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from ff_assets.config import data_dir

pytestmark = [pytest.mark.browser, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LOCATION = "ff_assets"
STARTUP_TIMEOUT_S = 120  # until /server_info answers
LOAD_TIMEOUT_S = 180  # until the code location has loaded (imports Spark, MLflow, Dagster)
RUN_TIMEOUT_S = 900  # the reviews store's one run: about 1.5 min here
UI_TIMEOUT_MS = 60_000  # a slow, shared 2-core machine: Dagit's queries take seconds


@dataclass(frozen=True)
class Dagit:
    url: str
    home: Path
    log: Path

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST a query to Dagit's GraphQL endpoint; the `data`, or an error naming the log."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.load(response)
        assert not answer.get("errors"), f"GraphQL errors: {answer['errors']} (log: {self.log})"
        return answer["data"]

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _live_members(pgid: int) -> list[str]:
    """Processes still in the group (zombies excluded: they hold no resources)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            fields = text[text.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(text[: text.rindex(")") + 1])
    return members


def _stop_group(process: subprocess.Popen[bytes]) -> list[str]:
    """TERM the whole process group (dagster dev, webserver, daemon, code servers, run workers
    and their JVMs), KILL what is left after 30 s; the members still alive after that."""
    pgid = process.pid  # start_new_session: the group is led by dagster dev itself
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 15)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.5)
            if not _live_members(pgid):
                return []
    return _live_members(pgid)


def _wait_for_location(dagit: Dagit, process: subprocess.Popen[bytes]) -> None:
    """Until the code location has loaded; its load error, if it fails, is the failure."""
    query = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
        name loadStatus locationOrLoadError { __typename ... on PythonError { message stack } }
    } } } }"""
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while True:
        assert process.poll() is None, f"dagster dev exited early:\n{dagit.log_tail()}"
        entries = dagit.graphql(query)["workspaceOrError"]["locationEntries"]
        entry = next((e for e in entries if e["name"] == LOCATION), None)
        assert entry is not None, f"no code location {LOCATION!r} in {entries}"
        loaded = entry["locationOrLoadError"]
        if loaded and loaded["__typename"] == "PythonError":
            pytest.fail(
                f"code location {LOCATION!r} failed to load in dagster dev:\n{loaded['message']}"
                + "".join(loaded["stack"])
            )
        if entry["loadStatus"] == "LOADED" and loaded:
            return
        assert time.monotonic() < deadline, f"code location still {entry['loadStatus']}"
        time.sleep(2)


@pytest.fixture(scope="module")
def dagit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dagit]:
    """`dagster dev -w workspace.yaml` from the repo root, on a free port, with fresh state."""
    home = tmp_path_factory.mktemp("dagit_home")
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    # No telemetry upload from the server either: this test talks to 127.0.0.1 only. No
    # first-visit "Join the Dagster community" dialog: it covers the page at a moment that
    # depends on the machine's speed, and its Skip button can sit under its own checkbox.
    (dagster_home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"
    )
    env = {
        **os.environ,
        "FF_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "FF_DATA_DIR": str(data_dir()),
    }
    env.pop("MLFLOW_TRACKING_URI", None)  # MLflow's SQLite store under the temp home
    env.pop("MLFLOW_REGISTRY_URI", None)
    port = _free_port()
    log = home / "dagster-dev.log"
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Dagit(url=f"http://127.0.0.1:{port}", home=home, log=log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _answers(f"{server.url}/server_info"):
            assert process.poll() is None, f"dagster dev exited early:\n{server.log_tail()}"
            assert time.monotonic() < deadline, (
                f"Dagit did not answer on {server.url} within {STARTUP_TIMEOUT_S} s:\n"
                f"{server.log_tail()}"
            )
            time.sleep(1)
        _wait_for_location(server, process)
        yield server
    finally:
        left = _stop_group(process)
        assert not left, f"processes of dagster dev still alive after SIGKILL: {left}"


@pytest.fixture(scope="module")
def browser(dagit: Dagit) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, dagit: Dagit) -> Iterator[Page]:
    """A fresh page that reaches Dagit only (Dagit's telemetry script is refused)."""
    context = browser.new_context(viewport={"width": 1600, "height": 1400})
    context.route(lambda url: not url.startswith(dagit.url), lambda route: route.abort())
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    yield page
    context.close()


class Shots:
    """Screenshots under tmp_path; `check(name)` saves one after the block, or, when a check
    in the block fails, saves one and adds its path to the failure."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page, self.folder = page, folder

    @contextlib.contextmanager
    def check(self, name: str) -> Iterator[Path]:
        path = self.folder / f"{name}.png"
        try:
            yield path
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.page.screenshot(path=str(path), full_page=True)
            raise AssertionError(f"{name}: {exc}\nscreenshot: {path}") from exc
        self.page.screenshot(path=str(path), full_page=True)


def _visible(page: Page, text: str, *, exact: bool = True) -> None:
    locator = page.get_by_text(text, exact=exact).first
    expect(locator, f"text {text!r} visible").to_be_visible(timeout=UI_TIMEOUT_MS)


def _metadata(page: Page, key: str, value: str) -> None:
    """The asset page's metadata table has a row `key` whose value shows `value`."""
    row = page.get_by_role("row").filter(has_text=key).first
    expect(row, f"metadata {key}: {value}").to_contain_text(value, timeout=UI_TIMEOUT_MS)


EXPECTED_ASSETS = {
    "reviews/reviews_source",
    "reviews/split",
    "reviews/tokens",
    "reviews/term_counts",
    "reviews/tfidf",
    "reviews/word2vec",
    "reviews/text_vector__tfidf",
    "reviews/text_vector__word2vec",
    "reviews/sentiment_model__tfidf",
    "reviews/sentiment_prediction__tfidf",
    "reviews/sentiment_model_registered__tfidf",
    "reviews/sentiment_prediction_comparison",
    "reviews/sentiment_prediction_scored_staging__tfidf",
    "bank/clients",
    "bank/split",
    "bank/nba_model",
    "bank/nba_model_registered",
    "bank/nba_prediction",
}
EXPECTED_JOBS = {
    "Materialize__reviews",
    "reviews__sentiment_prediction__tfidf__fit",
    "reviews__sentiment_prediction__tfidf__predict_staging",
    "reviews__sentiment_prediction__tfidf__predict_production",
    "reviews__sentiment_prediction__word2vec__fit",
    "Materialize__bank",
    "bank__nba_prediction__fit",
    "promote_model_job",
}


def test_graphql_lists_both_stores_assets_and_jobs(dagit: Dagit) -> None:
    data = dagit.graphql(
        """{ assetNodes { assetKey { path } groupName isPartitioned }
             repositoriesOrError { ... on RepositoryConnection { nodes {
                 name location { name } jobs { name } } } } }"""
    )
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert set(nodes) >= EXPECTED_ASSETS, f"missing assets: {EXPECTED_ASSETS - set(nodes)}"
    groups = {"reviews", "bank", "reviews_scoring", "bank_scoring"}
    assert {n["groupName"] for n in nodes.values()} == groups
    assert nodes["reviews/text_vector__tfidf"]["isPartitioned"]
    assert not nodes["reviews/tfidf"]["isPartitioned"]  # a fit: the train rows only
    jobs = {
        job["name"]
        for repo in data["repositoriesOrError"]["nodes"]
        if repo["location"]["name"] == LOCATION
        for job in repo["jobs"]
    }
    assert jobs >= EXPECTED_JOBS, f"missing jobs: {EXPECTED_JOBS - jobs}"


def test_dagit_shows_the_reviews_group_and_its_declarations(
    dagit: Dagit, page: Page, tmp_path: Path
) -> None:
    shots = Shots(page, tmp_path)
    with shots.check("reviews-lineage"):
        page.goto(f"{dagit.url}/locations/{LOCATION}/asset-groups/reviews")
        materialize_all = page.get_by_role("button", name="Materialize all")
        expect(materialize_all).to_be_visible(timeout=UI_TIMEOUT_MS)
        for name in ("reviews_source", "split", "tokens", "term_counts"):  # graph nodes
            _visible(page, name)

    with shots.check("reviews-lineage-labels"):
        # Wide enough that Dagit draws every node in full (at a smaller scale it draws
        # "minimal" nodes, their names cut to 18 characters).
        page.set_viewport_size({"width": 3000, "height": 2200})
        page.goto(f"{dagit.url}/locations/{LOCATION}/asset-groups/reviews")
        # Dagit labels a node by its key's last segment: each says what the asset is.
        labels = _node_labels(page)
        planned = {k.path[-1] for k in _reviews_keys()}
        assert set(labels) == planned, sorted(set(labels) ^ planned)
        assert len(labels) == len(set(labels)), sorted(labels)
        shown = _shown_labels(page)
        assert len(shown) == len(set(shown)), f"labels as drawn repeat: {sorted(shown)}"
    page.set_viewport_size({"width": 1600, "height": 1400})

    with shots.check("reviews-catalog"):
        page.goto(f"{dagit.url}/assets/reviews")
        for name in ("reviews_source", "sentiment_model__tfidf", "sentiment_prediction__word2vec"):
            _visible(page, name)
        _visible(page, "sentiment_model_registered__tfidf")
        _visible(page, "sentiment_prediction_comparison")

    with shots.check("fit-asset-tfidf"):  # the fit: what it is, which rows it fits on
        page.goto(f"{dagit.url}/assets/reviews/tfidf")
        _visible(page, "TF-IDF: hashed term counts weighted by inverse document frequency.")
        _metadata(page, "fit_rows", "train")
        _metadata(page, "stage_kind", "fitted")
        _visible(page, "sentiment_prediction[tfidf]", exact=False)  # used_by_variants
        _visible(page, "reviews / text_vector__tfidf")  # downstream

    with shots.check("tokens-a-view"):
        page.goto(f"{dagit.url}/assets/reviews/tokens")
        _metadata(page, "storage", "view")

    with shots.check("features-text_vector-tfidf"):
        page.goto(f"{dagit.url}/assets/reviews/text_vector__tfidf")
        _visible(page, "The sentence as a numeric vector.")
        _metadata(page, "fit_rows", "train")
        _visible(page, "reviews / tfidf")  # upstream: the fitted stage
        _visible(page, "Partitions")  # a tab only partitioned assets have

    with shots.check("features-text_vector-tfidf-partitions"):
        page.goto(f"{dagit.url}/assets/reviews/text_vector__tfidf?view=partitions")
        for partition in ("train", "validation", "test"):
            _visible(page, partition)
        _visible(page, "Missing (3)")  # nothing materialized yet in this fresh instance


def _reviews_keys() -> list[Any]:
    from ff_assets.examples import reviews
    from ff_assets.orchestration.keys import asset_key

    plan = reviews.store.plan()
    return [asset_key(plan.store, a) for a in plan.assets.values()]


def _node_labels(page: Page) -> list[str]:
    """The name of every asset node drawn in the lineage graph (its full last key segment)."""
    names = {k.path[-1] for k in _reviews_keys()}
    page.wait_for_function(
        "n => document.querySelectorAll('[data-tooltip]').length >= n", arg=len(names)
    )
    tips = page.eval_on_selector_all("[data-tooltip]", "els => els.map(e => e.dataset.tooltip)")
    return [t for t in tips if t in names]


def _shown_labels(page: Page) -> list[str]:
    """The node names as drawn (Dagit shortens long ones in the middle)."""
    names = {k.path[-1] for k in _reviews_keys()}
    return page.eval_on_selector_all(
        "[data-tooltip]",
        "(els, names) => els.filter(e => names.includes(e.dataset.tooltip)).map(e => e.innerText)",
        list(names),
    )


RUNS_QUERY = """{ runsOrError { ... on Runs { results { runId status jobName
    tags { key value } } } } }"""
RUN_QUERY = """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run {
    status jobName tags { key value }
    stepStats { stepKey status }
    eventConnection { events { __typename ... on ExecutionStepFailureEvent {
        stepKey error { message cause { message } } } } } } } }"""


LATEST_QUERY = """query($keys: [AssetKeyInput!]) { assetNodes(assetKeys: $keys) {
    assetKey { path } latest: assetMaterializations(limit: 3) { runId partition } } }"""
CHECKED = (
    "reviews/text_vector__tfidf",
    "reviews/tfidf",
    "reviews/sentiment_model_registered__tfidf",
)


def _expected_latest(run_id: str) -> dict[str, set[tuple[str | None, str]]]:
    """Every partition of a feature, the fit and the registered model: all from one run."""
    return {
        "reviews/text_vector__tfidf": {(p, run_id) for p in ("train", "validation", "test")},
        "reviews/tfidf": {(None, run_id)},
        "reviews/sentiment_model_registered__tfidf": {(None, run_id)},
    }


def _failures(run: dict[str, Any]) -> str:
    lines = []
    for event in run["eventConnection"]["events"]:
        if event["__typename"] == "ExecutionStepFailureEvent":
            error = event["error"] or {}
            cause = (error.get("cause") or {}).get("message", "")
            lines.append(f"{event['stepKey']}: {error.get('message', '').strip()} {cause}")
    return "\n".join(lines) or "(no step failure events)"


def test_materialize_all_on_the_reviews_group_is_one_run(
    dagit: Dagit, page: Page, tmp_path: Path
) -> None:
    """ "Materialize all" on the `reviews` group, partitions "All", "Launch backfill": one run
    of the store's job over every partition (train..test) that materializes every asset of
    the group, followed until Success; then the registered model's page."""
    shots = Shots(page, tmp_path)
    with shots.check("materialize-all-dialog"):
        page.goto(f"{dagit.url}/locations/{LOCATION}/asset-groups/reviews")
        materialize_all = page.get_by_role("button", name="Materialize all")
        # The button shows a spinner until Dagit has loaded the group's partitions; a click
        # before that opens nothing.
        expect(materialize_all.get_by_role("progressbar")).to_have_count(0, timeout=UI_TIMEOUT_MS)
        materialize_all.click()
        dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
        expect(dialog).to_be_visible(timeout=UI_TIMEOUT_MS)
        dialog.get_by_text("All", exact=True).click()
        expect(dialog.get_by_text("3 partitions")).to_be_visible(timeout=UI_TIMEOUT_MS)
    with shots.check("materialize-all-launched"):
        dialog.get_by_role("button", name="Launch backfill").click()
        expect(dialog).to_be_hidden(timeout=UI_TIMEOUT_MS)

    deadline = time.monotonic() + RUN_TIMEOUT_S
    started = time.monotonic()
    while True:
        runs = dagit.graphql(RUNS_QUERY)["runsOrError"]["results"]
        done = runs and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs)
        if done and time.monotonic() - started > 30:  # a second run would have been queued
            break
        states = [(r["jobName"], r["status"]) for r in runs]
        assert time.monotonic() < deadline, f"runs still going after {RUN_TIMEOUT_S} s: {states}"
        time.sleep(5)
    assert len(runs) == 1, f"Materialize all launched {len(runs)} runs: {runs}"
    [run] = runs
    run_id = run["runId"]
    detail = dagit.graphql(RUN_QUERY, {"id": run_id})["runOrError"]
    assert run["status"] == "SUCCESS", (
        f"run {run_id} of {run['jobName']} ended {run['status']}:\n{_failures(detail)}\n"
        f"(dagster dev log: {dagit.log})"
    )
    assert run["jobName"] == "Materialize__reviews"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags.get("dagster/asset_partition_range_start") == "train"
    assert tags.get("dagster/asset_partition_range_end") == "test"
    assert [s["stepKey"] for s in detail["stepStats"]] == ["reviews__assets"]
    latest = dagit.graphql(LATEST_QUERY, {"keys": [{"path": k.split("/")} for k in CHECKED]})
    found = {
        "/".join(n["assetKey"]["path"]): {(m["partition"], m["runId"]) for m in n["latest"]}
        for n in latest["assetNodes"]
    }
    assert found == _expected_latest(run_id), f"latest materializations: {found}"

    with shots.check("run-page"):
        page.goto(f"{dagit.url}/runs/{run_id}")
        _visible(page, "Success")
        _visible(page, "Materialize__reviews")

    with shots.check("registered-model-tfidf"):
        page.goto(f"{dagit.url}/assets/reviews/sentiment_model_registered__tfidf")
        _visible(page, "reviews.sentiment_prediction.tfidf", exact=False)
        _metadata(page, "model_version", "1")
        _visible(page, "test_accuracy")
        _visible(page, "validation_accuracy")
        _metadata(page, "selects_on", "validation")

    with shots.check("statistics-histogram-sentiment"):
        # The split's latest materialization: its statistics as tables and its histograms as
        # pictures (Markdown metadata with an embedded SVG).
        page.goto(f"{dagit.url}/assets/reviews/split?view=events")
        row = page.get_by_role("row").filter(has_text="histogram_sentiment").first
        row.get_by_text("[Show Markdown]").click()
        picture = page.get_by_role("dialog").get_by_role("img", name="sentiment")
        expect(picture).to_be_visible(timeout=UI_TIMEOUT_MS)
        size = picture.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert size[0] >= 300 and size[1] >= 150, f"histogram picture of {size} pixels"

    with shots.check("features-text_vector-tfidf-materialized"):
        page.goto(f"{dagit.url}/assets/reviews/text_vector__tfidf?view=partitions")
        _visible(page, "Materialized (3)")
