"""Pictures of feature statistics: a histogram per feature (every partition on shared bins)
or its top values, as SVG embedded in Markdown so Dagit shows them.

No Spark here: the pictures are drawn from the statistics' JSON (`spark/statistics.py`).

Written as SVG text by hand rather than drawn with a plotting library: a picture is a title,
two axes, a few rectangles or one step line per partition and a legend, which is a few dozen
lines of SVG, while matplotlib took about 60 ms per picture (a store's run draws one per
feature per asset) and half a second to import in every fresh process. Dagit's Markdown
accepts `data:` image sources; the browser renders the SVG, sharp at any zoom.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

_COLORS = {"train": "#4C78A8", "validation": "#F58518", "test": "#54A24B", "all": "#4C78A8"}
_OTHER = ("#B279A2", "#E45756", "#72B7B2", "#9D755D")
_MEASURE = {"numeric": None, "text": "length", "tokens": "length", "vector": "norm"}

WIDTH, HEIGHT = 400, 208  # pixels, as Dagit shows them
_TOP, _BOTTOM, _RIGHT = 26, 22, 8  # margins around the plot area
_FONT = 'font-family="Helvetica, Arial, sans-serif"'
_TOP_LABELS = 8  # top values shown per picture
_LABEL_CHARS = 20
_HEADROOM = 1.3  # the axis reaches 30 % past the longest bar: room for the legend


def histograms_markdown(stats: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """`{"histogram_<feature>": Markdown with the picture}` for every feature that has one."""
    pictures = {}
    for feature, summary in stats.items():
        svg = feature_svg(feature, summary)
        if svg is not None:
            encoded = base64.b64encode(svg.encode("utf-8")).decode("ascii")
            pictures[f"histogram_{feature}"] = f"![{feature}](data:image/svg+xml;base64,{encoded})"
    return pictures


def feature_svg(feature: str, summary: Mapping[str, Any]) -> str | None:
    """The SVG of one feature's histogram (or top values), None when there is nothing to draw.
    Each partition's marks are in a `<g data-partition="...">`."""
    kind = summary.get("kind")
    partitions: Mapping[str, Any] = summary.get("partitions", {})
    if kind == "categorical":
        series = {p: s["top_values"] for p, s in partitions.items() if s.get("top_values")}
        return _top_values(f"{feature}: top values (share of rows)", series) if series else None
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


def _histogram(
    title: str, histograms: Mapping[str, Mapping[str, Any]], drift: Mapping[str, float]
) -> str:
    shares = {p: _shares(h["counts"]) for p, h in histograms.items()}
    y_ticks = _share_ticks(shares.values())
    plot = _Plot(left=48, y_top=y_ticks[-1])
    marks: list[str] = []
    first = next(iter(histograms.values()))
    if "values" in first:  # few distinct values: a bar per value, partitions side by side
        values = first["values"]
        slot = plot.width / max(len(values), 1)
        bar = slot * 0.8 / len(histograms)
        for index, (partition, share) in enumerate(shares.items()):
            rects = [
                plot.rect(i * slot + slot * 0.1 + index * bar, bar, y) for i, y in enumerate(share)
            ]
            marks.append(_group(partition, index, rects, fill=True))
        x_axis = [(plot.x0 + (i + 0.5) * slot, _number(v)) for i, v in enumerate(values)]
    else:
        edges = first["edges"]
        low, high = edges[0], edges[-1]
        span = high - low
        for index, (partition, share) in enumerate(shares.items()):
            own = histograms[partition]["edges"]
            xs = (
                [plot.x0 + plot.width * (e - low) / span for e in own]
                if span
                else [plot.x0, plot.x1]  # one value: one bin across the plot
            )
            points = [f"{xs[0]:.1f},{plot.y(0):.1f}"]
            for i, y in enumerate(share):
                points += [f"{xs[i]:.1f},{plot.y(y):.1f}", f"{xs[i + 1]:.1f},{plot.y(y):.1f}"]
            points.append(f"{xs[-1]:.1f},{plot.y(0):.1f}")
            filled = len(histograms) == 1
            line = f'<polyline points="{" ".join(points)}"/>'
            marks.append(_group(partition, index, [line], fill=filled))
        if span:
            x_axis = [
                (plot.x0 + plot.width * (t - low) / span, _number(t)) for t in _ticks(low, high)
            ]
            x_axis = [(x, label) for x, label in x_axis if plot.x0 - 1 <= x <= plot.x1 + 1]
        else:
            x_axis = [((plot.x0 + plot.x1) / 2, _number(low))]
    legend = [(p, p + (f" (PSI {drift[p]:.3f})" if p in drift else "")) for p in histograms]
    return _svg(
        title,
        plot.frame(),
        plot.y_axis(y_ticks, "share of rows"),
        plot.x_axis(x_axis),
        *marks,
        _legend(legend, plot.x1),
    )


