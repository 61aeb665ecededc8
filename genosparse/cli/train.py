"""``genosparse train``: Hydra-composed training run (the only module that imports Hydra)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import hydra
import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, OmegaConf

from genosparse.cli.common import run_command
from genosparse.errors import GenosparseError
from genosparse.tasks.curves import plot_training_curves


def build(cfg: DictConfig) -> tuple[L.LightningModule, L.LightningDataModule, L.Trainer]:
    """Instantiate the task, data module and trainer a composed config describes."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    model["attention"] = OmegaConf.to_container(cfg.attention, resolve=True)
    task = instantiate(cfg.task, model=model, _convert_="all")
    datamodule = instantiate(cfg.data)
    trainer = instantiate(cfg.trainer, logger=CSVLogger(cfg.output_dir, name="logs", version=""))
    return task, datamodule, trainer


def run(cfg: DictConfig) -> dict[str, float]:
    """Train, export the model to ``cfg.checkpoint_dir``, plot ``training_curves.png`` and return the
    final validation metrics."""
    L.seed_everything(cfg.seed, workers=True)
    task, datamodule, trainer = build(cfg)
    trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {}
    if cfg.final_validation and not trainer.fast_dev_run:
        metrics = {k: float(v) for k, v in trainer.validate(task, datamodule=datamodule, verbose=False)[0].items()}
    checkpoint = task.export(cfg.checkpoint_dir)
    print(f"checkpoint: {checkpoint}")
    logs = Path(cfg.output_dir) / "logs"
    print(f"logs:       {logs}")
    curves = Path(cfg.output_dir) / "training_curves.png"
    if (logs / "metrics.csv").is_file() and plot_training_curves(logs / "metrics.csv", curves):
        print(f"curves:     {curves}")
    for name, value in metrics.items():
        print(f"{name:<14}{value:.4f}")
    return metrics


def _input_error(err: BaseException) -> GenosparseError | None:
    """The GenosparseError behind ``err`` (Hydra wraps errors raised while instantiating)."""
    while err is not None and not isinstance(err, GenosparseError):
        err = err.__cause__ if isinstance(err, InstantiationException) else None
    return err


@hydra.main(version_base="1.3", config_path="pkg://genosparse.conf", config_name="train")
def _main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (GenosparseError, InstantiationException) as err:
        cause = _input_error(err)
        if cause is None:
            raise
        print(f"genosparse train: error: {cause}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str]) -> None:
    """Run ``genosparse train`` with Hydra overrides ``argv``."""
    sys.argv = ["genosparse train", *argv]
    # Lightning's own use of a deprecated torch API, not actionable by our users
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated")
    run_command("train", _main)
