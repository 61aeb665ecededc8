"""k-mer baselines beside a model, one command each (issue 12).

    python benchmarks/baselines.py promoters --data-dir ../shared/data [--checkpoint chr20-promoter]
    python benchmarks/baselines.py mpra --data-dir ../shared/data --fasta data/20.fa.gz [--checkpoint chr20-mlm]

``promoters``: a logistic regression on the ``--k``-mer frequencies (4-mers: 256 features,
standardised; scikit-learn ``LogisticRegression``) trained on ``promoters/prom_core_train.tsv``
and scored on ``prom_core_val.tsv``: accuracy, F1, MCC, AUROC. With ``--checkpoint``, the same
metrics for a classification checkpoint (``score_sequences``-style: its probability, both strands).

``mpra``: the CAGI5 HNF4A saturation-mutagenesis effects (``mpra/hnf4a_train_effects.tsv``,
1-based ``pos``; significant = ``confidence >= 0.1``). The baseline is a masked ``2f+1``-mer count
model (``--flank`` f = 7: 15-mers): ``P(base | f bases either side)`` counted over both strands of
the whole FASTA (the chromosome the MLM was trained on) with the variant's own locus left out,
add-one smoothed; its ``LLR = log P(alt) - log P(ref)``. Reported: AUROC of
``|LLR|`` for significant vs not. With ``--checkpoint`` (an MLM), the zero-shot AUROCs of
``|GS_LLR|`` and of ``GS_EMB`` (:func:`genosparse.scoring.vep.score_variants`) beside it.
Prints a Markdown table; ``--out`` writes it as JSON too.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from genosparse.errors import GenosparseError
from genosparse.genome import Genome
from genosparse.sequence.vocab import NUM_BASES, encode

SIGNIFICANT = 0.1
"""CAGI5's threshold: a variant is significant when its ``confidence`` is at least this."""


def kmer_frequencies(sequences: list[str], k: int) -> np.ndarray:
    """``(N, 4**k)`` float64: frequency of every k-mer (A/C/G/T only) in each sequence."""
    out = np.zeros((len(sequences), NUM_BASES ** k))
    weights = NUM_BASES ** np.arange(k - 1, -1, -1)
    for row, seq in enumerate(sequences):
        tokens = encode(seq).astype(np.int64)
        windows = np.lib.stride_tricks.sliding_window_view(tokens, k)
        windows = windows[(windows < NUM_BASES).all(1)]
        np.add.at(out[row], windows @ weights, 1.0)
        out[row] /= max(1, len(windows))
    return out


def read_promoters(path: Path) -> tuple[list[str], np.ndarray]:
    """Sequences and 0/1 labels of a ``sequence<TAB>label`` TSV with a header."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [r["sequence"] for r in rows], np.array([int(r["label"]) for r in rows])


def binary_metrics(labels: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """Accuracy, F1 and MCC at 0.5, and AUROC, of probabilities ``prob`` for 0/1 ``labels``."""
    pred = (prob >= 0.5).astype(int)
    return {"accuracy": accuracy_score(labels, pred), "f1": f1_score(labels, pred),
            "mcc": matthews_corrcoef(labels, pred), "auroc": roc_auc_score(labels, prob)}


def promoter_rows(data_dir: Path, k: int, checkpoint: str | None, device: str) -> list[dict]:
    train_x, train_y = read_promoters(data_dir / "promoters" / "prom_core_train.tsv")
    val_x, val_y = read_promoters(data_dir / "promoters" / "prom_core_val.tsv")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(kmer_frequencies(train_x, k), train_y)
    rows = [{"method": f"{k}-mer logistic regression", **binary_metrics(
        val_y, model.predict_proba(kmer_frequencies(val_x, k))[:, 1])}]
    if checkpoint:
        from genosparse.scoring.prepare import prepare
        from genosparse.scoring.scorers import classification_probability
        net = prepare(checkpoint, device=device, what="promoter scoring")
        with net.running():
            prob = torch.cat([classification_probability(net.model, torch.from_numpy(
                np.stack([encode(s).astype(np.int64) for s in val_x[i:i + 256]])).to(net.device)).float().cpu()
                for i in range(0, len(val_x), 256)]).numpy()
        rows.append({"method": checkpoint, **binary_metrics(val_y, prob)})
    return rows


def read_mpra(path: Path) -> list[dict]:
    """Rows of the MPRA TSV (``chrom pos ref alt effect confidence``; ``pos`` 1-based)."""
    with open(path, newline="") as handle:
        return [{"chrom": r["chrom"], "pos": int(r["pos"]), "ref": r["ref"], "alt": r["alt"],
                 "effect": float(r["effect"]), "confidence": float(r["confidence"])}
                for r in csv.DictReader(handle, delimiter="\t")]


def _flank_codes(tokens: np.ndarray, flank: int) -> tuple[np.ndarray, np.ndarray]:
    """For every centre ``i`` of ``tokens`` ``(S,)`` with ``flank`` bases either side: the 2-bit code of
    those ``2 * flank`` bases ``(S - 2f,)`` uint64 (-1 where one is not a base) and the centre base."""
    n = tokens.shape[0] - 2 * flank
    code = np.zeros(n, dtype=np.uint64)
    bad = np.zeros(n, dtype=bool)
    for offset in itertools.chain(range(flank), range(flank + 1, 2 * flank + 1)):
        part = tokens[offset:offset + n]
        bad |= part >= NUM_BASES
        code = (code << np.uint64(2)) | np.where(part < NUM_BASES, part, 0).astype(np.uint64)
    code[bad] = np.iinfo(np.uint64).max
    return code, tokens[flank:flank + n]


def masked_kmer_counts(genome: Genome, queries: np.ndarray, flank: int) -> np.ndarray:
    """``(Q, 4)`` counts of each centre base for the flank codes ``queries`` ``(Q,)`` uint64 (repeats
    allowed) over both strands of every contig of ``genome``."""
    unique, back = np.unique(queries, return_inverse=True)
    counts = np.zeros((unique.shape[0], NUM_BASES), dtype=np.int64)
    for contig in genome.contigs:
        forward = genome.fetch_tokens(contig, 0, genome.length(contig)).astype(np.int64)
        reverse = np.where(forward < NUM_BASES, NUM_BASES - 1 - forward, forward)[::-1]
        for strand in (forward, reverse):
            code, centre = _flank_codes(strand, flank)
            keep = np.isin(code, unique) & (centre < NUM_BASES)
            np.add.at(counts, (np.searchsorted(unique, code[keep]), centre[keep]), 1)
    return counts[back.reshape(-1)]


def kmer_llr(genome: Genome, variants: list[dict], flank: int) -> np.ndarray:
    """``(V,)`` ``log P(alt) - log P(ref)`` of single-base ``variants`` under the masked count model,
    the variant's own locus left out of the counts (leave-one-out: at the locus the reference is known)."""
    contexts = []
    for v in variants:
        start = v["pos"] - 1 - flank
        contexts.append(genome.fetch_tokens(v["chrom"], start, start + 2 * flank + 1).astype(np.int64))
    queries = np.array([_flank_codes(c, flank)[0][0] for c in contexts], dtype=np.uint64)
    ref = np.array([encode(v["ref"])[0] for v in variants])
    alt = np.array([encode(v["alt"])[0] for v in variants])
    rows = np.arange(len(variants))
    counts = masked_kmer_counts(genome, queries, flank)
    counts[rows, [c[flank] for c in contexts]] -= 1  # leave the locus itself out (it is the reference)
    prob = (counts + 1.0) / (counts + 1.0).sum(1, keepdims=True)
    return np.log(prob[rows, alt]) - np.log(prob[rows, ref])


