"""Training tasks: masking, learning-rate schedules, and a real promoter run that must beat chance."""

import dataclasses
import math

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from genosparse.attention import AttentionConfig
from genosparse.datamodules import LabeledSequenceDataModule
from genosparse.errors import ConfigError
from genosparse.models import ModelConfig, load_model
from genosparse.sequence.vocab import MASK, N
from genosparse.tasks import MLMTask, PromoterTask, mask_tokens


def test_mask_tokens_rates_and_targets():
    tokens = torch.randint(0, 5, (64, 1000), generator=torch.Generator().manual_seed(0))
    inputs, targets = mask_tokens(tokens, 0.15, torch.Generator().manual_seed(1))
    selected = targets != -100
    bases = tokens != N
    assert not (selected & ~bases).any(), "N is never a target"
    assert abs(selected.sum() / bases.sum() - 0.15) < 0.01
    assert torch.equal(targets[selected], tokens[selected])
    assert torch.equal(inputs[~selected], tokens[~selected])
    masked = (inputs == MASK)[selected].float().mean()
    kept = (inputs == tokens)[selected].float().mean()
    assert abs(masked - 0.8) < 0.02 and 0.1 < kept < 0.15  # 10% kept + 1/4 of the 10% random


def test_promoter_training_beats_chance(shared_data, tmp_path):
    """A short run on the real 70 bp core-promoter data clearly beats chance on prom_core_val.tsv."""
    L.seed_everything(0)
    model = ModelConfig(d_model=64, num_layers=2, num_heads=4, dropout=0.1, context_length=128,
                        attention=AttentionConfig(block_size=16, num_global_blocks=1, num_random_blocks=1,
                                                  backend="torch"))
    task = PromoterTask(model)
    data = LabeledSequenceDataModule(shared_data / "promoters" / "prom_core_train.tsv",
                                     shared_data / "promoters" / "prom_core_val.tsv", batch_size=64)
    trainer = L.Trainer(max_epochs=4, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(task, datamodule=data)
    metrics = trainer.validate(task, datamodule=data, verbose=False)[0]
    assert metrics["val/auroc"] > 0.72, metrics
    assert metrics["val/mcc"] > 0.3, metrics
    assert metrics["val/accuracy"] > 0.64, metrics


def _lr_trace(task: PromoterTask, trainer_kwargs: dict, tmp_path) -> list[float]:
    """The learning rate of every optimizer step of a short CPU run on random promoter-like data."""
    tokens = torch.randint(0, 4, (32, 20), generator=torch.Generator().manual_seed(0))
    items = [{"tokens": t, "label": (t[0] < 2).float()} for t in tokens]
    rates = []

    class Record(L.Callback):
        def on_train_batch_start(self, trainer, *args):
            rates.append(trainer.optimizers[0].param_groups[0]["lr"])

    ckpt_path = trainer_kwargs.pop("ckpt_path", None)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path, callbacks=[Record()],
                        **trainer_kwargs)
    trainer.fit(task, train_dataloaders=DataLoader(items, batch_size=8), ckpt_path=ckpt_path)
    return rates


def _tiny_model() -> ModelConfig:
    return ModelConfig(d_model=16, num_layers=1, num_heads=2, context_length=32,
                       attention=AttentionConfig(pattern="dense", block_size=16, backend="torch"))


def test_cosine_schedule_warms_up_then_decays_to_zero(tmp_path):
    lr = 1e-2
    task = PromoterTask(_tiny_model(), optimizer=lambda p: torch.optim.SGD(p, lr=lr), warmup_steps=3,
                        lr_schedule="cosine")
    rates = _lr_trace(task, {"max_epochs": 3}, tmp_path)  # 4 batches x 3 epochs
    expected = [lr * min(1, (s + 1) / 3) * 0.5 * (1 + math.cos(math.pi * s / 12)) for s in range(12)]
    assert rates == pytest.approx(expected, rel=1e-6)
    constant = PromoterTask(_tiny_model(), optimizer=lambda p: torch.optim.SGD(p, lr=lr), warmup_steps=3)
    assert _lr_trace(constant, {"max_steps": 6}, tmp_path) == pytest.approx([lr / 3, 2 * lr / 3] + [lr] * 4)


