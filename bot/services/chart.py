"""The status chart: per-class bars for consent, codes delivered and codes activated (percent),
and plan tasks by status. PNG via matplotlib's Agg backend, with the shipped DejaVu Sans so that
Cyrillic class labels and titles render on any machine. Rendering is CPU work: callers run
`render_png` in a thread (`render_chart` does).
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bot.paths import CONTENT_DIR
from bot.services.status import StatusData

FONT_DIR = CONTENT_DIR / "fonts"
_FONT_LOCK = threading.Lock()
_fonts_ready = False
# matplotlib's pyplot state machine is not thread-safe; the object API on a fresh Figure is,
# but font registration and rcParams are global, so they are set once under a lock.
_RENDER_LOCK = threading.Lock()


@dataclass(frozen=True)
class ChartInput:
    title: str
    classes: list[str]
    series: list[tuple[str, list[float]]]  # (label, percent per class)
    tasks: list[tuple[str, int]] | None  # (status label, count)
    percent_label: str
    tasks_title: str
    no_data: str


def _ensure_fonts() -> None:
    global _fonts_ready
    with _FONT_LOCK:
        if _fonts_ready:
            return
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib import font_manager

        for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
            font_manager.fontManager.addfont(str(FONT_DIR / name))
        _fonts_ready = True


def chart_input(data: StatusData, t: Any) -> ChartInput:
    classes = list(data.classes)
    consent = [data.consent.per_class[c].percent if data.consent and c in data.consent.per_class else 0.0
               for c in classes]
    delivered: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in data.codes or []:
        if row.class_label:
            acc = delivered[row.class_label]
            acc[0] += row.imported
            acc[1] += row.delivered
            acc[2] += row.activated
    pct_delivered = [100 * delivered[c][1] / delivered[c][0] if delivered[c][0] else 0.0 for c in classes]
    pct_activated = [100 * delivered[c][2] / delivered[c][0] if delivered[c][0] else 0.0 for c in classes]
    series = []
    if data.consent is not None:
        series.append((t("status.chart_consent"), consent))
    if data.codes is not None:
        series.append((t("status.chart_delivered"), pct_delivered))
        series.append((t("status.chart_activated"), pct_activated))
    tasks = None
    if data.tasks is not None:
        tasks = [
            (t("status.chart_done"), data.tasks.done),
            (t("status.chart_open"), data.tasks.open),
            (t("status.chart_overdue"), data.tasks.overdue),
        ]
    title = t("status.title_class", cls=data.scope_class) if data.scope_class else t("status.chart_title")
    return ChartInput(
        title=title.replace("📊 ", ""),
        classes=classes,
        series=series,
        tasks=tasks,
        percent_label=t("status.chart_percent"),
        tasks_title=t("status.chart_tasks"),
        no_data=t("status.chart_no_data"),
    )


def render_png(chart: ChartInput) -> bytes:
    """Blocking: run in a thread."""
    _ensure_fonts()
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with _RENDER_LOCK:
        fig = Figure(figsize=(11, 5.5), dpi=110)
        fig.set_layout_engine("constrained")
        grid = fig.add_gridspec(1, 3)
        ax = fig.add_subplot(grid[0, :2])
        ax2 = fig.add_subplot(grid[0, 2])
        for axis in (ax, ax2):
            axis.spines[["top", "right"]].set_visible(False)
        fig.suptitle(chart.title, fontsize=15, fontweight="bold", fontfamily="DejaVu Sans")
        colors = ["#4C72B0", "#55A868", "#DD8452"]
        if chart.classes and chart.series:
            n = len(chart.series)
            width = 0.8 / n
            xs = list(range(len(chart.classes)))
            for i, (label, values) in enumerate(chart.series):
                pos = [x - 0.4 + width * (i + 0.5) for x in xs]
                bars = ax.bar(pos, values, width=width, label=label, color=colors[i % len(colors)])
                ax.bar_label(bars, labels=[f"{v:.0f}" for v in values], fontsize=8, padding=2)
            ax.set_xticks(xs, chart.classes, fontfamily="DejaVu Sans")
            ax.set_ylim(0, 110)
            ax.set_ylabel(chart.percent_label, fontfamily="DejaVu Sans")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncols=n, frameon=False,
                      prop={"family": "DejaVu Sans"})
            ax.grid(axis="y", alpha=0.3)
        else:
            ax.text(0.5, 0.5, chart.no_data, ha="center", va="center", transform=ax.transAxes, fontsize=13,
                    fontfamily="DejaVu Sans")
            ax.set_xticks([])
            ax.set_yticks([])
        ax2.set_title(chart.tasks_title, fontfamily="DejaVu Sans")
        if chart.tasks is not None:
            labels = [label for label, _ in chart.tasks]
            values = [v for _, v in chart.tasks]
            bars = ax2.bar(labels, values, color=["#55A868", "#4C72B0", "#C44E52"])
            ax2.bar_label(bars, fontsize=9, padding=2)
            ax2.set_ylim(0, max([*values, 1]) * 1.2)
            ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
            for tick in ax2.get_xticklabels():
                tick.set_fontfamily("DejaVu Sans")
        else:
            ax2.text(0.5, 0.5, chart.no_data, ha="center", va="center", transform=ax2.transAxes,
                     fontfamily="DejaVu Sans")
            ax2.set_xticks([])
            ax2.set_yticks([])
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()


async def render_chart(data: StatusData, t: Any) -> bytes:
    return await asyncio.to_thread(render_png, chart_input(data, t))
