"""Training curves: the metrics Lightning's ``CSVLogger`` wrote, plotted against the step as a PNG."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from genosparse.io import atomic_output


def read_metric_series(metrics_csv: str | os.PathLike) -> dict[str, tuple[list[int], list[float]]]:
    """``name -> (steps, values)`` of every metric with at least one value in a CSVLogger ``metrics.csv``."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    with open(metrics_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            for name, value in row.items():
                if name in ("epoch", "step") or not value:
                    continue
                steps, values = series.setdefault(name, ([], []))
                steps.append(int(row["step"]))
                values.append(float(value))
    return series


def plot_training_curves(metrics_csv: str | os.PathLike, out_png: str | os.PathLike) -> list[str]:
    """Write the training curves of a run to ``out_png``: losses (train and validation) in the
    first panel, the other metrics (accuracy, F1, MCC, AUROC, ...) in the second.

    Args:
        metrics_csv: the ``logs/metrics.csv`` of a ``genosparse train`` run (Lightning ``CSVLogger``).
        out_png: the PNG to write (atomically).
    Returns:
        The metric names plotted; empty (and nothing written) when the CSV holds no values.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = read_metric_series(metrics_csv)
    if not series:
        return []
    losses = sorted(n for n in series if n.endswith("loss"))
    others = sorted(n for n in series if not n.endswith("loss"))
    panels = [(names, label) for names, label in ((losses, "loss"), (others, "metric")) if names]
    figure = Figure(figsize=(6.0 * len(panels), 4.0))
    FigureCanvasAgg(figure)
    for index, (names, label) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), index)
        for name in names:
            steps, values = series[name]
            axes.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=name)
        axes.set_xlabel("step")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.suptitle(f"training curves: {Path(metrics_csv).parent.parent.name}")
    figure.tight_layout()
    with atomic_output(out_png, "wb") as out:
        figure.savefig(out, format="png", dpi=110)
    return losses + others
