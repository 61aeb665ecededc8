"""Genome on BGZF files: the real Debian chr20 against Python's gzip module."""

import gzip
import os
import pickle

import numpy as np
import pytest
from Bio import bgzf

from genosparse.errors import FastaError
from genosparse.genome import Genome

CHR20_LENGTH = 63_025_520


@pytest.fixture(scope="module")
def chr20_path(shared_data):
    return shared_data / "reference" / "20.fa.gz"


@pytest.fixture(scope="module")
def chr20_reference(chr20_path) -> bytes:
    """Whole chr20 sequence, decompressed with gzip (no index involved), read once."""
    data = gzip.decompress(chr20_path.read_bytes())
    header_end = data.index(b"\n")
    assert data[:header_end].split()[0] == b">20"
    return data[header_end + 1 :].replace(b"\n", b"")


@pytest.fixture
def chr20(chr20_path, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return Genome(chr20_path)


def test_debian_layout_leaves_shared_folder_untouched(chr20, chr20_path, tmp_path):
    before = sorted(os.listdir(chr20_path.parent))
    assert before == ["20.fa.gz", "20.fa.gz.fai", "20.fa.gz.gzi.gz"]
    assert chr20.contigs == ["20"]
    assert chr20.lengths == {"20": CHR20_LENGTH}
    assert chr20.fetch("chr20", 30_000_000, 30_000_010)
    assert sorted(os.listdir(chr20_path.parent)) == before
    assert list((tmp_path / "xdg" / "genosparse").glob("*/20.fa.gz.gzi"))


@pytest.mark.skipif(os.geteuid() != 0, reason="the case of a process that any folder lets write: root")
def test_root_leaves_a_folder_it_may_not_write_by_its_mode_untouched(chr20_path, tmp_path):
    """As root, os.access says every folder is writable; the folder's mode for root's class decides.
    A copy of the Debian layout, its .gzi.gz stale so both indexes must be built, in a folder
    owned by another user with mode 0o755 (writable for its owner only)."""
    folder = tmp_path / "shared"
    folder.mkdir()
    for name in ("20.fa.gz", "20.fa.gz.fai", "20.fa.gz.gzi.gz"):
        (folder / name).write_bytes((chr20_path.parent / name).read_bytes())
    stale = (folder / "20.fa.gz").stat().st_mtime - 100
    os.utime(folder / "20.fa.gz.gzi.gz", (stale, stale))
    os.chown(folder, 12345, 12345)
    folder.chmod(0o755)
    genome = Genome(folder / "20.fa.gz", cache_dir=tmp_path / "cache")
    assert genome.fetch("20", 30_000_000, 30_000_010) == "AAATAAGGCT"
    assert sorted(os.listdir(folder)) == ["20.fa.gz", "20.fa.gz.fai", "20.fa.gz.gzi.gz"]
    assert sorted(p.name for p in (tmp_path / "cache").glob("*/*")) == ["20.fa.gz.fai", "20.fa.gz.gzi"]


def test_debian_layout_in_a_writable_folder_is_left_untouched(chr20_path, tmp_path):
    """A folder holding a packaged ``.gzi.gz`` is never written to: indexes go to the cache."""
    folder = tmp_path / "debian"
    folder.mkdir()
    for name in ("20.fa.gz", "20.fa.gz.fai", "20.fa.gz.gzi.gz"):
        (folder / name).write_bytes((chr20_path.parent / name).read_bytes())
    genome = Genome(folder / "20.fa.gz", cache_dir=tmp_path / "cache")
    assert genome.fetch("20", 30_000_000, 30_000_010) == "AAATAAGGCT"
    assert sorted(os.listdir(folder)) == ["20.fa.gz", "20.fa.gz.fai", "20.fa.gz.gzi.gz"]
    assert [p.name for p in (tmp_path / "cache").glob("*/*")] == ["20.fa.gz.gzi"]


def test_chr20_ends_are_n(chr20):
    assert chr20.fetch("20", 0, 60_000) == "N" * 60_000
    assert chr20.fetch("chr20", CHR20_LENGTH - 60_000, CHR20_LENGTH) == "N" * 60_000
    assert chr20.fetch("20", 60_000, 60_010) != "N" * 10


def test_chr20_random_intervals_match_gzip(chr20, chr20_reference):
    assert len(chr20_reference) == CHR20_LENGTH
    rng = np.random.default_rng(20)
    starts = rng.integers(0, CHR20_LENGTH - 140_000, 40)
    sizes = np.concatenate([rng.integers(1, 5_000, 39), [131_072]])
    for start, size in zip(starts.tolist(), sizes.tolist()):
        expected = chr20_reference[start : start + size].decode()
        assert chr20.fetch("20", start, start + size) == expected
    tail = chr20_reference[-100:].decode() + "NN"
    assert chr20.fetch("chr20", CHR20_LENGTH - 100, CHR20_LENGTH + 2, pad=True) == tail


def test_chr20_pickled_after_use(chr20, chr20_reference):
    start = 45_000_000
    assert chr20.fetch("20", start, start + 50) == chr20_reference[start : start + 50].decode()
    copy = pickle.loads(pickle.dumps(chr20))
    assert copy.fetch("20", start, start + 5_000) == chr20_reference[start : start + 5_000].decode()


def test_new_bgzf_file_gets_both_indexes(tmp_path):
    rng = np.random.default_rng(1)
    seqs = {name: "".join(rng.choice(list("ACGTacgtN"), n)) for name, n in [("a", 150_000), ("b", 70_001)]}
    path = tmp_path / "ref.fa.gz"
    with bgzf.BgzfWriter(str(path), "wb") as out:
        for name, seq in seqs.items():
            lines = [seq[i : i + 60] for i in range(0, len(seq), 60)]
            out.write((f">{name}\n" + "\n".join(lines) + "\n").encode())
    genome = Genome(path)
    assert genome.lengths == {"a": 150_000, "b": 70_001}
    assert (tmp_path / "ref.fa.gz.fai").is_file() and (tmp_path / "ref.fa.gz.gzi").is_file()
    for name, seq in seqs.items():
        for start in rng.integers(0, len(seq) - 3_000, 10).tolist():
            got, mask = genome.fetch(name, start, start + 3_000, soft_mask=True)
            assert got == seq[start : start + 3_000].upper()
            assert np.array_equal(mask, [c.islower() for c in seq[start : start + 3_000]])


def test_bgzf_without_gz_suffix_is_refused(tmp_path):
    path = tmp_path / "ref.fa"
    with bgzf.BgzfWriter(str(path), "wb") as out:
        out.write(b">a\nACGT\n")
    with pytest.raises(FastaError, match="rename"):
        Genome(path).contigs
