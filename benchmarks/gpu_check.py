"""GPU check of the ``"triton"`` attention backend: the interpreter test matrix on the GPU, plus
bf16, head dims 32/64/128, block sizes 16-128 and lengths up to 1,048,576 tokens.

Every case runs forward and backward and compares the Triton kernels' error against a
reference with the error of a plain PyTorch computation in the same dtype (flash-attention
test style: ours <= 2 x baseline + 1e-6, field by field: out, lse, dq, dk, dv). Outputs are
NaN-poisoned before the kernels run.

Layouts come from the pattern registry (:mod:`genosparse.attention.patterns`): its test settings
(``Pattern.cases``) for the whole-sequence cases, its benchmark settings (``Pattern.benchmarks``,
the issue-14 table) for the long ones.

* ``matrix``: fp16 / bf16 / fp32 x D 32 / 64 / 128 x every static test setting of the registry
  (and ``bigbird_grouped``: two query blocks per kernel tile although their key blocks differ) at
  an odd length (L = 1,999, B = 2, H = 4, block 64), key padding on some; reference: fp64 dense.
* dynamic patterns (``learned``, ``lsh``): at 16,384 tokens (fp16, bf16, padding), their benchmark
  settings, against the same module on the ``"dense"`` backend (same routing and hashing
  decisions, fp32 softmax); baseline: the ``"torch"`` backend.
* ``blocks``: block sizes 16, 32, 128 (bf16, D = 64).
* ``masked``: rows that attend nothing (padded prefix, one fully padded sequence).
* ``global16k``: BigBird at 16,384 tokens against a full fp32 dense reference (the global
  columns' dK/dV summed over 256 query blocks).
* ``long``: 131,071 and 1,048,576 tokens (bf16, H = 4, D 64 and 128, every static benchmark
  setting). The dense reference cannot run there: the upstream gradient is
  zero except on three query blocks (a global one, a middle one, the last), so the exact
  output, lse, dq, dk and dv follow from an fp32 reference on those rows only, computed
  over all keys; also dq is checked to be exactly 0 elsewhere and the whole output finite.
* ``determinism``: two backward passes at 131,071 tokens are bitwise equal.
* ``compile``: ``torch.compile`` (inductor, fullgraph) of the op, forward and backward.

Autotuning is off (``GENOSPARSE_TRITON_AUTOTUNE=0``) unless ``--autotune``: the check covers
the kernels, ``benchmarks/attention.py`` the tuned configurations.

Usage: ``python benchmarks/gpu_check.py [--quick] [--autotune] [--only NAME_PART ...]`` with genosparse installed
(``pip install -e .``; in a bare checkout ``ln -s ../kernels genosparse/kernels`` and
``PYTHONPATH=.`` make ``genosparse.kernels`` importable). Prints one line
per case and a pass/fail table last; with ``$OUT`` set, writes ``$OUT/gpu_check.json``.
Exit status 1 if any case fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import traceback
import zlib

import torch

from genosparse.attention import DYNAMIC_PATTERNS, sparse_attention
from genosparse.attention.patterns import BENCHMARKS, CASES, benchmark_config, build_layout, case_config
from genosparse.attention.reference import dense_attention
from genosparse.kernels.warmup import Variant, precompile

FIELDS = ("out", "lse", "dq", "dk", "dv")
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


STATIC_CASES = [name for name, (pattern, _) in CASES.items() if not pattern.dynamic]
STATIC_BENCHMARKS = [name for name, (pattern, _) in BENCHMARKS.items() if not pattern.dynamic]


def make_layout(name: str, length: int, heads: int, block: int, device, long: bool = False):
    """The layout of the registry's test setting ``name`` (benchmark setting with ``long``); a ``_grouped``
    suffix runs two query blocks per kernel tile although their key blocks differ (kernels/tiles.py)."""
    setting = name.removesuffix("_grouped")
    _, cfg = (benchmark_config if long else case_config)(setting, block_size=block)
    layout = build_layout(cfg, length, heads, 0, device)
    return dataclasses.replace(layout, tile_group=2) if setting != name else layout


def poison_empty() -> None:
    """``torch.empty`` returns NaN-filled floating tensors, so unwritten output blocks show."""
    empty = torch.empty

    def poisoned(*args, **kwargs):
        t = empty(*args, **kwargs)
        return t.fill_(float("nan")) if t.is_floating_point() else t

    torch.empty = poisoned


def plain_attention(q, k, v, token_mask, scale):
    """Masked attention written plainly in the inputs' dtype: the low-precision baseline
    (and, in fp32/fp64, a reference). Rows attending nothing give 0 and lse = -inf."""
    scores = (q @ k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~token_mask, torch.finfo(q.dtype).min)
    attended = token_mask.any(-1, keepdim=True)
    out = (torch.softmax(scores, -1) @ v) * attended
    lse = torch.logsumexp(scores.float(), -1).masked_fill(~attended.squeeze(-1), float("-inf"))
    return out, lse


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return torch.where(torch.isneginf(a) & torch.isneginf(b), 0.0, a - b).abs().max().item()


def ours(q, k, v, layout, scale, kpm, grad_out):
    """Triton forward and backward; returns out, lse, (dq, dk, dv)."""
    leaves = [t.detach().clone().requires_grad_() for t in (q, k, v)]
    out, lse = sparse_attention(*leaves, layout, backend="triton", scale=scale, key_padding_mask=kpm,
                                return_lse=True)
    grads = torch.autograd.grad(out, leaves, grad_out.to(out.dtype))
    return out.detach(), lse.detach(), grads


def judge(name: str, errors: dict, extra_ok: bool = True, note: str = "") -> dict:
    ok = extra_ok and all(e[0] <= 2 * e[1] + 1e-6 and math.isfinite(e[0]) for e in errors.values())
    row = {"case": name, "ok": ok, "errors": errors, "note": note}
    worst = max(errors, key=lambda f: errors[f][0] / (errors[f][1] + 1e-6))
    print(f"{'PASS' if ok else 'FAIL'} {name}: worst {worst} ours {errors[worst][0]:.3g} vs plain "
          f"{errors[worst][1]:.3g} {note}", flush=True)
    return row


def dense_case(name, pattern, dtype, dim, length=1999, batch=2, heads=4, block=64, kpm_kind=None, device="cuda"):
    """Whole-sequence check against an fp64 dense reference."""
    g = torch.Generator(device=device).manual_seed(zlib.crc32(name.encode()))
    layout = make_layout(pattern, length, heads, block, device)
    x64 = [torch.randn(batch, heads, length, dim, generator=g, device=device, dtype=torch.float64) for _ in range(3)]
    grad_out = torch.randn(batch, heads, length, dim, generator=g, device=device, dtype=torch.float64)
    kpm = None
    if kpm_kind == "random":
        kpm = torch.rand(batch, length, generator=g, device=device) < 0.2
    elif kpm_kind == "masked_rows":
        kpm = torch.zeros(batch, length, dtype=torch.bool, device=device)
        kpm[0, : 8 * block + 5] = True
        kpm[1] = True
    key_valid = torch.ones(batch, length, dtype=torch.bool, device=device) if kpm is None else ~kpm
    scale = 1 / math.sqrt(dim)
    low = [t.to(dtype) for t in x64]
    ref_in = [t.to(dtype).double().requires_grad_() for t in x64]  # the rounded inputs, exactly
    ref_out, ref_lse = dense_attention(*ref_in, layout, scale, key_valid)
    ref_grads = torch.autograd.grad(ref_out, ref_in, grad_out)
    token_mask = layout.to_token_mask()[None] & key_valid[:, None, None, :]
    base_in = [t.clone().requires_grad_() for t in low]
    base_out, base_lse = plain_attention(*base_in, token_mask, scale)
    base_grads = torch.autograd.grad(base_out, base_in, grad_out.to(dtype))
    out, lse, grads = ours(*low, layout, scale, kpm, grad_out)
    errors = {"out": [max_err(out, ref_out), max_err(base_out, ref_out)],
              "lse": [max_err(lse, ref_lse), max_err(base_lse, ref_lse)]}
    for f, a, b, r in zip(("dq", "dk", "dv"), grads, base_grads, ref_grads):
        errors[f] = [max_err(a, r), max_err(b, r)]
    finite = bool(torch.isfinite(out).all() and all(torch.isfinite(t).all() for t in grads))
    empty = ~token_mask.any(-1)
    extra = finite and bool((out[empty] == 0).all() and torch.isneginf(lse[empty]).all()
                            and torch.isfinite(lse[~empty]).all())
    return judge(name, errors, extra, f"(finite={finite}, empty rows={int(empty.sum())})")


def row_mask(layout, rows_blocks: torch.Tensor, length: int) -> torch.Tensor:
    """``(H, R * block, L)`` token mask of the query blocks ``rows_blocks`` (from the CSR rows)."""
    bs, n = layout.block_size, layout.num_blocks
    heads = layout.num_heads
    blocks = torch.zeros(heads, rows_blocks.numel(), n, dtype=torch.bool, device=rows_blocks.device)
    for h in range(heads):
        for i, r in enumerate(rows_blocks.tolist()):
            cols = layout.kv_indices[h, layout.kv_indptr[h, r]:layout.kv_indptr[h, r + 1]].long()
            blocks[h, i, cols] = True
    mask = blocks.repeat_interleave(bs, 1).repeat_interleave(bs, 2)[:, :, :length]
    q_pos = (rows_blocks[:, None] * bs + torch.arange(bs, device=rows_blocks.device)).flatten()
    mask &= (q_pos < length)[None, :, None]
    band = layout.pair_mask(q_pos[:, None], torch.arange(length, device=rows_blocks.device)[None, :])
    if band is not None:
        mask &= band[None]
    return mask, q_pos


def long_case(name, pattern, length, dim, heads=4, dtype=torch.bfloat16, device="cuda"):
    """Long sequence: exact check on three query blocks (gradient zero elsewhere)."""
    g = torch.Generator(device=device).manual_seed(zlib.crc32(name.encode()))
    layout = make_layout(pattern, length, heads, 64, device, long=True)
    q, k, v = (torch.randn(1, heads, length, dim, generator=g, device=device, dtype=dtype) for _ in range(3))
    n = layout.num_blocks
    rows_blocks = torch.tensor([0, n // 2, n - 1], device=device)
    mask, q_pos = row_mask(layout, rows_blocks, length)
    valid_rows = q_pos < length
    q_pos = q_pos[valid_rows]
    mask = mask[:, valid_rows]
    grad_out = torch.zeros(1, heads, length, dim, device=device, dtype=torch.float32)
    grad_rows = torch.randn(1, heads, q_pos.numel(), dim, generator=g, device=device)
    grad_out[:, :, q_pos] = grad_rows
    scale = 1 / math.sqrt(dim)

    out, lse, (dq, dk, dv) = ours(q, k, v, layout, scale, None, grad_out)

    def subset(dt):
        qs = q[:, :, q_pos].to(dt).requires_grad_()
        ks, vs = (t.to(dt).requires_grad_() for t in (k, v))
        o, l_ = plain_attention(qs, ks, vs, mask[None], scale)
        grads = torch.autograd.grad(o, (qs, ks, vs), grad_rows.to(dt))
        return o.detach(), l_.detach(), grads

    ref_out, ref_lse, ref_grads = subset(torch.float32)
    base_out, base_lse, base_grads = subset(dtype)
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    errors = {"out": [max_err(out[:, :, q_pos], ref_out), max_err(base_out, ref_out)],
              "lse": [max_err(lse[:, :, q_pos], ref_lse), max_err(base_lse, ref_lse)],
              "dq": [max_err(dq[:, :, q_pos], ref_grads[0]), max_err(base_grads[0], ref_grads[0])],
              "dk": [max_err(dk, ref_grads[1]), max_err(base_grads[1], ref_grads[1])],
              "dv": [max_err(dv, ref_grads[2]), max_err(base_grads[2], ref_grads[2])]}
    others = torch.ones(length, dtype=torch.bool, device=device)
    others[q_pos] = False
    finite = bool(torch.isfinite(out).all() and torch.isfinite(lse).all() and torch.isfinite(dk).all()
                  and torch.isfinite(dv).all())
    dq_zero = bool((dq[:, :, others] == 0).all())
    return judge(name, errors, finite and dq_zero, f"(finite={finite}, dq zero off the checked rows={dq_zero})")


def dynamic_case(name, pattern, dtype, length=16384, batch=2, heads=4, dim=64, device="cuda"):
    """Learned routing / LSH with the Triton kernels against the same module (same dtype, so the
    same routing and hashing decisions) on the ``"dense"`` backend, whose softmax over the chosen
    blocks runs in fp32; baseline: the ``"torch"`` backend. Sequence 1 ends in padding."""
    g = torch.Generator(device=device).manual_seed(zlib.crc32(name.encode()))
    spec, cfg = benchmark_config(pattern, block_size=64)
    torch.manual_seed(0)
    module = spec.core(cfg, num_heads=heads, head_dim=dim).to(device)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
    module = module.to(dtype)
    low = [torch.randn(batch, heads, length, dim, generator=g, device=device).to(dtype) for _ in range(3)]
    grad_out = torch.randn(batch, heads, length, dim, generator=g, device=device).to(dtype)
    kpm = torch.zeros(batch, length, dtype=torch.bool, device=device)
    kpm[1, length - 1000:] = True
    grad_out[1, :, length - 1000:] = 0

    def run(backend):
        module.config.backend = backend
        leaves = [t.clone().requires_grad_() for t in low]
        out = module(*leaves, kpm)
        return out.detach(), torch.autograd.grad(out, leaves, grad_out)

    ref_out, ref_grads = run("dense")
    base_out, base_grads = run("torch")
    out, grads = run("triton")
    rows = ~kpm[:, None, :].expand(batch, heads, length)
    errors = {"out": [max_err(out[rows], ref_out[rows]), max_err(base_out[rows], ref_out[rows])]}
    for f, a, b, r in zip(("dq", "dk", "dv"), grads, base_grads, ref_grads):
        errors[f] = [max_err(a, r), max_err(b, r)]
    finite = bool(torch.isfinite(out).all() and all(torch.isfinite(t).all() for t in grads))
    return judge(name, errors, finite, f"(finite={finite})")


def determinism_case(name: str, device="cuda") -> dict:
    length, heads, dim = 131071, 4, 64
    layout = make_layout("bigbird", length, heads, 64, device)
    g = torch.Generator(device=device).manual_seed(5)
    q, k, v, grad_out = (torch.randn(1, heads, length, dim, generator=g, device=device, dtype=torch.bfloat16)
                         for _ in range(4))
    first = ours(q, k, v, layout, 0.125, None, grad_out)
    second = ours(q, k, v, layout, 0.125, None, grad_out)
    same = all(torch.equal(a, b) for a, b in zip((first[0], *first[2]), (second[0], *second[2])))
    print(f"{'PASS' if same else 'FAIL'} {name}: bitwise equal out/dq/dk/dv = {same}", flush=True)
    return {"case": name, "ok": same, "errors": {}, "note": f"bitwise equal={same}"}


def compile_case(name: str, device="cuda") -> dict:
    from genosparse.attention.triton_backend import triton_attention

    length, heads, dim = 4096 + 17, 4, 64
    layout = make_layout("bigbird", length, heads, 64, device)
    g = torch.Generator(device=device).manual_seed(6)
    x = torch.randn(2, length, heads * dim, generator=g, device=device, dtype=torch.bfloat16)
    proj = torch.nn.Linear(heads * dim, 3 * heads * dim, device=device, dtype=torch.bfloat16)

    def block(x):
        q, k, v = proj(x).view(2, length, 3, heads, dim).permute(2, 0, 3, 1, 4)
        out, _ = triton_attention(q, k, v, layout, dim ** -0.5)
        return out.float().square().mean()

    eager = torch.autograd.grad(block(x), list(proj.parameters()))
    compiled_fn = torch.compile(block, fullgraph=True)
    compiled = torch.autograd.grad(compiled_fn(x), list(proj.parameters()))
    diff = max((a.float() - b.float()).abs().max().item() / (a.float().abs().max().item() + 1e-12)
               for a, b in zip(eager, compiled))
    ok = diff < 2e-2  # inductor fuses the bf16 projection differently; relative to the gradient's size
    print(f"{'PASS' if ok else 'FAIL'} {name}: relative grad diff compiled vs eager {diff:.3g}", flush=True)
    return {"case": name, "ok": ok, "errors": {}, "note": f"relative diff {diff:.3g}"}


SELECTED: list[str] = []
"""Substrings of the case names to run (``--only``); empty: every case."""


def guarded(name: str, fn, *args, **kwargs) -> dict | None:
    """Run one case (None when ``--only`` leaves it out); an exception fails that case only (and is printed)."""
    if SELECTED and not any(part in name for part in SELECTED):
        return None
    try:
        return fn(name, *args, **kwargs)
    except Exception as exc:  # report and go on with the other cases
        traceback.print_exc()
        print(f"FAIL {name}: {type(exc).__name__}: {exc}", flush=True)
        return {"case": name, "ok": False, "errors": {}, "note": f"{type(exc).__name__}: {str(exc)[:200]}"}
    finally:
        torch.cuda.empty_cache() if torch.cuda.is_available() else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small subset (smoke test)")
    parser.add_argument("--autotune", action="store_true", help="keep autotuning on")
    parser.add_argument("--only", nargs="+", default=[], help="run only the cases whose names contain one of these")
    args = parser.parse_args()
    SELECTED.extend(args.only)
    if not args.autotune:
        os.environ["GENOSPARSE_TRITON_AUTOTUNE"] = "0"
    start = time.time()
    dims = (64,) if args.quick else (32, 64, 128)
    variants = [Variant(str(dt).removeprefix("torch."), d, 64, True, g) for dt in DTYPES.values() for d in dims
                for g in (1, 2)]
    variants += [Variant("bfloat16", 64, b, True, g) for b in (16, 32, 128) for g in (1, 128 // b)]
    variants += [Variant("bfloat16", d, 64, False) for d in (64, 128)]
    try:
        precompile(variants)
        print(f"compiled {len(variants)} kernel variants in parallel in {time.time() - start:.0f} s", flush=True)
    except Exception as exc:  # the cases then compile what they need themselves
        print(f"parallel precompilation failed ({type(exc).__name__}: {exc}); compiling in-process", flush=True)
    poison_empty()
    results = []
    patterns = (*STATIC_CASES, "bigbird_grouped")
    kpm_of = {"bigbird": "random", "bigbird_grouped": "random", "window": "random", "dilated_global": "random"}
    for dtype_name, dtype in DTYPES.items():
        for dim in dims:
            for pattern in patterns if not args.quick else ("bigbird", "window"):
                name = f"matrix_{pattern}_{dtype_name}_D{dim}_L1999"
                results.append(guarded(name, dense_case, pattern, dtype, dim, kpm_kind=kpm_of.get(pattern)))
    if not args.quick:
        for block in (16, 32, 128):
            for pattern in ("bigbird", "window"):
                results.append(guarded(f"blocks_{pattern}_bf16_D64_block{block}", dense_case, pattern, torch.bfloat16,
                                       64, length=1999 if block < 128 else 1000, block=block, kpm_kind="random"))
        for dtype_name in ("fp16", "bf16", "fp32"):
            results.append(guarded(f"masked_rows_window_{dtype_name}_D64", dense_case, "window", DTYPES[dtype_name],
                                   64, kpm_kind="masked_rows"))
        results.append(guarded("global16k_bigbird_bf16_D128", dense_case, "bigbird", torch.bfloat16, 128,
                               length=16384, batch=1, heads=2))
    lengths = (131071,) if args.quick else (131071, 1048576)
    for length in lengths:
        for dim in ((64,) if args.quick else (64, 128)):
            for pattern in STATIC_BENCHMARKS:
                results.append(guarded(f"long_{pattern.replace(' ', '_')}_bf16_D{dim}_L{length}", long_case, pattern,
                                       length, dim))
    for pattern in DYNAMIC_PATTERNS:
        for dtype_name in ("fp16", "bf16") if not args.quick else ("bf16",):
            results.append(guarded(f"{pattern}_{dtype_name}_D64_L16384", dynamic_case, pattern, DTYPES[dtype_name]))
    results.append(guarded("determinism_bigbird_131071", determinism_case))
    if not args.quick:
        results.append(guarded("torch_compile_fullgraph", compile_case))

    results = [r for r in results if r is not None]
    failed = [r for r in results if not r["ok"]]
    elapsed = time.time() - start
    print(f"\n## GPU check ({torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"triton {__import__('triton').__version__}, {elapsed:.0f} s)\n")
    print("| case | result | worst field: ours / plain | note |\n|---|---|---|---|")
    for r in results:
        if r["errors"]:
            worst = max(r["errors"], key=lambda f: r["errors"][f][0] / (r["errors"][f][1] + 1e-6))
            detail = f"{worst}: {r['errors'][worst][0]:.3g} / {r['errors'][worst][1]:.3g}"
        else:
            detail = "-"
        print(f"| {r['case']} | {'pass' if r['ok'] else 'FAIL'} | {detail} | {r['note']} |")
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    out_dir = os.environ.get("OUT")
    if out_dir:
        with open(os.path.join(out_dir, "gpu_check.json"), "w") as fh:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                       "triton": __import__("triton").__version__, "seconds": elapsed, "results": results}, fh,
                      indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
