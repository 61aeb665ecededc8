"""Promoter task: every attention pattern trained the same way, validation metrics side by side.

Runs ``genosparse train experiment=promoter attention=<pattern>`` once per pattern (tiny
2-layer model, 8 epochs, CPU, seed 0) with 8-token blocks, so that the 70 tokens of a 70 bp
core-promoter sequence make 9 blocks and each pattern is really sparse; the per-pattern settings
below give each query block 3-5 of the 9 key blocks (dense: all 9). Reads each run's final
validation metrics from its ``logs/metrics.csv``.

Usage: ``python benchmarks/promoter_patterns.py --data-dir ../shared/data [--out runs/patterns]
[--patterns window bigbird ...] [--seeds 0 1]``. Prints a markdown table (mean over seeds).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {
    "window": ["attention.window=8"],
    "bigbird": ["attention.num_window_blocks=3", "attention.num_global_blocks=1", "attention.num_random_blocks=1"],
    "dilated": ["attention.num_window_blocks=3", "attention.num_global_blocks=1"],
    "fixed": ["attention.stride=3", "attention.num_summary_blocks=1"],
    "learned": ["attention.num_window_blocks=1", "attention.num_selected_blocks=3"],
    "lsh": ["attention.num_buckets=8", "attention.num_hashes=2"],
    "dense": [],
}
METRICS = ("val/accuracy", "val/f1", "val/mcc", "val/auroc", "val/loss")


def final_metrics(run_dir: Path) -> dict[str, float]:
    """The last logged value of each validation metric of a run."""
    values: dict[str, float] = {}
    with open(run_dir / "logs" / "metrics.csv") as handle:
        for row in csv.DictReader(handle):
            values.update({m: float(row[m]) for m in METRICS if row.get(m)})
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", default="runs/patterns")
    parser.add_argument("--patterns", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = parser.parse_args()
    rows = []
    for pattern in args.patterns:
        runs, seconds = [], []
        for seed in args.seeds:
            run_dir = Path(args.out) / f"{pattern}_seed{seed}"
            command = [sys.executable, "-m", "genosparse.cli.main", "train", "experiment=promoter",
                       f"attention={pattern}", "attention.block_size=8", *SETTINGS[pattern], f"seed={seed}",
                       f"data_dir={args.data_dir}", f"output_dir={run_dir}", "trainer.enable_progress_bar=false"]
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            seconds.append(time.perf_counter() - start)
            runs.append(final_metrics(run_dir))
        mean = {m: statistics.mean(r[m] for r in runs) for m in METRICS}
        rows.append((pattern, " ".join(SETTINGS[pattern]) or "all blocks", mean, statistics.mean(seconds)))
    print(f"| pattern | settings (block_size 8) | accuracy | F1 | MCC | AUROC | val loss | train s |")
    print("|---|---|---|---|---|---|---|---|")
    for pattern, settings, mean, secs in rows:
        cells = " | ".join(f"{mean[m]:.3f}" for m in METRICS)
        print(f"| {pattern} | {settings} | {cells} | {secs:.0f} |")


if __name__ == "__main__":
    main()
