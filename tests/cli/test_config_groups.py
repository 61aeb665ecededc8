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


def test_attention_options_are_the_registered_patterns():
    """Every registered pattern has its option `attention=<name>` setting each of its options at the default;
    every option's patterns (top level and per layer) are registered and it sets only the common settings
    and the options of those patterns."""
    import yaml

    from genosparse.attention.patterns import OPTIONS, PATTERNS

    common = {"pattern", "backend", "block_size", "seed", "layers"}
    options = {name: yaml.safe_load(resources.files("genosparse.conf").joinpath("attention", f"{name}.yaml")
                                    .read_text()) for name in _options("attention")}
    for name, pattern in PATTERNS.items():
        assert name in options, f"pattern {name!r} has no conf/attention/{name}.yaml"
        assert options[name]["pattern"] == name
        assert {o.name: options[name].get(o.name) for o in pattern.options} == {o.name: o.default
                                                                                for o in pattern.options}
    for name, values in options.items():
        used = [values["pattern"], *(layer.get("pattern", values["pattern"]) for layer in values["layers"])]
        assert set(used) <= set(PATTERNS), f"attention={name} uses an unregistered pattern"
        allowed = common | {o.name for p in used for o in PATTERNS[p].options}
        for settings in (values, *values["layers"]):
            assert set(settings) <= allowed, f"attention={name} sets options its patterns do not use"
    assert set(OPTIONS) | common >= {key for values in options.values() for key in values}
