"""Every option of every Hydra config group composes and instantiates."""

from importlib import resources, util

import lightning as L
import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from genosparse.cli.train import build
from genosparse.errors import ConfigError

GROUPS = ["task", "model", "attention", "data", "trainer", "callbacks", "logger", "experiment"]
# the optional packages a logger option needs (any one of them); wandb is not installed here
LOGGER_MODULES = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",)}


def _options(group):
    return sorted(p.stem for p in resources.files("genosparse.conf").joinpath(group).iterdir()
                  if p.name.endswith(".yaml"))


def test_configs_ship_in_the_package():
    for group in GROUPS:
        assert _options(group), group
    assert resources.files("genosparse.conf").joinpath("train.yaml").is_file()


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in _options(g)])
def test_group_option_instantiates(group, option, tmp_path, shared_data):
    overrides = [f"{group}={option}", f"data_dir={shared_data}"]
    if (group, option) in (("data", "promoters"), ("task", "promoter")):
        overrides += ["data=promoters", "task=promoter"]
    if (group, option) == ("trainer", "gpu") or option.startswith("pretrain"):
        overrides.append("trainer.accelerator=cpu")  # the CI machine has no GPU; the rest of the config is used
        overrides.append("trainer.precision=bf16-mixed")
    with initialize_config_module("genosparse.conf", version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"output_dir={tmp_path}"])
    OmegaConf.resolve(cfg)
    if group == "logger" and not any(util.find_spec(m) for m in LOGGER_MODULES.get(option, ("lightning",))):
        with pytest.raises(ConfigError, match=rf"^logger '{option}' needs the Python package {option}, which is "
                                              rf"not installed: pip install {option}, or choose another logger"):
            build(cfg)
        return
    task, datamodule, trainer = build(cfg)
    if group == "logger":
        assert [type(logger).__name__.removesuffix("Logger").lower() for logger in trainer.loggers] == [option]
        assert trainer.loggers[0].save_dir == str(tmp_path)
    assert trainer.checkpoint_callback is not None and trainer.checkpoint_callback.save_last is True
    assert isinstance(task, L.LightningModule) and isinstance(datamodule, L.LightningDataModule)
    assert isinstance(trainer, L.Trainer)
    assert task.model.config.d_model == cfg.model.d_model
    assert task.model.config.attention.pattern == cfg.attention.pattern
    cores = {"learned": "RoutedAttention", "lsh": "LSHAttention"}
    assert [type(block.attn.core).__name__ for block in task.model.backbone.blocks] == [
        cores.get(task.model.config.attention.for_layer(i).pattern, "LayoutAttention")
        for i in range(cfg.model.num_layers)]
    assert task.model.config.head == {"mlm": "mlm", "promoter": "classification", "varianteffect": "mlm"}[cfg.task._target_.split(".")[-1]
                                                                                  .removesuffix("Task").lower()]


def test_per_layer_attention_overrides_from_the_command_line(tmp_path, shared_data):
    """Every attention group declares `layers`, so it is overridden without `+`."""
    with initialize_config_module("genosparse.conf", version_base="1.3"):
        cfg = compose("train", overrides=["attention=window", "attention.layers=[{},{pattern:learned}]",
                                          f"data_dir={shared_data}", f"output_dir={tmp_path}"])
    OmegaConf.resolve(cfg)
    task, _, _ = build(cfg)
    assert [type(b.attn.core).__name__ for b in task.model.backbone.blocks] == [
        "LayoutAttention", "RoutedAttention", "LayoutAttention", "RoutedAttention"]