def model_scores(checkpoint: str, genome: Genome, variants: list[dict], window: int | None,
                 device: str) -> tuple[np.ndarray, np.ndarray]:
    """``(V,)`` GS_LLR and GS_EMB of ``variants`` from an MLM checkpoint (in input order)."""
    from genosparse.scoring.vep import score_variants
    with tempfile.TemporaryDirectory() as tmp:
        vcf = Path(tmp) / "mpra.vcf"
        contigs = sorted({v["chrom"] for v in variants})
        lines = ["##fileformat=VCFv4.2", *(f"##contig=<ID={c},length={genome.length(c)}>" for c in contigs),
                 "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
        lines += [f"{v['chrom']}\t{v['pos']}\t.\t{v['ref']}\t{v['alt']}\t.\t.\t." for v in variants]
        vcf.write_text("\n".join(lines) + "\n")
        scores = list(score_variants(checkpoint, genome, vcf, window=window, device=device, progress=False))
    return np.array([s.llr for s in scores]), np.array([s.embedding_distance for s in scores])


def mpra_rows(data_dir: Path, fasta: str, flank: int, checkpoint: str | None, window: int | None,
              device: str) -> list[dict]:
    variants = read_mpra(data_dir / "mpra" / "hnf4a_train_effects.tsv")
    significant = np.array([v["confidence"] >= SIGNIFICANT for v in variants])
    genome = Genome(fasta)
    llr = kmer_llr(genome, variants, flank)
    rows = [{"method": f"masked {2 * flank + 1}-mer counts, abs(LLR)", "auroc": roc_auc_score(significant, abs(llr)),
             "variants": len(variants), "significant": int(significant.sum())}]
    if checkpoint:
        gs_llr, gs_emb = model_scores(checkpoint, genome, variants, window, device)
        rows += [{"method": f"{checkpoint} abs(GS_LLR)", "auroc": roc_auc_score(significant, abs(gs_llr))},
                 {"method": f"{checkpoint} GS_EMB", "auroc": roc_auc_score(significant, gs_emb)}]
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table of ``rows`` (the union of their keys as columns)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    return "\n".join([f"| {' | '.join(keys)} |", "|" + "---|" * len(keys),
                      *(f"| {' | '.join(fmt(r.get(k, '')) for k in keys)} |" for r in rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=("promoters", "mpra"))
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--fasta", default="data/20.fa.gz", help="reference FASTA (mpra)")
    parser.add_argument("--k", type=int, default=4, help="k-mer length (promoters)")
    parser.add_argument("--flank", type=int, default=7, help="bases either side of the masked base (mpra)")
    parser.add_argument("--checkpoint", help="a model to score beside the baseline")
    parser.add_argument("--window", type=int, help="window in bases for --checkpoint (mpra; default its context)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, help="write the rows as JSON")
    args = parser.parse_args()
    if not 1 <= args.k <= 8 or not 1 <= args.flank <= 15:
        parser.error("need 1 <= --k <= 8 and 1 <= --flank <= 15")
    if args.out and not args.out.parent.is_dir():
        parser.error(f"--out {args.out}: folder {args.out.parent} does not exist")
    try:
        rows = (promoter_rows(args.data_dir, args.k, args.checkpoint, args.device) if args.task == "promoters"
                else mpra_rows(args.data_dir, args.fasta, args.flank, args.checkpoint, args.window, args.device))
    except (GenosparseError, OSError) as err:
        parser.exit(2, f"baselines.py: error: {err}\n")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
