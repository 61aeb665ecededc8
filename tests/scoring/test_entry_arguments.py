"""The public scoring functions take regions as strings, tuples or Intervals, and refuse an argument of
the wrong type with one clear error (an ArgumentError, also a TypeError) naming it, before any work."""

import numpy as np
import pytest

from genosparse import load_model, score_sequences
from genosparse.errors import ArgumentError
from genosparse.genome import Genome
from genosparse.genome.regions import Interval
from genosparse.scoring import score_fasta
from genosparse.scoring.embed import embed
from genosparse.scoring.ism import ism
from genosparse.scoring.tracks import score_track
from genosparse.scoring.vep import annotate_vcf, score_variants


@pytest.fixture(scope="module")
def model(tiny_mlm):
    return tiny_mlm


@pytest.fixture(scope="module")
def genome(chr20):
    return Genome(chr20)


def _rows(model, genome, regions):
    return [(r.name, r.start, r.end, r.score) for r in
            score_fasta(model, genome, regions=regions, window=64, progress=False, device="cpu")]


def test_a_region_as_tuple_interval_or_string_scores_the_same(model, genome):
    text = _rows(model, genome, "20:30,000,001-30,000,128")  # 1-based inclusive
    assert [row[:3] for row in text] == [("20", 30_000_000, 30_000_064), ("20", 30_000_064, 30_000_128)]
    assert _rows(model, genome, (20, 30_000_000, 30_000_128)) == text  # 0-based half-open
    assert _rows(model, genome, [Interval("20", 30_000_000, 30_000_128)]) == text
    segments = list(score_track(model, genome, regions=("20", 30_000_000, 30_000_128), window=64,
                                progress=False, device="cpu"))
    assert segments[0].start == 30_000_000 and segments[-1].end == 30_000_128
    assert all(s.contig == "20" and s.end == t.start for s, t in zip(segments, segments[1:]))
    chunks = list(embed(model, genome, regions=("chr20", 30_000_000, 30_000_128), window=64, progress=False,
                        device="cpu"))
    assert chunks[0].starts.tolist() == [30_000_000, 30_000_064] and np.isfinite(chunks[0].values).all()


@pytest.mark.parametrize("call", [
    lambda m, g, v: list(score_fasta(m, g, regions="20:1-100", window="4096", progress=False)),
    lambda m, g, v: list(embed(m, g, regions="20:1-100", window="4096", progress=False)),
    lambda m, g, v: list(score_track(m, g, regions="20:1-100", window="4096", progress=False)),
    lambda m, g, v: list(score_variants(m, g, v, window="4096", progress=False)),
    lambda m, g, v: ism(m, g, "20:1-100", window="4096", progress=False),
], ids=["score_fasta", "embed", "score_track", "score_variants", "ism"])
def test_a_window_given_as_a_string_is_refused(model, genome, shared_data, call):
    with pytest.raises(ArgumentError, match=r"window must be an integer, got '4096' \(str\)") as err:
        call(model, genome, shared_data / "variants" / "20.vcf.gz")
    assert isinstance(err.value, TypeError)


BAD_CALLS = {  # id: (call(model, genome, vcf, tmp), the argument the message names)
    "score_fasta-model": (lambda m, g, v, t: next(score_fasta(5, g)), "model"),
    "score_fasta-fasta": (lambda m, g, v, t: next(score_fasta(m, 5)), "fasta"),
    "score_fasta-no-fasta": (lambda m, g, v, t: next(score_fasta(m, None)), "fasta"),
    "score_fasta-regions": (lambda m, g, v, t: next(score_fasta(m, g, regions=5.0)), "regions"),
    "score_fasta-batch_size": (lambda m, g, v, t: next(score_fasta(m, g, batch_size="8")), "batch_size"),
    "score_fasta-device": (lambda m, g, v, t: next(score_fasta(m, g, device=["cpu"])), "device"),
    "score_sequences-sequences": (lambda m, g, v, t: next(score_sequences(5, m)), "sequences"),
    "score_sequences-model": (lambda m, g, v, t: next(score_sequences(["ACGT"], model=1.5)), "model"),
    "score_variants-vcf": (lambda m, g, v, t: next(score_variants(m, g, 5)), "vcf"),
    "score_variants-fasta": (lambda m, g, v, t: next(score_variants(m, [g], v)), "fasta"),
    "annotate_vcf-out": (lambda m, g, v, t: annotate_vcf(m, g, v, 5), "out"),
    "annotate_vcf-vcf": (lambda m, g, v, t: annotate_vcf(m, g, {"a": 1}, t / "o.vcf.gz"), "vcf"),
    "score_track-bed": (lambda m, g, v, t: next(score_track(m, g, bed=5, window=64)), "bed"),
    "score_track-window": (lambda m, g, v, t: next(score_track(m, g, window=64.0)), "window"),
    "embed-bed": (lambda m, g, v, t: next(embed(m, g, bed=5)), "bed"),
    "embed-model": (lambda m, g, v, t: next(embed(None, g)), "model"),
    "ism-region": (lambda m, g, v, t: ism(m, g, 20.5), "region"),
    "Genome-path": (lambda m, g, v, t: Genome(20), "path"),
    "Genome.fetch-contig": (lambda m, g, v, t: g.fetch(20.0, 0, 10), "contig"),
    "Genome.fetch-start": (lambda m, g, v, t: g.fetch("20", "0", 10), "start"),
    "load_model-path": (lambda m, g, v, t: load_model(5), "path"),
}


@pytest.mark.parametrize("call, argument", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_a_wrong_argument_type_is_a_type_error_naming_the_argument(model, genome, shared_data, tmp_path, call,
                                                                   argument):
    with pytest.raises(TypeError, match=rf"\b{argument}\b") as err:
        call(model, genome, shared_data / "variants" / "20.vcf.gz", tmp_path)
    assert isinstance(err.value, ArgumentError) and "Error" not in str(err.value)
    assert list(tmp_path.iterdir()) == []  # nothing written
