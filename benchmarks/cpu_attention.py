"""CPU figures of the "torch" backend (issue 2): speed against dense SDPA, memory against the
dense reference. Each measurement runs in a fresh subprocess so its peak RSS is its own.

    .venv/bin/python benchmarks/cpu_attention.py

B=1, H=4, D=64, fp32, BigBird ITC defaults (block 64, 3 window, 2 global, 3 random).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from genosparse.attention import bigbird_layout, sparse_attention

HEADS, DIM = 4, 64


def _measure(kind: str, length: int) -> dict:
    """Forward and backward seconds and the process's peak RSS for one kind at one length."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, HEADS, length, DIM, requires_grad=True) for _ in range(3))
    layout = bigbird_layout(length, HEADS)
    if kind == "sdpa":
        fn = lambda: F.scaled_dot_product_attention(q, k, v)  # noqa: E731
    else:
        fn = lambda: sparse_attention(q, k, v, layout, backend=kind)  # noqa: E731
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(2):  # first round warms up; report the second
        start = time.perf_counter()
        out = fn()
        mid = time.perf_counter()
        out.backward(torch.ones_like(out))
        times.append((mid - start, time.perf_counter() - mid))
        q.grad = k.grad = v.grad = None
        del out
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"kind": kind, "L": length, "fwd_s": times[-1][0], "bwd_s": times[-1][1],
            "peak_rss_gib": peak / 2**20, "rss_above_inputs_gib": (peak - baseline) / 2**20}


def _in_subprocess(kind: str, length: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--one", kind, str(length)], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"kind": kind, "L": length, "error": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
    return json.loads(proc.stdout)


def main() -> None:
    rows = [_in_subprocess("torch", 16384), _in_subprocess("sdpa", 16384)]
    rows += [_in_subprocess("dense", n) for n in (4096, 8192, 16384)]
    rows.append(_in_subprocess("torch", 131072))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| backend | L | fwd s | bwd s | fwd+bwd s | peak RSS GiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['kind']} | {r['L']:,} | failed: {r['error'][0][:60]} | | | |")
        else:
            print(f"| {r['kind']} | {r['L']:,} | {r['fwd_s']:.3f} | {r['bwd_s']:.3f} | "
                  f"{r['fwd_s'] + r['bwd_s']:.3f} | {r['peak_rss_gib']:.2f} |")
    sparse, dense = rows[0], rows[1]
    if "error" not in sparse and "error" not in dense:
        ratio = (dense["fwd_s"] + dense["bwd_s"]) / (sparse["fwd_s"] + sparse["bwd_s"])
        print(f"\n\"torch\" BigBird vs dense SDPA at 16,384 tokens, forward+backward: {ratio:.1f}x faster")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(_measure(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
