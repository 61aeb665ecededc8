"""The "scores unchanged" cases: CLI calls whose outputs were recorded with the code before issue 13.

Every case is a ``genosparse`` command line on the real data (``../shared/data``): chr20 with
the shipped ``chr20-mlm`` on the CPU at 1,024-base windows. ``make_golden.py`` runs them all and
writes ``golden/``; ``test_golden.py`` re-runs them (the variant sets on a deterministic subset
of records) and compares. The inputs that are not files of the data folder are derived from it
here, deterministically: subsets of the call sets (every k-th record) and an "edge" FASTA of
2,000 chr20 bases with hand-written records at its ends.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from genosparse.genome import Genome

GOLDEN = Path(__file__).resolve().parent / "golden"
MADE_WITH = "8d8dd72"  # the commit whose code wrote golden/ (main before issue 13)
WINDOW = "1024"
REGION = "20:30,000,001-30,003,500"  # 3.5 windows of 1,024 bases, no N
ISM_REGION = "20:30,000,001-30,000,016"
EDGE_SPAN = (30_000_000, 30_002_000)  # chr20 bases of the edge FASTA's contig "edge" (0-based)


@dataclass(frozen=True)
class VcfCase:
    """``vep`` of every ``every``-th record (from the first) of a call set, with extra CLI options."""

    name: str
    vcf: str  # a file of variants/, or "edge"
    every: int
    options: tuple[str, ...] = ()


VEP_CASES = (
    VcfCase("vep_20", "20.vcf.gz", 1),
    VcfCase("vep_5", "5.vcf.gz", 7, ("--num-passes", "2")),
    VcfCase("vep_16", "16.vcf.gz", 3, ("--num-passes", "2")),
    VcfCase("vep_16_forward", "16.vcf.gz", 11, ("--num-passes", "2", "--no-rc-average")),
    VcfCase("vep_edge", "edge", 1, ("--num-passes", "2")),
)


def subset_vcf(source: Path, target: Path, every: int, offset: int = 0) -> Path:
    """Plain-text VCF with ``source``'s header and its records ``offset, offset + every, ...``."""
    with gzip.open(source, "rt") as src, open(target, "w") as dst:
        index = 0
        for line in src:
            if line.startswith("#"):
                dst.write(line)
                continue
            if index % every == offset:
                dst.write(line)
            index += 1
    return target


def edge_inputs(chr20: Path, folder: Path) -> tuple[Path, Path]:
    """The edge FASTA (contig ``edge``, 2,000 chr20 bases) and its VCF of boundary records.

    Records (1-based POS): an SNV on the first and on the last base; a deletion whose REF ends
    on the last base; an insertion after the last base; a multi-allelic SNV (all three ALTs) and
    a multi-allelic indel; an MNV; a complex change; a REF mismatch; a symbolic ALT; a star
    allele; and a record on a contig the FASTA lacks.
    """
    seq = Genome(chr20).fetch("20", *EDGE_SPAN)
    n = len(seq)
    fasta = folder / "edge.fa"
    fasta.write_text(">edge\n" + "".join(seq[i:i + 60] + "\n" for i in range(0, n, 60)))

    def base(pos: int) -> str:  # 1-based
        return seq[pos - 1]

    def other(b: str) -> str:
        return "ACGT"[("ACGT".index(b) + 1) % 4]

    rows = [
        (1, base(1), other(base(1))),
        (500, seq[499:501], other(base(500)) + other(base(501))),
        (700, seq[699:703], base(700) + other(base(701))),
        (1000, base(1000), ",".join(b for b in "ACGT" if b != base(1000))),
        (1200, seq[1199:1203], f"{base(1200)},{seq[1199:1203]}{seq[1199:1203]}"),
        (1300, other(base(1300)), base(1300)),  # REF differs from the FASTA
        (1400, base(1400), "<DEL>"),
        (1500, base(1500), f"{other(base(1500))},*"),
        (n - 5, seq[n - 6:], base(n - 5)),  # deletion ending on the last base
        (n, base(n), other(base(n))),
        (n, base(n), base(n) + "ACGT"),
    ]
    header = ("##fileformat=VCFv4.2\n##contig=<ID=edge,length=%d>\n##contig=<ID=chrUn,length=1000>\n"
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" % n)
    body = "".join(f"edge\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t.\n" for pos, ref, alt in rows)
    vcf = folder / "edge.vcf"
    vcf.write_text(header + body + "chrUn\t10\t.\tA\tG\t.\tPASS\t.\n")
    return fasta, vcf


def vep_argv(case: VcfCase, data: Path, folder: Path, out: Path, every: int | None = None,
             offset: int = 0) -> list[str]:
    """The ``genosparse vep`` command line of ``case`` (records ``offset::every`` of its set)."""
    if case.vcf == "edge":
        fasta, vcf = edge_inputs(data / "reference" / "20.fa.gz", folder)
    else:
        fasta = data / "reference" / "20.fa.gz"
        vcf = subset_vcf(data / "variants" / case.vcf, folder / f"{case.name}.vcf", every or case.every, offset)
    return ["vep", "--fasta", str(fasta), "--vcf", str(vcf), "--out", str(out), "--format", "tsv",
            "--window", WINDOW, "--device", "cpu", "--quiet", *case.options]


def region_argvs(data: Path, folder: Path) -> dict[str, list[str]]:
    """``score``, ``track``, ``embed`` and ``ism`` of a short chr20 region, by output file name."""
    fasta = str(data / "reference" / "20.fa.gz")
    common = ["--fasta", fasta, "--window", WINDOW, "--device", "cpu", "--quiet"]
    return {
        "score.tsv": ["score", *common, "--region", REGION, "--out", str(folder / "score.tsv")],
        "track.bedgraph": ["track", *common, "--region", REGION, "--out", str(folder / "track.bedgraph")],
        "embed.npz": ["embed", *common, "--region", REGION, "--out", str(folder / "embed.npz")],
        "ism.npz": ["ism", *common, "--region", ISM_REGION, "--out", str(folder / "ism")],
    }
