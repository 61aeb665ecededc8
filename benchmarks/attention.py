"""Benchmark: genosparse Triton block-sparse attention vs FlexAttention vs dense SDPA vs the
``"torch"`` backend, on the patterns of issue 3 (GPU only).

Same inputs for every method: bf16, B = 1, H = 16, D in {64, 128}, L in {16,384, 131,072,
1,048,576}; patterns with 64-token blocks: BigBird ITC (3 window, 2 global, 3 random blocks),
sliding window +-256 tokens, dilated window (3 blocks, dilations 1, 2, 4, 8 over the heads).

* genosparse ``triton``: :func:`genosparse.attention.triton_backend.triton_attention`, autotuned
  (the first call of each length bucket and head dim tunes, outside the timings).
* FlexAttention: ``torch.compile(flex_attention)`` with an equivalent ``BlockMask`` of 128-token
  blocks (:func:`benchutil.flex_block_mask`) whose ``mask_mod`` is the same layout token for token
  (sliding window: ``|q - kv| <= 256``; the others: the layout's rows as a small per-row list of key
  blocks, plus full global rows).
* dense ``scaled_dot_product_attention`` (flash backend): forward up to 131,072 tokens,
  forward+backward at 16,384.
* genosparse ``torch`` (block gather): at 16,384 tokens.

Times are medians of ``triton.testing.do_bench`` (CUDA events); the forward is the training
forward (inputs require grad). TFLOP/s count only the blocks
the pattern needs (the layout's 64 x 64 blocks: ``4 * nnz * 64^2 * D`` forward, 3.5x that
forward+backward); dense SDPA counts all ``L^2``. Peak memory is the CUDA allocator's peak
during one forward+backward, above the inputs. Layout construction: our layout builder on the
GPU (time and peak memory, and the kernels' work plan built on the first call) vs the ``BlockMask``
(``create_block_mask`` for the window).

Usage: ``python benchmarks/attention.py [--lengths 131072 16384 1048576] [--dims 64 128]
[--patterns bigbird window dilated] [--budget-s 540]`` with genosparse installed (or, in a bare
checkout, ``ln -s ../kernels genosparse/kernels`` and ``PYTHONPATH=.``). Prints markdown tables;
with ``$OUT`` set also writes ``$OUT/attention.md`` and ``$OUT/attention.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import triton
from benchutil import BATCH, BLOCK, HEADS, PATTERNS, flex_block_mask, fmt, make_layout, measure, timed
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import flex_attention

import genosparse.kernels.plan as plan_module
from genosparse.attention import sparse_attention
from genosparse.attention.triton_backend import triton_attention
from genosparse.kernels.warmup import Variant, precompile

TORCH_BACKEND_MAX_L = 16384  # the block-gather backend's gathers grow with L; timed only at the short length

def report(rows: list, build_rows: list, skipped: list, elapsed: float) -> str:
    """The markdown tables: timings per (pattern, L, D, method), then layout construction."""
    lines = [f"### Attention benchmark: {torch.cuda.get_device_name()}, torch {torch.__version__}, triton "
             f"{triton.__version__}, bf16, B={BATCH}, H={HEADS}, block {BLOCK}", "",
             "| pattern | L | D | method | fwd ms | fwd+bwd ms | fwd TF/s | fwd+bwd TF/s | peak GB "
             "| fwd+bwd vs Flex | max abs diff vs triton (fwd) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    flex_of = {(r["pattern"], r["L"], r["D"]): r for r in rows if r["method"] == "FlexAttention"}
    for r in sorted(rows, key=lambda r: (r["pattern"], r["L"], r["D"], r["method"])):
        if "error" in r:
            lines.append(f"| {r['pattern']} | {r['L']:,} | {r['D']} | {r['method']} | {r['error']} |||||||")
            continue
        ref = flex_of.get((r["pattern"], r["L"], r["D"]))
        speedup = ref["fwdbwd_ms"] / r["fwdbwd_ms"] if ref and ref.get("fwdbwd_ms") and r.get("fwdbwd_ms") else None
        lines.append(f"| {r['pattern']} | {r['L']:,} | {r['D']} | {r['method']} | {fmt(r['fwd_ms'], '.3f')} | "
                     f"{fmt(r.get('fwdbwd_ms'), '.3f')} | {fmt(r['fwd_tflops'], '.0f')} | "
                     f"{fmt(r.get('fwdbwd_tflops'), '.0f')} | {fmt(r.get('peak_gb'))} | "
                     f"{fmt(speedup, '.2f') + 'x' if speedup else '-'} | {fmt(r.get('max_diff_vs_triton'), '.3g')} |")
    lines += ["", "| pattern | L | ours: layout build ms | ours: peak MB | ours: index MB | ours: work plan ms "
                  "(first call) | Flex BlockMask ms | Flex BlockMask peak MB |",
              "|---|---|---|---|---|---|---|---|"]
    for b in build_rows:
        lines.append(f"| {b['pattern']} | {b['L']:,} | {b['ours_ms']:.2f} | {b['ours_mb']:.1f} | "
                     f"{b['layout_mb']:.1f} | {b['plan_ms']:.2f} | {b['flex_ms']:.1f} | {b['flex_mb']:.0f} |")
    if skipped:
        lines += ["", "Skipped (time budget): " + ", ".join(skipped)]
    lines += ["", f"Total {elapsed:.0f} s."]
    return "\n".join(lines)


def save(table: str, rows: list, build_rows: list, skipped: list) -> None:
    """Write the tables and raw numbers under ``$OUT`` (after every row, so a cut run keeps them)."""
    out_dir = os.environ.get("OUT")
    if out_dir:
        with open(os.path.join(out_dir, "attention.md"), "w") as fh:
            fh.write(table + "\n")
        with open(os.path.join(out_dir, "attention.json"), "w") as fh:
            json.dump({"rows": rows, "build": build_rows, "skipped": skipped}, fh, indent=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[131072, 16384, 1048576])
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--patterns", nargs="+", default=["bigbird", "window", "dilated"], choices=PATTERNS)
    parser.add_argument("--budget-s", type=float, default=540.0, help="skip the remaining rows after this")
    args = parser.parse_args()
    torch._dynamo.config.recompile_limit = 64
    flex = torch.compile(flex_attention)
    start = time.time()
    compiled = precompile(Variant("bfloat16", d, BLOCK, m) for d in args.dims for m in (False, True))
    print(f"compiled and tuned-candidate kernels: {compiled} in {time.time() - start:.0f} s", flush=True)
    rows, build_rows, skipped = [], [], []
    dense_cache: dict = {}
    for length in args.lengths:
        for pattern in args.patterns:
            if time.time() - start > args.budget_s:
                skipped.append(f"{pattern} L={length}")
                continue
            layout = make_layout(pattern, length)
            ours_ms, ours_mb = timed(lambda: make_layout(pattern, length), 5)
            plan_ms, plan_mb = timed(lambda: [plan_module._build(p) for p in (layout.kv_indptr, layout.q_indptr)], 3)
            flex_ms, flex_mb = timed(lambda: flex_block_mask(pattern, layout, length), 1 if length > 200_000 else 3)
            block_mask = flex_block_mask(pattern, layout, length)
            build_rows.append(dict(pattern=pattern, L=length, ours_ms=ours_ms, ours_mb=ours_mb, plan_ms=plan_ms,
                                   plan_mb=plan_mb, flex_ms=flex_ms, flex_mb=flex_mb,
                                   layout_mb=layout.nbytes() / 2 ** 20))
            print(f"[build] {pattern} L={length}: ours {ours_ms:.2f} ms {ours_mb:.1f} MB, plan {plan_ms:.2f} ms, "
                  f"Flex BlockMask {flex_ms:.1f} ms {flex_mb:.0f} MB", flush=True)
            blocks = int(layout.nnz().sum())
            for dim in args.dims:
                if time.time() - start > args.budget_s:
                    skipped.append(f"{pattern} L={length} D={dim}")
                    continue
                g = torch.Generator(device="cuda").manual_seed(length + dim)
                q, k, v = (torch.randn(BATCH, HEADS, length, dim, generator=g, device="cuda", dtype=torch.bfloat16)
                           .requires_grad_() for _ in range(3))
                grad_out = torch.randn(BATCH, HEADS, length, dim, generator=g, device="cuda", dtype=torch.bfloat16)
                flops = 4.0 * BATCH * blocks * BLOCK * BLOCK * dim
                scale = dim ** -0.5
                methods = {
                    "genosparse triton": lambda q, k, v: triton_attention(q, k, v, layout, scale)[0],
                    "FlexAttention": lambda q, k, v: flex(q, k, v, block_mask=block_mask, scale=scale),
                }
                if length <= TORCH_BACKEND_MAX_L:
                    methods["genosparse torch"] = lambda q, k, v: sparse_attention(q, k, v, layout, backend="torch",
                                                                                  scale=scale)
                reference = methods["genosparse triton"](q, k, v).detach().float()
                diff = {}
                for name, fn in list(methods.items())[1:]:
                    try:
                        diff[name] = (fn(q, k, v).detach().float() - reference).abs().max().item()
                    except Exception as exc:
                        print(f"[run] {pattern} L={length} D={dim} {name} failed: {exc}", flush=True)
                        del methods[name]
                del reference
                for name, fn in methods.items():
                    try:
                        result = measure(fn, q, k, v, grad_out, flops)
                    except Exception as exc:  # e.g. out of memory: record it and go on
                        result = {"error": f"{type(exc).__name__}: {str(exc)[:80]}"}
                    result.update(pattern=pattern, L=length, D=dim, method=name,
                                  max_diff_vs_triton=diff.get(name))
                    rows.append(result)
                    print(f"[run] {pattern} L={length} D={dim} {name}: {result}", flush=True)
                    save(report(rows, build_rows, skipped, time.time() - start), rows, build_rows, skipped)
                    torch.cuda.empty_cache()
                if (length, dim) not in dense_cache and length <= 131072:
                    dense_flops = 4.0 * BATCH * HEADS * length * length * dim

                    def sdpa(q, k, v):
                        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                            return torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=scale)

                    result = measure(sdpa, q, k, v, grad_out, dense_flops, do_backward=length <= 16384)
                    result.update(pattern="dense (all L^2)", L=length, D=dim, method="SDPA flash")
                    dense_cache[(length, dim)] = result
                    rows.append(result)
                    print(f"[run] dense L={length} D={dim} SDPA: {result}", flush=True)
                del q, k, v, grad_out
                torch.cuda.empty_cache()
            del block_mask, layout
            torch.cuda.empty_cache()

    table = report(rows, build_rows, skipped, time.time() - start)
    save(table, rows, build_rows, skipped)
    print("\n" + table)


if __name__ == "__main__":
    main()
