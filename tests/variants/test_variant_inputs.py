"""score_variants and annotate_vcf read a pysam.VariantFile or a pandas DataFrame exactly as they read
the VCF file of the same records (one reading path: a temporary VCF)."""

import gzip
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pysam
import pytest

from genosparse.errors import VariantError
from genosparse.genome import Genome
from genosparse.scoring.vep import annotate_vcf, score_variants

OPTS = dict(window=128, flank=8, rc_average=False, num_passes=2, device="cpu", progress=False)


@pytest.fixture(scope="module")
def genome(chr20):
    return Genome(chr20)


def _plain(source, tmp_path):
    """The plain-text copy of a gzip VCF (pysam cannot open plain gzip)."""
    target = tmp_path / source.name.removesuffix(".gz")
    with gzip.open(source, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def _frame(vcf_path, limit=None):
    """The records of a VCF read with pysam as a DataFrame with chrom, pos (1-based), id, ref, alt."""
    with pysam.VariantFile(str(vcf_path)) as vcf:
        rows = [(r.chrom, r.pos, r.id, r.ref, ",".join(r.alts) if r.alts else ".") for r in vcf][:limit]
    return pd.DataFrame(rows, columns=["chrom", "pos", "id", "ref", "alt"])


def _key(scores):
    return [(s.variant.record_index, s.variant.alt_index, s.variant.contig, s.variant.pos, s.variant.ref,
             s.variant.alt, s.variant.kind, s.flag) for s in scores]


def test_a_dataframe_and_a_variant_file_score_exactly_as_the_path(model, genome, shared_data, tmp_path):
    source = shared_data / "variants" / "20.vcf.gz"
    by_path = list(score_variants(model, genome, source, **OPTS))
    frame = _frame(_plain(source, tmp_path))
    assert len(frame) == 300 and frame["pos"].dtype == np.int64
    by_frame = list(score_variants(model, genome, frame, **OPTS))
    with pysam.VariantFile(str(_plain(source, tmp_path))) as vcf:
        by_file = list(score_variants(model, genome, vcf, **OPTS))
    with pytest.raises(VariantError, match="is closed"):
        next(score_variants(model, genome, vcf, **OPTS))
    assert _key(by_frame) == _key(by_file) == _key(by_path) and len(by_path) == 300
    expected = np.array([(s.llr, s.embedding_distance) for s in by_path])
    assert np.isfinite(expected).all()
    for other in (by_frame, by_file):
        assert np.array_equal(np.array([(s.llr, s.embedding_distance) for s in other]), expected)  # to the bit


def test_multi_allelic_rows_joined_or_one_alt_per_row_and_vcf_output(model, genome, shared_data, tmp_path):
    source = _plain(shared_data / "variants" / "5.vcf.gz", tmp_path)
    frame = _frame(source, limit=40)
    assert frame["alt"].str.contains(",").sum() >= 2  # multi-allelic records among them
    frame["chrom"] = "chr" + frame["chrom"]  # the alias rule applies as to a VCF
    frame["extra"] = 1.5  # other columns are ignored
    joined = list(score_variants(model, genome, frame, **OPTS))
    one_per_row = list(score_variants(model, genome, frame.assign(alt=frame["alt"].str.split(",")).explode("alt"),
                                      **OPTS))
    assert [(s.variant.pos, s.variant.alt, s.llr, s.embedding_distance) for s in joined] == \
           [(s.variant.pos, s.variant.alt, s.llr, s.embedding_distance) for s in one_per_row]
    assert len(joined) > len(frame) and all(s.scored for s in joined)
    counts = annotate_vcf(model, genome, frame, tmp_path / "out.vcf.gz", **OPTS)
    assert counts["records"] == 40 and counts["variants"] == len(joined)
    with pysam.VariantFile(str(tmp_path / "out.vcf.gz")) as vcf:
        records = list(vcf)
    assert [(r.chrom, r.pos, r.ref, ",".join(r.alts)) for r in records] == \
           list(zip(frame["chrom"], frame["pos"], frame["ref"], frame["alt"]))
    assert [v for r in records for v in r.info["GS_LLR"]] == pytest.approx([s.llr for s in joined], rel=1e-5)


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns=["alt"]), "no column alt"),
    (lambda f: f.assign(pos=f["pos"].astype(float)), "pos that is not an integer"),
    (lambda f: f.assign(pos=f["pos"].astype(str)), "pos that is not an integer"),
    (lambda f: f.assign(ref=[None] + list(f["ref"][1:])), r"index 0\) has no ref"),
    (lambda f: f.assign(pos=[np.nan] + list(f["pos"][1:])), r"index 0\) has no pos"),
    (lambda f: f.assign(pos=0), "pos < 1; pos is 1-based"),
    (lambda f: f.assign(alt="A T"), "alt that is not text without blanks"),
], ids=["missing-column", "float-pos", "str-pos", "none-ref", "nan-pos", "zero-pos", "blank-alt"])
def test_bad_dataframes_are_refused_naming_the_problem(model, genome, change, message):
    frame = pd.DataFrame({"CHROM": ["20", "20"], "POS": [207414, 792106], "REF": ["G", "C"], "ALT": ["A", "G"]})
    assert len(list(score_variants(model, genome, frame, **OPTS))) == 2  # upper-case VCF column names work
    frame.columns = ["chrom", "pos", "ref", "alt"]
    with pytest.raises(VariantError, match=message):
        next(score_variants(model, genome, change(frame), **OPTS))


def test_pandas_is_imported_only_for_a_dataframe():
    code = ("import sys, genosparse.scoring.vep, genosparse.scoring.embed, genosparse.genome.vcf; "
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
