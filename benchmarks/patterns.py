"""Benchmark: fixed/strided, learned-routing and LSH attention at 131,072 tokens (GPU only).

Same inputs for every method: bf16, B = 1, H = 16, D in {64, 128}, 64-token blocks.

Settings: the registry's benchmark settings (``Pattern.benchmarks``, :mod:`genosparse.attention.patterns`).

* ``fixed`` (stride 16 blocks, 1 summary block per group; non-causal and causal) and
  ``strided`` (stride 32 blocks): genosparse ``triton`` on the layout against FlexAttention with
  the equivalent ``BlockMask`` (:func:`benchutil.flex_block_mask`; causal as a ``mask_mod``).
* ``learned`` (3 window + 8 selected blocks per query block): the whole
  :class:`RoutedAttention` (pooling, routing scores, top-k, CSR layout built on the GPU, the
  kernels, the compressed branch); and its attention alone on the routed layout against
  FlexAttention on a ``BlockMask`` of the same layout.
* ``lsh`` (2 hashes, 256 buckets, 64-token chunks): the whole :class:`LSHAttention` (hashing,
  sorting, the kernels on the sorted chunks, unsorting, the round merge); and its attention on
  the sorted sequences against FlexAttention with the same chunk mask.
* dense ``scaled_dot_product_attention`` (flash), forward and forward+backward, for scale.

Times are medians of ``triton.testing.do_bench``; TF/s count the layout's blocks
(``4 * nnz * 64^2 * D`` forward, 3.5x that forward+backward).

Usage: ``python benchmarks/patterns.py [--dims 64 128] [--length 131072] [--only lsh ...]`` (see
``benchmarks/benchutil.py``). Prints a markdown table; with
``$OUT`` set also writes ``$OUT/patterns.md``.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import flex_attention

from benchutil import BLOCK, HEADS, flex_block_mask, fmt, make_layout, measure

from genosparse.attention.lsh import sorted_rounds
from genosparse.attention.patterns import benchmark_config
from genosparse.attention.triton_backend import triton_attention


def flops(layout, dim: int, batch: int = 1) -> float:
    return 4.0 * batch * int(layout.nnz().sum()) * BLOCK * BLOCK * dim


def static_rows(name: str | None, layout, q, k, v, grad_out, flex) -> list[dict]:
    """genosparse and FlexAttention on ``layout`` (of benchmark setting ``name``, None: built from an input)."""
    scale = q.shape[-1] ** -0.5
    mask = flex_block_mask(name, layout, q.shape[2])
    methods = {"genosparse triton": lambda q, k, v: triton_attention(q, k, v, layout, scale)[0],
               "FlexAttention": lambda q, k, v: flex(q, k, v, block_mask=mask, scale=scale)}
    return [dict(measure(fn, q, k, v, grad_out, flops(layout, q.shape[-1])), method=m) for m, fn in methods.items()]


def learned_rows(q, k, v, grad_out, flex) -> list[dict]:
    pattern, cfg = benchmark_config("learned", backend="triton", block_size=BLOCK)
    core = pattern.core(cfg, HEADS, q.shape[-1]).to(q.device, q.dtype)
    with torch.no_grad():
        valid = torch.ones(1, q.shape[2], dtype=torch.bool, device=q.device)
        kc, _, block_valid = core.pooled(k, v, valid)
        layout = core.routing_layout(q, kc, block_valid, valid)
    rows = [dict(measure(lambda q, k, v: core(q, k, v), q, k, v, grad_out, flops(layout, q.shape[-1])),
                 method="genosparse whole module (routing + layout + kernels + compressed)")]
    return rows + static_rows(None, layout, q, k, v, grad_out, flex)


def lsh_rows(q, k, v, grad_out, flex) -> list[dict]:
    pattern, cfg = benchmark_config("lsh", backend="triton", block_size=BLOCK)
    core = pattern.core(cfg, HEADS, q.shape[-1]).to(q.device)
    length, dim = q.shape[2], q.shape[-1]
    layout = core.layout(length, q.device)
    rounds = cfg.num_hashes
    rows = [dict(measure(lambda q, k, v: core(q, k, v), q, k, v, grad_out, flops(layout, dim, HEADS * rounds)),
                 method="genosparse whole module (hash + sort + kernels + merge)")]
    valid = torch.ones(1, length, dtype=torch.bool, device=q.device)
    with torch.no_grad():
        order_q, order_k = core.sort_order(q, valid), core.sort_order(k, valid)
    sq, sk, sv = (sorted_rounds(x.detach(), order).requires_grad_()
                  for x, order in ((q, order_q), (k, order_k), (v, order_k)))
    sgrad = sorted_rounds(grad_out, order_q)
    for row in static_rows(None, layout, sq, sk, sv, sgrad, flex):
        row["method"] += " (sorted chunks only)"
        row["fwd_tflops"] *= HEADS * rounds
        row["fwdbwd_tflops"] = row.get("fwdbwd_tflops", 0) * HEADS * rounds
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--length", type=int, default=131072)
    parser.add_argument("--budget-s", type=float, default=240.0, help="skip the remaining groups after this")
    parser.add_argument("--only", nargs="+", help="run only these groups (fixed, fixed causal, strided, learned, "
                                                  "lsh, dense)")
    args = parser.parse_args()
    start = time.time()
    torch._dynamo.config.recompile_limit = 64
    flex = torch.compile(flex_attention)
    length = args.length
    lines = [f"### Patterns at {length:,} tokens: {torch.cuda.get_device_name()}, torch {torch.__version__}, bf16, "
             f"B=1, H={HEADS}, block {BLOCK}", "",
             "| pattern | D | method | fwd ms | fwd+bwd ms | fwd TF/s | fwd+bwd TF/s | peak GB | fwd+bwd vs Flex |",
             "|---|---|---|---|---|---|---|---|---|"]
    statics = ("fixed", "fixed causal", "strided")
    for dim in args.dims:
        g = torch.Generator(device="cuda").manual_seed(dim)
        q, k, v = (torch.randn(1, HEADS, length, dim, generator=g, device="cuda", dtype=torch.bfloat16)
                   .requires_grad_() for _ in range(3))
        grad_out = torch.randn(1, HEADS, length, dim, generator=g, device="cuda", dtype=torch.bfloat16)
        groups = {name: (lambda name=name: static_rows(name, make_layout(name, length), q, k, v, grad_out, flex))
                  for name in statics}
        groups["learned"] = lambda: learned_rows(q, k, v, grad_out, flex)
        groups["lsh"] = lambda: lsh_rows(q, k, v, grad_out, flex)

        def sdpa(q, k, v):
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                return torch.nn.functional.scaled_dot_product_attention(q, k, v)

        groups["dense"] = lambda: [dict(measure(sdpa, q, k, v, grad_out, 4.0 * HEADS * length * length * dim),
                                        method="SDPA flash (all L^2)")]
        for name, run in groups.items():
            if args.only and name not in args.only:
                continue
            if time.time() - start > args.budget_s:
                lines.append(f"| {name} | {dim} | skipped (time budget) |||||||")
                continue
            try:
                rows = run()
            except Exception as exc:  # e.g. out of memory: record it and go on
                rows = [dict(method=f"failed: {type(exc).__name__}: {str(exc)[:100]}")]
            flex_ms = next((r.get("fwdbwd_ms") for r in rows if r["method"].startswith("FlexAttention")), None)
            for r in rows:
                ratio = flex_ms / r["fwdbwd_ms"] if flex_ms and r.get("fwdbwd_ms") else None
                lines.append(f"| {name} | {dim} | {r['method']} | {fmt(r.get('fwd_ms'), '.3f')} | "
                             f"{fmt(r.get('fwdbwd_ms'), '.3f')} | {fmt(r.get('fwd_tflops'), '.0f')} | "
                             f"{fmt(r.get('fwdbwd_tflops'), '.0f')} | {fmt(r.get('peak_gb'))} | "
                             f"{fmt(ratio, '.2f') + 'x' if ratio else '-'} |")
            print(lines[-1], flush=True)
            torch.cuda.empty_cache()
        del q, k, v, grad_out
        torch.cuda.empty_cache()
    table = "\n".join(lines)
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "patterns.md"), "w") as fh:
            fh.write(table + "\n")
    print("\n" + table)


if __name__ == "__main__":
    main()
