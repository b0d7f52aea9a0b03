"""Refusals that keep test rows and labels away from fits, checked on planned nodes."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from ff_assets.core.errors import MissingSplitError, TargetLeakageError, TestLeakageError
from ff_assets.core.plan import FitRows, Node
from ff_assets.core.specs import FitOn, StageKind

_FIX_TEST = (
    "Fit {stage} on train rows: let it read features the split carries (so it runs after the "
    "split) and keep fit_on='train'; or, if it learns only from data outside this store, "
    "declare fit_on='external' with external_reason='...'."
)
_FIX_ALL_ROWS = (
    "{stage} already reads split rows but is declared fit_on='all': drop fit_on='all' (train "
    "is the default) so it fits on train rows only; or, if it learns only from data outside "
    "this store, declare fit_on='external' with external_reason='...'."
)


def _fix(node: Node) -> str:
    """The fix for a node that fits on all rows: move it after the split, or stop asking."""
    after_split = node.partitioned and node.stage.fit_on is FitOn.ALL
    return (_FIX_ALL_ROWS if after_split else _FIX_TEST).format(stage=repr(node.stage.name))


def check_leakage(node: Node, nodes: Mapping[str, Node]) -> None:
    """Refuse a model evaluated on test that a fit on test rows, or its own label, reaches."""
    if node.stage.kind is not StageKind.MODEL:
        return
    if not node.partitioned:
        raise MissingSplitError(
            f"model {node.key!r} reads no rows from a train/test split, so it cannot be "
            "evaluated on held-out rows: declare a split (store.split(inputs=[...])) carrying "
            "its inputs and its label."
        )
    _check_test_leakage(node, nodes)
    _check_target_leakage(node, nodes)


def _check_test_leakage(model: Node, nodes: Mapping[str, Node]) -> None:
    if model.fit_rows is FitRows.ALL:
        raise TestLeakageError(
            f"test rows reach a fit: {model.key} (fit on all rows, evaluated on test). "
            + _fix(model)
        )
    # Breadth-first over (node, feature) so the reported path follows the features that flow,
    # through a split only along the feature it carries.
    State = tuple[str, str]
    came_from: dict[State, State | None] = {}
    queue: deque[State] = deque()
    for feature, dep in model.deps:
        if (dep, feature) not in came_from:
            came_from[(dep, feature)] = None
            queue.append((dep, feature))
    while queue:
        state = queue.popleft()
        node = nodes[state[0]]
        if node.fit_rows is FitRows.ALL:
            raise TestLeakageError(
                f"test rows reach a fit: {_path(state, came_from, model.key)}. " + _fix(node)
            )
        for feature, dep in node.deps:
            if node.stage.kind is StageKind.SPLIT and feature != state[1]:
                continue
            if (dep, feature) not in came_from:
                came_from[(dep, feature)] = state
                queue.append((dep, feature))


def _path(
    state: tuple[str, str], came_from: Mapping[tuple[str, str], tuple[str, str] | None], model: str
) -> str:
    parts = [f"{state[0]} (fit on all rows)", state[1]]
    while (step := came_from[state]) is not None:
        state = step
        parts += [state[0], state[1]]
    parts.append(f"{model} (evaluated on test)")
    return " -> ".join(parts)


def _check_target_leakage(model: Node, nodes: Mapping[str, Node]) -> None:
    label = model.stage.label
    if label in model.stage.inputs:
        raise TargetLeakageError(
            f"model {model.key!r} reads its own label {label!r} as an input: remove it from "
            "the model's inputs."
        )
    # Walk each input back through row-wise stages; a fitted stage ends the walk (an encoder
    # fitted on train labels is fine), so does a source (its columns are independent).
    stack = [(f, dep, (f,)) for f, dep in model.deps if f != label]
    seen: set[tuple[str, str]] = set()
    while stack:
        feature, key, path = stack.pop()
        if (feature, key) in seen:
            continue
        seen.add((feature, key))
        node = nodes[key]
        if node.stage.kind is StageKind.SPLIT:
            stack.extend((f, d, path) for f, d in node.deps if f == feature)
        elif node.stage.kind is StageKind.TRANSFORM:
            for f, d in node.deps:
                trail = (f, f"{node.key} (row-wise)", *path)
                if f == label:
                    raise TargetLeakageError(
                        f"model {model.key!r} learns its label from itself: "
                        f"{' -> '.join(trail)} -> {model.key} (label {label!r}). A row-wise "
                        f"stage copies the label into an input; drop that input, or compute "
                        "it with a stage fitted on train rows."
                    )
                stack.append((f, d, trail))
