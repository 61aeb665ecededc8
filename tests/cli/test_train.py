"""``genosparse train``'s logger group: csv by default, an override of ``trainer.logger`` honoured (and
said), the curves drawn only from a csv logger, a clear error for a logger whose package is missing."""

import logging
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_module
from lightning.pytorch.loggers import CSVLogger

from genosparse.cli.train import build, run


def _cfg(shared_data, out, *overrides):
    with initialize_config_module("genosparse.conf", version_base="1.3"):
        return compose("train", overrides=["experiment=promoter", f"data_dir={shared_data}", f"output_dir={out}",
                                           "trainer.enable_progress_bar=false", *overrides])


def test_the_csv_logger_is_the_default_and_a_trainer_logger_override_wins(shared_data, tmp_path, caplog):
    _, _, trainer = build(_cfg(shared_data, tmp_path))
    assert [type(logger) for logger in trainer.loggers] == [CSVLogger]
    assert Path(trainer.loggers[0].log_dir) == tmp_path / "logs"
    with caplog.at_level(logging.WARNING, logger="genosparse.cli.train"):
        _, _, trainer = build(_cfg(shared_data, tmp_path, "trainer.logger=false"))
    assert trainer.loggers == []
    assert "trainer.logger=False is set, so the logger group's csv is not used" in caplog.text
    own = f"trainer.logger={{_target_:lightning.pytorch.loggers.CSVLogger,save_dir:{tmp_path / 'own'},name:x}}"
    _, _, trainer = build(_cfg(shared_data, tmp_path, own))
    assert [logger.save_dir for logger in trainer.loggers] == [str(tmp_path / "own")]
    _, _, trainer = build(_cfg(shared_data, tmp_path, "~logger"))
    assert trainer.loggers == []


def test_training_curves_come_from_the_csv_logger_only(shared_data, tmp_path, caplog):
    quick = ["+trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "trainer.max_steps=2",
             "final_validation=false"]
    run(_cfg(shared_data, tmp_path / "csv", *quick))
    assert (tmp_path / "csv" / "training_curves.png").stat().st_size > 1000
    with caplog.at_level(logging.INFO, logger="genosparse.cli.train"):
        run(_cfg(shared_data, tmp_path / "none", *quick, "~logger"))
    assert not (tmp_path / "none" / "training_curves.png").exists()
    assert "no training_curves.png: it is drawn from the csv logger's metrics.csv" in caplog.text
    assert (tmp_path / "none" / "checkpoint" / "model.safetensors").is_file()


def test_a_logger_without_its_package_is_a_one_line_error(shared_data, tmp_path):
    """wandb is not installed here (nor a dependency of genosparse)."""
    result = subprocess.run([sys.executable, "-m", "genosparse.cli.main", "train", "experiment=promoter",
                             f"data_dir={shared_data}", f"hydra.run.dir={tmp_path}", "logger=wandb"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "genosparse train: error: logger 'wandb' needs the Python package wandb, which is not installed: "
        "pip install wandb, or choose another logger (logger=csv)")
    assert "Traceback" not in result.stderr
