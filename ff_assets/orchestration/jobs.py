"""Jobs: materialize a whole store; per variant, fit / predict with `staging` / predict with
`production` (the talk's three jobs); promote a model version with config."""

from collections.abc import Sequence

from dagster import (
    AssetSelection,
    Config,
    JobDefinition,
    OpExecutionContext,
    define_asset_job,
    job,
    op,
)

from ff_assets.core.errors import UnknownAliasError, UnknownStoreError, did_you_mean
from ff_assets.core.plan import Plan, Variant
from ff_assets.core.specs import Retries
from ff_assets.orchestration.assets import EVERY_PARTITION, AssetGraph
from ff_assets.orchestration.model_assets import Scoring
from ff_assets.orchestration.retries import retried_if_transient, retry_policy
from ff_assets.tracking.promotion import promote_variant, promotion_line
from ff_assets.tracking.registry import ALIASES

PROMOTE_RETRIES = retry_policy(Retries(max_retries=2, delay_seconds=5.0))
STORE_TAG = "ff_assets/store"  # on every run of a store's jobs: run queues limit on it


def store_tags(store: str) -> dict[str, str]:
    """The tag every job of `store` carries, so Dagster's run queue can limit a store's runs
    (`tag_concurrency_limits` keyed on `ff_assets/store`, see docs/DEPLOYMENT.md)."""
    return {STORE_TAG: store}


def materialize_job_name(store: str) -> str:
    """`Materialize__reviews`: the job that materializes a whole store in one run.

    Capitalized on purpose: Dagit's "Materialize all" on a store's group launches the first
    job, alphabetically, that holds every asset of the group, and capitals sort before the
    implicit `__ASSET_JOB`. Launched as this job's backfill, the store runs as one run over
    both partitions (the single-run backfill policy); an asset backfill of `__ASSET_JOB`
    would split it into a run per stretch of partitioned and unpartitioned assets.
    """
    return f"Materialize__{store}"


def variant_job_name(store: str, variant: Variant, what: str) -> str:
    """`reviews__sentiment_prediction__tfidf__fit`, `..._predict_staging`."""
    return "__".join(p for p in (store, variant.output, variant.slug, what) if p)


def store_jobs(graph: AssetGraph, scoring: Sequence[Scoring]) -> list:
    """The store's materialize job and, per variant, its fit and prediction jobs."""
    store = graph.store
    jobs = [
        define_asset_job(
            materialize_job_name(store),
            selection=AssetSelection.assets(*graph.keys.values()),
            tags={**EVERY_PARTITION, **store_tags(store)},
            description=f"Materialize every feature, fit and model of store {store!r}: "
            "every partition in one run.",
        )
    ]
    for variant in graph.plan.variants:
        if variant.registered_asset is None:
            continue
        registered = graph.keys[variant.registered_asset]
        jobs.append(
            define_asset_job(
                variant_job_name(store, variant, "fit"),
                selection=AssetSelection.assets(registered).upstream(),
                tags={**EVERY_PARTITION, **store_tags(store)},
                description=f"Fit {variant.name} (train rows), evaluate it (test rows) and "
                "register a version in MLflow.",
            )
        )
    for entry in scoring:
        jobs.append(
            define_asset_job(
                variant_job_name(store, entry.variant, f"predict_{entry.alias}"),
                selection=AssetSelection.assets(entry.source, entry.scored),
                tags=store_tags(store),
                description=f"Score {entry.source.to_user_string()} with the {entry.alias} "
                f"version of {entry.model_name}.",
            )
        )
    return jobs


class PromoteConfig(Config):
    """Which variant's model to promote, to which alias, and why."""

    store: str
    output: str
    variant: str = ""
    to: str = "staging"
    version: str = ""
    reason: str = ""


def promote_job(plans: Sequence[Plan]) -> JobDefinition:
    """A job that sets `staging` or `production` on a variant's model version (threshold
    checked for production), so promotion can be launched from Dagit with config."""
    by_name = {p.store: p for p in plans}  # the plans the definitions were built from

    # Shared by every store: a short wait, as it only talks to MLflow (no Spark to restart).
    @op(required_resource_keys={"settings"}, retry_policy=PROMOTE_RETRIES)
    def promote_model(context: OpExecutionContext, config: PromoteConfig) -> None:
        with retried_if_transient():
            _promote(context, config, by_name)

    @job(description="Promote a variant's registered model to staging or production.")
    def promote_model_job() -> None:
        promote_model()

    return promote_model_job


def _promote(context: OpExecutionContext, config: PromoteConfig, by_name: dict[str, Plan]) -> None:
    """Check the config, promote, log the promotion."""
    if config.to not in ALIASES:
        raise UnknownAliasError(
            f"to={config.to!r}: choose {' or '.join(ALIASES)}." + did_you_mean(config.to, ALIASES)
        )
    if config.store not in by_name:
        raise UnknownStoreError(
            f"store={config.store!r}: this code location serves {', '.join(sorted(by_name))}; "
            f"set store to one of them.{did_you_mean(config.store, by_name)}"
        )
    plan = by_name[config.store]
    done = promote_variant(
        context.resources.settings.mlflow_client(), plan, config.output,
        config.variant or None, config.to, version=config.version or None,
        reason=config.reason,
    )  # fmt: skip
    context.log.info(promotion_line(done))
    if done.warning:
        context.log.warning(done.warning)
