"""`vep` and `track` killed part-way (SIGTERM, SIGKILL), then run again with `--resume`.

A tiny untrained checkpoint (``checkpoint``, root conftest) and one window per batch make
several chunks of real inputs (chr20's 300-SNV call set: 10 chunks of 32 records; 10 kb of chr20
with 64-base windows: 20 chunks of 16 windows); the reference output is an uninterrupted run's.
"""

import gzip
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pytest
import torch

from genosparse.errors import ConfigError
from genosparse.models import load_model, save_model
from genosparse.scoring import resume
from genosparse.scoring.resume import ChunkStore, model_identity, state_folder
from genosparse.scoring.track_writers import write_score_track
from genosparse.scoring.vep import annotate_vcf

VEP = dict(window=64, batch_size=1, embedding=False, device="cpu", progress=False)
REGION = "20:30,000,001-30,010,000"
TRACK = dict(regions=[REGION], window=64, batch_size=1, rc_average=False, device="cpu", progress=False)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """In-process runs on one thread, as the subprocesses (OMP_NUM_THREADS=1)."""


@pytest.fixture(scope="module")
def calls(shared_data) -> Path:
    return shared_data / "variants" / "20.vcf.gz"


def vep_args(checkpoint, chr20, calls, out, fmt):
    return ["vep", "--checkpoint", checkpoint, "--fasta", chr20, "--vcf", calls, "--out", out, "--format", fmt,
            "--window", "64", "--batch-size", "1", "--no-embedding", "--device", "cpu"]


def track_args(checkpoint, chr20, out):
    return ["track", "--checkpoint", checkpoint, "--fasta", chr20, "--region", REGION, "--out", out, "--window", "64",
            "--batch-size", "1", "--no-rc-average", "--device", "cpu"]


def without_command(vcf: Path) -> bytes:
    """The decompressed VCF less its ``##genosparse_command`` line, which records each run's own command
    line (the resumed one adds --resume); every other byte must match."""
    return b"".join(line for line in gzip.decompress(vcf.read_bytes()).splitlines(keepends=True)
                    if not line.startswith(b"##genosparse_command="))


