"""REF/ALT windows: equal lengths, hand-checked real indels, contig ends, long deletions."""

import numpy as np
import pytest

from genosparse.errors import VariantError
from genosparse.genome import Genome
from genosparse.genome.alleles import fits_window, make_variants, variant_windows
from genosparse.genome.vcf import open_vcf
from genosparse.sequence.vocab import decode
from variant_helpers import random_bases, write_fasta


@pytest.fixture(scope="module")
def genome20(chr20):
    return Genome(chr20)


def _one(genome, chrom, pos1, ref, alt):
    """The single variant of a record at 1-based ``pos1``."""
    variant, = make_variants(0, chrom, genome.resolve(chrom), pos1 - 1, ref, (alt,))
    return variant


def test_hand_checked_real_indels_of_5_vcf(genome20, shared_data):
    """Two records of 5.vcf.gz, windows computed by hand by slicing the reference (64 bases, centre 32)."""
    with open_vcf(shared_data / "variants" / "5.vcf.gz", genome20) as source:
        by_pos = {(r.pos, r.ref, r.alts): vs[0] for r, vs in source.variants()}
    ref_seq = genome20.fetch("20", 67_000, 71_000)  # ref_seq[i] is 0-based contig position 67,000 + i

    def at(lo, hi):  # contig[lo:hi], 0-based half-open, by plain string slicing
        return ref_seq[lo - 67_000:hi - 67_000]

    # 20:70484 CTCTT>C: anchor C at 0-based 70483, deletion of TCTT = contig[70484:70488]
    deletion = by_pos[(70484, "CTCTT", ("C",))]
    assert at(70483, 70488) == "CTCTT"
    w = variant_windows(genome20, deletion, 64, flank=8)
    assert decode(w.ref) == at(70484 - 32, 70484 + 32)
    assert decode(w.alt) == at(70452, 70484) + at(70488, 70488 + 32)  # 4 bases pulled in at the right end
    assert (w.start, w.centre, w.focus, w.padded) == (70452, 32, (24, 32 + 4 + 8), False)
    # 20:67500 T>TTGGTATCTAG: insertion of TGGTATCTAG before 0-based 67500
    insertion = by_pos[(67500, "T", ("TTGGTATCTAG",))]
    w = variant_windows(genome20, insertion, 64, flank=8)
    assert decode(w.ref) == at(67468, 67532)
    assert decode(w.alt) == at(67468, 67500) + "TGGTATCTAG" + at(67500, 67500 + 32 - 10)  # 10 pushed out


@pytest.mark.parametrize("name", ["5", "16"])
def test_all_real_indel_windows_have_equal_lengths_and_shared_left_flank(genome20, shared_data, name):
    with open_vcf(shared_data / "variants" / f"{name}.vcf.gz", genome20) as source:
        variants = [v for _, vs in source.variants() for v in vs]
    for v in variants:
        w = variant_windows(genome20, v, 128, flank=16)
        assert w.ref.shape == w.alt.shape == (128,) and w.ref.dtype == w.alt.dtype == np.int64
        assert np.array_equal(w.ref[:64], w.alt[:64])
        assert decode(w.alt[64:64 + len(v.alt_core)]) == v.alt_core
        assert decode(w.ref[64:64 + len(v.ref_core)]) == v.ref_core[:64]


def test_contig_ends_are_padded_with_n_and_flagged(tmp_path):
    seq = random_bases(600, 1)
    genome = Genome(write_fasta(tmp_path / "ref.fa", {"s": seq}))
    end = _one(genome, "s", 591, seq[590], "ACGT"[("ACGT".index(seq[590]) + 1) % 4])  # 10 bases before the end
    w = variant_windows(genome, end, 256, flank=16)
    assert w.padded and len(w.ref) == len(w.alt) == 256
    assert decode(w.ref) == seq[590 - 128:] + "N" * 118 and decode(w.alt)[128] == end.alt
    start = _one(genome, "s", 11, seq[10:14], seq[10])  # deletion 10 bases after the start
    w = variant_windows(genome, start, 256, flank=16)
    assert w.padded and decode(w.ref) == "N" * 117 + seq[:139]
    assert decode(w.alt) == "N" * 117 + seq[:11] + seq[14:14 + 128]
    middle = _one(genome, "s", 301, seq[300], "A" if seq[300] != "A" else "C")
    assert not variant_windows(genome, middle, 256, flank=16).padded


def test_deletion_spanning_the_window_centre_and_too_long_alleles(tmp_path):
    seq = random_bases(600, 2)
    genome = Genome(write_fasta(tmp_path / "ref.fa", {"s": seq}))
    # 0-based anchor 299, deleted contig[300:320]; window 64 puts the deleted bases at 32..51
    deletion = _one(genome, "s", 300, seq[299:320], seq[299])
    w = variant_windows(genome, deletion, 64, flank=4)
    assert decode(w.ref) == seq[268:332] and decode(w.alt) == seq[268:300] + seq[320:352]
    assert w.focus == (28, 56)
    long = _one(genome, "s", 300, seq[299:340], seq[299])  # 40 deleted bases > half of 64
    assert not fits_window(long, 64) and fits_window(long, 128)
    with pytest.raises(VariantError, match="longer than half"):
        variant_windows(genome, long, 64, flank=4)
