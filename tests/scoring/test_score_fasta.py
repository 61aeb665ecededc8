"""score_fasta and the writers."""

import math

import pytest
import torch

from genosparse.attention import AttentionConfig
from genosparse.errors import FastaError
from genosparse.genome import Genome
from genosparse.models import GenomicModel, ModelConfig
from genosparse.scoring import atomic_output, mean_log_likelihood, score_fasta, write_scores
from genosparse.scoring.scorers import mlm_log_likelihood
from genosparse.sequence.vocab import encode


@pytest.fixture(scope="module")
def mlm_model():
    torch.manual_seed(0)
    att = AttentionConfig(block_size=16, num_global_blocks=2, num_random_blocks=1, backend="torch")
    return GenomicModel(ModelConfig(head="mlm", d_model=32, num_layers=1, num_heads=2, dropout=0.0,
                                    context_length=64, attention=att)).eval()


@pytest.fixture
def fasta(tmp_path):
    g = torch.Generator().manual_seed(1)
    seqs = {"short1": 40, "short2": 57, "long": 150, "short3": 40}
    records = {name: "".join("ACGT"[i] for i in torch.randint(0, 4, (n,), generator=g)) for name, n in seqs.items()}
    records["gap"] = "N" * 30
    path = tmp_path / "x.fa"
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()))
    return path, records


def test_rows_cover_records_in_order_with_exact_scores(mlm_model, fasta):
    path, records = fasta
    rows = list(score_fasta(mlm_model, path, batch_size=2, progress=False, device="cpu"))
    assert [(r.name, r.start, r.end) for r in rows] == [
        ("short1", 0, 40), ("short2", 0, 57), ("long", 0, 64), ("long", 64, 128), ("long", 128, 150),
        ("short3", 0, 40), ("gap", 0, 30)]
    assert rows[-1].flag == "all_N" and math.isnan(rows[-1].score)
    with torch.inference_mode():
        for row in rows[:-1]:
            tokens = torch.from_numpy(encode(records[row.name][row.start:row.end]))[None]
            expected = mean_log_likelihood(mlm_model, tokens, rc_average=True).item()
            assert row.score == pytest.approx(expected, abs=1e-5) and row.flag == ""


def test_each_base_is_predicted_once(mlm_model):
    tokens = torch.from_numpy(encode("ACGTNACGTTTGCA"))[None]
    ll = mlm_log_likelihood(mlm_model, tokens, num_passes=3)
    assert torch.isnan(ll[0, 4]) and torch.isfinite(ll[0, torch.arange(14) != 4]).all()
    assert (ll[0, torch.arange(14) != 4] < 0).all()


def test_regions_and_errors(mlm_model, fasta):
    path, _ = fasta
    rows = list(score_fasta(mlm_model, path, regions=["long:11-100"], progress=False, device="cpu"))
    assert [(r.start, r.end) for r in rows] == [(10, 74), (74, 100)]
    with pytest.raises(FastaError, match="long"):
        list(score_fasta(mlm_model, path, regions=["long:100-151"], progress=False, device="cpu"))
    with pytest.raises(FastaError, match="close names"):
        list(score_fasta(mlm_model, Genome(path), regions=["lnog"], progress=False, device="cpu"))
    with pytest.raises(FastaError, match="cannot parse region"):
        list(score_fasta(mlm_model, path, regions=["long:5"], progress=False, device="cpu"))


def test_writers(mlm_model, fasta, tmp_path):
    path, _ = fasta
    rows = list(score_fasta(mlm_model, path, progress=False, device="cpu"))
    summary = write_scores(rows, tmp_path / "s.bedgraph", "mean_log_likelihood")
    lines = (tmp_path / "s.bedgraph").read_text().splitlines()
    assert len(lines) == 1 + 6 and not any(line.startswith("gap") for line in lines)
    assert summary["rows"] == 7 and summary["flagged"] == 1
    write_scores(rows, tmp_path / "s.tsv", "mean_log_likelihood")
    tsv = (tmp_path / "s.tsv").read_text().splitlines()
    assert tsv[-1].split("\t") == ["gap", "0", "30", "nan", "all_N", "gap", "+"]


def test_failed_write_leaves_no_file(tmp_path):
    def rows():
        yield from ()
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_scores(rows(), tmp_path / "out.tsv", "x")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(tmp_path / "ok.txt") as out:
        out.write("done")
    assert (tmp_path / "ok.txt").read_text() == "done" and len(list(tmp_path.iterdir())) == 1
