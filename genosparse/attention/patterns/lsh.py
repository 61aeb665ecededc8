"""LSH attention (Reformer, Kitaev et al. 2020): hash, sort, attend within chunks of ``block_size``
and the previous chunk, built from each input (:class:`~genosparse.attention.lsh.LSHAttention`)."""

from __future__ import annotations

import math

import torch

from genosparse.attention.lsh import LSHAttention
from genosparse.attention.patterns.base import Option, Pattern, integer
from genosparse.attention.reference import masked_attention
from genosparse.errors import ConfigError

NUM_HASHES = Option("num_hashes", 2, "hash rounds", integer("num_hashes", 1))
NUM_BUCKETS = Option("num_buckets", 64, "hash buckets per round (even)", integer("num_buckets", 2))


def check(cfg) -> None:
    if cfg.num_buckets % 2:
        raise ConfigError(f"attention.num_buckets must be even (angular LSH hashes to the argmax of [xR, -xR]), "
                          f"got {cfg.num_buckets}")


def reference(core: LSHAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """:class:`LSHAttention` by its definition: per round, query ``i`` attends key ``j`` when j's
    sorted chunk is i's or the one before; rounds merged by their log-sum-exps.

    Full ``(B, H, L, L)`` masks per round (tests only). Shapes as ``core.forward``.
    """
    batch, heads, length, dim = q.shape
    bs = core.config.block_size
    valid = torch.ones(batch, length, dtype=torch.bool) if key_padding_mask is None else ~key_padding_mask
    chunk_q = core.sort_order(q, valid).argsort(-1) // bs  # (B, H, R, L): chunk of each position
    chunk_k = core.sort_order(k, valid).argsort(-1) // bs
    outs, lses = [], []
    for r in range(chunk_q.shape[2]):
        cq, ck = chunk_q[:, :, r, :, None], chunk_k[:, :, r, None, :]
        mask = ((ck == cq) | (ck == cq - 1)) & valid[:, None, None, :]
        out, lse = masked_attention(q, k, v, mask, 1 / math.sqrt(dim))
        outs.append(out)
        lses.append(lse)
    lse = torch.stack(lses)
    total = torch.logsumexp(lse, 0)
    weights = torch.where(torch.isinf(total), 0.0, torch.exp(lse - total))
    return sum(w[..., None] * o for w, o in zip(weights, outs))


PATTERN = Pattern(
    name="lsh",
    summary="LSH attention (Reformer, Kitaev et al. 2020): hash, sort, attend within chunks of block_size and "
            "the previous chunk",
    options=(NUM_HASHES, NUM_BUCKETS),
    check=check,
    core=LSHAttention,
    reference=reference,
    cases={"lsh": dict(num_hashes=2, num_buckets=6)},
    benchmarks={"lsh": dict(num_hashes=2, num_buckets=256)},
)
