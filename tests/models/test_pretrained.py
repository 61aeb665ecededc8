"""The shipped checkpoints: small bf16 files, the CLI default, and what they learned, on real data."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors import safe_open
from sklearn.metrics import matthews_corrcoef, roc_auc_score

from genosparse.errors import ConfigError
from genosparse.genome import Genome
from genosparse.models import ModelConfig, load_model, save_model
from genosparse.models.inference import classification_logits
from genosparse.pretrained import DEFAULT_MODEL, MODEL_CARD, PRETRAINED, pretrained_path
from genosparse.scoring import score_fasta
from genosparse.sequence.labeled import read_labeled_tsv
from genosparse.sequence.vocab import encode
from genosparse.tasks import mask_tokens

# 0-based; inside the last 5% of chr20's 131,072-base windows, held out from pretraining
HELD_OUT = ("20", 62_000_000, 62_016_384)


@pytest.mark.parametrize("name", PRETRAINED)
def test_shipped_checkpoint_is_small_bf16_and_loads_as_float32(name):
    folder = pretrained_path(name)
    weights = folder / "model.safetensors"
    assert weights.stat().st_size < 8_000_000
    with safe_open(weights, "pt") as handle:
        assert {handle.get_slice(k).get_dtype() for k in handle.keys()} == {"BF16"}
    model = load_model(name)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    config = json.loads((folder / "config.json").read_text())["model"]
    assert model.config == ModelConfig(**config)  # fields added since (attention.layers) take their defaults
    assert config["head"] == ("mlm" if name == "chr20-mlm" else "classification")
    assert MODEL_CARD.is_file() and f"`{name}`" in MODEL_CARD.read_text()


def test_names_always_mean_the_shipped_models(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="chr20-mlm"):
        pretrained_path("hg38-mlm")
    save_model(load_model("chr20-promoter"), tmp_path / "chr20-mlm")  # a local folder of a shipped name
    monkeypatch.chdir(tmp_path)
    assert load_model("chr20-mlm").config.head == "mlm"
    assert load_model("./chr20-mlm").config.head == "classification"
    with pytest.raises(ConfigError, match="as a string"):
        load_model(tmp_path / "chr20-promoter")


def test_save_model_dtype_must_be_floating_and_writes_nothing_otherwise(tmp_path):
    model = load_model("chr20-promoter")
    save_model(model, tmp_path / "m")
    for dtype in (torch.int8, "bfloat16"):
        with pytest.raises(ConfigError, match="floating-point"):
            save_model(model, tmp_path / "m", dtype=dtype)
    assert load_model(tmp_path / "m").config.head == "classification"  # the existing folder is intact


def test_mlm_predicts_masked_bases_of_held_out_chr20(chr20):
    """Masked-base accuracy on a held-out slice: 0.51 over all 23 held-out windows at the end of
    pretraining; a model that learned nothing is near 0.25-0.3 (the 2-layer demo model: 0.43)."""
    contig, start, end = HELD_OUT
    tokens = torch.from_numpy(Genome(chr20).fetch_tokens(contig, start, end).astype(np.int64))[None]
    inputs, targets = mask_tokens(tokens, 0.15, torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = load_model(DEFAULT_MODEL)(inputs)
    selected = targets != -100
    accuracy = (logits.argmax(-1)[selected] == targets[selected]).float().mean().item()
    assert accuracy > 0.45, accuracy


def test_promoter_model_on_prom_core_val(shared_data):
    """The shipped promoter model on the 900 validation sequences (model card: MCC 0.573,
    AUROC 0.867 on the CPU); a 4-mer logistic regression gets about MCC 0.5."""
    records = read_labeled_tsv(shared_data / "promoters" / "prom_core_val.tsv")
    tokens = torch.from_numpy(np.stack([encode(s) for s in records.sequences]).astype(np.int64))
    labels = records.labels
    with torch.no_grad():
        probs = torch.sigmoid(classification_logits(load_model("chr20-promoter"), tokens, True)).squeeze(-1).numpy()
    assert roc_auc_score(labels, probs) > 0.85
    assert matthews_corrcoef(labels, probs > 0.5) > 0.54


def test_score_defaults_to_the_shipped_mlm(tmp_path, chr20):
    """`genosparse score` without --checkpoint scores with chr20-mlm: the same rows as naming it,
    and a held-out log-likelihood far above a uniform guess (log 1/4 = -1.386)."""
    contig, start, end = HELD_OUT
    region = f"{contig}:{start + 1}-{start + 2048}"
    out = tmp_path / "scores.tsv"
    run = subprocess.run([sys.executable, "-m", "genosparse.cli.main", "score", "--fasta", str(chr20), "--region",
                          region, "--out", str(out), "--device", "cpu"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"model chr20-mlm ({pretrained_path()}): mlm head, 4 layers" in run.stderr
    header, row = out.read_text().splitlines()
    cells = dict(zip(header.split("\t"), row.split("\t")))
    expected = next(score_fasta(load_model(pretrained_path()), chr20, regions=region, progress=False))
    assert float(cells["mean_log_likelihood"]) == pytest.approx(expected.score, abs=1e-4)
    assert expected.score > -1.2, expected.score


def test_score_warns_about_windows_past_the_trained_context_and_rejects_empty_names(tmp_path, chr20):
    def score(*args):
        return subprocess.run([sys.executable, "-m", "genosparse.cli.main", "score", "--fasta", str(chr20),
                               "--region", "20:62,000,001-62,000,256", "--out", str(tmp_path / "s.tsv"), "--quiet",
                               "--device", "cpu", *args], capture_output=True, text=True, timeout=600)

    run = score("--checkpoint", "chr20-promoter", "--window", "256")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "windows of 256 bases are longer than the 128 bases the model was trained on" in run.stderr
    run = score("--checkpoint", "")
    assert run.returncode == 2 and "--checkpoint: is empty" in run.stderr
