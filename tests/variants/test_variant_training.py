"""Supervised variant effect: labelled variants from TSV and VCF INFO, a few training steps, export."""

import gzip
import os
import subprocess
import sys

import lightning as L
import numpy as np
import pytest
import torch

from genosparse.attention import AttentionConfig
from genosparse.datamodules.variants import VariantDataModule, VariantEffectDataset, read_labeled_variants
from genosparse.errors import ConfigError, VariantError
from genosparse.genome import Genome
from genosparse.models import ModelConfig
from genosparse.sequence.vocab import reverse_complement
from genosparse.tasks.variant_effect import VariantEffectTask

MODEL = ModelConfig(d_model=32, num_layers=1, num_heads=2, dropout=0.0, context_length=128,
                    attention=AttentionConfig(block_size=32, num_global_blocks=1, num_random_blocks=1,
                                              backend="torch"))


@pytest.fixture(scope="module")
def records16(shared_data):
    """(chrom, pos, ref, alt, INFO dict) per ALT of 16.vcf.gz, parsed from the text."""
    rows = []
    with gzip.open(shared_data / "variants" / "16.vcf.gz", "rt") as handle:
        for line in handle:
            if not line.startswith("#"):
                chrom, pos, _, ref, alts, _, _, info = line.split("\t")[:8]
                fields = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in info.split(";"))
                rows += [(chrom, int(pos), ref, alt, k, fields) for k, alt in enumerate(alts.split(","))]
    return rows


@pytest.fixture(scope="module")
def tsv_splits(records16, tmp_path_factory):
    """Binary labels (1 = indel, 0 = SNV) of the real 16.vcf.gz variants, as train/val TSVs."""
    folder = tmp_path_factory.mktemp("labels")
    lines = [f"{c}\t{p}\t{r}\t{a}\t{int(len(r) != len(a))}" for c, p, r, a, _, _ in records16]
    for name, part in (("train", lines[:250]), ("val", lines[250:])):
        (folder / f"{name}.tsv").write_text("chrom\tpos\tref\talt\tlabel\n" + "\n".join(part) + "\n")
    return folder / "train.tsv", folder / "val.tsv"


def _trainer(tmp_path, steps=3):
    return L.Trainer(max_steps=steps, limit_val_batches=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)


def test_labels_from_vcf_info_fields(chr20, shared_data, records16):
    genome = Genome(chr20)
    path = shared_data / "variants" / "16.vcf.gz"
    variants, coeff = read_labeled_variants(path, genome, 128, label_field="InbreedingCoeff")  # Number=1
    assert len(variants) == len(records16) == 374
    assert np.allclose(coeff, [float(fields["InbreedingCoeff"]) for *_, fields in records16], rtol=1e-6)
    with pytest.raises(VariantError, match=r"record 23 \(20:4474622\): INFO/AF has 4 values for 5 ALT"):
        read_labeled_variants(path, genome, 128, label_field="AF")  # a real inconsistency, never guessed
    _, indel = read_labeled_variants(path, genome, 128, label_field="INDEL")  # a Flag: 1 present, 0 absent
    assert list(indel) == [float("INDEL" in fields) for *_, fields in records16] and 0 < indel.sum() < 374
    with pytest.raises(ConfigError, match="label_field"):
        read_labeled_variants(path, genome, 128)
    with pytest.raises(VariantError, match="no INFO/NOPE"):
        read_labeled_variants(path, genome, 128, label_field="NOPE")


def test_tsv_errors_name_the_line(chr20, tmp_path, records16):
    c, p, r, a, _, _ = records16[0]
    bad = tmp_path / "bad.tsv"
    bad.write_text(f"chrom\tpos\tref\talt\tlabel\n{c}\t{p}\t{r}\t{a}\t1\n{c}\t{p}\tT{r}\t{a}\t0\n")
    with pytest.raises(VariantError, match=r"bad.tsv, line 3: REF"):
        read_labeled_variants(bad, Genome(chr20), 128)
    variants, labels = read_labeled_variants(bad, Genome(chr20), 128, ref_mismatch="skip")
    assert len(variants) == 1 and list(labels) == [1.0]


