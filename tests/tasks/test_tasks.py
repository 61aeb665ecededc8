"""Training tasks: masking, and a real promoter run that must beat chance."""

import lightning as L
import torch

from genosparse.attention import AttentionConfig
from genosparse.datamodules import LabeledSequenceDataModule
from genosparse.models import ModelConfig
from genosparse.sequence.vocab import MASK, N
from genosparse.tasks import PromoterTask, mask_tokens


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
