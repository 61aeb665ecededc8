"""Layout construction time and peak GPU memory at long lengths (issue 3's layout target).

    python3 benchmarks/layout_memory.py            # on a CUDA machine
"""

from __future__ import annotations

import time

import torch

from genosparse.attention import bigbird_layout, dilated_window_layout, sliding_window_layout

HEADS = 16


def main() -> None:
    length = 1 << 20
    builders = {
        "bigbird": lambda: bigbird_layout(length, HEADS, device="cuda"),
        "window": lambda: sliding_window_layout(length, HEADS, window=256, device="cuda"),
        "dilated": lambda: dilated_window_layout(length, HEADS, dilations=[1, 2, 4, 8] * 4, device="cuda"),
    }
    print(f"| pattern | L | build ms (median of 5) | peak MB above inputs | index MB |")
    print("|---|---|---|---|---|")
    for name, build in builders.items():
        build()
        torch.cuda.synchronize()
        times = []
        for _ in range(5):
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            start = time.perf_counter()
            layout = build()
            torch.cuda.synchronize()
            times.append((time.perf_counter() - start) * 1000)
            peak = (torch.cuda.max_memory_allocated() - base) / 2**20
            index = layout.nbytes() / 2**20
            del layout
        print(f"| {name} | {length:,} | {sorted(times)[2]:.2f} | {peak:.1f} | {index:.1f} |")


if __name__ == "__main__":
    main()
