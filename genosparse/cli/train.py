"""``genosparse train``: Hydra-composed training run (the only module that imports Hydra)."""

from __future__ import annotations

import logging
import signal
import sys
import warnings
from pathlib import Path

import hydra
import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from genosparse.cli.common import run_command
from genosparse.errors import ConfigError, GenosparseError, TrainingError
from genosparse.tasks.curves import plot_training_curves

log = logging.getLogger(__name__)

# the pip package each optional Lightning logger needs, by class name
LOGGER_PACKAGES = {"TensorBoardLogger": "tensorboard", "WandbLogger": "wandb"}


def build(cfg: DictConfig) -> tuple[L.LightningModule, L.LightningDataModule, L.Trainer]:
    """Instantiate the task, data module and trainer a composed config describes: the trainer with the
    ``callbacks`` group (less its ``ModelCheckpoint`` under ``trainer.enable_checkpointing=false``) and
    the loggers of the ``logger`` group, unless ``trainer.logger`` is set, which then wins.

    Raises:
        ConfigError: a chosen logger needs a package that is not installed (names it).
    """
    model = OmegaConf.to_container(cfg.model, resolve=True)
    model["attention"] = OmegaConf.to_container(cfg.attention, resolve=True)
    task = instantiate(cfg.task, model=model, _convert_="all")
    datamodule = instantiate(cfg.data)
    callbacks = [instantiate(callback) for callback in cfg.get("callbacks", {}).values()]
    if not cfg.trainer.get("enable_checkpointing", True):
        callbacks = [callback for callback in callbacks if not isinstance(callback, ModelCheckpoint)]
    if cfg.trainer.get("logger") is not None:  # instantiate(cfg.trainer) passes it on
        if cfg.get("logger"):
            log.warning("trainer.logger=%s is set, so the logger group's %s is not used", cfg.trainer.logger,
                        ", ".join(cfg.logger))
        return task, datamodule, instantiate(cfg.trainer, callbacks=callbacks)
    loggers = [_logger(name, conf) for name, conf in cfg.get("logger", {}).items()]
    return task, datamodule, instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)


def _logger(name: str, conf: DictConfig) -> Logger:
    try:
        return instantiate(conf)
    except InstantiationException as err:
        package = LOGGER_PACKAGES.get(str(conf.get("_target_")).rsplit(".", 1)[-1])
        if package is None or not isinstance(err.__cause__, ModuleNotFoundError):
            raise
        raise ConfigError(f"logger {name!r} needs the Python package {package}, which is not installed: "
                          f"pip install {package}, or choose another logger (logger=csv)") from None


def resume_path(cfg: DictConfig) -> str | None:
    """``cfg.ckpt_path``, with ``last`` resolved to the newest ``.ckpt`` in ``cfg.ckpt_dir``.

    Raises:
        ConfigError: a path that is not a file (e.g. an exported checkpoint folder, which is ``task.init_from``).
        TrainingError: ``last`` and this run folder has no checkpoint (names the newest run folder that has one).
    """
    if cfg.get("ckpt_path") != "last":
        path = cfg.get("ckpt_path")
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"ckpt_path={path}: no such Lightning checkpoint file (.ckpt); give a .ckpt or "
                              "ckpt_path=last, and start from an exported checkpoint folder with task.init_from")
        return path
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
    """Train, export the model to ``cfg.checkpoint_dir``, plot ``training_curves.png`` (from the csv
    logger's metrics) and return the final validation metrics."""
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
    if not trainer.fast_dev_run:  # which logs nothing
        _report_logs(trainer, Path(cfg.output_dir) / "training_curves.png")
    for name, value in metrics.items():
        print(f"{name:<14}{value:.4f}")
    return metrics


def _report_logs(trainer: L.Trainer, curves: Path) -> None:
    """Print where each logger wrote; draw ``curves`` from the CSV logger's ``metrics.csv`` (if one logged)."""
    for logger in trainer.loggers:
        print(f"logs:       {getattr(logger, 'log_dir', None) or logger.save_dir}")
    csv_logger = next((logger for logger in trainer.loggers if isinstance(logger, CSVLogger)), None)
    if csv_logger is None:
        log.info("no %s: it is drawn from the csv logger's metrics.csv; add it with logger=[csv,<other>]",
                 curves.name)
        return
    metrics = Path(csv_logger.log_dir) / "metrics.csv"
    if metrics.is_file() and plot_training_curves(metrics, curves):
        print(f"curves:     {curves}")


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