def test_cosine_schedule_needs_a_finite_run_and_known_name(tmp_path):
    with pytest.raises(ConfigError, match="lr_schedule"):
        PromoterTask(_tiny_model(), lr_schedule="linear")
    task = PromoterTask(_tiny_model(), lr_schedule="cosine")
    with pytest.raises(ConfigError, match="max_steps"):
        _lr_trace(task, {"max_epochs": -1, "max_time": "00:00:00:05"}, tmp_path)


def test_cosine_schedule_follows_the_global_step_after_resuming(tmp_path):
    """Resuming with a schedule the first run did not have continues it at the run's step."""
    lr = 1e-2
    first = PromoterTask(_tiny_model(), optimizer=lambda p: torch.optim.SGD(p, lr=lr))
    _lr_trace(first, {"max_steps": 4}, tmp_path)
    ckpt = tmp_path / "first.ckpt"
    first.trainer.save_checkpoint(ckpt)
    resumed = PromoterTask(_tiny_model(), optimizer=lambda p: torch.optim.SGD(p, lr=lr), lr_schedule="cosine")
    rates = _lr_trace(resumed, {"max_steps": 12, "ckpt_path": ckpt}, tmp_path)
    cosine = [lr * 0.5 * (1 + math.cos(math.pi * s / 12)) for s in range(4, 12)]
    assert rates[1:] == pytest.approx(cosine[1:], rel=1e-6)  # the first step uses the restored lr
    assert rates[-1] < 0.02 * lr


def test_init_from_a_different_backbone_names_the_options_to_set():
    model = ModelConfig(d_model=64, num_layers=2, num_heads=4, context_length=128,
                        attention=AttentionConfig(block_size=16, backend="torch"))
    with pytest.raises(ConfigError) as err:
        PromoterTask(model, init_from="chr20-mlm")
    message = str(err.value)
    assert "model.d_model=256 model.num_layers=4" in message and "\n" not in message


def test_init_from_starts_routing_weights_fresh_and_keeps_the_mlm_head():
    """Continuing the shipped MLM with learned routing in one layer: every backbone weight and the MLM
    head come from the checkpoint, that layer's router and gate start at their initial values."""
    shipped = load_model("chr20-mlm")
    attention = AttentionConfig(block_size=64, backend="torch", layers=[{}, {}, {"pattern": "learned"}, {}])
    task = MLMTask(dataclasses.replace(shipped.config, attention=attention, context_length=1024),
                   init_from="chr20-mlm")
    theirs = shipped.state_dict()
    fresh = {name: value for name, value in task.model.state_dict().items() if name not in theirs}
    assert sorted(fresh) == ["backbone.blocks.2.attn.core.gate", "backbone.blocks.2.attn.core.router.weight"]
    assert torch.equal(fresh["backbone.blocks.2.attn.core.router.weight"], torch.eye(64))
    assert torch.equal(fresh["backbone.blocks.2.attn.core.gate"], torch.zeros(4))
    for name, value in task.model.state_dict().items():
        if name not in fresh:
            assert torch.equal(value, theirs[name]), name


def test_init_from_refuses_weights_this_model_lacks(tmp_path):
    config = ModelConfig(d_model=32, num_layers=2, num_heads=2, context_length=128,
                         attention=AttentionConfig(pattern="learned", block_size=16, backend="torch"))
    MLMTask(config).export(tmp_path / "learned")
    plain = dataclasses.replace(config, attention=AttentionConfig(block_size=16, backend="torch"))
    with pytest.raises(ConfigError, match="its backbone does not match"):
        MLMTask(plain, init_from=tmp_path / "learned")
