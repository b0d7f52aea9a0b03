"""Plain-text tables and trees for the terminal, and the plan as JSON for machines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ff_assets.core.plan import AssetDep, LineageTree, Plan


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A left-aligned text table with a rule under the headers."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def tree(root: LineageTree) -> str:
    """A lineage tree drawn with box characters, upstream below its reader."""
    lines: list[str] = []

    def draw(node: LineageTree, prefix: str, last: bool, top: bool) -> None:
        label = node.name + (f"  ({node.detail})" if node.detail else "")
        if node.via:
            label = f"{label}  <- reads {', '.join(node.via)}"
        if top:
            lines.append(label)
            child_prefix = ""
        else:
            lines.append(prefix + ("└── " if last else "├── ") + label)
            child_prefix = prefix + ("    " if last else "│   ")
        for i, child in enumerate(node.children):
            draw(child, child_prefix, i == len(node.children) - 1, False)

    for child in root.children:
        draw(child, "", True, True)
    return "\n".join(lines)


def plan_summary(plan: Plan) -> str:
    """Variants, stages (with which variants share them) and assets of a plan."""
    variants = table(
        ["variant", "output", "producers chosen", "stages"],
        [
            (v.name, v.output, [f"{f}={s}" for f, s in v.choices] or "-", len(v.nodes))
            for v in plan.variants
        ],
    )
    stages = table(
        ["stage", "kind", "rows", "fit on", "used by"],
        [
            (
                n.key,
                n.stage.kind.value,
                "/".join(plan.partitions) if n.partitioned else "all",
                n.fit_rows.value if n.fit_rows else "",
                "shared by " + str(len(plan.users(k))) if len(plan.users(k)) > 1 else
                ", ".join(plan.users(k)),
            )
            for k, n in plan.nodes.items()
        ],
    )  # fmt: skip
    assets = table(
        ["asset", "role", "partitions", "reads"],
        [
            (
                a.name,
                a.role.value,
                ", ".join(plan.partitions) if a.partitioned else "-",
                [d.asset + _rows(d) for d in a.deps],
            )
            for a in plan.assets.values()
        ],
    )
    return (
        f"store {plan.store}: {len(plan.variants)} variants, {len(plan.nodes)} stages "
        f"({len(plan.shared)} shared), {len(plan.assets)} assets\n\n"
        f"{variants}\n\n{stages}\n\n{assets}"
    )


def _rows(dep: AssetDep) -> str:
    return " (train)" if dep.train_only else " (held out)" if dep.held_out else ""


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as plain data: variants, stages, assets, shared stages."""
    return {
        "store": plan.store,
        "outputs": list(plan.outputs),
        "partitions": list(plan.partitions),
        "variants": [
            {
                "name": v.name,
                "output": v.output,
                "choices": dict(v.choices),
                "stages": list(v.nodes),
                "output_asset": v.output_asset,
                "model": v.model_node,
                "selects_on": plan.selects_on(v) if v.model_node else None,
            }
            for v in plan.variants
        ],
        "stages": [
            {
                "key": n.key,
                "stage": n.stage.name,
                "kind": n.stage.kind.value,
                "inputs": [{"feature": f, "from": d} for f, d in n.deps],
                "outputs": list(n.stage.outputs),
                "partitioned": n.partitioned,
                "fit_rows": n.fit_rows.value if n.fit_rows else None,
                "used_by": list(plan.users(k)),
            }
            for k, n in plan.nodes.items()
        ],
        "assets": [
            {
                "name": a.name,
                "role": a.role.value,
                "node": a.node,
                "features": list(a.features),
                "partitioned": a.partitioned,
                "deps": [
                    {
                        "asset": d.asset,
                        "features": list(d.features),
                        "rows": "train" if d.train_only else "held out" if d.held_out else "all",
                    }
                    for d in a.deps
                ],
            }
            for a in plan.assets.values()
        ],
        "shared": list(plan.shared),
    }


_STAT_COLUMNS = {
    "numeric": ("count", "nulls", "distinct", "min", "max", "mean", "std"),
    "categorical": ("count", "nulls", "distinct", "top_values"),
    "text": ("count", "nulls", "distinct", "length.mean", "length.max", "vocabulary",
             "top_tokens"),
    "tokens": ("count", "nulls", "length.mean", "length.max", "vocabulary", "top_tokens"),
    "vector": ("count", "nulls", "dimension", "sparsity", "norm.mean", "norm.max"),
    "other": ("count", "nulls"),
}  # fmt: skip


def stats_text(stats: dict[str, Any]) -> str:
    """Feature statistics as one text table per kind, a row per feature and partition, with
    the PSI of each partition against train."""
    sections = []
    for kind, columns in _STAT_COLUMNS.items():
        rows = []
        for feature, summary in stats.items():
            if summary.get("kind") != kind:
                continue
            for partition, values in summary["partitions"].items():
                cells = [_stat(values, c) for c in columns]
                rows.append([feature, partition, *cells, summary.get("drift", {}).get(partition)])
        if rows:
            headers = ["feature", "rows", *(c.replace("_", " ") for c in columns), "PSI"]
            sections.append(f"{kind}\n{table(headers, rows)}")
    return "\n\n".join(sections)


def _stat(values: dict[str, Any], column: str) -> Any:
    name, _, part = column.partition(".")
    value = values.get(name)
    if part:
        return (value or {}).get(part)
    if isinstance(value, list):  # top values / tokens: the first five with their counts
        return ", ".join(f"{v} ({n})" for v, n in value[:5])
    return value
