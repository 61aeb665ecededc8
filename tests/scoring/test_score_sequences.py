"""score_sequences scores in-memory sequences exactly as score_fasta scores the FASTA records holding them."""

import math

import numpy as np
import pytest
from Bio import SeqIO

from genosparse import score_sequences
from genosparse.errors import ArgumentError, SequenceError
from genosparse.genome import Genome
from genosparse.scoring import score_fasta

OPTS = dict(window=64, batch_size=16, device="cpu", progress=False)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """One intra-op thread (see the root conftest)."""


def _rows(rows, offset=0, names=True):
    """Rows as tuples compared exactly (NaN as "nan": NaN != NaN); coordinates less ``offset``."""
    return [((r.name,) if names else ()) + (r.start - offset, r.end - offset, "nan" if math.isnan(r.score) else r.score,
                                           r.flag) for r in rows]


@pytest.mark.parametrize("name, window", [("issue_83.fasta", 64), ("chr17.hg19.part.fa", 256),
                                          ("issue_141.fasta", 64)])
def test_records_of_a_real_fasta_score_to_the_bit(tiny_mlm, shared_data, name, window):
    path = shared_data / "fasta_edge_cases" / name
    records = {r.id: str(r.seq) for r in SeqIO.parse(path, "fasta")}  # read independently (Biopython)
    if name == "issue_141.fasta":  # CRLF file of 74 kb: its first 4 records are enough
        records = dict(list(records.items())[:4])
    opts = {**OPTS, "window": window}
    expected = list(score_fasta(tiny_mlm, path, regions=list(records), **opts))  # whole records
    got = list(score_sequences(records, tiny_mlm, **opts))
    assert _rows(got) == _rows(expected) and all(math.isfinite(r.score) for r in got)
    assert len({r.name for r in got}) == len(records) and max(r.end for r in got) > window  # tiled as records are
    if name == "issue_83.fasta":
        assert _rows(score_sequences(list(records.items()), tiny_mlm, **opts)) == _rows(got)


def test_a_chr20_slice_scores_as_its_region_and_a_list_is_named_by_position(tiny_mlm, chr20):
    genome = Genome(chr20)
    start, end = 59_872, 60_100  # the leading N run ends at 60,000: all-N and base-only windows
    by_region = list(score_fasta(tiny_mlm, genome, regions=("20", start, end), **OPTS))
    seq = genome.fetch("20", start, end)
    got = list(score_sequences([seq.lower(), "ACGT"], tiny_mlm, **OPTS))  # soft-masked reads as uppercase
    assert _rows(by_region, offset=start, names=False) == _rows(got[:-1], names=False)
    assert {r.name for r in got[:-1]} == {"seq0"} and got[-1].name == "seq1"
    assert [r.flag for r in got] == ["all_N", "all_N", "", "", ""] and math.isnan(got[0].score)
    assert np.isfinite([r.score for r in got[2:]]).all()


@pytest.mark.parametrize("sequences, error, message", [
    ("ACGTACGT", ArgumentError, "not one string"),
    (["ACGT", ""], SequenceError, "sequence 'seq1' is empty"),
    ({"a": "ACGT", "b": "ACXT"}, SequenceError, r"invalid base 'X' .* position 2 of sequence 'b'"),
    (["ACGT", 5], ArgumentError, r"sequences\[1\] must be a sequence string .* got 5 \(int\)"),
    ([("a", "ACGT"), ("a", "GGCC")], SequenceError, "name 'a' is given twice"),
    (5, ArgumentError, r"sequences must be a list .* got 5 \(int\)"),
], ids=["bare-string", "empty", "invalid-byte", "int-item", "duplicate-name", "not-iterable"])
def test_bad_sequences_are_refused_before_any_work(tiny_mlm, sequences, error, message):
    with pytest.raises(error, match=message):
        next(score_sequences(sequences, tiny_mlm, **OPTS))