def _top_values(title: str, series: Mapping[str, Sequence[Sequence[Any]]]) -> str:
    first = next(iter(series.values()))
    labels = [str(v) for v, _ in first][:_TOP_LABELS]
    shares = {}
    for partition, top in series.items():
        counts = {str(v): n for v, n in top}
        total = sum(counts.values()) or 1
        shares[partition] = [counts.get(label, 0) / total for label in labels]
    x_ticks = _share_ticks(shares.values())
    plot = _Plot(left=132, y_top=1.0)  # room for labels of up to 20 characters
    slot = plot.height / max(len(labels), 1)
    bar = slot * 0.8 / len(series)
    scale = plot.width / (x_ticks[-1] or 1.0)
    marks = []
    for index, (partition, share) in enumerate(shares.items()):
        rects = [
            f'<rect x="{plot.x0:.1f}" y="{plot.y0 + i * slot + slot * 0.1 + index * bar:.1f}" '
            f'width="{s * scale:.1f}" height="{bar:.1f}"/>'
            for i, s in enumerate(share)
        ]
        marks.append(_group(partition, index, rects, fill=True))
    names = [
        _text(plot.x0 - 4, plot.y0 + (i + 0.5) * slot + 3, _shorten(label), anchor="end")
        for i, label in enumerate(labels)
    ]
    ticks = plot.x_axis([(plot.x0 + t * scale, _number(t)) for t in x_ticks])
    legend = [(p, p) for p in series]
    return _svg(title, plot.frame(), *names, ticks, *marks, _legend(legend, plot.x1))


class _Plot:
    """The plot area in pixels, with y from 0 to `y_top` upwards."""

    def __init__(self, left: float, y_top: float) -> None:
        self.x0, self.x1 = left, WIDTH - _RIGHT
        self.y0, self.y1 = _TOP, HEIGHT - _BOTTOM
        self.width, self.height = self.x1 - self.x0, self.y1 - self.y0
        self.y_top = y_top or 1.0

    def y(self, value: float) -> float:
        return self.y1 - self.height * value / self.y_top

    def rect(self, x: float, width: float, value: float) -> str:
        top = self.y(value)
        return (
            f'<rect x="{self.x0 + x:.1f}" y="{top:.1f}" width="{width:.1f}" '
            f'height="{self.y1 - top:.1f}"/>'
        )

    def frame(self) -> str:
        return (
            f'<rect x="{self.x0}" y="{self.y0}" width="{self.width}" height="{self.height}" '
            'fill="none" stroke="#999"/>'
        )

    def y_axis(self, ticks: Sequence[float], label: str) -> str:
        parts = [_text(self.x0 - 4, self.y(t) + 3, _number(t), anchor="end") for t in ticks]
        middle = (self.y0 + self.y1) / 2
        parts.append(
            f'<text x="10" y="{middle:.1f}" transform="rotate(-90 10 {middle:.1f})" '
            f'text-anchor="middle" font-size="8">{escape(label)}</text>'
        )
        return "".join(parts)

    def x_axis(self, ticks: Sequence[tuple[float, str]]) -> str:
        return "".join(_text(x, self.y1 + 13, label, anchor="middle") for x, label in ticks)


def _svg(title: str, *parts: str) -> str:
    heading = _text(WIDTH / 2, 16, title, anchor="middle", size=10)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" {_FONT}>'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>{heading}{"".join(parts)}</svg>'
    )


def _group(partition: str, index: int, marks: Sequence[str], *, fill: bool) -> str:
    color = _color(partition, index)
    paint = (
        f'fill="{color}" fill-opacity="0.9"'
        if fill
        else f'fill="none" stroke="{color}" stroke-width="1.5"'
    )
    return f"<g data-partition={quoteattr(partition)} {paint}>{''.join(marks)}</g>"


def _legend(entries: Sequence[tuple[str, str]], right: float) -> str:
    # A white box under the entries, so bars behind the legend do not hide its text (the
    # width is estimated: about 4.7 pixels per character at this size).
    width = 18 + 4.7 * max((len(label) for _, label in entries), default=0)
    parts = [
        f'<rect x="{right - width:.1f}" y="{_TOP + 1}" width="{width - 1:.1f}" '
        f'height="{12 * len(entries) + 2}" fill="white" fill-opacity="0.85"/>'
    ]
    for i, (partition, label) in enumerate(entries):
        y = _TOP + 8 + i * 12
        parts.append(
            f'<rect x="{right - 10:.1f}" y="{y - 7}" width="8" height="8" '
            f'fill="{_color(partition, i)}"/>'
        )
        parts.append(_text(right - 14, y, label, anchor="end"))
    return "".join(parts)


def _text(x: float, y: float, text: str, *, anchor: str, size: int = 8) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}">'
        f"{escape(text)}</text>"
    )


def _color(partition: str, index: int) -> str:
    return _COLORS.get(partition) or _OTHER[index % len(_OTHER)]


def _shares(counts: Sequence[float]) -> list[float]:
    total = sum(counts) or 1
    return [c / total for c in counts]


def _share_ticks(shares: Iterable[Sequence[float]]) -> list[float]:
    """Ticks of a share axis reaching past the longest bar, leaving room for the legend."""
    return _ticks(0.0, _HEADROOM * max((max(s, default=0.0) for s in shares), default=0.0))


def _ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering low..high."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low, low + 1.0] if math.isfinite(low) else [0.0, 1.0]
    raw = (high - low) / (most - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    count = math.ceil((high - start) / step - 1e-9)
    return [round(start + k * step, 12) for k in range(count + 1)]


def _number(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _shorten(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"
