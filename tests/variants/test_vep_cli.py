"""`genosparse vep` and `genosparse ism` as a user runs them."""

import os
import subprocess
import sys

import pysam

from genosparse.cli.main import main
from variant_helpers import vcf_rows, write_vcf


def genosparse(*args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "genosparse.cli.main", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_vep_annotates_the_real_snv_call_set(tmp_path, checkpoint, chr20, shared_data):
    source = shared_data / "variants" / "20.vcf.gz"
    out = tmp_path / "20.scored.vcf.gz"
    result = genosparse("vep", "--checkpoint", checkpoint, "--fasta", chr20, "--vcf", source, "--out", out,
                        "--device", "cpu", "--batch-size", "16", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wrote 300 records (300 ALT alleles, 300 scored" in result.stdout
    assert (tmp_path / "20.scored.vcf.gz.tbi").is_file()
    assert [r[:5] for r in vcf_rows(out)] == [r[:5] for r in vcf_rows(source)]
    with pysam.VariantFile(str(out)) as vcf:
        assert "GS_LLR" in vcf.header.info
        records = list(vcf.fetch("20", 30_000_000, 40_000_000))  # through the tabix index
    assert records and all(r.info["GS_KIND"] == ("SNV",) and r.info["GS_FLAG"] == (".",) for r in records)


def test_vep_errors_are_one_line_and_write_nothing(tmp_path, checkpoint, chr20):
    vcf = write_vcf(tmp_path / "in.vcf.gz", ["chr7\t5\t.\tA\tG\t.\t.\t."])
    out = tmp_path / "out" / "x.vcf.gz"
    result = genosparse("vep", "--checkpoint", checkpoint, "--fasta", chr20, "--vcf", vcf, "--out", out,
                        "--strict-contigs", "--device", "cpu", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "genosparse vep: error:" in result.stderr and "chr7 (1 records)" in result.stderr
    assert not out.parent.exists()


def test_ism_command_writes_tsv_npz_png(tmp_path, checkpoint, chr20, capsys):
    main(["ism", "--checkpoint", str(checkpoint), "--fasta", str(chr20), "--region", "chr20:1,000,001-1,000,020",
          "--out", str(tmp_path / "ism"), "--device", "cpu", "--quiet"])
    assert "20 bases of 20" in capsys.readouterr().out
    assert all((tmp_path / f"ism.{suffix}").stat().st_size > 0 for suffix in ("tsv", "npz", "png"))


def test_library_call_from_the_top_level(tmp_path, checkpoint, chr20, shared_data):
    import genosparse

    scores = list(genosparse.score_variants(checkpoint, chr20, shared_data / "variants" / "20.vcf.gz", window=64,
                                            rc_average=False, device="cpu", progress=False))
    assert len(scores) == 300 and all(s.scored and s.variant.kind == "SNV" for s in scores)
    assert [s.variant.record_index for s in scores] == list(range(300))
