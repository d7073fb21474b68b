"""Charts for rapport.html as PNG bytes (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
from typing import Callable

import pandas as pd

from listener.reports import background


def _plt():  # noqa: ANN202 - the pyplot module
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:  # noqa: ANN001 - a matplotlib Figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    _plt().close(fig)
    return buf.getvalue()


def theme_trend_png(trend: pd.DataFrame, title: str) -> bytes:
    """Lines: unique posts per theme per week (rows: weeks, columns: themes)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 4.5), layout="constrained")
    shown = [c for c in trend.columns if trend[c].sum() > 0] or list(trend.columns[:1])
    cmap = plt.get_cmap("tab20")
    for i, theme in enumerate(shown):
        ax.plot(list(trend.index), trend[theme].tolist(), marker="o", markersize=3, label=theme, color=cmap(i))
    ax.set_title(title)
    ax.set_xlabel("week")
    ax.set_ylabel("unieke berichten")
    ax.tick_params(axis="x", labelrotation=45)
    ax.grid(True, alpha=0.3)
    ax.set_ylim(bottom=0)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    return _png(fig)


def heatmap_png(matrix: pd.DataFrame, title: str, min_count: int = 1) -> bytes:
    """Municipalities (rows) × themes (columns), cells annotated; cells under ``min_count`` hidden."""
    plt = _plt()
    rows, cols = max(len(matrix.index), 1), max(len(matrix.columns), 1)
    fig, ax = plt.subplots(figsize=(min(3 + 0.8 * cols, 14), min(2 + 0.35 * rows, 14)), layout="constrained")
    if matrix.empty:
        ax.text(0.5, 0.5, "geen berichten met een gemeente deze week", ha="center", va="center")
        ax.set_axis_off()
        ax.set_title(title)
        return _png(fig)
    values = matrix.where(matrix >= min_count, 0) if min_count > 1 else matrix
    ax.imshow(values.to_numpy(dtype=float), cmap="YlOrRd", aspect="auto", vmin=0)
    ax.set_xticks(range(len(matrix.columns)), labels=list(matrix.columns), rotation=45, ha="right")
    ax.set_yticks(range(len(matrix.index)), labels=list(matrix.index))
    top = float(values.to_numpy().max() or 1)
    for i in range(len(matrix.index)):
        for j in range(len(matrix.columns)):
            v = int(matrix.iat[i, j])
            if v == 0:
                continue
            label = f"<{min_count}" if v < min_count else str(v)
            ax.text(j, i, label, ha="center", va="center", fontsize=8,
                    color="white" if v >= min_count and v > top * 0.6 else "black")
    ax.set_title(title)
    return _png(fig)


def _render(trend: pd.DataFrame, trend_title: str, matrix: pd.DataFrame, heatmap_title: str,
            min_count: int) -> tuple[bytes, bytes]:
    return theme_trend_png(trend, trend_title), heatmap_png(matrix, heatmap_title, min_count)


def prepare() -> None:
    """Import matplotlib (most of the charts' time): run in a process that draws later."""
    _plt()


def render_in_background(trend: pd.DataFrame, trend_title: str, matrix: pd.DataFrame, heatmap_title: str,
                         min_count: int = 1, worker: background.Worker | None = None
                         ) -> Callable[[], tuple[bytes, bytes]]:
    """Draw both charts in another process (``worker``, else a new one).

    The returned function gives the (trend, heatmap) PNGs.
    """
    return (worker or background.Worker()).run(_render, trend, trend_title, matrix, heatmap_title, min_count)
