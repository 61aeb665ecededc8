"""The Triton kernels in Triton's interpreter (CPU, no GPU), against the dense reference.

Every case runs forward and backward (dq, dk, dv) of ``triton_attention`` on CPU tensors with
``TRITON_INTERPRET=1`` and compares the error against an fp64 dense reference with the error
of a plain PyTorch computation in the same dtype (flash-attention test style). Outputs are
NaN-poisoned before the kernels run (``torch.empty`` fills floating tensors with NaN), so a
block no program writes fails the comparison.

``TRITON_INTERPRET`` must be set before Triton is imported, and another test module may have
imported it already; the cases therefore run in child processes (this file run as a script),
two at a time, and the tests read their JSON results.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# name -> case. layout: a test setting of the pattern registry (genosparse.attention.patterns.CASES),
# with `settings` on top and `rows` (query blocks kept by BlockLayout.select_rows) if given; split: "default"
# (the library's chunking) or a forced chunk of 3 blocks so that most rows and columns are split
# and the combine kernels run; kpm: none | random | masked_rows (a padded prefix that leaves
# whole rows attending nothing, plus one fully padded sequence); group: blocks per kernel tile
# (kernels/tiles.py), default the kernels' choice (dense layouts and fixed local groups group
# neighbouring rows, the others do not); a forced group makes tiles whose rows hold different blocks.
CASES = {
    "bigbird_fp32": dict(layout="bigbird", dtype="float32", L=200, B=2, H=2, D=16, block=16, kpm="random"),
    "bigbird_fp16_split": dict(layout="bigbird", dtype="float16", L=200, B=2, H=2, D=16, block=16, kpm="random",
                               split=3),
    "bigbird_fp32_split_lse_grad": dict(layout="bigbird", dtype="float32", L=133, B=2, H=3, D=32, block=16,
                                        split=3, lse_grad=True),
    "bigbird_fp16_strided_inputs": dict(layout="bigbird", dtype="float16", L=161, B=2, H=2, D=32, block=16,
                                        strided=True),
    "window_fp16": dict(layout="window", dtype="float16", L=150, B=2, H=2, D=32, block=16, kpm="random"),
    "window_fp32_split": dict(layout="window", dtype="float32", L=150, B=2, H=2, D=16, block=32, split=2),
    "window_fp16_ungrouped": dict(layout="window", dtype="float16", L=150, B=2, H=2, D=32, block=16, kpm="random",
                                  group=1),
    "window_block64_grouped_fp32": dict(layout="window", dtype="float32", L=190, B=2, H=2, D=16, block=64,
                                        settings=dict(window=70), group=2),
    "bigbird_grouped_fp32_split": dict(layout="bigbird", dtype="float32", L=200, B=2, H=2, D=16, block=16,
                                       kpm="random", split=3, group=2),
    "bigbird_grouped4_fp16": dict(layout="bigbird", dtype="float16", L=200, B=2, H=2, D=16, block=16, group=4),
    "fixed_causal_grouped_fp32": dict(layout="fixed_causal", dtype="float32", L=181, B=2, H=2, D=16, block=16,
                                      group=2, lse_grad=True),
    "masked_rows_grouped_fp32": dict(layout="window", dtype="float32", L=120, B=2, H=2, D=16, block=16,
                                     kpm="masked_rows", group=2),
    "dilated_grouped_fp16_split": dict(layout="dilated_global", dtype="float16", L=177, B=2, H=2, D=16, block=16,
                                       split=3, group=2),
    "dilated_fp16": dict(layout="dilated", dtype="float16", L=177, B=2, H=2, D=16, block=16),
    "dilated_fp32": dict(layout="dilated", dtype="float32", L=177, B=2, H=2, D=32, block=16, kpm="random"),
    "dilated_global_fp32_split": dict(layout="dilated_global", dtype="float32", L=177, B=2, H=2, D=16, block=32,
                                      kpm="random", split=3),
    "dilated_global_fp16": dict(layout="dilated_global", dtype="float16", L=190, B=2, H=2, D=16, block=16),
    "dense_fp16": dict(layout="dense", dtype="float16", L=100, B=2, H=2, D=32, block=32),
    "dense_fp32_split": dict(layout="dense", dtype="float32", L=70, B=2, H=2, D=16, block=16, split=3),
    "window_block64_fp16": dict(layout="window", dtype="float16", L=190, B=2, H=2, D=16, block=64,
                                settings=dict(window=70)),
    "dense_block128_fp32": dict(layout="dense", dtype="float32", L=130, B=1, H=2, D=16, block=128),
    "padded_head_dim_fp32": dict(layout="bigbird", dtype="float32", L=100, B=2, H=2, D=24, block=16, split=3),
    "masked_rows_fp32": dict(layout="window", dtype="float32", L=120, B=2, H=2, D=16, block=16, kpm="masked_rows"),
    "masked_rows_fp16_split": dict(layout="bigbird", dtype="float16", L=120, B=2, H=2, D=16, block=16,
                                   kpm="masked_rows", split=3),
    "fixed_causal_fp16": dict(layout="fixed_causal", dtype="float16", L=150, B=2, H=2, D=16, block=16,
                              kpm="random"),
    "fixed_causal_fp32_split_lse_grad": dict(layout="fixed_causal", dtype="float32", L=181, B=2, H=2, D=32,
                                             block=16, split=3, lse_grad=True),
    "strided_fp32": dict(layout="strided", dtype="float32", L=190, B=2, H=2, D=16, block=32, kpm="random"),
    # a few query blocks only (BlockLayout.select_rows, as models.partial runs the last layers): every
    # other row attends nothing and must come back 0 (outputs are NaN-poisoned)
    "selected_rows_fp32": dict(layout="bigbird", rows=[0, 5, 6], dtype="float32", L=200, B=2, H=2, D=16, block=16),
    "selected_rows_fp16": dict(layout="bigbird", rows=[0, 5, 6], dtype="float16", L=200, B=2, H=2, D=16, block=16),
}
# Input-dependent patterns run whole (their layout builders and the kernels) against their registered
# dense definitions (Pattern.reference): name -> (pattern, dtype, padded).
DYNAMIC_CASES = {
    "learned_fp32_padded": ("learned", "float32", True),
    "learned_fp16": ("learned", "float16", False),
    "lsh_fp32_padded": ("lsh", "float32", True),
    "lsh_fp16": ("lsh", "float16", False),
}
FIELDS = ("out", "lse", "dq", "dk", "dv")

pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="Triton is not installed")


def _run_in_interpreter(names: list[str]) -> dict:
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, __file__, *names], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"interpreter checker failed for {names}:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def results() -> dict:
    """Results of every case plus the op and error checks, from two child processes."""
    names = list(CASES) + list(DYNAMIC_CASES) + ["custom_op", "errors"]
    groups = [names[0::2], names[1::2]]
    with ThreadPoolExecutor(len(groups)) as pool:
        merged: dict = {}
        for part in pool.map(_run_in_interpreter, groups):
            merged.update(part)
    return merged


@pytest.mark.parametrize("name", list(CASES))
def test_kernels_match_reference(results, name):
    """Forward, lse and every gradient within 2x the plain low-precision baseline's error."""
    res = results[name]
    assert res["finite"], f"{name}: NaN or inf in outputs or gradients (unwritten block?)"
    for field in FIELDS:
        ours, base = res[field]
        assert ours <= 2 * base + 1e-6, f"{name}: {field} error {ours:.3g} vs plain {CASES[name]['dtype']} {base:.3g}"
    if CASES[name].get("split"):
        assert res["split_rows"] > 0 and res["split_cols"] > 0, "forced split did not split any row and column"
    if "group" in CASES[name]:
        assert res["group"] == [CASES[name]["group"]] * 2


