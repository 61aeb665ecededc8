"""Dense references of the input-dependent patterns (learned routing, LSH), written from their
definitions with loops and full score matrices, independent of the layouts and kernels."""

from __future__ import annotations

import math

import torch


def masked_attention(q, k, v, mask, scale):
    """Softmax attention with a token mask ``(B, H, L, L)``; rows attending nothing give 0 and lse -inf."""
    scores = (q @ k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(scores, -1)
    attended = mask.any(-1)
    probs = torch.exp(scores - torch.where(attended, lse, 0.0)[..., None])
    return probs @ v, lse


def routed_reference(core, q, k, v, key_padding_mask=None):
    """:class:`RoutedAttention` by its definition: pooled routing keys, top-k plus window per query
    block as a dense token mask, exact softmax over it, plus the gated compressed branch."""
    cfg = core.config
    batch, heads, length, dim = q.shape
    bs, n = cfg.block_size, math.ceil(length / cfg.block_size)
    valid = torch.ones(batch, length, dtype=torch.bool) if key_padding_mask is None else ~key_padding_mask
    kc, vc, qc = (torch.zeros(batch, heads, n, dim, dtype=q.dtype) for _ in range(3))
    block_valid = torch.zeros(batch, n, dtype=torch.bool)
    for j in range(n):
        part = slice(j * bs, min(length, (j + 1) * bs))
        m = valid[:, part].to(q.dtype)[:, None, :, None]
        count = m.sum(2).clamp_min(1)
        kc[:, :, j] = (k[:, :, part] * m).sum(2) / count
        vc[:, :, j] = (v[:, :, part] * m).sum(2) / count
        qc[:, :, j] = (q[:, :, part] * m).sum(2) / count  # routing queries from real positions only
        block_valid[:, j] = valid[:, part].any(1)
    kc = kc @ core.router.weight.to(q.dtype).T
    scale = 1 / math.sqrt(dim)
    with torch.no_grad():
        scores = (qc @ kc.transpose(-1, -2) * scale).masked_fill(~block_valid[:, None, None, :], float("-inf"))
        top = scores.topk(min(cfg.num_selected_blocks, n), -1).indices
    half = cfg.num_window_blocks // 2
    block_mask = torch.zeros(batch, heads, n, n, dtype=torch.bool)
    for b in range(batch):
        for h in range(heads):
            for i in range(n):
                block_mask[b, h, i, top[b, h, i]] = True
                block_mask[b, h, i, max(0, i - half):i + half + 1] = True
    mask = block_mask.repeat_interleave(bs, 2).repeat_interleave(bs, 3)[:, :, :length, :length]
    sparse, _ = masked_attention(q, k, v, mask & valid[:, None, None, :], scale)
    compressed, _ = masked_attention(q, kc, vc, block_valid[:, None, None, :].expand(batch, heads, length, n), scale)
    return sparse + torch.sigmoid(core.gate.to(q.dtype))[None, :, None, None] * compressed


def lsh_reference(core, q, k, v, key_padding_mask=None):
    """:class:`LSHAttention` by its definition: per round, query ``i`` attends key ``j`` when j's
    sorted chunk is i's or the one before; rounds merged by their log-sum-exps."""
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
