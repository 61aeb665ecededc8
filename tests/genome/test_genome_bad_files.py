"""Files that used to give a wrong value or a deep traceback now fail with a FastaError."""

import os
import pathlib

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


def test_truncated_bgzf(tmp_path, chr20):
    path = tmp_path / "t.fa.gz"
    path.write_bytes(chr20.read_bytes()[:100_000])
    with pytest.raises(FastaError, match=str(path)):
        Genome(path).fetch("20", 0, 10)


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
