"""Both-strand scores against values computed independently, one model call at a time.

Every expected value here is built from strings (the chr20 reference, ``reverse_complement_str``)
and plain ``model(tokens)`` / ``model.embed(tokens)`` calls on one window: the forward-strand
score, the reverse-complement score read at the mirrored positions with complemented bases,
and their mean. Nothing of the scorers' own window, mask or strand code is reused.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genosparse.attention import AttentionConfig
from genosparse.genome import Genome
from genosparse.models import GenomicModel, ModelConfig
from genosparse.scoring import score_fasta
from genosparse.scoring.vep import score_variants
from genosparse.sequence.vocab import MASK, encode, reverse_complement_str

pytestmark = pytest.mark.usefixtures("one_thread")
WINDOW, FLANK, PASSES = 256, 16, 3
BASE = {b: i for i, b in enumerate("ACGT")}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)  # random weights: scores far from 0, both strands differ
    return GenomicModel(ModelConfig(head="mlm", d_model=32, num_layers=2, num_heads=2, context_length=WINDOW,
                                    dropout=0.0, attention=AttentionConfig(block_size=16, backend="torch"))).eval()


@pytest.fixture(scope="module")
def genome(chr20):
    return Genome(chr20)


def _logp(model, seq: str) -> torch.Tensor:
    """``(L, 4)`` log-probabilities of a window given as a string (``#`` = [MASK])."""
    tokens = torch.from_numpy(encode(seq.replace("#", "N")))
    tokens[[i for i, c in enumerate(seq) if c == "#"]] = MASK
    with torch.no_grad():
        return torch.log_softmax(model(tokens[None]), -1)[0].double()


def _hidden_mean(model, seq: str, lo: int, hi: int) -> torch.Tensor:
    with torch.no_grad():
        return model.embed(torch.from_numpy(encode(seq))[None])[0, lo:hi].double().mean(0)


def _strands(seq: str, lo: int, hi: int):
    """``(strand sequence, focus lo, focus hi, mirror)`` of the forward strand and the reverse complement."""
    n = len(seq)
    yield seq, lo, hi, lambda i: i
    yield reverse_complement_str(seq), n - hi, n - lo, lambda i: n - 1 - i


def _windows(genome, pos: int, ref: str, alt: str) -> tuple[str, str, int]:
    """REF and ALT windows (strings, N beyond the contig) of an anchored or plain variant at 0-based ``pos``."""
    shared = 0
    while shared < min(len(ref), len(alt)) and ref[shared] == alt[shared]:
        shared += 1
    p, r, a, c = pos + shared, ref[shared:], alt[shared:], WINDOW // 2
    length = genome.length("20")

    def fetch(lo: int, hi: int) -> str:
        inside = genome.fetch("20", max(lo, 0), min(max(hi, 0), length)) if hi > 0 and lo < length else ""
        return "N" * max(0, -lo) + inside + "N" * max(0, hi - max(lo, length))

    ref_window = fetch(p - c, p - c + WINDOW)
    alt_window = fetch(p - c, p) + a + fetch(p + len(r), p + len(r) + WINDOW - c - len(a))
    return ref_window, alt_window, max(len(r), len(a))


def _expected_snv(model, genome, pos: int, ref: str, alt: str) -> tuple[float, float]:
    ref_w, alt_w, span = _windows(genome, pos, ref, alt)
    c = WINDOW // 2
    lo, hi = c - FLANK, c + span + FLANK
    llrs, dists = [], []
    for (r, l, h, mirror), (a, _, _, _) in zip(_strands(ref_w, lo, hi), _strands(alt_w, lo, hi)):
        i = mirror(c)
        logp = _logp(model, r[:i] + "#" + r[i + 1:])[i]
        llrs.append(float(logp[BASE[a[i]]] - logp[BASE[r[i]]]))
        dists.append(1 - float(torch.cosine_similarity(_hidden_mean(model, r, l, h), _hidden_mean(model, a, l, h),
                                                       dim=0)))
    return sum(llrs) / 2, sum(dists) / 2


def _pll(model, seq: str, lo: int, hi: int) -> float:
    """Pseudo-log-likelihood of ``seq[lo:hi]``, every ``PASSES``-th base masked at a time."""
    total = 0.0
    for phase in range(PASSES):
        masked = "".join("#" if i % PASSES == phase and b in "ACGT" else b for i, b in enumerate(seq))
        logp = _logp(model, masked)
        total += sum(float(logp[i, BASE[seq[i]]]) for i in range(lo, hi) if i % PASSES == phase and seq[i] in "ACGT")
    return total


def _expected_indel(model, genome, pos: int, ref: str, alt: str) -> tuple[float, float]:
    ref_w, alt_w, span = _windows(genome, pos, ref, alt)
    c = WINDOW // 2
    lo, hi = c - FLANK, c + span + FLANK
    pll_ref = [_pll(model, s, l, h) for s, l, h, _ in _strands(ref_w, lo, hi)]
    pll_alt = [_pll(model, s, l, h) for s, l, h, _ in _strands(alt_w, lo, hi)]
    dists = [1 - float(torch.cosine_similarity(_hidden_mean(model, r, l, h), _hidden_mean(model, a, l, h), dim=0))
             for (r, l, h, _), (a, _, _, _) in zip(_strands(ref_w, lo, hi), _strands(alt_w, lo, hi))]
    return sum(pll_alt) / 2 - sum(pll_ref) / 2, sum(dists) / 2


def _vcf(path, genome, rows):
    header = "##fileformat=VCFv4.2\n##contig=<ID=20,length=%d>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    path.write_text(header % genome.length("20") + "".join(f"20\t{pos + 1}\t.\t{ref}\t{alt}\t.\t.\t.\n"
                                                           for pos, ref, alt in rows))
    return path


