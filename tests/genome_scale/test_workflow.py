"""The Snakemake workflow end to end on 200 kb of real chr20 (two contigs) and real indels, with --cores 2."""

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyBigWig
import pysam
import pytest
import yaml

from genosparse.attention import AttentionConfig
from genosparse.genome import Genome
from genosparse.models import GenomicModel, ModelConfig, save_model

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SLICES = {"20a": (60_000, 160_000), "20b": (160_000, 260_000)}  # 0-based half-open on contig 20
MAX_RECORDS = 12


@pytest.fixture(scope="module")
def inputs(chr20, shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wf")
    genome = Genome(chr20)
    fasta = tmp / "two.fa"
    with open(fasta, "w") as out:
        for name, (start, end) in SLICES.items():
            seq = genome.fetch("20", start, end)
            assert "N" not in seq
            out.write(f">{name}\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n")
    lines, kept = [], {name: 0 for name in SLICES}
    with gzip.open(shared_data / "variants" / "5.vcf.gz", "rt") as vcf:
        for line in vcf:
            if line.startswith("##contig"):
                continue
            if line.startswith("#"):
                lines.append(line)
                continue
            fields = line.split("\t")
            pos = int(fields[1])
            for name, (start, end) in SLICES.items():
                if start < pos and pos + len(fields[3]) <= end and kept[name] < MAX_RECORDS // 2:
                    kept[name] += 1
                    lines.append("\t".join([name, str(pos - start), *fields[2:]]))
    assert all(kept.values())
    (tmp / "calls.vcf").write_text("".join(lines))
    (tmp / "empty.vcf").write_text("".join(line for line in lines if line.startswith("#")))
    torch_model = GenomicModel(ModelConfig(head="mlm", d_model=32, num_layers=1, num_heads=2, context_length=256,
                                           attention=AttentionConfig(block_size=32, backend="torch")))
    save_model(torch_model, tmp / "ckpt")
    config = {"fasta": str(fasta), "checkpoint": str(tmp / "ckpt"), "outdir": "results",
              "track": {"enabled": True, "bin_size": 1, "stride": 224, "batch_size": 16, "device": "cpu",
                        "extra": "--no-rc-average"},
              "vcfs": {"calls": str(tmp / "calls.vcf"), "empty": str(tmp / "empty.vcf")},
              "vep": {"device": "cpu", "extra": "--no-rc-average"}}
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp, fasta, kept


def snakemake(tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SNAKEMAKE), "-s", str(ROOT / "workflows" / "Snakefile"), "--cores", "2",
                           "--directory", str(tmp), "--configfile", str(tmp / "config.yaml"), "--quiet", "rules"],
                          capture_output=True, text=True, timeout=300)


def test_workflow_end_to_end_and_resume(inputs):
    tmp, fasta, kept = inputs
    run = snakemake(tmp)
    assert run.returncode == 0, run.stderr[-3000:]
    results = tmp / "results"
    with pyBigWig.open(str(results / "track.bw")) as bw:
        assert bw.chroms() == {"20a": 100_000, "20b": 100_000}
        for name in SLICES:
            values = np.array(bw.values(name, 0, 100_000))
            assert np.isfinite(values).all() and (values < 0).all()
            with pyBigWig.open(str(results / "shards" / "track" / f"{name}.bw")) as shard:
                np.testing.assert_array_equal(values, shard.values(name, 0, 100_000))
    with pysam.VariantFile(str(results / "vep" / "calls.vcf.gz")) as vcf:
        records = list(vcf)
        assert "GS_LLR" in vcf.header.info
    assert [r.chrom for r in records] == ["20a"] * kept["20a"] + ["20b"] * kept["20b"]
    assert all(r.info["GS_FLAG"] for r in records)
    assert (results / "vep" / "calls.vcf.gz.tbi").is_file()
    with pysam.VariantFile(str(results / "vep" / "empty.vcf.gz")) as vcf:  # a VCF without records
        assert "GS_LLR" in vcf.header.info and not list(vcf)

    # resume after a run stopped before one shard and the gather: only those run again
    kept_shard = results / "shards" / "track" / "20a.bw"
    mtime = kept_shard.stat().st_mtime_ns
    (results / "shards" / "track" / "20b.bw").unlink()
    (results / "track.bw").unlink()
    rerun = snakemake(tmp)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert kept_shard.stat().st_mtime_ns == mtime
    assert (results / "shards" / "track" / "20b.bw").is_file() and (results / "track.bw").is_file()
    # no writer's hidden temporary file or folder left (Snakemake marks directory outputs with its own)
    assert [p.name for p in results.rglob(".*")] == [".snakemake_timestamp"] * 2


