"""Genome on plain FASTA files: real edge cases against Bio.SeqIO, errors, indexes."""

import gzip
import os
import pickle

import numpy as np
import pytest
from Bio import SeqIO

from genosparse.errors import FastaError
from genosparse.genome import Genome

EDGE_CASES = ["issue_141.fasta", "issue_83.fasta", "chr17.hg19.part.fa"]


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    """Indexes of read-only files go under a temporary XDG_CACHE_HOME."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def write_fasta(path, data: bytes):
    path.write_bytes(data)
    return path


def random_intervals(rng, length, count):
    starts = rng.integers(0, length, count)
    ends = np.minimum(starts + rng.integers(0, 500, count), length)
    return [(int(s), int(e)) for s, e in zip(starts, ends)] + [(0, length), (length - 1, length)]


@pytest.mark.parametrize("file_name", EDGE_CASES)
def test_edge_case_files_match_seqio(shared_data, cache_home, file_name):
    path = shared_data / "fasta_edge_cases" / file_name
    before = sorted(os.listdir(path.parent))
    genome = Genome(path)
    records = list(SeqIO.parse(str(path), "fasta"))
    assert genome.contigs == [r.id for r in records]
    rng = np.random.default_rng(0)
    for record in records:
        expected = str(record.seq).upper()
        assert "\r" not in expected and genome.length(record.id) == len(expected)
        for start, end in random_intervals(rng, len(expected), 30):
            assert genome.fetch(record.id, start, end) == expected[start:end]
    assert sorted(os.listdir(path.parent)) == before  # nothing written into shared data
    assert list(cache_home.glob("genosparse/*/*.fai"))


def test_soft_mask_on_mixed_case_file(shared_data, cache_home):
    path = shared_data / "fasta_edge_cases" / "chr17.hg19.part.fa"
    raw = str(next(SeqIO.parse(str(path), "fasta")).seq)
    genome = Genome(path)
    for start, end in [(0, len(raw)), (1234, 5678), (39990, 40000)]:
        seq, mask = genome.fetch("chr17", start, end, soft_mask=True)
        expected = np.array([c.islower() for c in raw[start:end]])
        assert seq == raw[start:end].upper()
        assert mask.dtype == np.bool_ and np.array_equal(mask, expected)
    _, mask = genome.fetch("chr17", 0, len(raw), soft_mask=True)
    assert 0 < mask.sum() < len(raw)


@pytest.fixture
def small(tmp_path):
    """Two contigs, 10-column lines: '20' of 25 bases and 'MT' of 12."""
    seq20 = "ACGTACGTAC" "GGGGCCCCTT" "AAAAT"
    data = f">20 some description\n{seq20[:10]}\n{seq20[10:20]}\n{seq20[20:]}\n>MT\nCCCCCAAAAA\nTT\n"
    return Genome(write_fasta(tmp_path / "small.fa", data.encode())), seq20


def test_fetch_and_aliases(small):
    genome, seq20 = small
    assert genome.contigs == ["20", "MT"]
    assert genome.lengths == {"20": 25, "MT": 12}
    assert genome.fetch("20", 3, 17) == seq20[3:17]
    assert genome.fetch("chr20", 3, 17) == seq20[3:17]
    assert genome.fetch("chrM", 8, 12) == "AATT"
    assert genome.length("chrMT") == 12 and genome.resolve("chr20") == "20"
    assert genome.fetch("20", 7, 7) == ""


def test_fetch_tokens(small):
    genome, seq20 = small
    tokens = genome.fetch_tokens("20", 0, 6)
    assert tokens.dtype == np.int8 and tokens.tolist() == [0, 1, 2, 3, 0, 1]
    assert genome.fetch_tokens("20", -2, 1, pad=True).tolist() == [4, 4, 0]


def test_off_the_end_errors_without_pad(small):
    genome, _ = small
    for start, end in [(20, 26), (-1, 5), (30, 40)]:
        with pytest.raises(FastaError) as info:
            genome.fetch("chr20", start, end)
        message = str(info.value)
        assert f"20:{start}-{end}" in message and "length 25" in message
        assert "pad=True" in message and "small.fa" in message


def test_off_the_end_pads_with_n(small):
    genome, seq20 = small
    assert genome.fetch("20", 20, 28, pad=True) == seq20[20:] + "NNN"
    assert genome.fetch("20", -3, 2, pad=True) == "NNN" + seq20[:2]
    assert genome.fetch("20", -4, -1, pad=True) == "NNN"
    assert genome.fetch("20", 26, 30, pad=True) == "NNNN"
    seq, mask = genome.fetch("20", -2, 27, pad=True, soft_mask=True)
    assert seq == "NN" + seq20 + "NN" and len(mask) == 29 and not mask.any()


def test_start_after_end_is_an_error(small):
    genome, _ = small
    with pytest.raises(FastaError, match="start > end"):
        genome.fetch("20", 10, 5, pad=True)


def test_unknown_contig(tmp_path):
    data = b">chr2\nACGT\n>chr20\nACGT\n>chr21\nACGT\n"
    genome = Genome(write_fasta(tmp_path / "ref.fa", data))
    with pytest.raises(FastaError) as info:
        genome.fetch("chr2O", 0, 1)
    message = str(info.value)
    assert "'chr2O'" in message and str(tmp_path / "ref.fa") in message
    assert "chr20" in message and "chr2," in message


def test_missing_file(tmp_path):
    with pytest.raises(FastaError, match="not found"):
        Genome(tmp_path / "absent.fa")


def test_iupac_codes_become_n(tmp_path):
    data = b">a\nACRYSWKMBD\nHVrysWkmbd\nhvNnacgt\n"
    genome = Genome(write_fasta(tmp_path / "iupac.fa", data))
    assert genome.fetch("a", 0, 28) == "AC" + "N" * 20 + "NNACGT"


@pytest.mark.parametrize("bad", [b"-", b"*", b".", b"7", b" ", b"U", b"\t"])
def test_invalid_byte_names_contig_and_position(tmp_path, bad):
    lines = [b"ACGTACGTAC", b"GGGGCCCCTT", b"AAA" + bad + b"TACGTA", b"CC"]
    path = write_fasta(tmp_path / "bad.fa", b">ok\nACGT\n>chrB\n" + b"\n".join(lines) + b"\n")
    genome = Genome(path)
    assert genome.fetch("chrB", 0, 23) == "ACGTACGTACGGGGCCCCTTAAA"  # before the bad byte
    with pytest.raises(FastaError) as info:
        genome.fetch("chrB", 5, 30)
    message = str(info.value)
    assert "position 23" in message and "'chrB'" in message and str(path) in message
    assert f"0x{bad[0]:02x}" in message


def test_stray_carriage_return_fails(tmp_path):
    path = write_fasta(tmp_path / "cr.fa", b">a\nACGTACGTAC\nGGGGCCCCTT\nAAA\rT\n")
    genome = Genome(path)
    with pytest.raises(FastaError, match="cr.fa"):
        genome.fetch("a", 0, genome.length("a"))


@pytest.mark.parametrize(
    "data",
    [
        # last line longer than the others: pyfaidx alone returns wrong bases here
        b">a\nAAAAAA\nCCCCCC\nGGGGTTTT\n>b\nACGT\n",
        # CRLF lines but a bare LF at the end of the record
        b">a\r\nAAAAAA\r\nCCCCCC\n>b\r\nACGT\r\n",
        # blank line inside a record
        b">a\nAAAAAA\n\nCCCCCC\n>b\nACGT\n",
        # CRLF blank line between records (pyfaidx refuses to index it)
        b">a\r\nAAAAAA\r\nCCC\r\n\r\n>b\r\nACGT\r\n",
        # two blank lines between records (pyfaidx refuses to index it)
        b">a\nAAAAAA\nCC\n\n\n>b\nACGT\n",
        # junk after the last record
        b">a\nAAAAAA\nCC\n)\n",
    ],
    ids=["long-last-line", "mixed-endings", "blank-inside", "crlf-blank", "two-blanks", "junk"],
)
def test_inconsistent_layout_fails_clearly(tmp_path, data):
    path = write_fasta(tmp_path / "layout.fa", data)
    with pytest.raises(FastaError, match="layout.fa"):
        genome = Genome(path)
        for contig in genome.contigs:
            genome.fetch(contig, 0, genome.length(contig))


def test_crlf_and_blank_lines_between_records_read_correctly(tmp_path):
    data = b">a desc\r\nAAAAAC\r\nCCCGGG\r\nTT\r\n>b\r\nACGT\r\n"
    genome = Genome(write_fasta(tmp_path / "crlf.fa", data))
    assert genome.fetch("a", 0, 14) == "AAAAACCCCGGGTT" and genome.fetch("b", 1, 4) == "CGT"
    data = b">a\nAAAAAC\nCC\n\n>b\nACGT"  # one blank line, no final newline
    genome = Genome(write_fasta(tmp_path / "blank.fa", data))
    assert genome.fetch("a", 0, 8) == "AAAAACCC" and genome.fetch("b", 0, 4) == "ACGT"


def test_plain_gzip_is_refused(tmp_path):
    path = tmp_path / "ref.fa.gz"
    path.write_bytes(gzip.compress(b">a\nACGT\n"))
    with pytest.raises(FastaError, match="bgzip"):
        Genome(path).contigs


def test_stale_index_is_rebuilt(tmp_path):
    path = write_fasta(tmp_path / "ref.fa", b">a\nAAAAAAAAAA\nCCCCC\n")
    assert Genome(path).fetch("a", 8, 12) == "AACC"
    write_fasta(path, b">a\nGGGG\nTTTT\nAAAA\n>b\nACGT\n")
    old = path.stat().st_mtime - 100
    os.utime(str(path) + ".fai", (old, old))
    genome = Genome(path)
    assert genome.lengths == {"a": 12, "b": 4}
    assert genome.fetch("a", 2, 10) == "GGTTTTAA"


def test_read_only_folder_uses_cache_dir(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = write_fasta(folder / "ref.fa", b">a\nACGTACGT\nAC\n")
    folder.chmod(0o555)
    try:
        genome = Genome(path, cache_dir=tmp_path / "cache")
        assert genome.fetch("a", 6, 10) == "GTAC"
        assert sorted(os.listdir(folder)) == ["ref.fa"]
        assert [p.name for p in (tmp_path / "cache").glob("*/*")] == ["ref.fa.fai"]
    finally:
        folder.chmod(0o755)


def test_pickle_after_use(small):
    genome, seq20 = small
    assert genome.fetch("20", 0, 5) == seq20[:5]
    copy = pickle.loads(pickle.dumps(genome))
    assert copy.path == genome.path
    assert copy.fetch("chr20", 5, 25) == seq20[5:]
    assert genome.fetch("20", 5, 25) == seq20[5:]


def test_duplicate_contig_names_fail(tmp_path):
    path = write_fasta(tmp_path / "dup.fa", b">a\nACGT\n>a\nGGGG\n")
    with pytest.raises(FastaError, match="dup.fa.*Duplicate key"):
        Genome(path).contigs
