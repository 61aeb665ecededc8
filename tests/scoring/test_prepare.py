"""The one inference path: prepare (device, model, genome, window) and prefetch."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
import torch

from genosparse.attention import AttentionConfig
from genosparse.errors import ConfigError
from genosparse.genome import Genome
from genosparse.models import GenomicModel, ModelConfig, save_model
from genosparse.scoring.prepare import Inference, default_device, prefetch, prepare


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return GenomicModel(ModelConfig(head="mlm", d_model=16, num_layers=1, num_heads=2, context_length=128,
                                    attention=AttentionConfig(block_size=16, backend="torch")))


def test_prepare_loads_checks_and_reuses(tiny, chr20, tmp_path, caplog):
    folder = save_model(tiny, tmp_path / "ckpt")
    ready = prepare(folder, chr20, device="cpu")
    assert isinstance(ready, Inference) and not ready.model.training and ready.window == 128
    assert isinstance(ready.genome, Genome) and ready.device == torch.device("cpu") and ready.autocast_dtype is None
    assert prepare(ready) is ready and prepare(ready, head="mlm") is ready  # a scorer called by another
    narrower = prepare(ready, window=64)
    assert narrower is not ready and narrower.window == 64 and narrower.model is ready.model
    with caplog.at_level(logging.WARNING):
        prepare(tiny, chr20, window=256, device="cpu")
    assert "windows of 256 bases are longer than the 128 bases the model was trained on" in caplog.text
    with pytest.raises(ConfigError, match="at least 2 bases"):
        prepare(tiny, window=1, min_window=2)
    classifier = GenomicModel(ModelConfig(head="classification", d_model=16, num_layers=1, num_heads=2,
                                          attention=AttentionConfig(block_size=16, backend="torch")))
    with pytest.raises(ConfigError, match="ISM needs an MLM"):
        prepare(classifier, what="ISM", head="mlm")
    with pytest.raises(ConfigError, match="does not exist"):
        prepare(tmp_path / "missing")
    assert default_device("cpu") == torch.device("cpu")


def test_running_is_inference_mode_without_autocast_on_cpu(tiny):
    ready = prepare(tiny, device="cpu")
    with ready.running():
        assert torch.is_inference_mode_enabled() and not torch.is_autocast_enabled("cpu")
    assert not torch.is_inference_mode_enabled()


def test_prefetch_keeps_order_raises_where_it_failed_and_stops_early():
    assert list(prefetch(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("broken record 2")

    got = []
    with pytest.raises(ValueError, match="broken record 2"):
        for item in prefetch(failing()):
            got.append(item)
    assert got == [1]
    produced = []

    def endless():
        for i in range(10_000):
            produced.append(i)
            yield i

    stream = prefetch(endless(), depth=2)
    assert next(stream) == 0
    stream.close()  # the producer stops, and the thread is gone
    assert len(produced) < 10 and not any(t.name == "genosparse-prefetch" for t in threading.enumerate())


def _scorers(model, chr20, vcf, batch_size):
    """Each scorer over a short real input, its result as comparable arrays."""
    from genosparse.scoring.embed import embed
    from genosparse.scoring.fasta import score_fasta
    from genosparse.scoring.ism import ism
    from genosparse.scoring.tracks import score_track
    from genosparse.scoring.vep import score_variants

    kw = dict(batch_size=batch_size, device="cpu", progress=False)
    return {
        "score": lambda: [r.score for r in score_fasta(model, chr20, window=64, regions="20:1,000,001-1,010,000", **kw)],
        "track": lambda: np.concatenate([s.values for s in score_track(model, chr20, window=64,
                                                                        regions="20:1,000,001-1,010,000", **kw)]),
        "embed": lambda: np.concatenate([c.values for c in embed(model, chr20, window=64,
                                                                     regions="20:1,000,001-1,010,000", **kw)]),
        "ism": lambda: ism(model, chr20, "20:1,000,001-1,000,300", window=64, **kw).scores,
        "vep": lambda: [(s.llr, s.embedding_distance) for s in score_variants(model, chr20, vcf, window=64, **kw)],
    }


@pytest.mark.parametrize("scorer", ["score", "track", "embed", "ism", "vep"])
def test_out_of_memory_halves_the_batch_and_gives_the_same_result(scorer, tiny, chr20, shared_data, monkeypatch,
                                                                   caplog):
    runs = {b: _scorers(tiny, chr20, shared_data / "variants" / "20.vcf.gz", b)[scorer] for b in (8, 2)}
    unconstrained, at_two = runs[8](), runs[2]()
    forward = torch.nn.Embedding.forward

    def small_batches_only(self, tokens):
        if tokens.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(self, tokens)

    monkeypatch.setattr(torch.nn.Embedding, "forward", small_batches_only)
    with caplog.at_level(logging.WARNING):
        got = runs[8]()
    np.testing.assert_array_equal(np.asarray(got), np.asarray(at_two))  # every batch redone at the size that fits
    np.testing.assert_allclose(np.asarray(got), np.asarray(unconstrained), rtol=1e-4, atol=1e-6)  # float32 rounding
    assert "out of GPU memory at the" in caplog.text and "retrying with --batch-size 2" in caplog.text
    assert "retrying with --batch-size 1" not in caplog.text  # the smaller size is kept for later chunks


def test_out_of_memory_at_batch_size_one_is_one_clear_error(tiny, chr20, tmp_path, monkeypatch, capsys):
    from genosparse.cli.main import main

    def never_fits(self, tokens):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(torch.nn.Embedding, "forward", never_fits)
    out = tmp_path / "t.bedgraph"
    with pytest.raises(SystemExit) as exit_:
        main(["track", "--checkpoint", str(save_model(tiny, tmp_path / "ckpt")), "--fasta", str(chr20), "--region",
              "20:1,000,001-1,001,000", "--window", "64", "--out", str(out), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err and not out.exists()
    assert ("genosparse track: error: out of GPU memory scoring one window of 64 bases at a time (the windows from "
            "20:1,000,001-1,000,064); use a shorter --window or --device cpu") in err
