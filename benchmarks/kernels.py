"""Benchmark (issue 14): every pattern's kernels against FlexAttention and dense cuDNN attention (GPU only).

Inputs as in the issue-14 table: bf16, B = 1, H = 16, 64-token blocks, D in {64, 128}, L in {16,384,
131,072}; patterns :data:`benchutil.PATTERNS`, the registry's benchmark settings (``Pattern.benchmarks``:
sliding window +-256 tokens, BigBird 3 window + 2 global + 3 random blocks, dilated 1/2/4/8 over the
heads, fixed stride 16, strided stride 32, causal fixed).

* genosparse: :func:`~genosparse.attention.triton_backend.triton_attention` (autotuned; the first
  call of each shape tunes, outside the timings), with the tiles the kernels choose
  (:mod:`genosparse.kernels.tiles`) and, where they group blocks, also one block per tile
  (``tile_group=1``: the kernels as they were before grouping).
* FlexAttention: ``torch.compile(flex_attention)`` on :func:`benchutil.flex_block_mask`.
* dense: the faster of SDPA's cuDNN and flash backends, all ``L^2`` at 16,384 tokens.

TF/s count the layout's computed 64 x 64 blocks (``4 * nnz * 64^2 * D`` forward, 3.5x that
forward+backward), whatever the tiles compute; "of dense" divides by the dense TF/s at the same D.
Also: the launch overhead (window at 1,024 tokens, where the GPU work is negligible) and BigBird at
1,048,576 tokens (D 64).

Usage: ``python benchmarks/kernels.py [--lengths ...] [--dims ...] [--patterns ...] [--budget-s S]``;
``--probe PATTERN L D`` runs one forward+backward without timing (for ``ncu``). Prints a markdown
table; with ``$OUT`` set also writes ``$OUT/kernels.md`` and ``$OUT/kernels.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import torch
import triton
from benchutil import BLOCK, HEADS, PATTERNS, flex_block_mask, fmt, make_layout, measure
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import flex_attention

from genosparse.attention.triton_backend import triton_attention
from genosparse.kernels import tiles
from genosparse.kernels.warmup import Variant, precompile

DENSE_L = 16384


def inputs(length: int, dim: int, seed: int):
    g = torch.Generator(device="cuda").manual_seed(seed)
    q, k, v = (torch.randn(1, HEADS, length, dim, generator=g, device="cuda", dtype=torch.bfloat16).requires_grad_()
               for _ in range(3))
    return q, k, v, torch.randn(1, HEADS, length, dim, generator=g, device="cuda", dtype=torch.bfloat16)


def layout_flops(layout, dim: int) -> float:
    return 4.0 * int(layout.nnz().sum()) * BLOCK * BLOCK * dim


def ours(layout, scale):
    return lambda q, k, v: triton_attention(q, k, v, layout, scale)[0]


def dense_rates(dims) -> dict[int, dict]:
    """Best of cuDNN and flash SDPA at :data:`DENSE_L` tokens: ``{D: {"fwd": TF/s, "fwdbwd": TF/s, "backend": ...}}``."""
    rates = {}
    for dim in dims:
        q, k, v, grad = inputs(DENSE_L, dim, dim)
        best = {}
        for backend in (SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION):
            def sdpa(q, k, v, backend=backend):
                with sdpa_kernel(backend):
                    return torch.nn.functional.scaled_dot_product_attention(q, k, v)
            try:
                row = measure(sdpa, q, k, v, grad, 4.0 * HEADS * DENSE_L * DENSE_L * dim)
            except RuntimeError as exc:
                print(f"[dense] {backend.name} D={dim} failed: {exc}", flush=True)
                continue
            print(f"[dense] {backend.name} D={dim}: {row}", flush=True)
            for key in ("fwd", "fwdbwd"):
                if row[f"{key}_tflops"] > best.get(key, 0):
                    best[key], best[f"{key}_backend"] = row[f"{key}_tflops"], backend.name
        rates[dim] = best
    return rates


def pattern_rows(pattern: str, length: int, dims, flex, dense: dict) -> list[dict]:
    layout = make_layout(pattern, length)
    block_mask = flex_block_mask(pattern, layout, length) if flex else None
    auto = tiles(layout.kv_indptr, layout.kv_indices, BLOCK).group
    rows = []
    for dim in dims:
        q, k, v, grad = inputs(length, dim, length + dim)
        scale = dim ** -0.5
        methods = {f"genosparse (group {auto})": ours(layout, scale)}
        if auto > 1:
            methods["genosparse (group 1)"] = ours(dataclasses.replace(layout, tile_group=1), scale)
        if flex:
            methods["FlexAttention"] = lambda q, k, v: flex(q, k, v, block_mask=block_mask, scale=scale)
        reference = methods[f"genosparse (group {auto})"](q, k, v).detach().float()
        for name, fn in methods.items():
            try:
                row = measure(fn, q, k, v, grad, layout_flops(layout, dim))
                row["max_diff"] = (fn(q, k, v).detach().float() - reference).abs().max().item()
            except Exception as exc:  # e.g. out of memory: record it and go on
                row = {"error": f"{type(exc).__name__}: {str(exc)[:80]}"}
            row.update(pattern=pattern, L=length, D=dim, method=name)
            if "fwd_ms" in row:
                row["bwd_over_fwd"] = (row["fwdbwd_ms"] - row["fwd_ms"]) / row["fwd_ms"]
                row["fwd_of_dense"] = row["fwd_tflops"] / dense[dim]["fwd"] if dense.get(dim) else None
                row["fwdbwd_of_dense"] = row["fwdbwd_tflops"] / dense[dim]["fwdbwd"] if dense.get(dim) else None
            print(f"[run] {row}", flush=True)
            rows.append(row)
        flex_ms = next((r.get("fwdbwd_ms") for r in rows[-len(methods):] if r["method"] == "FlexAttention"), None)
        for r in rows[-len(methods):]:
            r["vs_flex"] = flex_ms / r["fwdbwd_ms"] if flex_ms and r.get("fwdbwd_ms") else None
        del q, k, v, grad, reference
        torch.cuda.empty_cache()
    return rows


def overhead_row(dim: int = 64, length: int = 1024) -> dict:
    layout = make_layout("window", length)
    q, k, v, grad = inputs(length, dim, 1)
    row = measure(ours(layout, dim ** -0.5), q, k, v, grad, layout_flops(layout, dim))
    return dict(row, pattern="window (launch overhead)", L=length, D=dim, method="genosparse")


def report(rows: list[dict], dense: dict, elapsed: float) -> str:
    lines = [f"### Kernels against FlexAttention (issue 14): {torch.cuda.get_device_name()}, torch {torch.__version__}, "
             f"triton {triton.__version__}, bf16, B=1, H={HEADS}, block {BLOCK}", "",
             "| pattern | L | D | method | fwd ms | f+b ms | bwd/fwd | fwd TF/s | f+b TF/s | fwd of dense | "
             "f+b of dense | f+b vs Flex | max diff |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['pattern']} | {r['L']:,} | {r['D']} | {r['method']} | {r['error']} ||||||||")
            continue
        pct = lambda x: "-" if x is None else f"{100 * x:.0f}%"  # noqa: E731
        lines.append(f"| {r['pattern']} | {r['L']:,} | {r['D']} | {r['method']} | {fmt(r['fwd_ms'], '.3f')} | "
                     f"{fmt(r.get('fwdbwd_ms'), '.3f')} | {fmt(r.get('bwd_over_fwd'), '.1f')} | "
                     f"{fmt(r['fwd_tflops'], '.0f')} | {fmt(r.get('fwdbwd_tflops'), '.0f')} | "
                     f"{pct(r.get('fwd_of_dense'))} | {pct(r.get('fwdbwd_of_dense'))} | "
                     f"{fmt(r.get('vs_flex'), '.2f') + 'x' if r.get('vs_flex') else '-'} | "
                     f"{fmt(r.get('max_diff'), '.3g')} |")
    lines += ["", "Dense SDPA at 16,384 tokens (best backend): " + "; ".join(
        f"D {d}: fwd {v.get('fwd', 0):.0f} TF/s ({v.get('fwd_backend')}), f+b {v.get('fwdbwd', 0):.0f} TF/s "
        f"({v.get('fwdbwd_backend')})" for d, v in dense.items()), "", f"Total {elapsed:.0f} s."]
    return "\n".join(lines)


def probe(pattern: str, length: int, dim: int) -> None:
    layout = make_layout(pattern, length)
    q, k, v, grad = inputs(length, dim, 0)
    triton_attention(q, k, v, layout, dim ** -0.5)[0].backward(grad)
    torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[16384, 131072])
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--patterns", nargs="+", default=list(PATTERNS), choices=PATTERNS)
    parser.add_argument("--long", action="store_true", help="also BigBird at 1,048,576 tokens, D 64")
    parser.add_argument("--budget-s", type=float, default=480.0, help="skip the remaining rows after this")
    parser.add_argument("--probe", nargs=3, metavar=("PATTERN", "L", "D"))
    args = parser.parse_args()
    if args.probe:
        probe(args.probe[0], int(args.probe[1]), int(args.probe[2]))
        return
    start = time.time()
    torch._dynamo.config.recompile_limit = 64
    flex = torch.compile(flex_attention)
    compiled = precompile(Variant("bfloat16", d, BLOCK, m, g) for d in args.dims for m, g in
                          ((False, 1), (True, 1), (True, 2)))
    print(f"compiled {len(compiled)} variants in {time.time() - start:.0f} s", flush=True)
    dense = dense_rates(args.dims)
    rows = [overhead_row()]
    for length in args.lengths:
        for pattern in args.patterns:
            if time.time() - start > args.budget_s:
                rows.append(dict(pattern=pattern, L=length, D=0, method="-", error="skipped (time budget)"))
                continue
            rows += pattern_rows(pattern, length, args.dims, flex, dense)
    if args.long and time.time() - start < args.budget_s:
        rows += pattern_rows("bigbird", 1048576, [64], None, dense)  # genosparse only: against today's 48 ms
    table = report(rows, dense, time.time() - start)
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "kernels.md"), "w") as fh:
            fh.write(table + "\n")
        with open(os.path.join(os.environ["OUT"], "kernels.json"), "w") as fh:
            json.dump({"rows": rows, "dense": dense}, fh, indent=1)
    print("\n" + table)


if __name__ == "__main__":
    main()
