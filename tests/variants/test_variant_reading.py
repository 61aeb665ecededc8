"""Reading VCFs against a FASTA: real chr20 call sets and constructed edge cases."""

import gzip
import logging

import pysam
import pytest

from genosparse.errors import VariantError
from genosparse.genome import Genome
from genosparse.genome.alleles import classify, trim_alleles
from genosparse.genome.vcf import open_vcf
from variant_helpers import random_bases, write_fasta, write_vcf


@pytest.fixture(scope="module")
def genome20(chr20):
    return Genome(chr20)


@pytest.mark.parametrize("name,records,alts,kinds", [
    ("20", 300, 300, {"SNV": 300}),
    ("5", 977, 1020, {"insertion": 543, "deletion": 469, "SNV": 8}),
    ("16", 237, 374, {"deletion": 185, "insertion": 170, "SNV": 19}),
])
def test_real_call_sets_every_record_split_per_alt_and_ref_matching(genome20, shared_data, name, records, alts,
                                                                    kinds):
    path = shared_data / "variants" / f"{name}.vcf.gz"
    with gzip.open(path, "rt") as handle:  # independent count from the text
        rows = [line.split("\t") for line in handle if not line.startswith("#")]
    assert len(rows) == records and sum(len(r[4].split(",")) for r in rows) == alts
    with open_vcf(path, genome20) as source:
        assert source.scan.num_records == records and source.scan.num_variants == alts
        assert source.scan.missing_contigs == [] and source.scan.is_sorted
        assert sum(source.scan.ref_mismatch) == 0
        seen = list(source.variants())
    assert len(seen) == records
    variants = [v for _, vs in seen for v in vs]
    assert [(v.record_index, v.alt_index) for v in variants] == [
        (i, k) for i, r in enumerate(rows) for k in range(len(r[4].split(",")))]
    assert {k: sum(v.kind == k for v in variants) for k in kinds} == kinds and not any(v.flag for v in variants)
    for v, row in zip(variants, (r for r in rows for _ in r[4].split(","))):
        assert (v.chrom, v.pos + 1, v.ref, v.alt) == (row[0], int(row[1]), row[3], row[4].split(",")[v.alt_index])
        # REF equals the reference, read independently with the 1-based POS
        assert genome20.fetch("20", int(row[1]) - 1, int(row[1]) - 1 + len(row[3])) == row[3]


@pytest.mark.parametrize("ref,alt,kind,trimmed", [
    ("A", "G", "SNV", (10, "A", "G")),
    ("ACG", "ATG", "SNV", (11, "C", "T")),
    ("AC", "GT", "MNV", (10, "AC", "GT")),
    ("T", "TTGG", "insertion", (11, "", "TGG")),
    ("CTCTT", "C", "deletion", (11, "TCTT", "")),
    ("ACGT", "AGG", "complex", (11, "CGT", "GG")),
    ("AT", "GCT", "complex", (10, "A", "GC")),
    ("A", "A", "identical", (11, "", "")),
    ("A", "<DEL>", "symbolic", None),
    ("A", "G]17:198982]", "breakend", None),
    ("A", ".A", "breakend", None),
    ("A", "*", "star", None),
])
def test_classify_and_trim(ref, alt, kind, trimmed):
    assert classify(ref, alt) == kind
    if trimmed:
        assert trim_alleles(10, ref, alt) == trimmed


def _genome(tmp_path, name="s", length=600, seed=0):
    seq = random_bases(length, seed)
    return Genome(write_fasta(tmp_path / "ref.fa", {name: seq})), seq


def test_flags_for_unscorable_alleles_and_missing_contig(tmp_path, caplog):
    genome, seq = _genome(tmp_path)
    rows = [f"s\t101\t.\t{seq[100]}\t<DEL>,{'ACGT'[('ACGT'.index(seq[100]) + 1) % 4]}\t.\t.\t.",
            f"s\t201\t.\t{seq[200]}\tG]17:198982]\t.\t.\t.",
            f"s\t301\t.\t{seq[300]}\t*\t.\t.\t.",
            f"s\t311\t.\t{seq[310]}\t.\t.\t.\t.",
            f"s\t321\t.\t{seq[320]}\tN\t.\t.\t.",
            "chr7\t5\t.\tA\tG\t.\t.\t."]
    vcf = write_vcf(tmp_path / "x.vcf.gz", rows)
    with caplog.at_level(logging.WARNING), open_vcf(vcf, genome) as source:
        flags = [[(v.kind, v.flag) for v in vs] for _, vs in source.variants()]
    assert "chr7 (1 records)" in caplog.text and "not found" in caplog.text
    assert flags == [[("symbolic", "symbolic"), ("SNV", "")], [("breakend", "breakend")], [("star", "star")],
                     [("no_alt", "no_alt")], [("SNV", "non_acgt_allele")], [("SNV", "contig_missing")]]
    with pytest.raises(VariantError, match=r"chr7 \(1 records\)"):
        with open_vcf(vcf, genome, strict_contigs=True):
            pass


