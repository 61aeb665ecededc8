"""score of BED intervals on real chr20: names kept, a `-` interval scored as the reverse complement of
the reference (equal to scoring that sequence directly), long intervals tiled, bedGraph by contig."""

import pandas as pd
import pytest

from genosparse.cli.score import main
from genosparse.errors import ConfigError
from genosparse.genome import Genome
from genosparse.scoring.fasta import score_fasta, score_sequences
from genosparse.sequence.vocab import reverse_complement_str

ARGS = dict(window=64, rc_average=False, device="cpu", progress=False)


@pytest.fixture()
def bed(tmp_path):
    path = tmp_path / "peaks.bed"
    path.write_text("chr20\t30000000\t30000050\tfwd\t0\t+\n"
                    "20\t30000000\t30000050\trev\t0\t-\n"
                    "20\t30001000\t30001100\n")  # no name: the contig; 100 bases: two windows of 64 and 36
    return path


def test_bed_rows_are_named_and_minus_is_the_reverse_complement(tiny_mlm, chr20, bed, one_thread):
    rows = list(score_fasta(tiny_mlm, chr20, bed=bed, **ARGS))
    assert [(r.name, r.contig, r.start, r.end, r.strand) for r in rows] == [
        ("fwd", "20", 30_000_000, 30_000_050, "+"), ("rev", "20", 30_000_000, 30_000_050, "-"),
        ("20", "20", 30_001_000, 30_001_064, "+"), ("20", "20", 30_001_064, 30_001_100, "+")]
    seq = Genome(chr20).fetch("20", 30_000_000, 30_000_050)
    direct = {r.name: r.score for r in score_sequences({"f": seq, "r": reverse_complement_str(seq)}, tiny_mlm, **ARGS)}
    assert rows[0].score == direct["f"] and rows[1].score == direct["r"] and rows[0].score != rows[1].score
    with pytest.raises(ConfigError, match="not both"):
        list(score_fasta(tiny_mlm, chr20, bed=bed, regions=["20:1-100"], **ARGS))


def test_cli_writes_names_chrom_and_strand(checkpoint, chr20, bed, tmp_path, one_thread):
    out = tmp_path / "peaks.tsv"
    main(["--checkpoint", str(checkpoint), "-f", str(chr20), "--regions", str(bed), "-o", str(out), "--window", "64",
          "--device", "cpu", "--no-rc-average", "-q"])
    table = pd.read_csv(out, sep="\t", keep_default_na=False, dtype={"name": str, "chrom": str})
    assert table["name"].tolist() == ["fwd", "rev", "20", "20"] and table["strand"].tolist() == ["+", "-", "+", "+"]
    assert table["chrom"].tolist() == ["20"] * 4 and table["start"].tolist()[:2] == [30_000_000, 30_000_000]
    graph = tmp_path / "peaks.bedgraph"
    with pytest.raises(SystemExit):  # the + and - rows of one interval overlap: refused, nothing written
        main(["--checkpoint", str(checkpoint), "-f", str(chr20), "--regions", str(bed), "-o", str(graph),
              "--window", "64", "--device", "cpu", "-q"])
    assert not graph.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["peaks.bed", "peaks.tsv"]
