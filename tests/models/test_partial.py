"""embed_at: the hidden states at a few positions, from the rows they depend on, equal the full forward's.

(The row-selected layouts it runs through the Triton kernels: tests/ops/test_triton_interpreter.py.)"""

from __future__ import annotations

import pytest
import torch

from genosparse.attention import AttentionConfig
from genosparse.models import GenomicModel, ModelConfig
from genosparse.models.partial import _plan, embed_at, prunable
from genosparse.sequence.vocab import MASK

PATTERNS = {
    "bigbird": AttentionConfig(block_size=16, backend="torch"),
    "window": AttentionConfig(pattern="window", window=21, block_size=16, backend="torch"),
    "dilated": AttentionConfig(pattern="dilated", dilations=[1, 3], num_global_blocks=0, block_size=16,
                               backend="torch"),
    "fixed_causal": AttentionConfig(pattern="fixed", stride=3, causal=True, block_size=16, backend="torch"),
    "lsh": AttentionConfig(pattern="lsh", block_size=16, num_buckets=4, backend="torch"),
}


def _model(attention: AttentionConfig, layers: int = 3) -> GenomicModel:
    torch.manual_seed(0)
    return GenomicModel(ModelConfig(head="mlm", d_model=32, num_layers=layers, num_heads=2, dropout=0.0,
                                    context_length=512, attention=attention)).eval()


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("length", [512, 437])
def test_equals_the_full_forward(pattern, length):
    model = _model(PATTERNS[pattern])
    ids = torch.tensor([0, 1, 2, 3, 4, MASK])  # bases, N, [MASK]: no [PAD]
    tokens = ids[torch.randint(0, 6, (3, length), generator=torch.Generator().manual_seed(1))]
    for positions in ([length // 2], list(range(200, 260)), [0, length - 1, 17]):
        with torch.no_grad():
            full = model.embed(tokens)[:, positions]
            part = embed_at(model, tokens, positions)
        torch.testing.assert_close(part, full, rtol=1e-5, atol=1e-5)
    assert prunable(model) == (pattern != "lsh")


def test_only_the_last_layers_are_cut_for_bigbird():
    """Global blocks attend everything: the last layer runs one block's rows, the one below some, the rest whole."""
    model = _model(PATTERNS["bigbird"], layers=4)
    steps = _plan(model, 4096, (128,), torch.device("cpu"))
    assert [s is None for s in steps] == [True, True, False, False]
    assert len(steps[-1].rows) == 16 and 16 < len(steps[-2].rows) < 4096 and len(steps[-2].inputs) == 4096
