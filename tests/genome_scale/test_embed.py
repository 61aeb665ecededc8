"""genosparse.embed, write_embeddings and the embed CLI against model.embed directly."""

import numpy as np
import pytest
import torch

import genosparse
from genosparse.attention import AttentionConfig
from genosparse.cli.main import main
from genosparse.errors import ArgumentError, ConfigError, SequenceError
from genosparse.models import GenomicModel, ModelConfig, save_model
from genosparse.scoring.embed import write_embeddings
from genosparse.sequence.vocab import encode


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    att = AttentionConfig(block_size=16, num_global_blocks=1, num_random_blocks=1, backend="torch")
    return GenomicModel(ModelConfig(head="mlm", d_model=16, num_layers=1, num_heads=2, dropout=0.0,
                                    context_length=32, attention=att)).eval()


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    rng = np.random.default_rng(5)
    records = {"a": "".join(rng.choice(list("ACGT"), 70)), "b": "".join(rng.choice(list("ACGT"), 20))}
    path = tmp_path_factory.mktemp("emb") / "e.fa"
    path.write_text("".join(f">{k}\n{v}\n" for k, v in records.items()))
    return path, records


def direct(model, seq):
    with torch.inference_mode():
        return model.embed(torch.from_numpy(encode(seq))[None])[0].numpy()


def test_tiled_windows_pooled_and_tokens(model, fasta, tmp_path):
    path, records = fasta
    coords = [("a", 0, 32), ("a", 32, 64), ("a", 64, 70), ("b", 0, 20)]
    chunks = list(genosparse.embed(model, path, batch_size=2, device="cpu", progress=False))
    assert [(n, s, e) for c in chunks for n, s, e in zip(c.names, c.starts.tolist(), c.ends.tolist())] == coords
    pooled = np.concatenate([c.values for c in chunks])
    expected = [direct(model, records[n][s:e]) for n, s, e in coords]
    np.testing.assert_allclose(pooled, [x.mean(0) for x in expected], rtol=1e-5, atol=1e-6)

    tokens = list(genosparse.embed(model, path, pooled=False, device="cpu", progress=False))
    assert write_embeddings(tokens, tmp_path / "t.npz") == 4
    data = np.load(tmp_path / "t.npz")
    assert data["embeddings"].shape == (4, 32, 16) and data["names"].tolist() == ["a", "a", "a", "b"]
    for k, x in enumerate(expected):
        np.testing.assert_allclose(data["embeddings"][k, :len(x)], x, rtol=1e-5, atol=1e-6)
        assert np.isnan(data["embeddings"][k, len(x):]).all()
    assert data["starts"].tolist() == [0, 32, 64, 0] and data["ends"].tolist() == [32, 64, 70, 20]


def test_sequences_bed_and_cli(model, fasta, tmp_path):
    path, records = fasta
    seqs = {"x": "ACGTACGTAC", "y": "GGGTTTAAAC", "z": "ACG", "gap": "NNNN"}
    (chunk,) = genosparse.embed(model, sequences=seqs, device="cpu", progress=False)
    assert chunk.names == chunk.contigs == ["x", "y", "z", "gap"] and chunk.ends.tolist() == [10, 10, 3, 4]
    assert chunk.flags == ["", "", "", "all_N"] and chunk.strands == ["+"] * 4  # flagged as `score` flags them
    assert np.isfinite(chunk.values).all()
    np.testing.assert_allclose(chunk.values[2], direct(model, "ACG").mean(0), rtol=1e-5, atol=1e-6)

    bed = tmp_path / "r.bed"
    bed.write_text("b\t2\t12\na\t40\t45\n")
    ckpt = save_model(model, tmp_path / "ckpt")
    main(["embed", "--checkpoint", str(ckpt), "--fasta", str(path), "--regions", str(bed),
          "--out", str(tmp_path / "o.npz"), "--device", "cpu", "--quiet"])
    data = np.load(tmp_path / "o.npz")
    assert data["names"].tolist() == ["b", "a"] and data["embeddings"].shape == (2, 16)
    assert data["flags"].tolist() == ["", ""]
    np.testing.assert_allclose(data["embeddings"][1], direct(model, records["a"][40:45]).mean(0), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ConfigError, match="either sequences or a FASTA"):
        next(genosparse.embed(model, path, sequences=seqs))
    with pytest.raises(ArgumentError, match="not one string"):  # would be read as one-base sequences
        next(genosparse.embed(model, sequences="ACGTACGT"))
    with pytest.raises(SequenceError, match="sequence 'nothing' is empty"):
        next(genosparse.embed(model, sequences={"x": "ACGT", "nothing": ""}))


def test_interrupted_embedding_leaves_nothing(model, fasta, tmp_path):
    path, _ = fasta

    def failing():
        yield from genosparse.embed(model, path, device="cpu", progress=False)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_embeddings(failing(), tmp_path / "o.npz")
    assert list(tmp_path.iterdir()) == []