def test_split_vcf_keeps_odd_contig_names_inside_the_shard_folder(inputs, tmp_path):
    """Contig names with '/' or '..' are percent-encoded into shard names; gathering gives the records back."""
    tmp, fasta, _ = inputs
    header = [line for line in (tmp / "calls.vcf").read_text().splitlines(keepends=True) if line.startswith("#")]
    records = [f"{contig}\t{pos}\t.\tA\tG\t.\t.\t.\n" for contig, pos in (("../escaped", 10), ("a/b", 20), ("..", 5))]
    if len(header[-1].split("\t")) > 8:  # the call set has sample columns: give each record an empty sample
        records = [r.rstrip("\n") + "\tGT\t0/1\n" for r in records]
    vcf = tmp_path / "odd.vcf"
    vcf.write_text("".join(header + records))
    work = tmp_path / "deep" / "x"
    work.mkdir(parents=True)
    script = ROOT / "workflows" / "scripts" / "shards.py"
    split = subprocess.run([sys.executable, str(script), "split-vcf", str(vcf), str(fasta), "out"], cwd=work,
                           capture_output=True, text=True, timeout=120)
    assert split.returncode == 0, split.stderr
    assert sorted(p.name for p in (tmp_path / "deep").rglob("*") if p.is_file()) == sorted(
        ["%2E%2E.vcf.gz", "..%2Fescaped.vcf.gz", "a%2Fb.vcf.gz", "contigs.txt"])
    names = (work / "out" / "contigs.txt").read_text().split()
    assert names == ["..%2Fescaped", "a%2Fb", "%2E%2E"]
    gather = subprocess.run([sys.executable, str(script), "gather-vcf", "all.vcf.gz",
                             *(f"out/{n}.vcf.gz" for n in names)], cwd=work, capture_output=True, text=True, timeout=120)
    assert gather.returncode == 0, gather.stderr
    with pysam.VariantFile(str(work / "all.vcf.gz")) as gathered:
        assert [(r.chrom, r.pos) for r in gathered] == [("../escaped", 10), ("a/b", 20), ("..", 5)]
    directory = subprocess.run([sys.executable, str(script), "gather-vcf", "out", f"out/{names[0]}.vcf.gz"], cwd=work,
                               capture_output=True, text=True, timeout=120)
    assert directory.returncode == 2 and "is a directory" in directory.stderr


def test_gather_vcf_keeps_definitions_only_later_shards_have(tmp_path):
    """`genosparse vep` keeps in each shard only the INFO definitions its records use; the gather needs them all."""
    shards = []
    for name, key in (("20a", "AA"), ("20b", "BB")):
        text = (f"##fileformat=VCFv4.2\n##contig=<ID={name},length=1000>\n"
                f'##INFO=<ID={key},Number=1,Type=Integer,Description="only in {name}">\n'
                "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                f"{name}\t10\t.\tA\tG\t.\t.\t{key}=7\n")
        (tmp_path / f"{name}.vcf").write_text(text)
        pysam.tabix_compress(str(tmp_path / f"{name}.vcf"), str(tmp_path / f"{name}.vcf.gz"))
        shards.append(tmp_path / f"{name}.vcf.gz")
    script = ROOT / "workflows" / "scripts" / "shards.py"
    gather = subprocess.run([sys.executable, str(script), "gather-vcf", str(tmp_path / "all.vcf.gz"), *map(str, shards)],
                            capture_output=True, text=True, timeout=120)
    assert gather.returncode == 0, gather.stderr
    with pysam.VariantFile(str(tmp_path / "all.vcf.gz")) as gathered:
        assert [(r.chrom, dict(r.info)) for r in gathered] == [("20a", {"AA": 7}), ("20b", {"BB": 7})]
