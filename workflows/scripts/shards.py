"""Scatter and gather helpers of the genosparse Snakemake workflow (``workflows/Snakefile``).

``split-vcf VCF FASTA OUTDIR``: one bgzipped VCF per contig (records in input order) and
``contigs.txt`` (the shard names: contigs in order of first appearance, percent-encoded when
they hold characters unsafe in file names, such as ``/``), written to a temporary
folder renamed onto OUTDIR. A VCF without records gives one header-only shard,
:data:`NO_RECORDS`, so the gathered output is a valid (annotated, empty) VCF too.
``gather-vcf OUT SHARD...``: concatenate per-contig VCFs into one bgzipped VCF (the header of the
first plus the definitions only other shards have), tabix-indexed when the shards are.
``gather-bigwig FASTA OUT SHARD...``: merge per-contig bigWigs into one whose chromosome sizes are
the FASTA's. Every output is atomic.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pysam
import pyBigWig

from genosparse.cli.common import run_command
from genosparse.errors import VariantError
from genosparse.genome import Genome
from genosparse.genome.vcf import open_vcf, quiet_htslib
from genosparse.io import atomic_folder, atomic_path
from genosparse.scoring.track_writers import write_track
from genosparse.scoring.tracks import TrackSegment

NO_RECORDS = "no_records"
"""Shard name of a VCF that has a header but no records."""

SLICE = 10_000_000
"""Bases of a shard read at a time when gathering bigWigs."""


def shard_name(contig: str) -> str:
    """File-name-safe shard name of a contig (percent-encoded, so ``/`` cannot leave the shard folder)."""
    return quote(contig, safe="") if contig not in (".", "..") else quote(contig.replace(".", "%2E"), safe="%")


def split_vcf(vcf: Path, fasta: Path, outdir: Path) -> None:
    """Write ``outdir/<contig>.vcf.gz`` per contig of ``vcf`` and ``outdir/contigs.txt``."""
    with atomic_folder(outdir) as tmp:
        with open_vcf(vcf, Genome(fasta)) as source:
            writers: dict[str, pysam.VariantFile] = {}
            try:
                for _, record in source.records():
                    if record.chrom not in writers:
                        with quiet_htslib():
                            writers[record.chrom] = pysam.VariantFile(str(tmp / f"{shard_name(record.chrom)}.vcf.gz"),
                                                                      "wz", header=source.header)
                    record.translate(writers[record.chrom].header)
                    writers[record.chrom].write(record)
            finally:
                if not writers:
                    with quiet_htslib():
                        writers[NO_RECORDS] = pysam.VariantFile(str(tmp / f"{NO_RECORDS}.vcf.gz"), "wz",
                                                                header=source.header)
                for writer in writers.values():
                    writer.close()
        (tmp / "contigs.txt").write_text("".join(f"{shard_name(c)}\n" for c in writers))


def gather_vcf(out: Path, shards: list[Path]) -> None:
    """Concatenate ``shards`` (bgzipped VCFs with one header) into ``out`` (+ ``.tbi`` when all shards have one)."""
    if out.is_dir():
        raise VariantError(f"{out} is a directory; give the gathered VCF a file name such as {out / 'calls.vcf.gz'}")
    with atomic_path(out) as data:
        header = _gathered_header(shards)
        with quiet_htslib(), pysam.VariantFile(str(data), "wz", header=header) as writer:
            for shard in shards:
                with quiet_htslib(), pysam.VariantFile(str(shard)) as reader:
                    try:
                        for record in reader:
                            record.translate(writer.header)
                            writer.write(record)
                    except (OSError, ValueError) as err:
                        raise VariantError(f"cannot gather {shard} into {out}: its records do not fit the header "
                                           f"of {shards[0]} ({err}); gather shards split from one VCF") from None
        if all(Path(f"{s}.tbi").is_file() for s in shards):
            with quiet_htslib():
                pysam.tabix_index(str(data), preset="vcf", force=True)
            os.replace(f"{data}.tbi", f"{out}.tbi")
    if Path(f"{out}.tbi").is_file():
        os.utime(f"{out}.tbi")  # htslib warns about an index older than its data


def _gathered_header(shards: list[Path]) -> pysam.VariantHeader:
    """The first shard's header plus the INFO, FORMAT, FILTER and contig definitions only other shards have
    (``genosparse vep`` keeps in each shard only the definitions its records use)."""
    with quiet_htslib(), pysam.VariantFile(str(shards[0])) as first:
        header = first.header.copy()
    for shard in shards[1:]:
        with quiet_htslib(), pysam.VariantFile(str(shard)) as other:
            for line in other.header.records:
                defined = {"INFO": header.info, "FORMAT": header.formats, "FILTER": header.filters,
                           "CONTIG": header.contigs}.get(line.type)
                if defined is not None and line.get("ID") not in defined:
                    header.add_record(line)
    return header


def _shard_segments(path: Path):
    """The intervals of a per-contig bigWig as :class:`TrackSegment` s of equal-width contiguous runs."""
    with pyBigWig.open(str(path)) as bw:
        for contig, length in bw.chroms().items():
            for lo in range(0, length, SLICE):
                ivs = bw.intervals(contig, lo, min(lo + SLICE, length))
                if not ivs:
                    continue
                arr = np.array([iv for iv in ivs if iv[0] >= lo], dtype=np.float64).reshape(-1, 3)
                starts, ends, values = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2]
                widths = ends - starts
                cut = np.flatnonzero((starts[1:] != ends[:-1]) | (widths[1:] != widths[:-1])) + 1
                for i, j in zip([0, *cut.tolist()], [*cut.tolist(), len(arr)]):
                    yield TrackSegment(contig, int(starts[i]), int(widths[i]), values[i:j].astype(np.float32))


def gather_bigwig(fasta: Path, out: Path, shards: list[Path]) -> None:
    """Merge per-contig bigWig ``shards`` (in genome order) into ``out`` with the FASTA's contig sizes."""
    write_track((seg for shard in shards for seg in _shard_segments(shard)), out, Genome(fasta).lengths, "bigwig")


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="shards.py", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("split-vcf")
    s.add_argument("vcf", type=Path)
    s.add_argument("fasta", type=Path)
    s.add_argument("outdir", type=Path)
    g = sub.add_parser("gather-vcf")
    g.add_argument("out", type=Path)
    g.add_argument("shards", type=Path, nargs="+")
    b = sub.add_parser("gather-bigwig")
    b.add_argument("fasta", type=Path)
    b.add_argument("out", type=Path)
    b.add_argument("shards", type=Path, nargs="+")
    args = p.parse_args(argv)
    if args.command == "split-vcf":
        run_command("split-vcf", lambda: split_vcf(args.vcf, args.fasta, args.outdir))
    elif args.command == "gather-vcf":
        run_command("gather-vcf", lambda: gather_vcf(args.out, args.shards))
    else:
        run_command("gather-bigwig", lambda: gather_bigwig(args.fasta, args.out, args.shards))


if __name__ == "__main__":
    main(sys.argv[1:])
