"""``genosparse train``: Hydra-composed training run (the only module that imports Hydra)."""

from __future__ import annotations

import signal
import sys
import warnings
from pathlib import Path

import hydra
import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from genosparse.cli.common import run_command
from genosparse.errors import GenosparseError, TrainingError
from genosparse.tasks.curves import plot_training_curves


def build(cfg: DictConfig) -> tuple[L.LightningModule, L.LightningDataModule, L.Trainer]:
    """Instantiate the task, data module and trainer a composed config describes."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    model["attention"] = OmegaConf.to_container(cfg.attention, resolve=True)
    task = instantiate(cfg.task, model=model, _convert_="all")
    datamodule = instantiate(cfg.data)
    callbacks = [instantiate(callback) for callback in cfg.get("callbacks", {}).values()]
    trainer = instantiate(cfg.trainer, logger=CSVLogger(cfg.output_dir, name="logs", version=""),
                          callbacks=callbacks)
    return task, datamodule, trainer


def resume_path(cfg: DictConfig) -> str | None:
    """``cfg.ckpt_path``, with ``last`` resolved to the newest ``.ckpt`` in ``cfg.ckpt_dir``.

    Raises:
        TrainingError: ``last`` and this run folder has no checkpoint (names the newest run folder that has one).
    """
    if cfg.get("ckpt_path") != "last":
        return cfg.get("ckpt_path")
    ckpt_dir, run_dir = Path(cfg.ckpt_dir), Path(cfg.output_dir)
    if found := _newest(ckpt_dir.glob("*.ckpt")):
        return str(found)
    hint = ""
    if ckpt_dir.is_relative_to(run_dir):  # look in the sibling run folders, e.g. runs/*/logs/checkpoints
        inside = ckpt_dir.relative_to(run_dir)
        if other := _newest(run_dir.parent.glob(f"*/{inside}/*.ckpt")):
            hint = f"; the newest run folder with one is {other.parents[len(inside.parts)]}"
    raise TrainingError(f"ckpt_path=last: no checkpoint in {cfg.ckpt_dir}{hint}. Resume a run in its own folder: "
                        "hydra.run.dir=<run folder> ckpt_path=last")


def _newest(paths) -> Path | None:
    return max(paths, key=lambda path: path.stat().st_mtime, default=None)


def fit(trainer: L.Trainer, task: L.LightningModule, datamodule: L.LightningDataModule, ckpt_path: str | None
        ) -> None:
    """``trainer.fit``, stopping at the next step boundary on SIGTERM (the callbacks save the state there).

    Raises:
        SystemExit: 143 after a SIGTERM.
    """
    def on_sigterm(signum, frame):
        if not trainer.received_sigterm:  # Lightning is not training (yet): stop at once
            raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_sigterm)  # Lightning notes SIGTERM first, then calls this
    try:
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
    except SIGTERMException:
        print(f"genosparse train: stopped by SIGTERM at step {trainer.global_step}; resume with "
              f"hydra.run.dir={trainer.default_root_dir} ckpt_path=last", file=sys.stderr)
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(cfg: DictConfig) -> dict[str, float]:
    """Train, export the model to ``cfg.checkpoint_dir``, plot ``training_curves.png`` and return the
    final validation metrics."""
    L.seed_everything(cfg.seed, workers=True)
    ckpt_path = resume_path(cfg)
    task, datamodule, trainer = build(cfg)
    if ckpt_path:
        print(f"resuming:   {ckpt_path}")
    fit(trainer, task, datamodule, ckpt_path)
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
