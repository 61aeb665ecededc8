"""Benchmark: masked-LM training throughput of a 6-layer, d=256 model at 131,072 and 1,048,576 tokens.

One model, one GPU, batch 1, real DNA (human chr20 30.0-32.2 Mb, the token file of
``benchmarks/train_triton.py --prepare``), BERT masking (15%), AdamW, bf16 autocast, activation
checkpointing; BigBird ITC layout (block 64: 3 window, 2 global, 3 random blocks; 4 heads of 64).
The same model (same weights and layouts) trains with three attention implementations:

* ``triton``: genosparse as shipped (``backend="triton"``);
* ``flex``: every layer's attention replaced by ``torch.compile(flex_attention)`` on a
  ``BlockMask`` of that layer's own layout (:func:`benchutil.flex_block_mask`);
* ``sdpa``: every layer's attention replaced by dense ``scaled_dot_product_attention`` (flash):
  what attending everything costs. Skipped where one step would take minutes (its cost is
  printed instead).

Per method and length: median step time of ``--steps`` steps after two warm-up steps
(compilation), tokens/s (= length / step time) and the allocator's peak memory.

Usage (GPU): ``python benchmarks/train_throughput.py [--lengths 131072 1048576] [--methods triton flex sdpa]
[--steps 5] [--budget-s 420]``; ``--device cpu --methods torch sdpa --lengths 512`` is a smoke test.
Prints a markdown table; with ``$OUT`` set also writes ``$OUT/train_throughput.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_triton import DATA  # noqa: E402

from genosparse.attention.patterns import AttentionConfig  # noqa: E402
from genosparse.models import GenomicModel, ModelConfig  # noqa: E402
from genosparse.tasks.mlm import mask_tokens  # noqa: E402

SDPA_MAX_SECONDS = 30.0  # skip dense SDPA where one step is estimated to take longer
SDPA_TFLOPS = 300.0  # flash attention's forward+backward rate on the H200 (benchmarks/RESULTS.md)


class FlexCore(nn.Module):
    """FlexAttention on a ``BlockMask`` of the replaced layer's own layout."""

    def __init__(self, layout_core: nn.Module, flex) -> None:
        super().__init__()
        self.layout_core, self.flex, self.masks = layout_core, flex, {}

    def forward(self, q, k, v, key_padding_mask=None):
        from benchutil import flex_block_mask

        length = q.shape[2]
        if length not in self.masks:  # the layer's own layout (seeded per layer), not a benchmark setting
            self.masks[length] = flex_block_mask(None, self.layout_core.layout(length, q.device), length)
        return self.flex(q, k, v, block_mask=self.masks[length])


class SDPACore(nn.Module):
    """Dense attention over every key."""

    def forward(self, q, k, v, key_padding_mask=None):
        return F.scaled_dot_product_attention(q, k, v)


def build(method: str, length: int, device: torch.device, flex) -> GenomicModel:
    backend = "torch" if method == "torch" else "triton"
    cfg = ModelConfig(head="mlm", d_model=256, num_layers=6, num_heads=4, dropout=0.0, context_length=length,
                      activation_checkpointing=True,
                      attention=AttentionConfig(pattern="bigbird", backend=backend, block_size=64))
    torch.manual_seed(0)
    model = GenomicModel(cfg).to(device)
    for block in model.backbone.blocks:
        if method == "flex":
            block.attn.core = FlexCore(block.attn.core, flex)
        elif method == "sdpa":
            block.attn.core = SDPACore()
    return model


def sdpa_seconds(length: int) -> float:
    """Estimated dense step time: 6 layers x (forward + backward + checkpoint recompute) x 4 L^2 D H."""
    return 6 * 4.5 * 4.0 * length * length * 64 * 4 / (SDPA_TFLOPS * 1e12)


def run(method: str, length: int, steps: int, device: torch.device, tokens: torch.Tensor, flex) -> dict:
    model = build(method, length, device, flex)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    g = torch.Generator(device=device).manual_seed(1)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times, losses = [], []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(steps + 2):
        offset = int(torch.randint(0, len(tokens) - length, (1,), generator=g, device=device))
        inputs, targets = mask_tokens(tokens[offset:offset + length][None], 0.15, g)
        sync()
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits = model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync()
        if step >= 2:
            times.append(time.perf_counter() - start)
        losses.append(loss.item())
    seconds = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 1024 ** 3 if device.type == "cuda" else float("nan")
    return dict(method=method, L=length, step_s=seconds, tokens_per_s=length / seconds, peak_gb=peak,
                first_loss=losses[0], last_loss=losses[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[131072, 1048576])
    parser.add_argument("--methods", nargs="+", default=["triton", "flex", "sdpa"],
                        choices=["triton", "flex", "sdpa", "torch"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--budget-s", type=float, default=420.0)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    if DATA.is_file():
        tokens = torch.from_numpy(np.load(DATA).astype(np.int64)).to(device)
    else:  # smoke tests away from the prepared data: random bases
        tokens = torch.randint(0, 4, (max(args.lengths) * 2,), device=device)
    flex = None
    if "flex" in args.methods:
        from torch.nn.attention.flex_attention import flex_attention

        torch._dynamo.config.recompile_limit = 64
        flex = torch.compile(flex_attention)
    start = time.time()
    lines = [f"### Training throughput: {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}, "
             f"torch {torch.__version__}, 6 layers, d_model 256, 4 heads, BigBird block 64, bf16, activation "
             "checkpointing, batch 1", "",
             "| L | attention | step s | tokens/s | peak GB | loss first -> last step |", "|---|---|---|---|---|---|"]
    for length in args.lengths:
        for method in args.methods:
            if method == "sdpa" and sdpa_seconds(length) > SDPA_MAX_SECONDS:
                row = f"| {length:,} | {method} | not run: about {sdpa_seconds(length):.0f} s per step | | | |"
            elif time.time() - start > args.budget_s:
                row = f"| {length:,} | {method} | skipped (time budget) | | | |"
            else:
                try:
                    r = run(method, length, args.steps, device, tokens, flex)
                    row = (f"| {length:,} | {method} | {r['step_s']:.3f} | {r['tokens_per_s']:,.0f} | "
                           f"{r['peak_gb']:.1f} | {r['first_loss']:.3f} -> {r['last_loss']:.3f} |")
                except Exception as exc:  # e.g. out of memory: record it and go on
                    row = f"| {length:,} | {method} | failed: {type(exc).__name__}: {str(exc)[:90]} | | | |"
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            lines.append(row)
            print(row, flush=True)
    table = "\n".join(lines)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "train_throughput.md").write_text(table + "\n")
    print("\n" + table)


if __name__ == "__main__":
    main()
