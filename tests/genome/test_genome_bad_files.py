"""Files that used to give a wrong value or a deep traceback now fail with a FastaError."""

import gzip
import os
import pathlib

import numpy as np
import pytest

from genosparse.errors import FastaError
from genosparse.genome import Genome


@pytest.mark.parametrize("content,match", [
    (b">a\rACGTA\rCGT\r>b\rGGGG\r", "CR-only"),
    (b">a\nACGT\n\n\n", "cannot index"),
])
def test_unusable_layouts(tmp_path, content, match):
    path = tmp_path / "x.fa"
    path.write_bytes(content)
    with pytest.raises(FastaError, match=match):
        Genome(path).lengths


def test_fresh_looking_index_of_another_file(tmp_path):
    path = tmp_path / "x.fa"
    path.write_text(">a\nACGTACGT\n")
    fai = tmp_path / "x.fa.fai"
    fai.write_text("x\t8\t3\t8\t9\n")
    os.utime(fai, (path.stat().st_mtime + 10,) * 2)
    with pytest.raises(FastaError, match="does not describe"):
        Genome(path).fetch("x", 0, 8)


def _gzi_block_starts(chr20) -> np.ndarray:
    """Compressed offsets of chr20's BGZF blocks, from its (gzipped) .gzi."""
    data = gzip.decompress((chr20.parent / (chr20.name + ".gzi.gz")).read_bytes())
    return np.frombuffer(data[8:], dtype="<u8").reshape(-1, 2)[:, 0]


@pytest.mark.parametrize("cut", ["half", "block_boundary"])
def test_truncated_bgzf_says_so_and_writes_no_index(tmp_path, chr20, cut):
    """Cut in half (mid-block), or at a block boundary, where every remaining block is whole and
    an index would silently describe a shorter contig: both refused as truncated."""
    data = chr20.read_bytes()
    size = len(data) // 2 if cut == "half" else int(_gzi_block_starts(chr20)[100])
    path = tmp_path / "t.fa.gz"
    path.write_bytes(data[:size])
    with pytest.raises(FastaError) as err:
        Genome(path).fetch("20", 0, 10)
    message = str(err.value)
    assert str(path) in message and "truncated or corrupt" in message and "end-of-file block" in message
    assert "Fetch it again" in message and "unpack" not in message
    assert sorted(os.listdir(tmp_path)) == ["t.fa.gz"]


def test_header_with_a_space_after_the_marker(tmp_path, shared_data):
    """`> chr17` is indexed as chr17, as samtools and pyfaidx do, on first open and after deleting the index."""
    original = shared_data / "fasta_edge_cases" / "chr17.hg19.part.fa"
    text = original.read_bytes()
    path = tmp_path / "spaced.fa"
    path.write_bytes(text.replace(b">chr17", b">  chr17 a description", 1) + b"> second\nACGTN\n")
    expected = Genome(original).fetch("chr17", 0, 40_000)
    for _ in range(2):
        genome = Genome(path)
        assert genome.lengths == {"chr17": 40_000, "second": 5}
        assert genome.fetch("chr17", 0, 40_000) == expected and genome.fetch("second", 0, 5) == "ACGTN"
        (tmp_path / "spaced.fa.fai").unlink()


def test_directory_given_as_a_fasta(tmp_path):
    with pytest.raises(FastaError, match="is a directory; give the FASTA file itself"):
        Genome(tmp_path)


def test_unwritable_cache_for_read_only_folder(tmp_path, shared_data, monkeypatch):
    """The shared folder is read-only, so the index goes to the cache; an unwritable cache
    (read-only home on a cluster) gives a FastaError saying what to set."""
    real_mkdir = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "cache")):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    fasta = shared_data / "fasta_edge_cases" / "issue_83.fasta"
    with pytest.raises(FastaError, match="XDG_CACHE_HOME"):
        Genome(fasta, cache_dir=tmp_path / "cache").lengths
