"""benchmarks/baselines.py and benchmarks/context_curve.py against naive definitions on real sequence."""

import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from genosparse.attention import AttentionConfig
from genosparse.genome import Genome
from genosparse.models import GenomicModel, ModelConfig
from genosparse.scoring.prepare import prepare
from genosparse.sequence.vocab import MASK, encode, reverse_complement_str

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


baselines, context_curve = _load("baselines"), _load("context_curve")


@pytest.fixture(scope="module")
def chr17_part(shared_data, tmp_path_factory) -> Genome:
    """40 kb of soft-masked hg19 chr17 on one line (pyfaidx's test data)."""
    return Genome(shared_data / "fasta_edge_cases" / "chr17.hg19.part.fa")


def test_kmer_frequencies_count_every_kmer_without_n(shared_data):
    sequences, labels = baselines.read_promoters(shared_data / "promoters" / "prom_core_train.tsv")
    sequences = sequences[:20] + [sequences[20][:30] + "N" + sequences[20][31:]]
    got = baselines.kmer_frequencies(sequences, 3)
    for row, seq in zip(got, sequences):
        kmers = [seq[i:i + 3] for i in range(len(seq) - 2) if "N" not in seq[i:i + 3]]
        counts = Counter(kmers)
        index = {a + b + c: i for i, (a, b, c) in enumerate((a, b, c) for a in "ACGT" for b in "ACGT" for c in "ACGT")}
        expected = np.zeros(64)
        for kmer, n in counts.items():
            expected[index[kmer]] = n / len(kmers)
        np.testing.assert_allclose(row, expected)
    assert set(labels) == {0, 1}


def test_promoter_kmer_baseline_is_far_above_chance(shared_data):
    (row,) = baselines.promoter_rows(shared_data, 4, None, "cpu")
    assert 0.4 < row["mcc"] < 0.7 and 0.75 < row["auroc"] < 0.95


def test_masked_kmer_counts_match_a_naive_count_over_both_strands(chr17_part):
    contig = chr17_part.contigs[0]
    seq = chr17_part.fetch(contig, 0, chr17_part.length(contig))
    flank = 3
    positions = [100, 2_000, 17_777, 39_000]
    contexts = [encode(seq[p - flank:p + flank + 1]).astype(np.int64) for p in positions]
    queries = np.array([baselines._flank_codes(c, flank)[0][0] for c in contexts], dtype=np.uint64)
    got = baselines.masked_kmer_counts(chr17_part, queries, flank)
    naive = Counter()
    for strand in (seq, reverse_complement_str(seq)):
        for i in range(flank, len(strand) - flank):
            window = strand[i - flank:i + flank + 1]
            if set(window) <= set("ACGT"):
                naive[(window[:flank], window[flank + 1:], window[flank])] += 1
    for row, p in zip(got, positions):
        left, right = seq[p - flank:p], seq[p + 1:p + flank + 1]
        assert list(row) == [naive[(left, right, base)] for base in "ACGT"]
        assert row.sum() > 0  # the locus itself is counted


def test_kmer_llr_is_the_log_ratio_of_smoothed_counts(chr17_part):
    contig = chr17_part.contigs[0]
    seq = chr17_part.fetch(contig, 0, chr17_part.length(contig))
    pos = 5_000  # 0-based
    ref = seq[pos]
    alt = "A" if ref != "A" else "C"
    variants = [{"chrom": contig, "pos": pos + 1, "ref": ref, "alt": alt},
                {"chrom": contig, "pos": pos + 1, "ref": alt, "alt": ref}]
    llr = baselines.kmer_llr(chr17_part, variants, 4)
    context = encode(seq[pos - 4:pos + 5]).astype(np.int64)
    counts = baselines.masked_kmer_counts(chr17_part, np.array([baselines._flank_codes(context, 4)[0][0]]), 4)[0]
    idx = {b: i for i, b in enumerate("ACGT")}
    counts[idx[ref]] -= 1  # the locus itself is left out
    expected = np.log((counts[idx[alt]] + 1) / (counts[idx[ref]] + 1))
    assert llr[0] == pytest.approx(expected) and llr[1] == pytest.approx(-expected)


def test_repeated_bases_match_a_naive_kmer_count(chr17_part):
    contig = chr17_part.contigs[0]
    seq = chr17_part.fetch(contig, 10_000, 16_000)
    seq = seq[:100] + "NN" + seq[102:]
    k = 11
    got = context_curve.repeated_bases(encode(seq).astype(np.int64), k)
    canonical = [min(seq[i:i + k], reverse_complement_str(seq[i:i + k])) for i in range(len(seq) - k + 1)]
    counts = Counter(c for c in canonical if "N" not in c)
    expected = np.zeros(len(seq), dtype=bool)
    for i, c in enumerate(canonical):
        if "N" not in c and counts[c] > 1:
            expected[i:i + k] = True
    assert got.any() and not got.all()
    np.testing.assert_array_equal(got, expected)


def test_masked_log_likelihood_scores_each_window_on_its_own():
    torch.manual_seed(0)
    model = GenomicModel(ModelConfig(d_model=32, num_layers=2, num_heads=2, dropout=0.0, context_length=64,
                                     attention=AttentionConfig(block_size=16, backend="torch"))).eval()
    tokens = torch.randint(0, 4, (256,), generator=torch.Generator().manual_seed(1)).numpy()
    masked = context_curve.masked_span(tokens, 0.2, seed=2)
    inputs = np.where(masked, MASK, tokens)
    ll, hit = context_curve.masked_log_likelihood(prepare(model, device="cpu"), inputs, tokens, masked, 64,
                                                  batch_tokens=128)
    expected_ll, expected_hit = [], []
    with torch.no_grad():
        for start in range(0, 256, 64):
            logp = torch.log_softmax(model(torch.from_numpy(inputs[start:start + 64])[None]), -1)[0]
            for i in np.flatnonzero(masked[start:start + 64]):
                expected_ll.append(float(logp[i, tokens[start + i]]))
                expected_hit.append(int(logp[i].argmax()) == tokens[start + i])
    np.testing.assert_allclose(ll, expected_ll, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(hit, expected_hit)
    assert 0.15 < masked.mean() < 0.25


def test_context_curve_of_the_shipped_model_on_held_out_chr20(chr20):
    """Every window predicts the same masked bases; the shipped model beats a uniform guess (-1.386)."""
    genome = Genome(chr20)
    rows = context_curve.curve("chr20-mlm", genome, "20:62,000,001-62,008,192", [1024, 8192], mask_prob=0.15,
                               seed=0, kmer=24, device=torch.device("cpu"), batch_tokens=8192, score_windows=[])
    assert [r["window"] for r in rows] == [1024, 8192]
    assert rows[0]["masked"] == rows[1]["masked"] > 1000
    assert all(-1.3 < r["ll"] < -0.9 and 0.3 < r["accuracy"] < 0.7 for r in rows)
    assert all(0 <= r["repeat_fraction"] < 0.5 for r in rows)
    assert "| chr20-mlm | 8,192 |" in context_curve.table(rows)
