"""The `ff-assets` command: plan, validate, lineage, materialize, stats, promote, compare,
predict.

Planning commands never start Spark or Dagster; `materialize` runs through Dagster on the
project's instance, so its runs show in Dagit.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import pkgutil
import sys
import warnings
from collections.abc import Iterator, Sequence

from ff_assets.core.errors import FFAssetsError, UnknownNameError, did_you_mean
from ff_assets.core.store import FeatureStore
from ff_assets.render import plan_json, plan_summary, stats_text, table, tree

DEFAULT_STORE = "ff_assets.examples.reviews:store"
STORAGE_HELP = (
    "root of the Delta tables, views and fits: an absolute path or a URI such as "
    "s3a://bucket/prefix (default $FF_ASSETS_STORAGE, else the home)"
)
DAGSTER_MLFLOW_BETA = (
    r"(Function|Class|Dagster resource) `(_create_mlflow_run_hook|MlFlow|mlflow_tracking)` "
    "is currently in beta"
)


class UsageError(FFAssetsError):
    """A command-line argument names nothing usable."""


def load_store(reference: str) -> FeatureStore:
    """Import `module:attribute` and check it is a FeatureStore."""
    module_name, colon, attribute = reference.partition(":")
    if not colon or not module_name or not attribute or module_name.startswith("."):
        raise UsageError(
            f"--store {reference!r} must look like MODULE:ATTRIBUTE, with an absolute module "
            f"name (for example {DEFAULT_STORE})."
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UsageError(
                f"--store {reference!r}: no module named {module_name!r}."
                f"{did_you_mean(module_name, _sibling_modules(module_name))} Check the name and "
                "that its package is installed or on PYTHONPATH."
            ) from None
        raise UsageError(
            f"--store {reference!r}: module {module_name!r} imports {exc.name!r}, which is not "
            "installed: install it in this environment (or fix that import)."
        ) from None
    store = getattr(module, attribute, None)
    if not isinstance(store, FeatureStore):
        stores = [n for n, v in vars(module).items() if isinstance(v, FeatureStore)]
        found = f"it has {type(store).__name__}" if store is not None else "it has no such name"
        raise UsageError(
            f"--store {reference!r}: {module_name}.{attribute} is not a FeatureStore ({found})."
            f"{did_you_mean(attribute, stores)} "
            f"Stores in {module_name}: {', '.join(stores) or 'none'}."
        )
    return store


def _sibling_modules(module_name: str) -> list[str]:
    """Modules beside `module_name` in its deepest importable package (for a did-you-mean)."""
    parts = module_name.split(".")
    for depth in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:depth])
        try:
            package = importlib.import_module(parent)
        except ImportError:
            continue
        found = pkgutil.iter_modules(getattr(package, "__path__", []), prefix=parent + ".")
        return [m.name for m in found]
    return [m.name for m in pkgutil.iter_modules()]


def _pins(values: Sequence[str] | None) -> dict[str, str]:
    pins: dict[str, str] = {}
    for value in values or ():
        feature, eq, stage = value.partition("=")
        if not eq or not feature or not stage or "=" in stage:
            raise UsageError(f"--pin {value!r} must look like FEATURE=STAGE (text_vector=tfidf).")
        if pins.get(feature, stage) != stage:
            raise UsageError(
                f"--pin {feature}={pins[feature]} and --pin {value}: a feature is pinned to one "
                "producer; keep one of them."
            )
        pins[feature] = stage
    return pins


def _plan(args: argparse.Namespace):
    store = load_store(args.store)
    return store, store.plan(args.output or None, pins=_pins(args.pin))


def cmd_plan(args: argparse.Namespace) -> int:
    _, plan = _plan(args)
    print(json.dumps(plan_json(plan), indent=2) if args.json else plan_summary(plan))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    store, plan = _plan(args)
    print(f"store {store.name}: OK ({len(plan.variants)} variants, {len(plan.nodes)} stages)")
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    _, plan = _plan(args)
    answer = plan.lineage(args.name)
    print(json.dumps(answer.to_dict(), indent=2) if args.json else tree(answer))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from ff_assets.core.catalog import search

    hits = search(load_store(args.store), args.query)
    rows = [(h.kind, h.name, h.matched, dict(h.tags) or "", h.owner, h.description) for h in hits]
    print(table(["kind", "name", "matched", "tags", "owner", "description"], rows))
    return 0 if hits else 1


def cmd_feature(args: argparse.Namespace) -> int:
    from ff_assets.core.catalog import feature_usage

    store, plan = _plan(args)
    usage = feature_usage(store, plan, args.name)
    spec = store.features[args.name]
    print(f"feature {spec.name}: {spec.description or '(no description)'}")
    print(f"  type {spec.dtype or '?'}, owner {spec.owner or store.owner or '?'}")
    rows = [
        ("writes", s.name, s.kind.value, usage.variants_by_producer.get(s.name) or "not planned")
        for s in usage.producers
    ] + [("reads", s.name, s.kind.value, "") for s in usage.consumers]
    print(table(["", "stage", "kind", "planned variants"], rows))
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    from ff_assets.orchestration.materialize import materialize_store

    store = load_store(args.store)
    report = materialize_store(
        store,
        args.output or None,
        pins=_pins(args.pin),
        home=args.home,
        storage=args.storage,
        data_dir=args.data_dir,
        tracking_uri=os.environ.get("MLFLOW_TRACKING_URI"),
        progress=None if args.quiet else _say,
        verbose=args.verbose,
        statistics=not args.no_statistics,
    )
    if report.metrics:
        headers = ["variant", "metric", "chosen on", "value", "test value", "model version"]
        print(table(headers, [m.row() for m in report.metrics]))
        from ff_assets.core.plan import selection_warning

        on_test = [m.variant for m in report.metrics if m.selects_on == "test"]
        if on_test:
            _say(f"warning: {selection_warning('test', 'the models of ' + ', '.join(on_test))}")
    if report.success:
        return 0
    if report.not_stored:
        _say(f"not stored ({len(report.not_stored)}): {', '.join(report.not_stored)}")
    return _failed(report.errors)


def _say(line: str) -> None:
    """A line for the person at the terminal (stderr: stdout holds the results)."""
    print(line, file=sys.stderr, flush=True)


def _failed(errors: Sequence[str]) -> int:
    """Print each root cause of a failed run, the last line being the first failure's own
    error (what to fix first), and return the exit code."""
    sys.stdout.flush()
    for error in [*errors[1:], *errors[:1]] or ["the run failed (see Dagit for its events)"]:
        _say(f"error: {error}")
    return 1


def cmd_stats(args: argparse.Namespace) -> int:
    from ff_assets.core.catalog import resolve_asset
    from ff_assets.orchestration.materialize import project_instance
    from ff_assets.orchestration.stored_statistics import latest_statistics

    _, plan = _plan(args)
    planned = resolve_asset(plan, args.name)
    if args.partition and args.partition not in plan.partitions:
        raise UsageError(
            f"--partition {args.partition!r}: store {plan.store!r} has the partitions "
            f"{', '.join(plan.partitions)}.{did_you_mean(args.partition, plan.partitions)}"
        )
    stats = latest_statistics(project_instance(args.home), plan, planned)
    if args.partition:
        held = sorted({p for s in stats.values() for p in s["partitions"]})
        if args.partition not in held:
            raise UsageError(
                f"--partition {args.partition!r}: {planned.key_name} holds {', '.join(held)}."
                f"{did_you_mean(args.partition, held)}"
            )
        stats = {
            f: {**s, "partitions": {args.partition: s["partitions"][args.partition]}}
            for f, s in stats.items()
        }
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"{plan.store}/{planned.key_name}: feature statistics of the latest materialization")
    print(stats_text(stats))
    return 0


def _tracking_uri(args: argparse.Namespace) -> str:
    from ff_assets.config import ProjectPaths

    return (
        args.tracking_uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or ProjectPaths.resolve(args.home).mlflow_tracking_uri
    )


def cmd_promote(args: argparse.Namespace) -> int:
    from ff_assets.tracking.promotion import promote_variant, promotion_line
    from ff_assets.tracking.registry import tracking_client

    store, plan = _plan(args)
    done = promote_variant(
        tracking_client(_tracking_uri(args)), plan, args.output_name, args.variant, args.to,
        version=args.version, reason=args.reason,
    )  # fmt: skip
    print(promotion_line(done))
    if done.warning:
        print(f"warning: {done.warning}", file=sys.stderr)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ff_assets.tracking.compare import compare_output
    from ff_assets.tracking.promotion import resolve_variant
    from ff_assets.tracking.registry import tracking_client

    _, plan = _plan(args)
    if not plan.variants_of(args.output_name):
        resolve_variant(plan, args.output_name, None)  # raises with the planned outputs
    comparison = compare_output(tracking_client(_tracking_uri(args)), plan, args.output_name)
    print(table(*comparison.table()))
    best = comparison.best
    print(
        f"chosen on {comparison.selects_on} rows ({comparison.metric}): "
        f"{best.variant if best else 'no version registered yet'}"
    )
    if comparison.warning:
        print(f"warning: {comparison.warning}", file=sys.stderr)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ff_assets.orchestration.definitions import StorePlan, build_definitions
    from ff_assets.orchestration.jobs import variant_job_name
    from ff_assets.orchestration.materialize import project_instance, run_job
    from ff_assets.orchestration.progress import console_logging, root_cause
    from ff_assets.tracking.promotion import resolve_variant

    store, plan = _plan(args)
    variant = resolve_variant(plan, args.output_name, args.variant)
    defs = build_definitions(
        [StorePlan(store, args.output or None, _pins(args.pin))], home=args.home,
        storage=args.storage, data_dir=args.data_dir, mlflow_tracking_uri=_tracking_uri(args),
    )  # fmt: skip
    job = variant_job_name(store.name, variant, f"predict_{args.alias}")
    result = run_job(
        defs, job, project_instance(args.home), both_partitions=False,
        run_config=console_logging(args.verbose),
    )  # fmt: skip
    for event in result.get_asset_materialization_events():
        m = event.event_specific_data.materialization  # type: ignore[union-attr]
        meta = {k: v.value for k, v in m.metadata.items()}
        if "model_version" in meta:
            print(
                f"{m.asset_key.to_user_string()}: {meta.get('rows_written')} rows scored by "
                f"{meta['registered_model']} version {meta['model_version']} ({args.alias})"
            )
    if result.success:
        return 0
    failures = result.get_step_failure_events()
    return _failed([root_cause(e.step_failure_data.error) for e in failures])


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="ff-assets",
        description="Declare ML stages, plan them backwards from outputs, run them as assets.",
    )
    commands = top.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--store", default=DEFAULT_STORE, help="MODULE:ATTRIBUTE of a store")
        sub.add_argument("--output", action="append", help="an output to plan (repeatable)")
        sub.add_argument("--pin", action="append", help="FEATURE=STAGE: use one producer")
        sub.set_defaults(handler=handler)
        return sub

    add("plan", "Show the plan: variants, stages, shared stages, assets.", cmd_plan).add_argument(
        "--json", action="store_true", help="print the plan as JSON"
    )
    add("validate", "Exit 0 when the store plans; 1 with the refusal.", cmd_validate)
    lineage = add(
        "lineage", "The upstream tree of a variant, stage, asset or feature.", cmd_lineage
    )
    lineage.add_argument("name")
    lineage.add_argument("--json", action="store_true")
    add("search", "Find features and stages by name, tag or description.", cmd_search).add_argument(
        "query"
    )
    add(
        "feature", "Who writes and reads a feature, and in which variants.", cmd_feature
    ).add_argument("name")
    run = add(
        "materialize", "Materialize everything the outputs need, through Dagster.", cmd_materialize
    )
    run.add_argument(
        "--home", help="project state folder (default $FF_ASSETS_HOME or ./.ff_assets)"
    )
    run.add_argument("--data-dir", help="data folder (default $FF_DATA_DIR or ../shared/data)")
    run.add_argument("--storage", help=STORAGE_HELP)
    run.add_argument(
        "--no-statistics", action="store_true", help="skip feature statistics (checks still run)"
    )
    shown = run.add_mutually_exclusive_group()
    shown.add_argument("--verbose", action="store_true", help="also print Dagster's events")
    shown.add_argument("--quiet", action="store_true", help="no progress lines, only results")

    stats = add("stats", "Feature statistics of an asset's latest materialization.", cmd_stats)
    stats.add_argument("name", help="an asset (split, text_vector__tfidf) or its feature")
    stats.add_argument("--partition", help="one partition only (train, test)")
    stats.add_argument("--json", action="store_true", help="print them as JSON")
    stats.add_argument("--home", help="state folder (default $FF_ASSETS_HOME or ./.ff_assets)")

    def tracked(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        sub = add(name, help_text, handler)
        sub.add_argument("output_name", metavar="OUTPUT", help="a planned output")
        sub.add_argument("--home", help="state folder (default $FF_ASSETS_HOME or ./.ff_assets)")
        sub.add_argument("--tracking-uri", help="MLflow URI (default $MLFLOW_TRACKING_URI, "
                         "else SQLite under the home)")  # fmt: skip
        return sub

    promote = tracked("promote", "Point staging or production at a model version.", cmd_promote)
    promote.add_argument("--variant", help="the variant, e.g. tfidf (needed if several)")
    promote.add_argument("--to", required=True, choices=["staging", "production"])
    promote.add_argument("--version", help="model version (default: the newest)")
    promote.add_argument("--reason", default="", help="recorded on the version")
    tracked("compare", "The variants of an output side by side, from MLflow.", cmd_compare)
    predict = tracked("predict", "Score new rows with the staging/production model.", cmd_predict)
    predict.add_argument("--variant", help="the variant, e.g. tfidf (needed if several)")
    predict.add_argument("--alias", default="staging", choices=["staging", "production"])
    predict.add_argument("--data-dir", help="data folder (default $FF_DATA_DIR or ../shared/data)")
    predict.add_argument("--storage", help=STORAGE_HELP)
    predict.add_argument("--verbose", action="store_true", help="also print Dagster's events")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ff-assets` console script."""
    args = parser().parse_args(argv)
    try:
        with _libraries_quiet(unless=getattr(args, "verbose", False)):
            return args.handler(args)
    except (FFAssetsError, UnknownNameError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


@contextlib.contextmanager
def _libraries_quiet(*, unless: bool) -> Iterator[None]:
    """Without --verbose, keep the terminal for ff_assets' own lines: no beta notices from
    dagster-mlflow (kept on purpose: one MLflow run per Dagster run) and no INFO logs from
    MLflow ("Creating initial MLflow database tables")."""
    if unless:
        yield
        return
    mlflow_logger = logging.getLogger("mlflow")
    level = mlflow_logger.level
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=DAGSTER_MLFLOW_BETA)
        mlflow_logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            mlflow_logger.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