def test_cases_cover_every_registered_pattern():
    """Every case is a registered test setting, and every pattern of the registry runs in the interpreter."""
    from genosparse.attention import patterns

    assert {c["layout"] for c in CASES.values()} <= set(patterns.CASES)
    covered = {patterns.CASES[c["layout"]][0].name for c in CASES.values()}
    assert covered | {pattern for pattern, _, _ in DYNAMIC_CASES.values()} == set(patterns.PATTERNS)


def test_dense_layouts_are_grouped_by_default(results):
    """Layouts whose neighbouring rows hold the same blocks run on grouped tiles without being asked;
    sliding windows stay on one block per tile."""
    assert results["dense_fp16"]["group"] == [4, 4] and results["window_fp16"]["group"] == [1, 1]


DYNAMIC_TOLERANCE = {"float32": 1e-5, "float16": 5e-3}
"""Largest error against the fp64 definition (outputs and gradients are O(1))."""


@pytest.mark.parametrize("name", list(DYNAMIC_CASES))
def test_dynamic_patterns_match_definition(results, name):
    """Learned routing and LSH through the Triton kernels: output and dq, dk, dv (and the router's
    gradient) against the dense definitions."""
    res = results[name]
    assert res["finite"]
    tolerance = DYNAMIC_TOLERANCE[DYNAMIC_CASES[name][1]]
    for field, error in res["errors"].items():
        assert error <= tolerance, f"{name}: {field} error {error:.3g}"


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.get("kpm") == "masked_rows"])
def test_rows_attending_nothing_give_zeros_and_neg_inf_lse(results, name):
    res = results[name]
    assert res["empty_rows"] > 0, "the case should contain rows that attend nothing"
    assert res["empty_rows_zero"] and res["empty_rows_lse_neginf"] and res["other_rows_lse_finite"]
    assert res["finite"]


