"""An output that cannot be written: the error names the user's path, never the writer's hidden
temporary file beside it (``.<name>.<random>.part``)."""

import os

import pytest

from genosparse.cli.common import user_message
from genosparse.cli.main import main
from genosparse.models import save_model

UNWRITABLE = "/sys"  # sysfs: no new files, not even for root


@pytest.fixture(scope="module")
def checkpoint(tiny_mlm, tmp_path_factory):
    return save_model(tiny_mlm, tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.mark.parametrize("command,out,extra", [
    ("score", "x.tsv", ["--region", "20:30,000,001-30,000,128"]),
    ("track", "x.bw", ["--region", "20:30,000,001-30,000,128"]),
    ("vep", "x.vcf.gz", ["--vcf", "VCF"]),
])
def test_unwritable_output_is_named_as_given(checkpoint, chr20, shared_data, capsys, command, out, extra):
    assert os.path.isdir(UNWRITABLE)
    extra = [str(shared_data / "variants" / "20.vcf.gz") if arg == "VCF" else arg for arg in extra]
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--checkpoint", str(checkpoint), "--fasta", str(chr20), "--out", f"{UNWRITABLE}/{out}",
              "--window", "64", "--device", "cpu", "--quiet", *extra])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_info.value.code == 2
    assert err.startswith(f"genosparse {command}: error: ") and f"'{UNWRITABLE}/{out}'" in err, err
    assert ".part" not in err and f"/.{out}." not in err


def test_user_message_rewrites_every_hidden_form():
    cases = {
        "[Errno 13] Permission denied: '/data/.x.tsv.k2jd_9ab.part'": "[Errno 13] Permission denied: '/data/x.tsv'",
        "[Errno 2] No such file: '/d/.o.vcf.gz.w_klkqnl/o.vcf.gz'": "[Errno 2] No such file: '/d/o.vcf.gz'",
        "cannot write /d/.a.bw.0gpperu6.part: disk full": "cannot write /d/a.bw: disk full",
        "[Errno 13] Permission denied: '/d/.hidden'": "[Errno 13] Permission denied: '/d/.hidden'",
    }
    for raw, shown in cases.items():
        assert user_message(OSError(raw)) == shown
