"""`genosparse train ... trainer.fast_dev_run=true` then `genosparse score`, as a user runs them."""

import json
import math
import subprocess
import sys

import pytest

from genosparse.sequence.labeled import read_labeled_tsv
from genosparse.tasks.curves import read_metric_series


def genosparse(*args, cwd):
    return subprocess.run([sys.executable, "-m", "genosparse.cli.main", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_mlm_train_then_score_a_region_of_chr20(tmp_path, chr20):
    run = tmp_path / "run"
    train = genosparse("train", "experiment=demo", f"data.fasta={chr20}", "trainer.fast_dev_run=true",
                       f"hydra.run.dir={run}", cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-3000:]
    assert (run / "checkpoint" / "model.safetensors").is_file()
    out = tmp_path / "scores.bedgraph"
    # 1-based inclusive region 30,000,001-30,005,000 = 0-based [30,000,000, 30,005,000)
    score = genosparse("score", "--checkpoint", run / "checkpoint", "--fasta", chr20, "--region",
                       "chr20:30,000,001-30,005,000", "--out", out, "--quiet", cwd=tmp_path)
    assert score.returncode == 0, score.stderr[-3000:]
    lines = out.read_text().splitlines()
    assert lines[0].startswith("track type=bedGraph")
    rows = [line.split("\t") for line in lines[1:]]
    assert [(r[0], int(r[1]), int(r[2])) for r in rows] == [
        ("20", 30_000_000, 30_002_048), ("20", 30_002_048, 30_004_096), ("20", 30_004_096, 30_005_000)]
    scores = [float(r[3]) for r in rows]
    assert all(math.log(1e-4) < s < 0 for s in scores), scores  # mean log-probability of a base
    assert "wrote 3 rows" in score.stdout


def test_promoter_train_then_score_short_records(tmp_path, shared_data):
    run = tmp_path / "run"
    train = genosparse("train", "experiment=promoter", f"data_dir={shared_data}", "trainer.max_steps=4",
                       "trainer.val_check_interval=2", "trainer.limit_val_batches=2", "trainer.log_every_n_steps=1",
                       f"hydra.run.dir={run}", cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-3000:]
    series = read_metric_series(run / "logs" / "metrics.csv")  # training curves: logged, plotted as a PNG
    assert len(series["train/loss"][0]) == 4 and len(series["val/loss"][0]) >= 2 and "val/mcc" in series
    assert (run / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"curves:     {run / 'training_curves.png'}" in train.stdout
    val = read_labeled_tsv(shared_data / "promoters" / "prom_core_val.tsv")
    fasta = tmp_path / "promoters.fa"
    fasta.write_text("".join(f">seq{i}\n{s}\n" for i, s in enumerate(val.sequences[:20])))
    out = tmp_path / "scores.tsv"
    score = genosparse("score", "--checkpoint", run / "checkpoint", "--fasta", fasta, "--out", out, "--quiet",
                       cwd=tmp_path)
    assert score.returncode == 0, score.stderr[-3000:]
    lines = out.read_text().splitlines()
    assert lines[0] == "name\tstart\tend\tprobability\tflag\tchrom\tstrand"
    rows = [line.split("\t") for line in lines[1:]]
    assert [r[0] for r in rows] == [f"seq{i}" for i in range(20)]
    assert all(r[1] == "0" and r[2] == "70" and 0 < float(r[3]) < 1 for r in rows)


def test_score_errors_are_clear_and_write_nothing(tmp_path, chr20):
    out = tmp_path / "x.tsv"
    result = genosparse("score", "--checkpoint", tmp_path / "nope", "--fasta", chr20, "--out", out, cwd=tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,message", [
    (["train", "attention=longformer"], "longformer"),
    (["frobnicate"], "unknown command"),
])
def test_bad_commands(tmp_path, args, message):
    result = genosparse(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory):
    from genosparse.attention import AttentionConfig
    from genosparse.models import GenomicModel, ModelConfig, save_model

    path = tmp_path_factory.mktemp("ckpt") / "mlm"
    att = AttentionConfig(block_size=32, backend="torch")
    save_model(GenomicModel(ModelConfig(head="mlm", d_model=32, num_layers=1, num_heads=2, context_length=256,
                                        attention=att)), path)
    return path


@pytest.mark.parametrize("extra,message", [
    (["--batch-size", "0"], "must be >= 1"),
    (["--window", "-5"], "must be >= 1"),
    (["--device", "bogus"], "unknown device"),
    (["--region", "20:1-99999999999"], "extends past the end of contig 20"),
    (["--region", "20:,-5"], "cannot parse region"),
])
def test_score_option_errors(tmp_path, chr20, tiny_mlm, extra, message):
    out = tmp_path / "o.tsv"
    result = genosparse("score", "--checkpoint", tiny_mlm, "--fasta", chr20, "--out", out, *extra, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_score_out_is_a_directory(tmp_path, chr20, tiny_mlm):
    result = genosparse("score", "--checkpoint", tiny_mlm, "--fasta", chr20, "--out", tmp_path, cwd=tmp_path)
    assert result.returncode == 2 and "is a directory" in result.stderr


def test_sigterm_leaves_no_partial_output(tmp_path, chr20, tiny_mlm):
    import signal
    import time

    out = tmp_path / "o.bedgraph"
    proc = subprocess.Popen([sys.executable, "-m", "genosparse.cli.main", "score", "--checkpoint", str(tiny_mlm),
                             "--fasta", str(chr20), "--region", "20:30,000,001-40,000,000", "--out", str(out),
                             "--quiet"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(tmp_path.glob(".o.bedgraph.*")) and time.time() < deadline:
        time.sleep(0.2)
    assert list(tmp_path.glob(".o.bedgraph.*")), "scoring never started"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
    assert proc.stderr.read().strip().splitlines()[-1] == (
        "genosparse score: stopped by SIGTERM; no output file written (data already sent to standard output is "
        "incomplete)")


def test_train_config_errors_exit_2_with_one_line(tmp_path, chr20):
    result = genosparse("train", "experiment=demo", f"data.fasta={chr20}", "model.num_heads=3",
                        f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2
    assert "d_model=64 must be divisible by num_heads=3" in result.stderr
    assert "Traceback" not in result.stderr


def test_binary_labels_are_checked(tmp_path, shared_data):
    bad = tmp_path / "bad.tsv"
    bad.write_text("sequence\tlabel\nACGTACGT\t1\nACGTACGA\t2\n")
    result = genosparse("train", "experiment=promoter", f"data_dir={shared_data}", f"data.train={bad}",
                        f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2 and "not 0 or 1" in result.stderr and str(bad) in result.stderr


def test_every_attention_pattern_trains_from_the_cli(tmp_path, shared_data):
    """`genosparse train attention=<name>` for all seven patterns, as one Hydra multirun."""
    patterns = ["window", "bigbird", "dilated", "fixed", "learned", "lsh", "dense"]
    sweep = tmp_path / "sweep"
    train = genosparse("train", "-m", "experiment=promoter", f"attention={','.join(patterns)}",
                       f"data_dir={shared_data}", "trainer.fast_dev_run=true", f"hydra.sweep.dir={sweep}",
                       cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-3000:]
    for job, pattern in enumerate(patterns):
        config = json.loads((sweep / str(job) / "checkpoint" / "config.json").read_text())
        assert config["model"]["attention"]["pattern"] == pattern