def test_ref_mismatch_modes(tmp_path):
    genome, seq = _genome(tmp_path)
    wrong = "ACGT"[("ACGT".index(seq[150]) + 1) % 4]
    rows = [f"s\t100\t.\t{seq[99]}\tN\t.\t.\t.", f"s\t151\trs1\t{wrong}\tA\t.\t.\t.",
            f"s\t200\t.\t{seq[199:203]}\t{seq[199]}\t.\t.\t.", f"s\t598\t.\t{seq[597:]}AA\tA\t.\t.\t."]
    vcf = write_vcf(tmp_path / "x.vcf.gz", rows)
    with open_vcf(vcf, genome) as source:
        assert list(source.scan.ref_mismatch) == [0, 1, 0, 1]  # the last REF runs past the contig end
        assert [vs[0].flag for _, vs in source.variants("flag")] == ["non_acgt_allele", "ref_mismatch", "",
                                                                   "ref_mismatch"]
        assert [vs[0].record_index for _, vs in source.variants("skip")] == [0, 2]
        with pytest.raises(VariantError, match=r"2 of 4 records .* record 2 \(s:151 REF") as err:
            next(source.variants("fail"))
        assert "--ref-mismatch" in str(err.value)


def test_chr_prefixed_vcf_against_unprefixed_fasta(tmp_path, genome20, shared_data):
    rows = [r for r in _text_rows(shared_data / "variants" / "20.vcf.gz")[:5]]
    vcf = write_vcf(tmp_path / "chr.vcf.gz", ["\t".join(["chr20", *r[1:8]]) for r in rows])
    with open_vcf(vcf, genome20, strict_contigs=True) as source:
        assert source.scan.contigs == {"chr20": "20"} and sum(source.scan.ref_mismatch) == 0
        variants = [v for _, vs in source.variants() for v in vs]
    assert [(v.chrom, v.contig, v.flag) for v in variants] == [("chr20", "20", "")] * 5


def test_empty_unsorted_plain_gzip_and_bcf_inputs(tmp_path):
    genome, seq = _genome(tmp_path)
    with open_vcf(write_vcf(tmp_path / "empty.vcf.gz", []), genome) as source:
        assert source.scan.num_records == 0 and list(source.variants()) == []
    rows = [f"s\t{p}\t.\t{seq[p - 1]}\tA\t.\t.\t." for p in (300, 100)]
    plain = write_vcf(tmp_path / "u.vcf", rows, contigs={"s": 600}, bgzip=False)
    gz = tmp_path / "u.vcf.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))  # plain gzip, which pysam cannot open by itself
    bcf = tmp_path / "u.bcf"
    with pysam.VariantFile(str(plain)) as src, pysam.VariantFile(str(bcf), "wb", header=src.header) as dst:
        for record in src:
            dst.write(record)
    for path in (plain, gz, bcf):
        with open_vcf(path, genome) as source:
            assert not source.scan.is_sorted
            assert [(r.pos, vs[0].pos) for r, vs in source.variants()] == [(300, 299), (100, 99)]


def test_missing_and_malformed_files(tmp_path):
    genome, _ = _genome(tmp_path)
    with pytest.raises(VariantError, match="not found"):
        with open_vcf(tmp_path / "nope.vcf", genome):
            pass
    bad = tmp_path / "bad.vcf"
    bad.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   "s\tnotanumber\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(VariantError, match="bad.vcf"):
        with open_vcf(bad, genome):
            pass


def _text_rows(path):
    with gzip.open(path, "rt") as handle:
        return [line.rstrip("\n").split("\t") for line in handle if not line.startswith("#")]


@pytest.mark.parametrize("compression", ["plain_text", "plain_gzip"])
def test_vcf_without_a_header_says_so_and_names_the_users_file(genome20, shared_data, tmp_path, compression):
    """Real records of 20.vcf.gz without their header; the plain-gzip one is read through a temporary
    copy, which the message must not name."""
    with gzip.open(shared_data / "variants" / "20.vcf.gz", "rb") as handle:
        records = b"".join(line for line in handle if not line.startswith(b"#"))
    path = tmp_path / ("headless.vcf" if compression == "plain_text" else "headless.vcf.gz")
    path.write_bytes(records if compression == "plain_text" else gzip.compress(records))
    with pytest.raises(VariantError) as err:
        with open_vcf(path, genome20):
            pass
    message = str(err.value)
    assert message.startswith(f"{path} has no VCF header") and "##fileformat=VCFv4.x" in message
    assert "'20\\t207414\\t.\\tG\\tA" in message  # the first line, shown
    assert "genosparse-vcf-" not in message and "decompressed" not in message


def test_directory_given_as_a_vcf(genome20, tmp_path):
    with pytest.raises(VariantError, match="is a directory; give the VCF file itself"):
        with open_vcf(tmp_path, genome20):
            pass