def test_custom_op_compiles_and_is_differentiable(results):
    """``torch.library.opcheck`` passes and ``torch.compile(fullgraph=True)`` matches eager."""
    res = results["custom_op"]
    assert res["opcheck"] == "ok", res["opcheck"]
    assert res["compiled_vs_eager"] == 0.0


def test_unsupported_inputs_raise_layout_error(results):
    assert results["errors"] == {"block_size": True, "head_dim": True, "dtype": True}


# ---------------------------------------------------------------------------------------------
# The checker: runs in a child process with TRITON_INTERPRET=1 (``python this_file.py CASE ...``).


def _interpreter_numpy_fix() -> None:
    """Triton 3.6's interpreter turns 1-element arrays into loop bounds with ``int(array)``,
    which NumPy >= 2.4 refuses; apply the upstream fix (triton-lang/triton#9171, PR #9172)."""
    import numpy as np
    import triton.runtime.interpreter as interp

    try:
        int(np.ones(1))
    except TypeError:
        original = interp._patch_lang_tensor

        def patched(tensor, scope):
            original(tensor, scope)
            scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.item()))

        interp._patch_lang_tensor = patched


def _poison_empty() -> None:
    """``torch.empty`` returns NaN-filled floating tensors (as flash-linear-attention's tests)."""
    import torch

    empty = torch.empty

    def poisoned(*args, **kwargs):
        t = empty(*args, **kwargs)
        return t.fill_(float("nan")) if t.is_floating_point() else t

    torch.empty = poisoned


def _layout(case: dict):
    import dataclasses

    import torch

    from genosparse.attention.patterns import build_layout, case_config

    _, cfg = case_config(case["layout"], block_size=case["block"], **case.get("settings", {}))
    layout = build_layout(cfg, case["L"], case["H"])
    if "rows" in case:
        layout = layout.select_rows(torch.tensor(case["rows"]))
    return dataclasses.replace(layout, tile_group=case["group"]) if "group" in case else layout


def _key_padding(case: dict, generator):
    import torch

    B, L = case["B"], case["L"]
    kind = case.get("kpm")
    if kind is None:
        return None
    if kind == "random":
        return torch.rand(B, L, generator=generator) < 0.2
    mask = torch.zeros(B, L, dtype=torch.bool)
    mask[0, :45] = True  # window 21: queries 0..23 see only padding
    mask[1] = True  # a fully padded sequence
    return mask


def _baseline(q, k, v, token_mask, scale):
    """Plain masked attention in the inputs' dtype (scores and softmax too)."""
    import torch

    scores = (q @ k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~token_mask, torch.finfo(q.dtype).min)
    attended = token_mask.any(-1, keepdim=True)
    out = (torch.softmax(scores, -1) @ v) * attended
    lse = torch.logsumexp(scores, -1).masked_fill(~attended.squeeze(-1), float("-inf"))
    return out, lse


