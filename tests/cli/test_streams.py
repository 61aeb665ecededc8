"""The command line as samtools/bcftools users use it: `-` for stdin/stdout, short options, --version,
-v/-q, and the VCF header's provenance, on the real chr20 files."""

import hashlib
import os
import subprocess
import sys

import pysam
import pytest
import torch

from genosparse import __version__
from genosparse.cli.main import main
from genosparse.models import save_model

REGION = "20:30,000,001-30,000,200"


@pytest.fixture(scope="module")
def checkpoint(tiny_mlm, tmp_path_factory):
    return save_model(tiny_mlm, tmp_path_factory.mktemp("ckpt") / "tiny")


def genosparse(*args, stdin=None, code=None):
    """Run the console command in a child process (htslib writes standard output at the file-descriptor level)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-c", code, *map(str, args)] if code else \
        [sys.executable, "-m", "genosparse.cli.main", *map(str, args)]
    return subprocess.run(command, input=stdin, capture_output=True, env=env, timeout=600)


def test_version():
    for flag in ("--version", "-V"):
        result = genosparse(flag)
        assert result.returncode == 0 and result.stdout.decode() == f"genosparse {__version__}\n"


def test_vep_reads_stdin_and_writes_a_vcf_to_stdout(checkpoint, chr20, shared_data, tmp_path):
    source = shared_data / "variants" / "20.vcf.gz"  # plain gzip: `cat 20.vcf.gz | genosparse vep --vcf - -o -`
    result = genosparse("vep", "--checkpoint", checkpoint, "-f", chr20, "--vcf", "-", "-o", "-", "--window", "64",
                        "--no-rc-average", "--no-embedding", "--device", "cpu", "-@", "2", "-q",
                        stdin=source.read_bytes())
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr[-3000:]
    assert "wrote 300 records (300 ALT alleles, 300 scored" in stderr  # the summary leaves stdout to the data
    assert not [line for line in stderr.splitlines() if line.startswith("INFO")]  # -q: warnings and errors only
    assert "[W::" not in stderr  # htslib's header warnings were given (silenced) when reading
    out = tmp_path / "stdout.vcf"
    out.write_bytes(result.stdout)
    assert result.stdout.startswith(b"##fileformat=VCFv4.2\n")  # uncompressed, as `bcftools view -o -`
    with pysam.VariantFile(str(out)) as vcf:
        records = list(vcf)
        meta = {line.key: line.value for line in vcf.header.records if line.key.startswith("genosparse_")}
    assert len(records) == 300 and all(r.info["GS_FLAG"] == (".",) for r in records)
    assert meta["genosparse_version"] == __version__
    assert meta["genosparse_command"].startswith("genosparse vep --checkpoint ") and "--vcf - -o -" in \
        meta["genosparse_command"]
    digest = hashlib.sha256((checkpoint / "model.safetensors").read_bytes()).hexdigest()[:12]
    assert meta["genosparse_checkpoint"] == f"{checkpoint} (model.safetensors sha256:{digest})"


def test_a_truncated_vcf_on_stdin_is_named_standard_input(checkpoint, chr20, shared_data):
    data = (shared_data / "variants" / "20.vcf.gz").read_bytes()  # plain gzip, cut in half
    result = genosparse("vep", "--checkpoint", checkpoint, "-f", chr20, "--vcf", "-", "-o", "-", "--window", "64",
                        "--device", "cpu", "-q", stdin=data[:len(data) // 2])
    last = result.stderr.decode().strip().splitlines()[-1]
    assert result.returncode == 2 and result.stdout == b""
    assert last.startswith("genosparse vep: error: cannot decompress standard input: ") and "genosparse-vcf-" not in last


def test_score_and_track_write_tsv_and_bedgraph_to_stdout(checkpoint, chr20):
    common = ["--checkpoint", checkpoint, "-f", chr20, "-r", REGION, "--window", "64", "--device", "cpu", "-q"]
    score = genosparse("score", *common, "-o", "-")
    assert score.returncode == 0, score.stderr.decode()[-2000:]
    lines = score.stdout.decode().splitlines()
    assert lines[0] == "name\tstart\tend\tmean_log_likelihood\tflag\tchrom\tstrand" and len(lines) == 5
    assert lines[1].startswith("20\t30000000\t30000064\t") and "wrote 4 rows" in score.stderr.decode()
    device = os.lstat("/dev/stdout")  # a link to /proc/self/fd/1 (or the device): renaming onto it replaces it
    track = genosparse("track", *common, "-o", "/dev/stdout", "--format", "bedgraph")
    assert track.returncode == 0, track.stderr.decode()[-2000:]
    after = os.lstat("/dev/stdout")
    assert (after.st_ino, after.st_mode) == (device.st_ino, device.st_mode)
    rows = [line.split("\t") for line in track.stdout.decode().splitlines()[1:]]
    assert len(rows) == 200 and rows[0][:3] == ["20", "30000000", "30000001"] and rows[-1][2] == "30000200"


BLOCK_PYBIGWIG = "import sys; sys.modules['pyBigWig'] = None; from genosparse.cli.main import main; main(sys.argv[1:])"


def test_track_to_bedgraph_without_pybigwig_and_a_one_line_error_for_bigwig(checkpoint, chr20, tmp_path):
    common = ["track", "--checkpoint", checkpoint, "-f", chr20, "-r", REGION, "--window", "64", "--device", "cpu",
              "-q"]
    bedgraph = genosparse(*common, "-o", tmp_path / "t.bedgraph", code=BLOCK_PYBIGWIG)
    assert bedgraph.returncode == 0, bedgraph.stderr.decode()[-2000:]
    assert len((tmp_path / "t.bedgraph").read_text().splitlines()) == 201
    bigwig = genosparse(*common, "-o", tmp_path / "t.bw", code=BLOCK_PYBIGWIG)
    assert bigwig.returncode == 2 and "Traceback" not in bigwig.stderr.decode()
    assert bigwig.stderr.decode().strip().splitlines()[-1] == (
        "genosparse track: error: writing bigWig needs the Python package pyBigWig: pip install pyBigWig (or write "
        "bedGraph: --format bedgraph)")
    assert not (tmp_path / "t.bw").exists()


@pytest.mark.parametrize("command,extra,message", [
    ("score", ["-f", "-", "-o", "x.tsv"], "the FASTA cannot be read from standard input"),
    ("track", ["-f", "CHR20", "-o", "-", "--format", "bigwig"],
     "bigwig cannot be written to standard output (it needs a file it can seek in); give a file name, or --format "
     "bedgraph"),
    ("embed", ["-f", "CHR20", "-o", "-"], "npz cannot be written to standard output"),
    ("ism", ["-f", "CHR20", "-o", "-"], "give a file prefix, not standard output"),
])
def test_stream_errors_are_one_line(checkpoint, chr20, tmp_path, capsys, monkeypatch, command, extra, message):
    extra = [str(chr20) if arg == "CHR20" else arg for arg in extra]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--checkpoint", str(checkpoint), "-r", REGION, "--window", "64", "--device", "cpu", "-q",
              *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert list(tmp_path.iterdir()) == []  # nothing written (ism once left `-.tsv`)


def test_verbosity_and_threads(checkpoint, chr20, tmp_path, capsys, caplog, one_thread):
    args = ["score", "--checkpoint", str(checkpoint), "-f", str(chr20), "-r", REGION, "--window", "64",
            "--device", "cpu", "-o", str(tmp_path / "s.tsv")]
    caplog.set_level("DEBUG")
    try:
        main([*args, "-v", "-@", "2"])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    assert any(r.levelname == "DEBUG" and "threads=2" in r.getMessage() for r in caplog.records)
    assert any(r.levelname == "INFO" for r in caplog.records)
    caplog.clear()
    main([*args, "--quiet"])
    assert not [r for r in caplog.records if r.name.startswith("genosparse") and r.levelno < 30]
    assert "wrote 4 rows" in capsys.readouterr().out  # a file output: the summary stays on stdout
