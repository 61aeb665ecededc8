"""Whole-genome tracks: tiling, centre-crop stitching, binning, bigWig/bedGraph output, bad input."""

import numpy as np
import pyBigWig
import pytest
import torch

from genosparse.attention import AttentionConfig
from genosparse.errors import ConfigError, FastaError, SequenceError
from genosparse.genome import Genome
from genosparse.genome.regions import Interval
from genosparse.cli.main import main
from genosparse.models import GenomicModel, ModelConfig, save_model
from genosparse.scoring.scorers import mlm_log_likelihood
from genosparse.scoring.track_writers import write_track
from genosparse.scoring.tracks import num_tiles, score_track, tile_span, track_spans
from genosparse.sequence.vocab import encode, reverse_complement

WINDOW, STRIDE = 64, 24


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    att = AttentionConfig(block_size=16, num_global_blocks=1, num_random_blocks=1, backend="torch")
    return GenomicModel(ModelConfig(head="mlm", d_model=32, num_layers=1, num_heads=2, dropout=0.0,
                                    context_length=WINDOW, attention=att)).eval()


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("genome")
    rng = np.random.default_rng(3)
    records = {"long": "".join(rng.choice(list("ACGT"), 181)), "short": "".join(rng.choice(list("ACGT"), 40)),
               "gap": "N" * 150, "empty": ""}
    records["long"] = records["long"][:100] + "N" * 30 + records["long"][130:]
    path = tmp_path / "g.fa"
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()))
    return Genome(path), records


def expected_values(model, seq: str, span_start: int, span_end: int, rc: bool) -> np.ndarray:
    """Independent: for each base, the window (same tiling) whose centre is nearest, scored on its own."""
    if span_end - span_start <= WINDOW:
        starts = [span_start]
    else:
        starts = sorted(set(range(span_start, span_end - WINDOW + 1, STRIDE)) | {span_end - WINDOW})
    scored = {}
    with torch.inference_mode():
        for s in starts:
            tokens = torch.from_numpy(encode(seq[s:min(s + WINDOW, span_end)]))[None]
            ll = mlm_log_likelihood(model, tokens)[0]
            if rc:
                ll = (ll + mlm_log_likelihood(model, reverse_complement(tokens))[0].flip(-1)) / 2
            scored[s] = ll.numpy()
    out = np.full(span_end - span_start, np.nan, np.float32)
    for p in range(span_start, span_end):
        dist = [(abs(p + 0.5 - (s + min(WINDOW, span_end - s) / 2)), -k) for k, s in enumerate(starts)]
        s = starts[-min(dist)[1]]
        out[p - span_start] = scored[s][p - s]
    return out


@pytest.fixture(scope="module")
def segments(model, genome):
    return list(score_track(model, genome[0], stride=STRIDE, batch_size=3, device="cpu", progress=False))


def dense(segments, lengths):
    values = {name: np.full(n, np.nan, np.float32) for name, n in lengths.items()}
    covered = {name: np.zeros(n, int) for name, n in lengths.items()}
    for seg in segments:
        assert seg.step == 1
        values[seg.contig][seg.start:seg.end] = seg.values
        covered[seg.contig][seg.start:seg.end] += 1
    return values, covered


def test_tiling_covers_every_base_once():
    for length in (1, 63, 64, 65, 100, 301, 1000):
        tiles = list(tile_span(Interval("c", 5, 5 + length), WINDOW, STRIDE))
        assert len(tiles) == num_tiles(Interval("c", 5, 5 + length), WINDOW, STRIDE)
        keep = np.concatenate([np.arange(t.keep.start, t.keep.end) for t in tiles])
        assert keep.tolist() == list(range(5, 5 + length))
        for t in tiles:
            assert t.window.start <= t.keep.start < t.keep.end <= t.window.end
            assert len(t.window) == min(WINDOW, length)
    with pytest.raises(ConfigError, match="stride"):
        tile_span(Interval("c", 0, 100), WINDOW, WINDOW)