def _check_case(name: str) -> dict:
    import torch

    import genosparse.kernels.plan as plan
    from genosparse.attention.reference import dense_attention
    from genosparse.attention.triton_backend import triton_attention
    from genosparse.kernels import tiles

    case = CASES[name]
    dtype = getattr(torch, case["dtype"])
    B, H, L, D = case["B"], case["H"], case["L"], case["D"]
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    layout = _layout(case)
    kpm = _key_padding(case, g)
    key_valid = torch.ones(B, L, dtype=torch.bool) if kpm is None else ~kpm
    scale = 1.0 / math.sqrt(D)
    base64 = [torch.randn(B, H, L, D, generator=g, dtype=torch.float64) for _ in range(3)]
    grad_out = torch.randn(B, H, L, D, generator=g, dtype=torch.float64)
    grad_lse = torch.randn(B, H, L, generator=g, dtype=torch.float64) if case.get("lse_grad") else None

    def leaves(dt):
        return [t.detach().to(dt).requires_grad_() for t in base64]

    def backward(out, lse, inputs):
        outputs, grads = [out], [grad_out.to(out.dtype)]
        if grad_lse is not None:
            finite = torch.isfinite(lse)
            outputs.append(torch.where(finite, lse, 0.0))
            grads.append(grad_lse.to(lse.dtype))
        return torch.autograd.grad(outputs, inputs, grads)

    token_mask = layout.to_token_mask()[None] & key_valid[:, None, None, :]
    ref_in = leaves(torch.float64)
    ref_out, ref_lse = dense_attention(*ref_in, layout, scale, key_valid)
    if grad_lse is not None:  # the reference's lse is detached; the same masked sum-exp, differentiable
        ref_lse = _baseline(*ref_in, token_mask, scale)[1]
    ref_grads = backward(ref_out, ref_lse, ref_in)

    base_in = leaves(dtype)
    base_out, base_lse = _baseline(*base_in, token_mask, scale)
    base_grads = backward(base_out, base_lse, base_in)

    saved = plan.MIN_SPLIT, plan.SPLIT_OVER_MEDIAN
    if case.get("split"):
        plan.MIN_SPLIT, plan.SPLIT_OVER_MEDIAN = case["split"], 0
    try:
        if case.get("strided"):  # q, k, v as views of one (B, L, 3, H, D) projection, as in the model
            packed = torch.stack(base64, 2).permute(0, 3, 2, 1, 4).contiguous().to(dtype).requires_grad_()
            views = packed.permute(2, 0, 3, 1, 4).unbind(0)
            out, lse = triton_attention(*views, layout, scale, kpm)
            packed_grad = backward(out, lse, [packed])[0]
            grads = tuple(packed_grad.permute(2, 0, 3, 1, 4).unbind(0))
        else:
            ours_in = leaves(dtype)
            out, lse = triton_attention(*ours_in, layout, scale, kpm)
            grads = backward(out, lse, ours_in)
        rows, cols = (tiles(indptr, indices, layout.block_size, layout.tile_group)
                      for indptr, indices in ((layout.kv_indptr, layout.kv_indices), (layout.q_indptr, layout.q_indices)))
        split_rows, split_cols = rows.plan.num_heavy, cols.plan.num_heavy
    finally:
        plan.MIN_SPLIT, plan.SPLIT_OVER_MEDIAN = saved

    def err(a, b):
        a, b = a.detach().double(), b.detach().double()
        both_neginf = torch.isneginf(a) & torch.isneginf(b)
        return (torch.where(both_neginf, 0.0, a - b)).abs().max().item()

    res = {"out": [err(out, ref_out), err(base_out, ref_out)], "lse": [err(lse, ref_lse), err(base_lse, ref_lse)]}
    for field, ours_g, base_g, ref_g in zip(("dq", "dk", "dv"), grads, base_grads, ref_grads):
        res[field] = [err(ours_g, ref_g), err(base_g, ref_g)]
    res["finite"] = bool(torch.isfinite(out).all() and all(torch.isfinite(t).all() for t in grads)
                         and not torch.isnan(lse).any())
    res["split_rows"], res["split_cols"] = split_rows, split_cols
    res["group"] = [rows.group, cols.group]
    empty = ~token_mask.any(-1)  # (B, H, L) rows attending nothing
    res["empty_rows"] = int(empty.sum())
    res["empty_rows_zero"] = bool((out.detach()[empty] == 0).all())
    res["empty_rows_lse_neginf"] = bool(torch.isneginf(lse[empty]).all())
    res["other_rows_lse_finite"] = bool(torch.isfinite(lse[~empty]).all())
    return res


