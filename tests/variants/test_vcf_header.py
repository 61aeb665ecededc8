"""The annotated VCF's header (VCFv4.2, provenance, stale and duplicate lines dropped) and the ##contig
length check against the FASTA, on the real VCFs of ../shared/data/variants and edited copies."""

import gzip
import logging

import pysam
import pytest

import genosparse
from genosparse.cli.main import main
from genosparse.errors import VariantError
from genosparse.scoring.vep import annotate_vcf

OPTIONS = dict(window=64, rc_average=False, embedding=False, device="cpu", progress=False)
HG38_CHR20 = 64_444_167
GRCH37_CHR20 = 63_025_520


def header_lines(path):
    with gzip.open(path, "rt") as text:
        return [line.rstrip("\n") for line in text if line.startswith("##")]


def edited_copy(source, target, extra_meta):
    """``source`` (gzip VCF) as plain text with ``extra_meta`` lines inserted after ##fileformat."""
    with gzip.open(source, "rt") as text:
        lines = text.read().splitlines(keepends=True)
    target.write_text(lines[0] + "".join(line + "\n" for line in extra_meta) + "".join(lines[1:]))
    return target


def used_definitions(path):
    """``##INFO/FORMAT/FILTER=<ID=...`` prefixes of the definitions the records of ``path`` use, read as text."""
    used = set()
    with gzip.open(path, "rt") as text:
        for line in text:
            if line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            used |= {f"##FILTER=<ID={f}," for f in fields[6].split(";") if f not in (".", "PASS")}
            used |= {f"##INFO=<ID={kv.split('=')[0]}," for kv in fields[7].split(";") if kv != "."}
            used |= {f"##FORMAT=<ID={key}," for key in (fields[8].split(":") if len(fields) > 8 else [])}
    return used


def test_header_keeps_what_the_records_use_once_and_records_this_run(model, checkpoint, chr20, shared_data,
                                                                     tmp_path):
    source = shared_data / "variants" / "5.vcf.gz"  # VCFv4.0 with FORMAT, FILTER and one sample
    out = tmp_path / "5.scored.vcf.gz"
    annotate_vcf(model, chr20, source, out, checkpoint=checkpoint, command="genosparse vep test", **OPTIONS)
    kept = header_lines(out)
    original = header_lines(source)
    used = used_definitions(source)
    definitions = ("##INFO=", "##FORMAT=", "##FILTER=")
    assert kept[0] == "##fileformat=VCFv4.2"
    assert [line for line in original[1:] if not line.startswith(definitions) and line not in kept] == []
    assert {line for line in original if line.startswith(definitions) and line.startswith(tuple(used))} <= set(kept)
    dropped = [line for line in original if line.startswith(definitions) and line not in kept]
    assert dropped and not any(line.startswith(tuple(used)) for line in dropped)  # e.g. FORMAT/HQ, FILTER/hp10
    assert kept.count('##FILTER=<ID=PASS,Description="All filters passed">') == 1
    assert "##genosparse_version=" + genosparse.__version__ in kept
    assert "##genosparse_command=genosparse vep test" in kept
    assert any(line.startswith(f"##genosparse_checkpoint={checkpoint} (model.safetensors sha256:") for line in kept)
    with pysam.VariantFile(str(out)) as vcf:
        assert list(vcf.header.samples) == ["AllData.bam"] and sum(1 for _ in vcf) == 977


def test_stale_genosparse_lines_and_duplicates_are_dropped(model, chr20, shared_data, tmp_path):
    source = shared_data / "variants" / "20.vcf.gz"
    reference = "##reference=file:///humgen/1kg/reference/human_g1k_v37.fasta"
    stale = edited_copy(source, tmp_path / "stale.vcf", ["##genosparse_version=0.0.1", "##genosparse_command=old run",
                                                          reference])
    out = tmp_path / "out.vcf.gz"
    annotate_vcf(model, chr20, stale, out, command="new run", **OPTIONS)
    lines = header_lines(out)
    assert lines.count(reference) == 1
    assert [line for line in lines if line.startswith("##genosparse_")][:2] == [
        f"##genosparse_version={genosparse.__version__}", "##genosparse_command=new run"]
    assert "old run" not in "\n".join(lines) and "0.0.1" not in "\n".join(lines)


def test_contig_length_of_another_build_stops_before_scoring(model, chr20, shared_data, tmp_path, caplog):
    source = shared_data / "variants" / "20.vcf.gz"
    hg38 = edited_copy(source, tmp_path / "hg38.vcf", [f"##contig=<ID=20,length={HG38_CHR20}>"])
    out = tmp_path / "out.vcf.gz"
    with pytest.raises(VariantError) as error:
        annotate_vcf(model, chr20, hg38, out, **OPTIONS)
    message = str(error.value)
    assert f"contig 20 is 64,444,167 bases in the ##contig header of {hg38}" in message
    assert f"20 is 63,025,520 bases in {chr20}" in message and "--contig-length-mismatch warn" in message
    assert not out.exists()
    with caplog.at_level(logging.WARNING):
        counts = annotate_vcf(model, chr20, hg38, out, contig_lengths="warn", **OPTIONS)
    assert counts["records"] == 300 and "different builds" in caplog.text
    same = edited_copy(source, tmp_path / "grch37.vcf", [f"##contig=<ID=chr20,length={GRCH37_CHR20}>"])
    assert annotate_vcf(model, chr20, same, tmp_path / "ok.vcf.gz", **OPTIONS)["records"] == 300  # alias, same length


def test_contig_length_option_on_the_command_line(checkpoint, chr20, shared_data, tmp_path, capsys):
    hg38 = edited_copy(shared_data / "variants" / "20.vcf.gz", tmp_path / "hg38.vcf",
                       [f"##contig=<ID=20,length={HG38_CHR20}>"])
    args = ["vep", "--checkpoint", str(checkpoint), "-f", str(chr20), "--vcf", str(hg38), "--window", "64",
            "--no-embedding", "--device", "cpu", "-q"]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "-o", str(tmp_path / "x.vcf.gz")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and "contig 20 is 64,444,167 bases" in err[0]
    main([*args, "-o", str(tmp_path / "x.vcf.gz"), "--contig-length-mismatch", "warn"])
    assert "wrote 300 records" in capsys.readouterr().out
