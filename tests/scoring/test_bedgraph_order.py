"""`score` to bedGraph: sorted, non-overlapping intervals whatever the order of --region; overlaps refused."""

import pytest

from genosparse.cli.main import main
from genosparse.errors import ConfigError
from genosparse.models import save_model
from genosparse.scoring import ScoreRow, write_scores


@pytest.fixture(scope="module")
def checkpoint(tiny_mlm, tmp_path_factory):
    return save_model(tiny_mlm, tmp_path_factory.mktemp("ckpt") / "tiny")


def score(checkpoint, chr20, out, *regions):
    main(["score", "--checkpoint", str(checkpoint), "-f", str(chr20), "--window", "64", "--device", "cpu", "-q",
          "-o", str(out), *[arg for region in regions for arg in ("-r", region)]])


def test_unsorted_regions_come_out_sorted_in_bedgraph_and_as_given_in_tsv(checkpoint, chr20, tmp_path, one_thread):
    regions = ("20:2,000,001-2,000,064", "20:1,000,001-1,000,100", "20:1,500,001-1,500,064")
    score(checkpoint, chr20, tmp_path / "s.bedgraph", *regions)
    rows = [line.split("\t") for line in (tmp_path / "s.bedgraph").read_text().splitlines()[1:]]
    starts = [int(row[1]) for row in rows]
    assert starts == [1_000_000, 1_000_064, 1_500_000, 2_000_000]
    assert all(int(a[2]) <= int(b[1]) for a, b in zip(rows, rows[1:]))  # non-overlapping
    score(checkpoint, chr20, tmp_path / "s.tsv", *regions)
    tsv = [line.split("\t") for line in (tmp_path / "s.tsv").read_text().splitlines()[1:]]
    assert [int(row[1]) for row in tsv] == [2_000_000, 1_000_000, 1_000_064, 1_500_000]
    assert {(r[1], r[3]) for r in tsv} == {(r[1], r[3]) for r in rows}  # the same scores


def test_overlapping_regions_are_refused_before_scoring(checkpoint, chr20, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        score(checkpoint, chr20, tmp_path / "s.bedgraph", "20:1,000,001-1,000,100", "20:1,000,050-1,000,200")
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and err == (
        "genosparse score: error: regions 20:1,000,001-1,000,100 and 20:1,000,050-1,000,200 overlap; bedGraph "
        "intervals must not overlap: merge them into one region, or write TSV (--format tsv), which keeps regions "
        "as given")
    assert not (tmp_path / "s.bedgraph").exists()


def test_the_bedgraph_writer_refuses_rows_out_of_order(tmp_path):
    rows = [ScoreRow("20", 100, 200, -1.2), ScoreRow("20", 150, 250, -1.3)]
    with pytest.raises(ConfigError, match="bedGraph intervals must be sorted and must not overlap: 20:151-250"):
        write_scores(rows, tmp_path / "x.bg", "mean_log_likelihood")
    rows = [ScoreRow("a", 0, 10, -1.0), ScoreRow("b", 0, 10, -1.0), ScoreRow("a", 20, 30, -1.0)]
    with pytest.raises(ConfigError, match="a:21-30 comes after b:1-10"):
        write_scores(rows, tmp_path / "x.bg", "mean_log_likelihood")
    assert list(tmp_path.iterdir()) == []
