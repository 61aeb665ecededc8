"""embed_at: the hidden states at a few positions, from the rows they depend on, equal the full forward's.

(The row-selected layouts it runs through the Triton kernels: tests/ops/test_triton_interpreter.py.)"""

from __future__ import annotations

import pytest
import torch

from genosparse.attention import AttentionConfig
from genosparse.attention.patterns import CASES, case_config
from genosparse.models import GenomicModel, ModelConfig
from genosparse.models.partial import _plan, embed_at, prunable
from genosparse.sequence.vocab import MASK


def _config(case: str) -> AttentionConfig:
    """The registry's test setting ``case`` (``Pattern.cases``) on 16-token blocks and the ``torch`` backend."""
    return case_config(case, block_size=16, backend="torch")[1]


def _model(attention: AttentionConfig, layers: int = 3) -> GenomicModel:
    torch.manual_seed(0)
    return GenomicModel(ModelConfig(head="mlm", d_model=32, num_layers=layers, num_heads=2, dropout=0.0,
                                    context_length=512, attention=attention)).eval()


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("length", [512, 437])
def test_equals_the_full_forward(case, length):
    model = _model(_config(case))
    ids = torch.tensor([0, 1, 2, 3, 4, MASK])  # bases, N, [MASK]: no [PAD]
    tokens = ids[torch.randint(0, 6, (3, length), generator=torch.Generator().manual_seed(1))]
    for positions in ([length // 2], list(range(200, 260)), [0, length - 1, 17]):
        with torch.no_grad():
            full = model.embed(tokens)[:, positions]
            part = embed_at(model, tokens, positions)
        torch.testing.assert_close(part, full, rtol=1e-5, atol=1e-5)
    assert prunable(model) == (not CASES[case][0].dynamic)


def test_only_the_last_layers_are_cut_for_bigbird():
    """Global blocks attend everything: the last layer runs one block's rows, the one below some, the rest whole."""
    model = _model(_config("bigbird"), layers=4)
    steps = _plan(model, 4096, (128,), torch.device("cpu"))
    assert [s is None for s in steps] == [True, True, False, False]
    assert len(steps[-1].rows) == 16 and 16 < len(steps[-2].rows) < 4096 and len(steps[-2].inputs) == 4096
