"""Pictures of feature statistics: a histogram per feature (every partition on shared bins)
or its top values, drawn with matplotlib and embedded in Markdown so Dagit shows them.

No Spark here: the pictures are drawn from the statistics' JSON (`spark/statistics.py`).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

_COLORS = {"train": "#4C78A8", "validation": "#F58518", "test": "#54A24B", "all": "#4C78A8"}
_MEASURE = {"numeric": None, "text": "length", "tokens": "length", "vector": "norm"}


def histograms_markdown(stats: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """`{"histogram_<feature>": Markdown with the picture}` for every feature that has one."""
    pictures = {}
    for feature, summary in stats.items():
        png = feature_png(feature, summary)
        if png is not None:
            encoded = base64.b64encode(png).decode("ascii")
            pictures[f"histogram_{feature}"] = f"![{feature}](data:image/png;base64,{encoded})"
    return pictures


def feature_png(feature: str, summary: Mapping[str, Any]) -> bytes | None:
    """The PNG of one feature's histogram (or top values), None when there is nothing to draw."""
    kind = summary.get("kind")
    partitions: Mapping[str, Any] = summary.get("partitions", {})
    if kind == "categorical":
        series = {p: s.get("top_values") for p, s in partitions.items() if s.get("top_values")}
        return _bars(feature, "top values (share of rows)", series) if series else None
    if kind not in _MEASURE:
        return None
    measure = _MEASURE[kind]
    histograms = {
        p: (s if measure is None else s.get(measure) or {}).get("histogram")
        for p, s in partitions.items()
    }
    histograms = {p: h for p, h in histograms.items() if h}
    if not histograms:
        return None
    title = feature if measure is None else f"{feature}: {measure}"
    return _histogram(title, histograms, summary.get("drift", {}))


def _figure(left: float = 0.13) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")  # no display: draw into memory
    from matplotlib import pyplot as plt

    # Fixed margins: a layout engine ("constrained", "tight") costs 40 % of each picture's
    # time (measured), and these pictures have one axes of a known size.
    fig, ax = plt.subplots(figsize=(5.0, 2.6), dpi=80)
    fig.subplots_adjust(left=left, right=0.98, top=0.89, bottom=0.11)
    return fig, ax


def _png(fig: Any) -> bytes:
    from matplotlib import pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _histogram(
    title: str, histograms: Mapping[str, Mapping[str, Any]], drift: Mapping[str, float]
) -> bytes:
    fig, ax = _figure()
    for partition, h in histograms.items():
        counts = h["counts"]
        total = sum(counts) or 1
        shares = [c / total for c in counts]
        label = partition + (f" (PSI {drift[partition]:.3f})" if partition in drift else "")
        color = _COLORS.get(partition)
        if "values" in h:  # few distinct values: a bar per value, partitions side by side
            index = list(histograms).index(partition)
            width = 0.8 / len(histograms)
            xs = [i + index * width for i in range(len(h["values"]))]
            ax.bar(xs, shares, width=width, label=label, color=color)
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(h["values"]))])
            ax.set_xticklabels([f"{v:g}" for v in h["values"]])
        else:
            edges = h["edges"]
            ax.stairs(shares, edges, label=label, color=color, fill=len(histograms) == 1,
                      alpha=0.9, linewidth=1.5)  # fmt: skip
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("share of rows", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8)
    return _png(fig)


def _bars(feature: str, title: str, series: Mapping[str, list[list[Any]]]) -> bytes:
    fig, ax = _figure(left=0.33)  # room for labels of up to 20 characters
    first = next(iter(series.values()))
    labels = [str(v) for v, _ in first][:8]
    width = 0.8 / len(series)
    for index, (partition, top) in enumerate(series.items()):
        counts = {str(v): n for v, n in top}
        total = sum(counts.values()) or 1
        ys = [i + index * width for i in range(len(labels))]
        ax.barh(ys, [counts.get(label, 0) / total for label in labels], height=width,
                label=partition, color=_COLORS.get(partition))  # fmt: skip
    ax.set_yticks([i + 0.4 - width / 2 for i in range(len(labels))])
    ax.set_yticklabels([label if len(label) <= 20 else label[:19] + "…" for label in labels])
    ax.invert_yaxis()
    ax.set_title(f"{feature}: {title}", fontsize=10)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8)
    return _png(fig)
