"""Triton block-sparse attention kernels (``@triton.jit`` functions and their launchers)."""
