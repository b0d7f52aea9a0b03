"""The `ff-assets` command: plan, validate, lineage, materialize.

Planning commands never start Spark or Dagster; `materialize` runs through Dagster on the
project's instance, so its runs show in Dagit.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from ff_assets.core.errors import FFAssetsError, UnknownNameError, did_you_mean
from ff_assets.core.store import FeatureStore
from ff_assets.render import plan_json, plan_summary, table, tree

DEFAULT_STORE = "ff_assets.examples.reviews:store"


class UsageError(FFAssetsError):
    """A command-line argument names nothing usable."""


def load_store(reference: str) -> FeatureStore:
    """Import `module:attribute` and check it is a FeatureStore."""
    module_name, colon, attribute = reference.partition(":")
    if not colon or not module_name or not attribute:
        raise UsageError(
            f"--store {reference!r} must look like MODULE:ATTRIBUTE (for example {DEFAULT_STORE})."
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UsageError(
                f"--store {reference!r}: no module named {module_name!r}. Check the name and "
                "that its package is installed or on PYTHONPATH."
            ) from None
        raise
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


def _pins(values: Sequence[str] | None) -> dict[str, str]:
    pins = {}
    for value in values or ():
        feature, eq, stage = value.partition("=")
        if not eq or not feature or not stage:
            raise UsageError(f"--pin {value!r} must look like FEATURE=STAGE (text_vector=tfidf).")
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


def cmd_materialize(args: argparse.Namespace) -> int:
    from ff_assets.orchestration.materialize import materialize_store

    store = load_store(args.store)
    report = materialize_store(
        store,
        args.output or None,
        pins=_pins(args.pin),
        home=args.home,
        data_dir=args.data_dir,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(table(["asset", "partitions", "delta version / model version"], report.materialized))
    print()
    print(table(["variant", "metric", "test value", "model version"], report.metrics))
    for failure in report.failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 0 if report.success else 1


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
    run = add(
        "materialize", "Materialize everything the outputs need, through Dagster.", cmd_materialize
    )
    run.add_argument(
        "--home", help="project state folder (default $FF_ASSETS_HOME or ./.ff_assets)"
    )
    run.add_argument("--data-dir", help="data folder (default $FF_DATA_DIR or ../shared/data)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ff-assets` console script."""
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except (FFAssetsError, UnknownNameError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
