"""Four processes opening the same un-indexed FASTA at once: one index, whole, and the same bases."""

import multiprocessing
import os
import shutil
from pathlib import Path

import pytest
from Bio import bgzf

from genosparse.genome import Genome

WINDOWS = [(0, 60), (12_345, 12_400), (39_940, 40_000)]


def _open_and_read(path: str, cache: str, barrier, results) -> None:
    barrier.wait()  # all four open the FASTA at the same moment
    genome = Genome(path, cache_dir=cache)
    results.put((os.getpid(), genome.lengths, [genome.fetch("chr17", a, b) for a, b in WINDOWS]))


def _race(path: Path, cache: Path) -> list:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_open_and_read, args=(str(path), str(cache), barrier, results)) for _ in range(4)]
    for proc in procs:
        proc.start()
    out = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    return out


@pytest.fixture
def chr17_copies(tmp_path, shared_data):
    """A plain and a BGZF copy of pyfaidx's 40 kb chr17 (one 40,000-base line), without indexes."""
    source = shared_data / "fasta_edge_cases" / "chr17.hg19.part.fa"
    plain = tmp_path / "plain" / "chr17.fa"
    plain.parent.mkdir()
    shutil.copy(source, plain)
    packed = tmp_path / "bgzf" / "chr17.fa.gz"
    packed.parent.mkdir()
    with bgzf.BgzfWriter(packed, "wb") as out:
        out.write(source.read_bytes())
    text = source.read_text().split("\n", 1)[1].replace("\n", "").upper()
    return {"plain": plain, "bgzf": packed}, [text[a:b] for a, b in WINDOWS]


@pytest.mark.parametrize("kind", ["plain", "bgzf"])
@pytest.mark.parametrize("folder", ["beside", "read_only_cache"])
def test_four_processes_index_once_and_read_the_same_bases(tmp_path, chr17_copies, kind, folder):
    paths, expected = chr17_copies
    path, cache = paths[kind], tmp_path / "cache"
    if folder == "read_only_cache":
        path.parent.chmod(0o555)  # no write bit: indexes go to the cache, even for root
    try:
        results = _race(path, cache)
    finally:
        path.parent.chmod(0o755)
    assert all(lengths == {"chr17": 40_000} and seqs == expected for _, lengths, seqs in results)
    index_dir = path.parent if folder == "beside" else next(cache.iterdir())
    written = sorted(p.name for p in index_dir.iterdir() if p != path)
    assert written == ([path.name + ".fai"] + ([path.name + ".gzi"] if kind == "bgzf" else []))
    # the .fai is whole: samtools' format for one 40,000-base line after the 7-byte header
    assert (index_dir / (path.name + ".fai")).read_text() == "chr17\t40000\t7\t40000\t40001\n"


def test_files_left_by_a_killed_index_build_are_replaced(tmp_path, chr17_copies):
    paths, expected = chr17_copies
    path = paths["bgzf"]
    (path.parent / ".chr17.fa.gz.lock").write_bytes(b"")
    for name in ("chr17.fa.gz.fai", "chr17.fa.gz.gzi"):  # genosparse.io.atomic_path's temporary folders
        (path.parent / f".{name}.k2jd_9ab").mkdir()
        (path.parent / f".{name}.k2jd_9ab" / name).write_bytes(b"half-written")
    assert Genome(path).fetch("chr17", 0, 60) == expected[0]
    assert sorted(os.listdir(path.parent)) == ["chr17.fa.gz", "chr17.fa.gz.fai", "chr17.fa.gz.gzi"]