# chr20 sites (0-based): an SNV, a multi-allelic SNV (every ALT), a deletion, an insertion
SNV, MULTI, DELETION, INSERTION = 30_000_100, 30_000_500, 30_001_000, 30_001_700


def test_snv_llr_and_embedding_distance_on_both_strands(model, genome, tmp_path):
    ref = genome.fetch("20", SNV, SNV + 1)
    alt = "ACGT"[(BASE[ref] + 2) % 4]
    multi = genome.fetch("20", MULTI, MULTI + 1)
    alts = [b for b in "ACGT" if b != multi]
    vcf = _vcf(tmp_path / "snv.vcf", genome, [(SNV, ref, alt), (MULTI, multi, ",".join(alts))])
    got = list(score_variants(model, genome, vcf, window=WINDOW, flank=FLANK, device="cpu", progress=False))
    assert [s.variant.alt for s in got] == [alt, *alts] and all(s.flag == "" for s in got)
    for s, (pos, r, a) in zip(got, [(SNV, ref, alt), *((MULTI, multi, a) for a in alts)]):
        llr, dist = _expected_snv(model, genome, pos, r, a)
        assert s.llr == pytest.approx(llr, abs=1e-5) and abs(llr) > 1e-3
        assert s.embedding_distance == pytest.approx(dist, abs=2e-6) and dist > 1e-5
    forward = list(score_variants(model, genome, vcf, window=WINDOW, flank=FLANK, rc_average=False, device="cpu",
                                  progress=False))
    assert all(abs(f.llr - s.llr) > 1e-6 for f, s in zip(forward, got))  # the reverse strand does count


def test_indel_pseudo_log_likelihood_on_both_strands(model, genome, tmp_path):
    rows = [(DELETION, genome.fetch("20", DELETION, DELETION + 4), genome.fetch("20", DELETION, DELETION + 1)),
            (INSERTION, genome.fetch("20", INSERTION, INSERTION + 1), genome.fetch("20", INSERTION, INSERTION + 1) + "GAT")]
    vcf = _vcf(tmp_path / "indel.vcf", genome, rows)
    got = list(score_variants(model, genome, vcf, window=WINDOW, flank=FLANK, num_passes=PASSES, device="cpu",
                              progress=False))
    assert [s.variant.kind for s in got] == ["deletion", "insertion"]
    for s, row in zip(got, rows):
        llr, dist = _expected_indel(model, genome, *row)
        assert s.llr == pytest.approx(llr, abs=2e-4, rel=1e-5) and abs(llr) > 1e-2
        assert s.embedding_distance == pytest.approx(dist, abs=2e-6)


def test_ref_ending_on_the_last_base_of_the_contig(model, genome, tmp_path):
    """chr20's last bases are N, so the contig here is a FASTA of 700 chr20 bases ending in A/C/G/T."""
    seq = genome.fetch("20", 30_000_000, 30_000_700)
    fasta = tmp_path / "end.fa"
    fasta.write_text(">20\n" + seq + "\n")
    small = Genome(fasta)
    n = len(seq)
    rows = [(n - 1, seq[-1], "ACGT"[(BASE[seq[-1]] + 1) % 4]), (n - 4, seq[-4:], seq[-4])]
    vcf = _vcf(tmp_path / "end.vcf", small, rows)
    got = list(score_variants(model, small, vcf, window=WINDOW, flank=FLANK, num_passes=PASSES, device="cpu",
                              progress=False))
    assert [s.flag for s in got] == ["padded", "padded"]
    llr, dist = _expected_snv(model, small, *rows[0])
    assert got[0].llr == pytest.approx(llr, abs=1e-5) and got[0].embedding_distance == pytest.approx(dist, abs=2e-6)
    llr, dist = _expected_indel(model, small, *rows[1])
    assert got[1].llr == pytest.approx(llr, abs=2e-4, rel=1e-5) and got[1].embedding_distance == pytest.approx(
        dist, abs=2e-6)


def test_no_embedding_leaves_the_llr_and_skips_the_distance(model, genome, tmp_path):
    multi = genome.fetch("20", MULTI, MULTI + 1)
    vcf = _vcf(tmp_path / "m.vcf", genome, [(MULTI, multi, ",".join(b for b in "ACGT" if b != multi))])
    both = list(score_variants(model, genome, vcf, window=WINDOW, device="cpu", progress=False))
    llr_only = list(score_variants(model, genome, vcf, window=WINDOW, embedding=False, device="cpu", progress=False))
    assert [s.llr for s in llr_only] == pytest.approx([s.llr for s in both], abs=1e-6)
    assert all(math.isnan(s.embedding_distance) for s in llr_only) and all(s.flag == "" for s in llr_only)


def test_mean_log_likelihood_on_both_strands(model, genome):
    region = "20:30,000,001-30,000,256"
    row = next(score_fasta(model, genome, regions=region, window=WINDOW, device="cpu", progress=False))
    seq = genome.fetch("20", 30_000_000, 30_000_256)
    means = []
    for strand in (seq, reverse_complement_str(seq)):
        ll = np.full(len(strand), np.nan)
        for phase in range(8):
            masked = "".join("#" if i % 8 == phase else b for i, b in enumerate(strand))
            logp = _logp(model, masked)
            for i in range(phase, len(strand), 8):
                ll[i] = float(logp[i, BASE[strand[i]]])
        means.append(np.nanmean(ll))
    assert row.score == pytest.approx(sum(means) / 2, abs=1e-5)
    assert abs(means[0] - means[1]) > 1e-4
