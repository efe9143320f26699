"""Charts as inline SVG text, drawn by matplotlib without pyplot or a display.

An SVG string goes straight into the HTML page: no image files beside it, no server, no
script and no network, and text stays sharp at any zoom. Figures are built with the
object API (`Figure`), so nothing global is touched and drawing is thread-safe.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

WIDTH, HEIGHT = 6.4, 3.4
"""Inches at 100 dpi: two charts side by side fit a laptop screen."""
BLUE, GREY, RED = "#3465a4", "#888a85", "#cc0000"

mpl.rcParams.update(
    {
        "svg.hashsalt": "mqlsync",  # stable element ids: same data, same bytes
        "svg.fonttype": "path",  # text as outlines: no font needed where it is opened
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)


def svg(figure: Figure) -> str:
    """The figure as an `<svg>` element, without the XML prolog and DOCTYPE (which are
    not allowed inside an HTML body) and without a creation date (stable output)."""
    buffer = io.StringIO()
    figure.savefig(
        buffer,
        format="svg",
        bbox_inches="tight",
        metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
    )
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _figure(title: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=100)
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=10)
    return figure, axes


def empty(title: str, message: str) -> str:
    """A chart-sized box saying why there is nothing to draw."""
    figure = Figure(figsize=(WIDTH, 1.2), dpi=100)
    figure.text(0.02, 0.75, title, fontsize=10)
    figure.text(0.02, 0.3, message, color=GREY)
    return svg(figure)


def bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    ylabel: str = "",
    percent: bool = False,
    horizontal: bool = False,
    reference: float | None = None,
    annotate: Callable[[float], str] | None = None,
) -> str:
    """A bar chart; `reference` draws a dashed line (e.g. the overall rate, or lift 1)."""
    if not labels:
        return empty(title, "no data yet")
    figure, axes = _figure(title)
    positions = range(len(labels))
    if horizontal:
        height = max(HEIGHT, 0.28 * len(labels) + 0.8)
        figure.set_size_inches(WIDTH, height)
        drawn = axes.barh(positions, values, color=BLUE)
        axes.set_yticks(list(positions), labels)
        axes.invert_yaxis()
        axes.set_xlabel(ylabel)
        if reference is not None:
            axes.axvline(reference, color=RED, linestyle="--", linewidth=1)
    else:
        drawn = axes.bar(positions, values, color=BLUE)
        axes.set_xticks(list(positions), labels, rotation=45 if len(labels) > 8 else 0,
                        ha="right" if len(labels) > 8 else "center")  # fmt: skip
        axes.set_ylabel(ylabel)
        if reference is not None:
            axes.axhline(reference, color=RED, linestyle="--", linewidth=1)
    value_axis = axes.xaxis if horizontal else axes.yaxis
    if percent:
        value_axis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    elif all(float(v).is_integer() for v in values):
        value_axis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.5 records
    if annotate is not None:
        axes.bar_label(drawn, labels=[annotate(v) for v in values], fontsize=7, padding=2)
    return svg(figure)


def roc(points: Sequence[tuple[float, float]], auc: float | None) -> str:
    """The ROC curve of the score with the chance diagonal."""
    title = "ROC curve of the total score" + (f" (AUC {auc:.3f})" if auc is not None else "")
    if not points:
        return empty(title, "needs both converted and unconverted records")
    figure = Figure(figsize=(4.2, 4.0), dpi=100)
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=10)
    axes.plot([0, 1], [0, 1], color=GREY, linestyle="--", linewidth=1, label="chance")
    axes.plot([p[0] for p in points], [p[1] for p in points], color=BLUE, linewidth=2,
              label="score")  # fmt: skip
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate (capture)")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.legend(loc="lower right", frameon=False)
    return svg(figure)


def histogram(title: str, values: Sequence[float], *, xlabel: str, bins: int = 20) -> str:
    """How values spread (e.g. days from creation to MQL)."""
    if not values:
        return empty(title, "no data yet")
    figure, axes = _figure(title)
    axes.hist(values, bins=bins, color=BLUE)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("records")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    return svg(figure)


def stacked(
    title: str, labels: Sequence[str], series: dict[str, Sequence[float]], *, ylabel: str
) -> str:
    """Bars stacked by series (e.g. records per grade, split by route)."""
    if not labels:
        return empty(title, "no data yet")
    figure, axes = _figure(title)
    bottom = [0.0] * len(labels)
    palette = [BLUE, "#73d216", "#f57900", "#75507b", GREY, RED]
    for index, (name, values) in enumerate(series.items()):
        axes.bar(range(len(labels)), values, bottom=bottom, label=name,
                 color=palette[index % len(palette)])  # fmt: skip
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_xticks(list(range(len(labels))), labels)
    axes.set_ylabel(ylabel)
    axes.legend(frameon=False, fontsize=8)
    return svg(figure)
