"""Which error of a failed step's chain of causes the CLI prints last (no JVM: the chains are
built as Dagster serializes them, message `module.Class: text`, outermost first)."""

from __future__ import annotations

from typing import NamedTuple

from ff_assets.orchestration.progress import root_cause, user_error


class Info(NamedTuple):
    """The fields of Dagster's serialized error that the CLI reads."""

    message: str
    cls_name: str
    cause: Info | None = None


def step_failure(*links: tuple[str, str]) -> Info:
    """Dagster's wrapper around `links` ((qualified class, text), outermost first)."""
    cause = None
    for qualified, text in reversed(links):
        cause = Info(f"{qualified}: {text}\n", qualified.rsplit(".", 1)[-1], cause)
    wrapper = "dagster._core.errors.DagsterExecutionStepExecutionError"
    return Info(f"{wrapper}: Error occurred while executing op\n", wrapper.split(".")[-1], cause)


SUMMARY = "ff_assets.orchestration.assets.StageFailedError"
FIX = "f.txt, line 3: bytes that are not UTF-8 (invalid start byte). Re-encode the file as UTF-8."


def test_the_ff_assets_error_under_the_runs_summary_is_the_root_cause() -> None:
    error = step_failure(
        (SUMMARY, "stage 'source' failed: ...; Not stored: split"),
        ("ff_assets.core.errors.DataFormatError", FIX),
    )
    assert root_cause(error) == f"DataFormatError: {FIX}"
    assert user_error(error).startswith(f"{SUMMARY}: stage 'source' failed")


def test_a_stages_own_exception_is_the_root_cause_when_no_ff_assets_error_explains_it() -> None:
    error = step_failure((SUMMARY, "stage 'broken' failed"), ("ValueError", "failed on purpose"))
    assert root_cause(error) == "ValueError: failed on purpose"


def test_an_ff_assets_error_wins_over_the_library_error_it_was_raised_from() -> None:
    error = step_failure(
        ("ff_assets.core.errors.MissingAliasError", "no version has alias 'staging': promote"),
        ("mlflow.exceptions.RestException", "RESOURCE_DOES_NOT_EXIST"),
    )
    assert root_cause(error) == "MissingAliasError: no version has alias 'staging': promote"


def test_a_failed_check_leaves_the_summary_as_the_root_cause() -> None:
    error = step_failure((SUMMARY, "not run: check 'train_test_disjoint' failed"))
    assert root_cause(error) == "StageFailedError: not run: check 'train_test_disjoint' failed"


def test_only_dagsters_own_errors_fall_back_to_the_outermost_message() -> None:
    wrapper = step_failure()
    assert root_cause(wrapper) == user_error(wrapper) == wrapper.message.strip()