def test_stitched_track_equals_each_base_scored_in_its_centre_window(model, genome, segments):
    g, records = genome
    values, covered = dense(segments, g.lengths)
    for name in ("long", "short", "gap"):
        assert (covered[name] == 1).all(), name
    # the all-N contig and the N run give no values; every other base does
    assert np.isnan(values["gap"]).all()
    assert np.isnan(values["long"][100:130]).all() and np.isfinite(np.delete(values["long"], range(100, 130))).all()
    for name in ("long", "short"):
        expected = expected_values(model, records[name], 0, len(records[name]), rc=True)
        np.testing.assert_allclose(values[name], expected, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_forward_strand_binned_region(model, genome):
    g, records = genome
    segs = list(score_track(model, g, regions="long:1-100", stride=STRIDE, bin_size=7, rc_average=False,
                            device="cpu", progress=False))
    bins = [(s.start + i * s.step, s.start + (i + 1) * s.step, v) for s in segs for i, v in enumerate(s.values)]
    # bins start at the region start, cross window boundaries, the last one is shorter
    assert [(a, b) for a, b, _ in bins] == [(k, min(k + 7, 100)) for k in range(0, 100, 7)]
    per_base = expected_values(model, records["long"][:100], 0, 100, rc=False)
    np.testing.assert_allclose([v for *_, v in bins], [per_base[a:b].mean() for a, b, _ in bins], rtol=1e-5)


def test_bigwig_and_bedgraph_values_bins_and_chrom_sizes(model, genome, segments, tmp_path):
    g, records = genome
    values, _ = dense(segments, g.lengths)
    summary = write_track(iter(segments), tmp_path / "t.bw", g.lengths)
    with pyBigWig.open(str(tmp_path / "t.bw")) as bw:
        assert bw.chroms() == g.lengths
        got = np.array(bw.values("long", 0, 181), dtype=np.float32)
        np.testing.assert_allclose(got, values["long"], rtol=1e-6, equal_nan=True)
        assert bw.intervals("gap") is None
    assert summary["bases"] == 181 - 30 + 40
    write_track(iter(segments), tmp_path / "t.bedgraph", g.lengths)
    lines = (tmp_path / "t.bedgraph").read_text().splitlines()[1:]
    assert len(lines) == summary["values"] and lines[0].split("\t")[:3] == ["long", "0", "1"]



def test_regions_bed_resized_merged_and_errors(model, genome, tmp_path):
    g, records = genome
    bed = tmp_path / "r.bed"
    bed.write_text("track name=x\nlong\t40\t50\nlong\t45\t60\nshort\t0\t5\nlong\t170\t181\n")
    spans = track_spans(g, WINDOW, bed=bed)
    # 10 bases widened to 64 centred on 45, the next (centre 52) overlaps and merges; the last is
    # shifted inside the contig; "short" is shorter than a window and taken whole
    assert spans == [Interval("long", 13, 84), Interval("long", 117, 181), Interval("short", 0, 40)]
    assert track_spans(g, WINDOW, regions=["long:11-20"]) == [Interval("long", 10, 20)]
    with pytest.raises(FastaError, match="past the end of contig long"):
        track_spans(g, WINDOW, regions=["long:11-200"])
    segs = list(score_track(model, g, bed=bed, stride=STRIDE, rc_average=False, device="cpu", progress=False))
    assert sum(len(s.values) for s in segs) == 71 + 64 + 40
    bad = tmp_path / "bad.bed"
    bad.write_text("long\t0\t10\nchr9\t0\t10\nfoo\t1\t2\n")
    with pytest.raises(FastaError, match=r"2 contig\(s\) absent .*chr9, foo"):
        track_spans(g, WINDOW, bed=bad)
    bad.write_text("long\t10\t5\n")
    with pytest.raises(SequenceError, match="line 1"):
        track_spans(g, WINDOW, bed=bad)


def test_duplicate_contig_names_error(tmp_path):
    path = tmp_path / "dup.fa"
    path.write_text(">a\nACGT\n>b\nAC\n>a\nGGGG\n")
    with pytest.raises(FastaError, match='Duplicate key "a"'):
        track_spans(Genome(path), WINDOW)


def test_interrupted_write_leaves_no_output(genome, segments, tmp_path):
    g, _ = genome

    def failing():
        yield from segments
        raise KeyboardInterrupt

    for name in ("t.bw", "t.bedgraph"):
        with pytest.raises(KeyboardInterrupt):
            write_track(failing(), tmp_path / name, g.lengths)
    assert list(tmp_path.iterdir()) == []


def test_classification_model_refused(genome):
    g, _ = genome
    clf = GenomicModel(ModelConfig(head="classification", d_model=16, num_layers=1, num_heads=2,
                                   context_length=WINDOW, attention=AttentionConfig(block_size=16, backend="torch")))
    with pytest.raises(ConfigError, match="MLM"):
        next(score_track(clf, g, device="cpu", progress=False))


def test_track_cli_bigwig_and_clear_errors(model, genome, tmp_path, capsys):
    g, _ = genome
    ckpt = save_model(model, tmp_path / "ckpt")
    out = tmp_path / "short.bw"
    main(["track", "--checkpoint", str(ckpt), "--fasta", str(g.path), "--region", "short", "--bin-size", "8",
          "--out", str(out), "--device", "cpu", "--quiet", "--no-rc-average"])
    with pyBigWig.open(str(out)) as bw:
        assert [iv[:2] for iv in bw.intervals("short")] == [(0, 8), (8, 16), (16, 24), (24, 32), (32, 40)]
    bed = tmp_path / "bad.bed"
    bed.write_text("chr7\t0\t10\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["track", "--checkpoint", str(ckpt), "--fasta", str(g.path), "--regions", str(bed),
              "--out", str(tmp_path / "x.bw"), "--device", "cpu", "--quiet"])
    assert exit_info.value.code == 2
    assert "absent from" in capsys.readouterr().err and not (tmp_path / "x.bw").exists()


def test_lightning_ddp_on_two_cpu_processes_matches_streaming(model, genome, segments):
    g, _ = genome
    got = list(score_track(model, g, stride=STRIDE, batch_size=3, device="cpu", devices=2, progress=False))
    assert [(s.contig, s.start, s.end) for s in got] == [(s.contig, s.start, s.end) for s in segments]
    for a, b in zip(got, segments):
        np.testing.assert_array_equal(a.values, b.values)