def _check_dynamic(name: str) -> dict:
    import torch

    from genosparse.attention.patterns import case_config

    pattern_name, dtype_name, padded = DYNAMIC_CASES[name]
    dtype = getattr(torch, dtype_name)
    B, H, L, D = 2, 2, 150, 16
    torch.manual_seed(sum(map(ord, name)))
    pattern, cfg = case_config(pattern_name, backend="triton", block_size=16)
    core = pattern.core(cfg, num_heads=H, head_dim=D).to(dtype)
    params = [p for p in core.parameters()]
    with torch.no_grad():
        for p in params:
            p.add_(0.3 * torch.randn_like(p))
    kpm = None
    if padded:
        kpm = torch.zeros(B, L, dtype=torch.bool)
        kpm[1, L - 40:] = True
    inputs = [torch.randn(B, H, L, D).to(dtype).requires_grad_() for _ in range(3)]
    out = core(*inputs, kpm)
    rows = torch.ones(B, H, L, dtype=torch.bool) if kpm is None else ~kpm[:, None, :].expand(B, H, L)
    grad = torch.randn(B, H, L, D).to(dtype) * rows[..., None]
    ours = torch.autograd.grad(out, [*inputs, *params], grad)
    core64 = core.double()
    ref_in = [t.detach().double().requires_grad_() for t in inputs]
    ref = pattern.reference(core64, *ref_in, kpm)
    theirs = torch.autograd.grad(ref, [*ref_in, *core64.parameters()], grad.double())
    names = ["out", "dq", "dk", "dv", *(f"d{n}" for n, _ in core.named_parameters())]
    errors = [(out.double() - ref)[rows].abs().max().item()]
    errors += [(a.double() - b).abs().max().item() for a, b in zip(ours, theirs)]
    finite = bool(torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in ours))
    return {"errors": dict(zip(names, errors)), "finite": finite}


def _check_custom_op() -> dict:
    import torch

    from genosparse.attention import bigbird_layout
    from genosparse.attention.triton_backend import triton_attention

    layout = bigbird_layout(70, 2, block_size=16, seed=1)
    g = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(1, 2, 70, 16, generator=g, requires_grad=True) for _ in range(3))
    kpm = torch.rand(1, 70, generator=g) < 0.2
    args = (q, k, v, layout.kv_indptr, layout.kv_indices, layout.q_indptr, layout.q_indices, kpm,
            layout.block_size, layout.token_window, layout.causal, layout.tile_group, 0.25)
    try:
        torch.library.opcheck(torch.ops.genosparse.block_sparse_attention.default, args)
        status = "ok"
    except Exception as exc:  # reported to the test, which prints it
        status = f"{type(exc).__name__}: {exc}"

    def loss(q, k, v):
        out, lse = triton_attention(q, k, v, layout, 0.25, kpm)
        return out.square().sum() + torch.where(torch.isfinite(lse), lse, 0.0).sum()

    eager = torch.autograd.grad(loss(q, k, v), (q, k, v))
    compiled = torch.autograd.grad(torch.compile(loss, backend="aot_eager", fullgraph=True)(q, k, v), (q, k, v))
    return {"opcheck": status, "compiled_vs_eager": max((a - b).abs().max().item() for a, b in zip(eager, compiled))}


def _check_errors() -> dict:
    import torch

    from genosparse.attention import bigbird_layout
    from genosparse.attention.triton_backend import triton_attention
    from genosparse.errors import LayoutError

    def raises(q, layout) -> bool:
        try:
            triton_attention(q, q, q, layout, 1.0)
        except LayoutError:
            return True
        return False

    return {
        "block_size": raises(torch.zeros(1, 1, 64, 16), bigbird_layout(64, 1, block_size=8)),
        "head_dim": raises(torch.zeros(1, 1, 64, 256), bigbird_layout(64, 1, block_size=16)),
        "dtype": raises(torch.zeros(1, 1, 64, 16, dtype=torch.float64), bigbird_layout(64, 1, block_size=16)),
    }


def _main(names: list[str]) -> None:
    _interpreter_numpy_fix()
    _poison_empty()
    checks = {"custom_op": _check_custom_op, "errors": _check_errors}
    results = {name: checks[name]() if name in checks else _check_dynamic(name) if name in DYNAMIC_CASES
               else _check_case(name) for name in names}
    print(json.dumps(results))


if __name__ == "__main__":
    if os.environ.get("TRITON_INTERPRET") != "1":
        sys.exit("run through pytest, or with TRITON_INTERPRET=1")
    _main(sys.argv[1:])
