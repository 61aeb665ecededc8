"""Helpers of the variant tests: small FASTA and VCF files, VCF text read without pysam."""

import gzip
import random
from pathlib import Path

import pysam

VCF_HEADER = "##fileformat=VCFv4.2\n{contigs}#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def random_bases(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


def write_fasta(path: Path, records: dict[str, str]) -> Path:
    path.write_text("".join(f">{name}\n" + "".join(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60))
                            for name, seq in records.items()))
    return path


def write_vcf(path: Path, rows: list[str], contigs: dict[str, int] | None = None, bgzip: bool = True) -> Path:
    """A VCF with ``rows`` (tab-separated CHROM POS ID REF ALT QUAL FILTER INFO); bgzipped with pysam."""
    lines = "".join(f"##contig=<ID={name},length={length}>\n" for name, length in (contigs or {}).items())
    text = VCF_HEADER.format(contigs=lines) + "".join(row + "\n" for row in rows)
    plain = path.with_name(path.name.removesuffix(".gz"))
    plain.write_text(text)
    if not bgzip:
        return plain
    pysam.tabix_compress(str(plain), str(path), force=True)
    plain.unlink()
    return path


def vcf_rows(path: Path) -> list[list[str]]:
    """Records of a (b)gzipped VCF as text fields, read with gzip (independently of pysam)."""
    with gzip.open(path, "rt") as handle:
        return [line.rstrip("\n").split("\t") for line in handle if not line.startswith("#")]
