"""Hugging Face layout and ``from_pretrained`` / ``save_pretrained`` (genosparse/models/hub.py, card.py),
offline (tests/conftest.py sets HF_HUB_OFFLINE=1): exact round trips on chr20, the model card, folders
written before this layout, the shipped names, a local Hub cache and the errors."""

import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import ModelCard

from genosparse.attention import AttentionConfig
from genosparse.errors import ConfigError
from genosparse.genome import Genome
from genosparse.models import GenomicModel, ModelConfig, load_model, save_model
from genosparse.pretrained import PRETRAINED, pretrained_path


@pytest.fixture(scope="module")
def model():
    """A 2-layer MLM with a BigBird layer below a sliding-window one, random weights."""
    torch.manual_seed(0)
    att = AttentionConfig(block_size=16, num_global_blocks=1, num_random_blocks=1, window=32, backend="torch",
                          layers=[{}, {"pattern": "window"}])
    return GenomicModel(ModelConfig(head="mlm", d_model=32, num_layers=2, num_heads=2, dropout=0.0,
                                    context_length=2048, attention=att)).eval()


@pytest.fixture(scope="module")
def tokens(chr20):
    """2,048 bases of chr20 (0-based 30,000,000-30,002,048), as token ids (1, L)."""
    return torch.from_numpy(Genome(chr20).fetch_tokens("20", 30_000_000, 30_002_048).astype(np.int64))[None]


def _front_matter(readme):
    text = readme.read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1]), text


def test_save_pretrained_then_from_pretrained_is_exact_on_chr20(model, tokens, tmp_path):
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["model_type"] == "genosparse"
    assert meta["format"] == "genosparse-checkpoint" and meta["format_version"] == 1
    assert meta["model"] == model.config.to_dict()
    restored = GenomicModel.from_pretrained(tmp_path / "m")
    assert type(restored) is GenomicModel and not restored.training and restored.config == model.config
    assert model.state_dict().keys() == restored.state_dict().keys()
    assert all(torch.equal(a, restored.state_dict()[k]) for k, a in model.state_dict().items())
    with torch.no_grad():
        expected, got = model(tokens), restored(tokens)
    assert got.shape == (1, 2048, 4) and torch.equal(got, expected)
    assert torch.equal(load_model(tmp_path / "m")(tokens), expected)  # one format for both entry points


def test_model_card_has_hub_front_matter_and_the_architecture(model, tmp_path):
    save_model(model, tmp_path / "m")
    meta, text = _front_matter(tmp_path / "m" / "README.md")
    assert meta["library_name"] == "genosparse" and meta["license"] == "apache-2.0"
    assert meta["pipeline_tag"] == "fill-mask"
    assert {"genomics", "dna", "bigbird", "window"} <= set(meta["tags"])
    parameters = sum(p.numel() for p in model.parameters())
    assert f"2 layers, d_model 32, 2 heads, MLP x4, {parameters:,} parameters" in text
    assert "by layer: `bigbird`, `window`, blocks of 16 tokens" in text and "2,048 tokens" in text
    assert ModelCard.load(tmp_path / "m" / "README.md").data.library_name == "genosparse"  # the Hub's parser
    promoter = load_model("chr20-promoter")
    promoter.save_pretrained(tmp_path / "p")
    meta, text = _front_matter(tmp_path / "p" / "README.md")
    assert meta["pipeline_tag"] == "text-classification" and "`bigbird` in every layer" in text
    assert "sequence classification: 1 logit from" in text and "128 tokens" in text
    assert promoter.generate_model_card().content == (tmp_path / "p" / "README.md").read_text()


def test_folders_written_before_model_type_and_the_card_still_load(model, tokens, tmp_path):
    save_model(model, tmp_path / "old")
    config = tmp_path / "old" / "config.json"
    meta = json.loads(config.read_text())
    del meta["model_type"]
    config.write_text(json.dumps(meta, indent=2) + "\n")  # as the shipped folders are written
    (tmp_path / "old" / "README.md").unlink()
    assert json.loads(config.read_text()).keys() == json.loads(
        (pretrained_path("chr20-mlm") / "config.json").read_text()).keys()
    with torch.no_grad():
        expected = model(tokens)
        assert torch.equal(load_model(tmp_path / "old")(tokens), expected)
        assert torch.equal(GenomicModel.from_pretrained(str(tmp_path / "old"))(tokens), expected)


@pytest.mark.parametrize("name", PRETRAINED)
def test_shipped_names_load_through_from_pretrained(name, tmp_path, monkeypatch):
    hub, plain = GenomicModel.from_pretrained(name), load_model(name)
    assert hub.config == plain.config and not hub.training
    assert all(torch.equal(a, plain.state_dict()[k]) for k, a in hub.state_dict().items())
    shutil.copytree(pretrained_path("chr20-promoter" if name == "chr20-mlm" else "chr20-mlm"), tmp_path / name)
    monkeypatch.chdir(tmp_path)  # a local folder of the same name: only "./<name>" means it
    assert GenomicModel.from_pretrained(name).config.head == plain.config.head
    assert GenomicModel.from_pretrained(f"./{name}").config.head != plain.config.head


def test_a_folder_of_another_model_type_is_refused(model, tmp_path):
    save_model(model, tmp_path / "bert")
    config = tmp_path / "bert" / "config.json"
    config.write_text(json.dumps(dict(json.loads(config.read_text()), model_type="bert")))
    for load in (load_model, GenomicModel.from_pretrained):
        with pytest.raises(ConfigError, match=rf"{config} has model_type 'bert'.*another library.*'genosparse'"):
            load(tmp_path / "bert")


def test_hub_repo_ids_load_from_the_local_cache_offline(model, tokens, tmp_path):
    """A Hub repo id reads the cache in the Hub's layout (refs/main -> snapshots/<commit>/) without network."""
    repo = tmp_path / "cache" / "models--genosparse--tiny-mlm"
    commit = "0" * 40
    save_model(model, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    restored = GenomicModel.from_pretrained("genosparse/tiny-mlm", cache_dir=tmp_path / "cache")
    with torch.no_grad():
        assert torch.equal(restored(tokens), model(tokens))
    with pytest.raises(ConfigError, match="genosparse/missing: no such checkpoint folder or file here, and it "
                                          r"cannot be fetched from the Hugging Face Hub \(.*\); pass a checkpoint"):
        GenomicModel.from_pretrained("genosparse/missing", cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError, match="runs/x/checkpoint: no such checkpoint folder"):
        GenomicModel.from_pretrained("runs/x/checkpoint")
