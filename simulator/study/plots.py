"""The study's plots (matplotlib, Agg backend): one PNG per plot spec, grouped bars or lines, with one
panel per value of ``panel`` and one bar group or line per value of ``series``."""

from __future__ import annotations

from pathlib import Path

from simulator.fileio import atomic_output
from simulator.study.spec import PlotSpec


def _values(rows, col) -> list:
    return list(dict.fromkeys(r[col] for r in rows))


def render_plot(plot: PlotSpec, rows: list[dict], path: Path) -> bool:
    """Writes ``path``; False (and nothing written) when no row has a value to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get(plot.y) not in ("", None) and r.get(plot.x) not in ("", None)
            and all(str(r.get(k)) == str(v) for k, v in plot.where.items())]
    if not rows:
        return False
    panels = _values(rows, plot.panel) if plot.panel else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(max(6.0, 4.2 * len(panels)), 4.2), squeeze=False,
                             sharey=True)
    for ax, panel in zip(axes[0], panels):
        sub = [r for r in rows if plot.panel is None or r[plot.panel] == panel]
        series = _values(sub, plot.series) if plot.series else [None]
        if plot.kind == "bar":
            xs = _values(sub, plot.x)
            width = 0.8 / len(series)
            for k, s in enumerate(series):
                pts = {r[plot.x]: r[plot.y] for r in sub if plot.series is None or r[plot.series] == s}
                pos = [i + (k - (len(series) - 1) / 2) * width for i, x in enumerate(xs) if x in pts]
                ax.bar(pos, [pts[x] for x in xs if x in pts], width, label=str(s) if s is not None else None)
            ax.set_xticks(range(len(xs)), [str(x) for x in xs], rotation=30, ha="right")
        else:
            for s in series:
                pts = sorted((r[plot.x], r[plot.y]) for r in sub if plot.series is None or r[plot.series] == s)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=str(s) if s is not None else None)
            if plot.log_x:
                ax.set_xscale("log", base=2)
        if plot.log_y:
            ax.set_yscale("log")
        ax.set_xlabel(plot.x)
        ax.set_title(f"{plot.panel} = {panel}" if plot.panel else "", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    if plot.series:  # one legend, outside the last panel, so it never hides a bar
        axes[0][-1].legend(fontsize=8, title=plot.series, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    axes[0][0].set_ylabel(plot.y)
    fig.suptitle(plot.title or f"{plot.y} by {plot.x}", fontsize=11)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return True


def render_plots(plots: tuple[PlotSpec, ...], rows: list[dict], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for plot in plots:
        path = folder / f"{plot.name}.png"
        if render_plot(plot, rows, path):
            written.append(path)
    return written