def run(args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "genosparse.cli.main", *map(str, args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def killed_and_resumed(args, out: Path, chunks: int, sig: int, total: int) -> tuple[str, str, int]:
    """Run ``args``, send ``sig`` once ``chunks`` chunk files exist, check that only the state is left
    (no output, no partial file), run again with ``--resume`` and check that it computed only the
    ``total - kept`` chunks the killed run had not, and removed the state.

    Returns:
        (the killed run's stderr, the resumed run's stderr, chunks the killed run left).
    """
    state = state_folder(out)
    process = run(args)
    deadline = time.monotonic() + 120
    while len(list(state.glob("chunk-*.npz"))) < chunks:
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(sig)
    _, stopped = process.communicate(timeout=120)
    assert process.returncode == (143 if sig == signal.SIGTERM else -sig) and "Traceback" not in stopped
    kept = len(list(state.glob("chunk-*.npz")))
    assert chunks <= kept < total
    assert sorted(p.name for p in out.parent.iterdir()) == [state.name]
    process = run([*args, "--resume"])
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    assert chunk_counts(err) == (total, kept, total - kept)
    assert not state.exists()
    return stopped, err, kept


def chunk_counts(log_text: str) -> tuple[int, int, int]:
    """(all, from the state, computed now) of the line the store logs when every chunk is done."""
    line = next(line for line in log_text.splitlines() if "chunks done: " in line)
    words = line.split("all ")[1].replace(",", "").split()
    return int(words[0]), int(words[3]), int(words[8])


@pytest.fixture(scope="module")
def vep_reference(checkpoint, chr20, calls, tmp_path_factory):
    """Uninterrupted outputs (TSV, VCF) and the chunk count, from the library in this process."""
    folder = tmp_path_factory.mktemp("vep_reference")
    counts = [annotate_vcf(checkpoint, chr20, calls, folder / f"ref.{fmt}", fmt=fmt.split(".")[0], **VEP)
              for fmt in ("tsv", "vcf.gz")]
    assert counts[0]["scored"] == 300
    return folder, 10  # chunks: 300 SNVs at distinct positions, 32 (CHUNK * batch size 1) a chunk


def test_vep_sigterm_then_resume_gives_the_uninterrupted_tsv(checkpoint, chr20, calls, vep_reference, tmp_path):
    reference, total = vep_reference
    out = tmp_path / "scores.tsv"
    stopped, err, kept = killed_and_resumed(vep_args(checkpoint, chr20, calls, out, "tsv"), out, 2, signal.SIGTERM,
                                            total)
    assert (f"stopped with {kept} chunks done, kept in {state_folder(out)}: run the same command again with "
            f"--resume") in stopped
    assert f"resuming from {state_folder(out)}: {kept} chunks done (VCF records 1-{32 * kept})" in err
    assert out.read_bytes() == (reference / "ref.tsv").read_bytes()


def test_vep_sigkill_then_resume_gives_the_uninterrupted_vcf(checkpoint, chr20, calls, vep_reference, tmp_path):
    reference, total = vep_reference
    out = tmp_path / "scores.vcf.gz"
    killed_and_resumed(vep_args(checkpoint, chr20, calls, out, "vcf"), out, 3, signal.SIGKILL, total)
    assert without_command(out) == without_command(reference / "ref.vcf.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.vcf.gz", "scores.vcf.gz.tbi"]


@pytest.fixture(scope="module")
def track_reference(checkpoint, chr20, tmp_path_factory):
    folder = tmp_path_factory.mktemp("track_reference")
    for name in ("ref.bedgraph", "ref.bw"):
        summary = write_score_track(checkpoint, chr20, folder / name, **TRACK)
        assert summary["bases"] == 10_000
    return folder, 20  # chunks: 312 windows of 64 bases every 32 over 10 kb, 16 (STREAM_CHUNK * 1) a chunk


def bigwig_intervals(path: Path) -> list[tuple[int, int, float]]:
    with pyBigWig.open(str(path)) as bw:
        assert bw.chroms() == {"20": 63_025_520}
        return bw.intervals("20")


def test_track_sigterm_then_resume_gives_the_uninterrupted_bedgraph(checkpoint, chr20, track_reference, tmp_path):
    reference, total = track_reference
    out = tmp_path / "ll.bedgraph"
    stopped, err, kept = killed_and_resumed(track_args(checkpoint, chr20, out), out, 4, signal.SIGTERM, total)
    assert "--resume" in stopped and f"{kept} chunks done (windows 1-{16 * kept})" in err
    assert out.read_bytes() == (reference / "ref.bedgraph").read_bytes()


def test_track_sigkill_then_resume_gives_the_uninterrupted_bigwig(checkpoint, chr20, track_reference, tmp_path):
    reference, total = track_reference
    out = tmp_path / "ll.bw"
    killed_and_resumed(track_args(checkpoint, chr20, out), out, 4, signal.SIGKILL, total)
    got, want = bigwig_intervals(out), bigwig_intervals(reference / "ref.bw")
    assert len(got) == 10_000 and got == want
    assert out.read_bytes() == (reference / "ref.bw").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ll.bw"]


def interrupted(monkeypatch, saves: int, job) -> None:
    """Run ``job()`` with the store's ``saves + 1``-th save raising KeyboardInterrupt (Ctrl-C in the library)."""
    save, count = ChunkStore.save, [0]

    def counted(self, arrays, stop):
        count[0] += 1
        if count[0] > saves:
            raise KeyboardInterrupt
        save(self, arrays, stop)

    with monkeypatch.context() as patch:
        patch.setattr(ChunkStore, "save", counted)
        with pytest.raises(KeyboardInterrupt):
            job()


def test_vep_resume_refuses_other_settings_and_replaces_the_state_without_it(
        checkpoint, chr20, calls, vep_reference, tmp_path, monkeypatch, caplog):
    reference, total = vep_reference
    out = tmp_path / "scores.tsv"
    interrupted(monkeypatch, 3, lambda: annotate_vcf(checkpoint, chr20, calls, out, fmt="tsv", **VEP))
    assert len(list(state_folder(out).glob("chunk-*.npz"))) == 3
    with pytest.raises(ConfigError) as err:
        annotate_vcf(checkpoint, chr20, calls, out, fmt="tsv", resume=True, **{**VEP, "window": 32})
    assert f"cannot resume from {state_folder(out)}" in str(err.value)
    assert "window 64 then, 32 now" in str(err.value) and "drop --resume" in str(err.value)
    other = save_model(load_model(checkpoint), tmp_path / "other")  # the same weights elsewhere: resumable
    with torch.no_grad():
        changed = load_model(checkpoint)
        next(changed.parameters()).add_(1)
    with pytest.raises(ConfigError, match="model.weights_sha256"):
        annotate_vcf(changed, chr20, calls, out, fmt="tsv", resume=True, **VEP)
    assert not out.exists() and len(list(state_folder(out).glob("chunk-*.npz"))) == 3
    with caplog.at_level(logging.INFO, logger="genosparse.scoring.resume"):
        annotate_vcf(other, chr20, calls, out, fmt="tsv", resume=True, **VEP)
    assert f"resuming from {state_folder(out)}: 3 chunks done" in caplog.text
    assert chunk_counts(caplog.text) == (total, 3, total - 3)
    assert out.read_bytes() == (reference / "ref.tsv").read_bytes() and not state_folder(out).exists()

    caplog.clear()
    interrupted(monkeypatch, 2, lambda: annotate_vcf(checkpoint, chr20, calls, out, fmt="tsv", **VEP))
    with caplog.at_level(logging.INFO, logger="genosparse.scoring.resume"):
        annotate_vcf(checkpoint, chr20, calls, out, fmt="tsv", **VEP)  # without resume: from zero
    assert f"replacing the resume state {state_folder(out)}" in caplog.text
    assert chunk_counts(caplog.text) == (total, 0, total)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="genosparse.scoring.resume"):
        annotate_vcf(checkpoint, chr20, calls, out, fmt="tsv", resume=True, **VEP)
    assert f"no resume state in {state_folder(out)}: starting from zero" in caplog.text
    assert out.read_bytes() == (reference / "ref.tsv").read_bytes()


def test_track_resume_refuses_other_settings(checkpoint, chr20, track_reference, tmp_path, monkeypatch):
    out = tmp_path / "ll.bedgraph"
    interrupted(monkeypatch, 2, lambda: write_score_track(checkpoint, chr20, out, **TRACK))
    for change, named in [({"stride": 16}, "stride 32 then, 16 now"), ({"regions": ["20:30,000,001-30,020,000"]},
                                                                         "spans.sha256"),
                          ({"bin_size": 10}, "bin_size 1 then, 10 now"), ({"fmt": "bigwig"}, "format")]:
        with pytest.raises(ConfigError, match=named):
            write_score_track(checkpoint, chr20, out, resume=True, **{**TRACK, **change})
    assert len(list(state_folder(out).glob("chunk-*.npz"))) == 2
    write_score_track(checkpoint, chr20, out, resume=True, **TRACK)
    assert out.read_bytes() == (track_reference[0] / "ref.bedgraph").read_bytes()


def test_a_second_run_on_the_same_output_is_refused_while_the_first_holds_the_state(tmp_path):
    """Two runs writing one output would mix their chunks: the second stops at once, naming the output."""
    out = tmp_path / "scores.tsv"
    manifest = {"job": "vep", "window": 64}
    with ChunkStore.open(out, manifest, False, "VCF records") as first:
        with pytest.raises(ConfigError, match=f"another genosparse run is writing {out}"):
            ChunkStore.open(out, manifest, True, "VCF records")
        first.save({"values": np.zeros(1)}, 1)
        assert sorted(p.name for p in first.folder.iterdir()) == [".lock", "chunk-000000.npz", "manifest.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # state and lock file removed
    with ChunkStore.open(out, manifest, False, "VCF records"):  # free again
        pass


def test_an_edited_vcf_of_the_same_size_and_time_is_refused(checkpoint, chr20, calls, tmp_path, monkeypatch):
    """The manifest sees path, size and mtime only; each cached ALT is checked against the VCF's REF>ALT."""
    text = gzip.decompress(calls.read_bytes()).decode().splitlines(keepends=True)
    vcf = tmp_path / "calls.vcf"
    vcf.write_text("".join(text))
    out = tmp_path / "scores.tsv"
    interrupted(monkeypatch, 2, lambda: annotate_vcf(checkpoint, chr20, vcf, out, fmt="tsv", **VEP))
    stat = vcf.stat()
    first = next(k for k, line in enumerate(text) if not line.startswith("#"))
    fields = text[first].split("\t")
    fields[4] = next(base for base in "ACGT" if base not in (fields[3], fields[4]))  # another ALT, same length
    text[first] = "\t".join(fields)
    vcf.write_text("".join(text))
    os.utime(vcf, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(ConfigError, match=r"does not fit the input: .* no score for ALT [ACGT] of record 1 "):
        annotate_vcf(checkpoint, chr20, vcf, out, fmt="tsv", resume=True, **VEP)
    assert not out.exists()


def test_no_state_for_streams_and_non_file_inputs_and_resume_refused_there(checkpoint, chr20, calls, vep_reference,
                                                                            tmp_path, monkeypatch, capfd):
    """Standard output, a DataFrame and --devices keep no state (the job streams, nothing is left
    beside the output); --resume there is refused naming why, before any scoring."""
    lines = [line.split("\t") for line in gzip.decompress(calls.read_bytes()).decode().splitlines()
             if not line.startswith("#")]
    frame = pd.DataFrame([(f[0], int(f[1]), f[3], f[4]) for f in lines], columns=["chrom", "pos", "ref", "alt"])
    out = tmp_path / "scores.tsv"
    annotate_vcf(checkpoint, chr20, frame, out, fmt="tsv", **VEP)
    assert out.read_bytes() == (vep_reference[0] / "ref.tsv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.tsv"]
    with pytest.raises(ConfigError, match=r"cannot resume: the VCF is not a file \(standard input, a DataFrame"):
        annotate_vcf(checkpoint, chr20, frame, tmp_path / "again.tsv", fmt="tsv", resume=True, **VEP)
    monkeypatch.chdir(tmp_path)
    capfd.readouterr()
    annotate_vcf(checkpoint, chr20, calls, "-", fmt="tsv", **VEP)
    assert capfd.readouterr().out.encode() == (vep_reference[0] / "ref.tsv").read_bytes()
    with pytest.raises(ConfigError, match="cannot resume: the output is standard output, not a file"):
        annotate_vcf(checkpoint, chr20, calls, "-", fmt="tsv", resume=True, **VEP)
    with pytest.raises(ConfigError, match="cannot resume: --devices predicts through Lightning"):
        write_score_track(checkpoint, chr20, tmp_path / "ll.bedgraph", resume=True, devices=1, **TRACK)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.tsv"]


def test_a_chunk_that_does_not_fit_is_refused_and_an_empty_one_computed_again(checkpoint, chr20, track_reference,
                                                                                tmp_path, monkeypatch, caplog):
    """A cached chunk is checked against the windows it stands for before its values are used; an
    unreadable one (a power cut can leave a renamed file empty) is dropped and computed again."""
    out = tmp_path / "ll.bedgraph"
    interrupted(monkeypatch, 2, lambda: write_score_track(checkpoint, chr20, out, **TRACK))
    chunk = state_folder(out) / "chunk-000001.npz"
    with np.load(chunk) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["start"] = arrays["start"] + 1
    with open(chunk, "wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(ConfigError, match=r"does not fit the input: its chunk of windows 17-32 has values for "
                                          r"20:30,000,530-30,000,560 where"):
        write_score_track(checkpoint, chr20, out, resume=True, **TRACK)
    chunk.write_bytes(b"")
    with caplog.at_level(logging.INFO, logger="genosparse.scoring.resume"):
        write_score_track(checkpoint, chr20, out, resume=True, **TRACK)
    assert f"dropping {chunk}: unreadable" in caplog.text and "1 chunks done (windows 1-16)" in caplog.text
    assert out.read_bytes() == (track_reference[0] / "ref.bedgraph").read_bytes()


def test_model_identity_follows_the_weights(checkpoint):
    model = load_model(checkpoint)
    first = model_identity(model)
    assert first == model_identity(load_model(checkpoint))
    with torch.no_grad():
        model.backbone.embed.weight[0, 0] += 1e-6
    assert model_identity(model)["weights_sha256"] != first["weights_sha256"]
    assert resume.file_identity(checkpoint / "config.json")["size"] == (checkpoint / "config.json").stat().st_size
