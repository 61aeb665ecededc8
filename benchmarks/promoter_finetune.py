"""Fine-tune a pretrained backbone on the 70 bp core-promoter task: choose settings, then measure.

Two stages, each a set of ``genosparse train experiment=promoter task.init_from=<pretrained>``
runs (the model shape is read from the pretrained ``config.json``), run ``--parallel`` at a time
(on one GPU when there is one, else on the CPU):

- ``sweep``: the settings grid below, trained on 90% of ``prom_core_train.tsv`` and scored on
  the other 10% (a seeded, label-stratified split written under ``--out``). The settings with
  the best final-epoch MCC on that split go to ``<out>/best.json``. ``prom_core_val.tsv`` is not
  read, so the reported validation figures are not chosen on it.
- ``final``: the chosen settings (``--settings``, default ``<out>/best.json``) trained on all of
  ``prom_core_train.tsv`` with each ``--seeds``, scored on ``prom_core_val.tsv`` at the last
  epoch; prints each seed and the mean and standard deviation.

Usage: ``python benchmarks/promoter_finetune.py --data-dir ../shared/data --init-from DIR|chr20-mlm
[--stages sweep final] [--out runs/finetune] [--parallel 6] [--seeds 0 1 2]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from genosparse.pretrained import PRETRAINED, pretrained_path
from promoter_patterns import final_metrics  # run as a script: benchmarks/ is on sys.path

GRID = [{"lr": lr, "epochs": epochs, "dropout": dropout}
        for lr, epochs, dropout in itertools.product((1e-4, 3e-4, 1e-3), (8, 20), (0.1, 0.3))]
METRICS = ("val/accuracy", "val/f1", "val/mcc", "val/auroc")  # reported


def split_train(train: Path, out: Path, dev_fraction: float = 0.1, seed: int = 0) -> tuple[Path, Path]:
    """Write a label-stratified ``(train, dev)`` split of a ``sequence<TAB>label`` TSV."""
    with open(train) as handle:
        header, *rows = handle.read().splitlines()
    rng = random.Random(seed)
    keep, dev = [], []
    for label in sorted({row.rsplit("\t", 1)[1] for row in rows}):
        group = [row for row in rows if row.rsplit("\t", 1)[1] == label]
        rng.shuffle(group)
        cut = round(len(group) * dev_fraction)
        dev += group[:cut]
        keep += group[cut:]
    out.mkdir(parents=True, exist_ok=True)
    paths = out / "train.tsv", out / "dev.tsv"
    for path, part in zip(paths, (keep, dev)):
        path.write_text("\n".join([header, *part]) + "\n")
    return paths


def train(settings: dict, seed: int, train_tsv: Path, val_tsv: Path, init_from: Path, run_dir: Path) -> dict:
    """One fine-tuning run; returns its final validation metrics and wall time."""
    shape = json.loads((init_from / "config.json").read_text())["model"]
    command = [sys.executable, "-m", "genosparse.cli.main", "train", "experiment=promoter",
               f"trainer={'gpu' if torch.cuda.is_available() else 'cpu'}", f"task.init_from={init_from}",
               *(f"model.{k}={shape[k]}" for k in ("d_model", "num_layers", "num_heads", "mlp_ratio")),
               f"model.dropout={settings['dropout']}", f"task.optimizer.lr={settings['lr']}",
               f"trainer.max_epochs={settings['epochs']}", "task.lr_schedule=cosine", f"seed={seed}",
               f"data.train={train_tsv}", f"data.val={val_tsv}", f"output_dir={run_dir}",
               "trainer.enable_progress_bar=false"]
    start = time.perf_counter()
    log = run_dir.with_suffix(".log")
    with open(log, "w") as handle:
        code = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT).returncode
    if code:
        raise SystemExit(f"promoter_finetune: the run in {run_dir} failed (exit {code}); see {log}")
    return {**final_metrics(run_dir), "seconds": time.perf_counter() - start}


def run_all(jobs: list[tuple], parallel: int) -> list[dict]:
    """Run ``train(*job)`` for every job, ``parallel`` at a time, in order of the jobs."""
    for job in jobs:
        job[-1].parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(lambda job: train(*job), jobs))


def row(settings: dict, metrics: dict) -> str:
    cells = " | ".join(f"{metrics[m]:.3f}" for m in METRICS)
    return f"| {settings['lr']:g} | {settings['epochs']} | {settings['dropout']} | {cells} | {metrics['seconds']:.0f} |"


HEADER = "| lr | epochs | dropout | accuracy | F1 | MCC | AUROC | s |\n|---|---|---|---|---|---|---|---|"


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace, promoters: Path) -> None:
    """Resolve a shipped ``--init-from`` name and stop with one line on arguments that cannot work."""
    if str(args.init_from) in PRETRAINED:
        args.init_from = pretrained_path(str(args.init_from))
    if not (args.init_from / "config.json").is_file():
        parser.error(f"--init-from {args.init_from}: not a checkpoint folder (no config.json)")
    for name in ("prom_core_train.tsv", "prom_core_val.tsv"):
        if not (promoters / name).is_file():
            parser.error(f"--data-dir {args.data_dir}: {promoters / name} is missing")
    if args.parallel < 1 or len(set(args.seeds)) != len(args.seeds):
        parser.error("--parallel must be >= 1 and --seeds distinct")
    if "final" in args.stages and "sweep" not in args.stages:
        settings = args.settings or args.out / "best.json"
        try:
            values = json.loads(settings.read_text())
        except (OSError, ValueError) as err:
            parser.error(f"--settings {settings}: {err}; run --stages sweep first or pass a JSON file")
        if not isinstance(values, dict) or set(values) != set(GRID[0]):
            parser.error(f"--settings {settings}: need exactly the keys {', '.join(GRID[0])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--init-from", type=Path, required=True, help="pretrained checkpoint folder")
    parser.add_argument("--stages", nargs="+", default=["sweep", "final"], choices=["sweep", "final"])
    parser.add_argument("--out", type=Path, default=Path("runs/finetune"))
    parser.add_argument("--settings", type=Path, help="settings JSON for 'final' (default <out>/best.json)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--parallel", type=int, default=6 if torch.cuda.is_available() else 1,
                        help="runs at a time (default: 6 on a GPU, else 1)")
    args = parser.parse_args()
    promoters = args.data_dir / "promoters"
    check_arguments(parser, args, promoters)
    if "sweep" in args.stages:
        train_tsv, dev_tsv = split_train(promoters / "prom_core_train.tsv", args.out / "split")
        jobs = [(s, 0, train_tsv, dev_tsv, args.init_from, args.out / "sweep" / f"run{i}") for i, s in enumerate(GRID)]
        results = run_all(jobs, args.parallel)
        print(f"sweep: trained on {train_tsv}, scored on {dev_tsv}, seed 0, final epoch\n{HEADER}")
        print("\n".join(row(s, m) for s, m in zip(GRID, results)))
        best = max(zip(GRID, results), key=lambda pair: pair[1]["val/mcc"])[0]
        (args.out / "best.json").write_text(json.dumps(best) + "\n")
        print(f"best on the dev split: {best}")
    if "final" in args.stages:
        settings = json.loads((args.settings or args.out / "best.json").read_text())
        jobs = [(settings, seed, promoters / "prom_core_train.tsv", promoters / "prom_core_val.tsv", args.init_from,
                 args.out / "final" / f"seed{seed}") for seed in args.seeds]
        results = run_all(jobs, args.parallel)
        print(f"final: {settings}, trained on prom_core_train.tsv, scored on prom_core_val.tsv, final epoch")
        print(HEADER.replace("| lr |", "| seed | lr |").replace("|---|", "|---|---|", 1))
        for seed, metrics in zip(args.seeds, results):
            print(f"| {seed} {row(settings, metrics)}")
        summary = {m: (statistics.mean(r[m] for r in results), statistics.pstdev(r[m] for r in results))
                   for m in METRICS}
        print("mean (sd): " + ", ".join(f"{m} {mu:.3f} ({sd:.3f})" for m, (mu, sd) in summary.items()))


if __name__ == "__main__":
    main()
