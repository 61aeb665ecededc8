"""The one inference path: prepare (device, model, genome, window) and prefetch."""

from __future__ import annotations

import logging
import threading

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
