"""genosparse.to_dataframe and the writer registry: one table per result, the same columns as the TSV files."""

import gzip
import math

import numpy as np
import pandas as pd
import pytest

import genosparse
from genosparse.errors import ArgumentError, ConfigError
from genosparse.genome import Genome
from genosparse.io import formats, writer_for
from genosparse.scoring import score_fasta, write_scores
from genosparse.scoring.embed import embed
from genosparse.scoring.ism import ism, write_ism
from genosparse.scoring.track_writers import write_track
from genosparse.scoring.tracks import score_track
from genosparse.scoring.vep import annotate_vcf, score_variants

REGION = "20:30,000,001-30,000,200"


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """One intra-op thread (see the root conftest)."""


def test_formats_come_from_the_registry_and_extensions_choose_them(tmp_path):
    assert formats("scores") == ("tsv", "bedgraph") and formats("track") == ("bigwig", "bedgraph")
    assert formats("variants") == ("vcf", "tsv") and formats("embeddings") == ("npz",)
    assert writer_for("variants", "x.vcf.gz").format == "vcf" and writer_for("variants", "x.tsv").format == "tsv"
    assert writer_for("scores", "x.BG").format == "bedgraph" and writer_for("scores", "-").format == "tsv"
    assert writer_for("track", "-").format == "bedgraph"  # bigWig cannot stream
    with pytest.raises(ConfigError, match="bigwig cannot be written to standard output.*--format bedgraph"):
        writer_for("track", "-", "bigwig")
    with pytest.raises(ConfigError, match="npz cannot be written to /dev/stdout"):
        writer_for("embeddings", "/dev/stdout")
    with pytest.raises(ConfigError, match="unknown scores format 'csv'; choose one of tsv, bedgraph"):
        writer_for("scores", "x.csv", "csv")


def test_score_rows_frame_equals_the_tsv(tiny_mlm, chr20, tmp_path):
    rows = list(score_fasta(tiny_mlm, chr20, regions=[REGION], window=64, rc_average=False, device="cpu",
                            progress=False))
    frame = genosparse.to_dataframe(rows)
    assert list(frame.columns) == ["name", "start", "end", "score", "flag", "chrom", "strand"]
    assert frame["start"].tolist() == [30_000_000, 30_000_064, 30_000_128, 30_000_192]  # 0-based half-open
    assert frame["end"].tolist() == [30_000_064, 30_000_128, 30_000_192, 30_000_200]
    assert frame["score"].tolist() == [row.score for row in rows]
    write_scores(rows, tmp_path / "s.tsv", "mean_log_likelihood")
    tsv = pd.read_csv(tmp_path / "s.tsv", sep="\t", keep_default_na=False)
    assert list(tsv.columns) == ["name", "start", "end", "mean_log_likelihood", "flag", "chrom",
                                 "strand"]
    assert np.allclose(tsv["mean_log_likelihood"], frame["score"], rtol=1e-5)
    assert (tsv["name"].astype(str) == frame["name"]).all() and (tsv["start"] == frame["start"]).all()


def test_track_frame_equals_the_bedgraph(tiny_mlm, chr20, tmp_path):
    genome = Genome(chr20)
    segments = list(score_track(tiny_mlm, genome, regions=["20:60,000-60,300"], window=64, bin_size=4,
                                rc_average=False, device="cpu", progress=False))
    frame = genosparse.to_dataframe(segments)
    write_track(segments, tmp_path / "t.bedgraph", genome.lengths)
    bedgraph = pd.read_csv(tmp_path / "t.bedgraph", sep="\t", skiprows=1, names=["chrom", "start", "end", "value"])
    assert list(frame.columns) == ["chrom", "start", "end", "value"]
    assert len(frame) == len(bedgraph) > 0 and (frame["end"] - frame["start"]).max() == 4
    assert frame["start"].tolist() == bedgraph["start"].tolist() and frame["end"].tolist() == bedgraph["end"].tolist()
    assert np.allclose(frame["value"], bedgraph["value"], rtol=1e-5)


def test_variant_frames_equal_the_tsv_with_vcf_positions(checkpoint_mlm, chr20, shared_data, tmp_path):
    vcf = shared_data / "variants" / "20.vcf.gz"
    options = dict(window=64, rc_average=False, embedding=False, device="cpu", progress=False)
    frame = genosparse.to_dataframe(score_variants(checkpoint_mlm, chr20, vcf, **options))
    annotate_vcf(checkpoint_mlm, chr20, vcf, tmp_path / "v.tsv", **options)
    tsv = pd.read_csv(tmp_path / "v.tsv", sep="\t", keep_default_na=False, na_values=["nan"])
    assert list(frame.columns) == list(tsv.columns) == ["record", "chrom", "pos", "id", "ref", "alt", "kind", "llr",
                                                        "embedding_distance", "flag"]
    with gzip.open(vcf, "rt") as text:  # read independently of pysam
        positions = [int(line.split("\t")[1]) for line in text if not line.startswith("#")]
    assert frame["pos"].tolist() == tsv["pos"].tolist() == positions  # 1-based as in the VCF
    assert np.allclose(frame["llr"], tsv["llr"], rtol=1e-5) and frame["embedding_distance"].isna().all()
    assert (frame["alt"] == tsv["alt"]).all() and frame["id"].isna().all() and (tsv["id"] == ".").all()


def test_embedding_chunks_and_ism_frames(tiny_mlm, chr20, tmp_path):
    pooled = genosparse.to_dataframe(embed(tiny_mlm, chr20, regions=[REGION], window=64, device="cpu",
                                           progress=False))
    assert list(pooled.columns[:6]) == ["name", "chrom", "start", "end", "strand", "flag"]
    assert (pooled["chrom"] == "20").all() and (pooled["strand"] == "+").all()
    assert list(pooled.columns[6:]) == [f"emb_{c}" for c in range(tiny_mlm.config.d_model)]
    assert len(pooled) == 4 and pooled["start"].iloc[0] == 30_000_000
    tokens = genosparse.to_dataframe(embed(tiny_mlm, chr20, regions=[REGION], window=64, pooled=False, device="cpu",
                                           progress=False))
    assert tokens["embedding"].iloc[0].shape == (64, tiny_mlm.config.d_model)
    result = ism(tiny_mlm, chr20, "20:30,000,001-30,000,010", window=64, rc_average=False, device="cpu",
                 progress=False)
    frame = genosparse.to_dataframe(result)
    tsv_path, _, _ = write_ism(result, tmp_path / "ism")
    tsv = pd.read_csv(tsv_path, sep="\t")
    assert list(frame.columns) == list(tsv.columns) == ["chrom", "start", "end", "ref", "alt", "llr"]
    assert len(frame) == 30 and frame["start"].tolist() == tsv["start"].tolist()
    assert frame["llr"].iloc[0] == pytest.approx(float(result.scores[0, 0]), rel=1e-6)
    assert not math.isnan(frame["llr"].iloc[0])


def test_other_items_are_refused():
    with pytest.raises(ConfigError, match="no table is defined for int items"):
        genosparse.to_dataframe([1, 2])
    for bad in (5, "ACGT"):  # not a stream at all: named, never a TypeError from inside
        with pytest.raises(ArgumentError, match=r"stream must be a genosparse result stream .* got"):
            genosparse.to_dataframe(bad)
    assert genosparse.to_dataframe([]).empty
