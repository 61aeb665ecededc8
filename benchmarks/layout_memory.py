"""Layout construction time and peak GPU memory at long lengths (issue 3's layout target), for every
static benchmark setting of the pattern registry (:data:`benchutil.PATTERNS`; 16 heads, 64-token blocks).

    python3 benchmarks/layout_memory.py            # on a CUDA machine
"""

from __future__ import annotations

import time

import torch
from benchutil import PATTERNS, make_layout


def main() -> None:
    length = 1 << 20
    print("| pattern | L | build ms (median of 5) | peak MB above inputs | index MB |")
    print("|---|---|---|---|---|")
    for name in PATTERNS:
        make_layout(name, length)
        torch.cuda.synchronize()
        times = []
        for _ in range(5):
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            start = time.perf_counter()
            layout = make_layout(name, length)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - start) * 1000)
            peak = (torch.cuda.max_memory_allocated() - base) / 2**20
            index = layout.nbytes() / 2**20
            del layout
        print(f"| {name} | {length:,} | {sorted(times)[2]:.2f} | {peak:.1f} | {index:.1f} |")


if __name__ == "__main__":
    main()
