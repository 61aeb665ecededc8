"""Held-out masked log-likelihood against context length (issue 12), one command.

    python benchmarks/context_curve.py --checkpoint chr20-mlm [more checkpoints] \
        --fasta data/20.fa.gz --windows 1024 4096 16384 65536 131072 262144 524288 1048576

The region (default ``20:60,000,001-62,883,200``, inside the last 5% of chr20 that
``experiment=pretrain`` holds out) is cut to ``S = floor(len / max(windows)) * max(windows)``
bases; the same ``--mask-prob`` of its A/C/G/T positions (seeded) are replaced by ``[MASK]``
once, and for every window ``W`` the span is tiled into ``S / W`` consecutive windows, so each
``W`` predicts exactly the same bases from the same corrupted input and differs only in how much
context each base sees (HyenaDNA's perplexity-versus-context figure is the same idea, Nguyen et
al. 2023). One forward pass per window, bf16 on CUDA, no autograd.

Reported per checkpoint and ``W``: mean log-likelihood (nats per masked base) and accuracy, on
all masked bases and split into *repeated* bases (covered by a ``--kmer``-mer that occurs more
than once in the span on either strand: recent repeat copies, which only a long context can
see twice) and *unique* ones. With ``--score-windows`` it also runs the public scorer
(:func:`genosparse.scoring.score_fasta`: 8 interleaved masked passes, both strands) over the
whole region at those windows, the definition of the issue's table. Prints a Markdown table
last; ``--out`` writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from genosparse.errors import GenosparseError
from genosparse.genome import Genome
from genosparse.genome.regions import parse_region
from genosparse.scoring import score_fasta
from genosparse.scoring.prepare import Inference, prepare
from genosparse.sequence.vocab import MASK, NUM_BASES

log = logging.getLogger("context_curve")
WINDOWS = (1024, 4096, 16384, 65536, 131072, 262144, 524288, 1048576)


def masked_span(tokens: np.ndarray, mask_prob: float, seed: int) -> np.ndarray:
    """``(S,)`` bool: the A/C/G/T positions of ``tokens`` ``(S,)`` chosen for prediction."""
    rng = np.random.default_rng(seed)
    return (rng.random(tokens.shape[0]) < mask_prob) & (tokens < NUM_BASES)


def repeated_bases(tokens: np.ndarray, k: int) -> np.ndarray:
    """``(S,)`` bool: bases covered by a ``k``-mer (no N) occurring more than once in ``tokens``
    ``(S,)`` int64, counting both strands (canonical k-mers; ``k <= 31``)."""
    valid_base = tokens < NUM_BASES
    base = np.where(valid_base, tokens, 0).astype(np.uint64)
    n = tokens.shape[0] - k + 1
    fwd = np.zeros(n, dtype=np.uint64)
    rev = np.zeros(n, dtype=np.uint64)
    for i in range(k):  # 2 bits per base; the reverse complement read backwards
        fwd = (fwd << np.uint64(2)) | base[i:i + n]
        rev = rev | ((np.uint64(3) - base[i:i + n]) << np.uint64(2 * i))
    ok = np.convolve(~valid_base, np.ones(k, dtype=int), mode="valid") == 0
    code = np.minimum(fwd, rev)[ok]
    _, inverse, counts = np.unique(code, return_inverse=True, return_counts=True)
    starts = np.flatnonzero(ok)[counts[inverse] > 1]
    cover = np.zeros(tokens.shape[0] + 1, dtype=np.int64)
    np.add.at(cover, starts, 1)
    np.add.at(cover, starts + k, -1)
    return np.cumsum(cover)[:-1] > 0


def masked_log_likelihood(inference: Inference, inputs: np.ndarray, targets: np.ndarray, masked: np.ndarray,
                          window: int, batch_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-likelihood ``(M,)`` float64 and correctness ``(M,)`` bool of the ``M`` masked bases when
    ``inputs`` ``(S,)`` is scored in consecutive windows of ``window`` tokens (``S % window == 0``)
    by a prepared model (:func:`genosparse.scoring.prepare.prepare`: no autograd, bf16 on CUDA)."""
    rows = torch.from_numpy(inputs).view(-1, window)
    per_batch = max(1, batch_tokens // window)
    lls, hits = [], []
    device = inference.device
    for start in range(0, rows.shape[0], per_batch):
        chunk = rows[start:start + per_batch]
        span = slice(start * window, (start + chunk.shape[0]) * window)
        keep = torch.from_numpy(masked[span]).view(chunk.shape).to(device)
        truth = torch.from_numpy(targets[span]).view(chunk.shape).to(device)
        with inference.running():
            logp = torch.log_softmax(inference.model(chunk.to(device)).float(), dim=-1)[keep]
        truth = truth[keep]
        lls.append(logp.gather(-1, truth[:, None]).squeeze(-1).double().cpu())
        hits.append((logp.argmax(-1) == truth).cpu())
    return torch.cat(lls).numpy(), torch.cat(hits).numpy()


def curve(checkpoint: str, genome: Genome, region: str, windows: list[int], *, mask_prob: float, seed: int,
          kmer: int, device: torch.device, batch_tokens: int, score_windows: list[int]) -> list[dict]:
    """One row per window for ``checkpoint`` (see the module doc)."""
    contig, start, end = parse_region(region)
    start, end = start or 0, genome.length(contig) if end is None else end
    span = (end - start) // max(windows) * max(windows)
    if span == 0:
        raise SystemExit(f"region {region} is shorter than the longest window {max(windows):,}")
    tokens = genome.fetch_tokens(contig, start, start + span).astype(np.int64)
    masked = masked_span(tokens, mask_prob, seed)
    if not masked.any():
        raise SystemExit(f"region {region} has no A/C/G/T base to mask")
    repeat = repeated_bases(tokens, kmer)[masked]
    inputs = np.where(masked, MASK, tokens)
    inference = prepare(checkpoint, device=device, head="mlm", what="the context curve")
    rows = []
    for window in windows:
        began = time.perf_counter()
        ll, hit = masked_log_likelihood(inference, inputs, tokens, masked, window, batch_tokens)
        seconds = time.perf_counter() - began
        row = {"checkpoint": checkpoint, "window": window, "span": span, "masked": int(ll.size),
               "ll": float(ll.mean()), "accuracy": float(hit.mean()), "ll_repeat": float(ll[repeat].mean()),
               "ll_unique": float(ll[~repeat].mean()), "repeat_fraction": float(repeat.mean()), "s": seconds}
        log.info("%s W=%d: %.4f nats/base, accuracy %.4f (%.1f s)", checkpoint, window, row["ll"],
                 row["accuracy"], seconds)
        rows.append(row)
    for window in score_windows:
        began = time.perf_counter()
        scores = [r.score for r in score_fasta(inference, genome, regions=[region], window=window, device=device,
                                               progress=False) if math.isfinite(r.score)]
        rows.append({"checkpoint": checkpoint, "window": window, "score_fasta": float(np.mean(scores)),
                     "s": time.perf_counter() - began})
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table of the curve rows (gain columns relative to each checkpoint's 4,096 row)."""
    base = {r["checkpoint"]: r for r in rows if r["window"] == 4096 and "ll" in r}
    lines = ["| checkpoint | W | nats/base | accuracy | gain vs 4,096 | repeated bases | unique bases | "
             "gain repeated / unique | s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in rows if "ll" in r):
        b = base.get(r["checkpoint"])
        gain = f"{r['ll'] - b['ll']:+.4f}" if b else "-"
        split = f"{r['ll_repeat'] - b['ll_repeat']:+.4f} / {r['ll_unique'] - b['ll_unique']:+.4f}" if b else "-"
        lines.append(f"| {r['checkpoint']} | {r['window']:,} | {r['ll']:.4f} | {r['accuracy']:.4f} | {gain} | "
                     f"{r['ll_repeat']:.4f} | {r['ll_unique']:.4f} | {split} | {r['s']:.1f} |")
    scored = [r for r in rows if "score_fasta" in r]
    if scored:
        lines += ["", "| checkpoint | W | score_fasta mean log-likelihood (8 passes, both strands) | s |",
                  "|---|---|---|---|"]
        lines += [f"| {r['checkpoint']} | {r['window']:,} | {r['score_fasta']:.4f} | {r['s']:.1f} |" for r in scored]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", nargs="+", default=["chr20-mlm"])
    parser.add_argument("--fasta", default="data/20.fa.gz")
    parser.add_argument("--region", default="20:60,000,001-62,883,200")
    parser.add_argument("--windows", type=int, nargs="+", default=list(WINDOWS))
    parser.add_argument("--score-windows", type=int, nargs="*", default=[])
    parser.add_argument("--mask-prob", type=float, default=0.15)
    parser.add_argument("--kmer", type=int, default=24, help="k of the repeated-base split (<= 31)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-tokens", type=int, default=1 << 20, help="tokens per forward pass")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, help="write the rows as JSON")
    args = parser.parse_args()
    if not 1 <= args.kmer <= 31:
        parser.error("--kmer must be between 1 and 31")
    if min(args.windows) < 1 or any(max(args.windows) % w for w in args.windows):
        parser.error("windows must be positive and each divide the longest one")
    if not 0 < args.mask_prob <= 1:
        parser.error("--mask-prob must be in (0, 1]")
    if args.out and not args.out.parent.is_dir():
        parser.error(f"--out {args.out}: folder {args.out.parent} does not exist")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        genome = Genome(args.fasta)
        rows = [row for checkpoint in args.checkpoint
                for row in curve(checkpoint, genome, args.region, sorted(args.windows), mask_prob=args.mask_prob,
                                 seed=args.seed, kmer=args.kmer, device=torch.device(args.device),
                                 batch_tokens=args.batch_tokens, score_windows=args.score_windows)]
    except GenosparseError as err:
        parser.exit(2, f"context_curve.py: error: {err}\n")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