def test_dataset_reverse_complements_pairs_together(chr20, tsv_splits):
    genome = Genome(chr20)
    variants, labels = read_labeled_variants(tsv_splits[1], genome, 128)
    plain = VariantEffectDataset(genome, variants, labels, window=128, flank=8)[3]
    flipped = VariantEffectDataset(genome, variants, labels, window=128, flank=8, rc_prob=1.0)[3]
    assert torch.equal(flipped["ref"], reverse_complement(plain["ref"]))
    assert torch.equal(flipped["alt"], reverse_complement(plain["alt"]))
    assert torch.equal(flipped["focus"], plain["focus"].flip(0)) and plain["focus"].sum() >= 17


def test_binary_training_steps_and_export(tmp_path, chr20, tsv_splits):
    L.seed_everything(0)
    task = VariantEffectTask(MODEL, label_type="binary")
    before = [p.detach().clone() for p in task.effect_head.parameters()]
    data = VariantDataModule(str(chr20), str(tsv_splits[0]), str(tsv_splits[1]), window_size=128, flank=16,
                             batch_size=16)
    trainer = _trainer(tmp_path)
    trainer.fit(task, datamodule=data)
    metrics = trainer.validate(task, datamodule=data, verbose=False)[0]
    assert set(metrics) == {"val/loss", "val/auroc", "val/accuracy"} and all(np.isfinite(list(metrics.values())))
    assert any(not torch.equal(b, p) for b, p in zip(before, task.effect_head.parameters()))
    folder = task.export(tmp_path / "export")
    assert {p.name for p in folder.iterdir()} == {"model.safetensors", "config.json", "README.md",
                                                  "effect_head.safetensors", "effect_head.json"}
    restored = VariantEffectTask.load_exported(folder)
    batch = next(iter(data.val_dataloader()))
    with torch.inference_mode():
        assert torch.allclose(restored.predict_step(batch, 0), task.eval().predict_step(batch, 0), atol=1e-6)


def test_continuous_labels_from_vcf_train(tmp_path, chr20, shared_data):
    L.seed_everything(0)
    vcf = str(shared_data / "variants" / "16.vcf.gz")
    task = VariantEffectTask(MODEL, label_type="continuous")
    data = VariantDataModule(str(chr20), vcf, vcf, label_field="InbreedingCoeff", window_size=128, batch_size=16)
    trainer = _trainer(tmp_path, steps=2)
    trainer.fit(task, datamodule=data)
    metrics = trainer.validate(task, datamodule=data, verbose=False)[0]
    assert {"val/pearson", "val/spearman", "val/mse"} <= set(metrics)
    with pytest.raises(ConfigError, match="label_type=continuous"):
        VariantEffectTask(MODEL, label_type="binary")._loss(torch.zeros(2), torch.tensor([0.0, 0.25]))


def test_genosparse_train_task_variant_effect(tmp_path, chr20, tsv_splits):
    run = tmp_path / "run"
    args = ["train", "task=variant_effect", "data=variants", f"data.fasta={chr20}", f"data.train={tsv_splits[0]}",
            f"data.val={tsv_splits[1]}", "model=tiny", "model.context_length=128", "model.d_model=32",
            "model.num_layers=1", "attention.block_size=32", "attention.num_global_blocks=1",
            "attention.num_random_blocks=1", "attention.backend=torch", "trainer.fast_dev_run=true",
            f"hydra.run.dir={run}"]
    result = subprocess.run([sys.executable, "-m", "genosparse.cli.main", *args], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    task = VariantEffectTask.load_exported(run / "checkpoint")
    assert task.label_type == "binary" and task.model.config.context_length == 128
