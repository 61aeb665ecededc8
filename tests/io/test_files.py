"""genosparse.io.files: atomic outputs, streams that are never replaced, stdin spooled to a file."""

import os
import stat
import subprocess
import sys

import pytest

from genosparse.io import atomic_folder, atomic_output, atomic_path, is_stream, spool_input


def test_atomic_output_renames_only_on_success_and_keeps_the_usual_permissions(tmp_path):
    out = tmp_path / "sub" / "x.tsv"
    with pytest.raises(RuntimeError):
        with atomic_output(out) as handle:
            handle.write("half")
            raise RuntimeError("killed")
    assert not out.exists() and os.listdir(out.parent) == []  # no temporary folder left either
    with atomic_output(out) as handle:
        handle.write("a\tb\n")
    assert out.read_text() == "a\tb\n" and os.listdir(out.parent) == ["x.tsv"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_a_symbolic_link_is_followed_not_replaced(tmp_path):
    target = tmp_path / "data.tsv"
    target.write_text("old\n")
    link = tmp_path / "link.tsv"
    link.symlink_to(target)
    with atomic_output(link) as handle:
        handle.write("new\n")
    assert link.is_symlink() and target.read_text() == "new\n"


def test_a_device_is_written_directly_never_replaced(tmp_path):
    assert is_stream("-") and is_stream("/dev/null") and not is_stream(tmp_path) and not is_stream(tmp_path / "x")
    assert is_stream("/dev/stdout") and is_stream("/dev/fd/1") and is_stream("/proc/self/fd/2")
    assert not is_stream("/dev/shm/scores.tsv")  # a regular file on a tmpfs: written atomically
    with atomic_output("/dev/null") as handle:
        handle.write("discarded\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    with pytest.raises(ValueError, match="not a regular file"):
        with atomic_path("/dev/null"):
            pass


WRITE_DEV_STDOUT = """
import os, sys
from genosparse.io import atomic_output
before = os.lstat('/dev/stdout')
with atomic_output('/dev/stdout') as out:
    out.write('through fd 1\\n')
after = os.lstat('/dev/stdout')
print(before.st_ino == after.st_ino and before.st_mode == after.st_mode, file=sys.stderr)
"""


def test_dev_stdout_is_written_through_never_replaced(tmp_path):
    """As root, renaming a file onto /dev/stdout would replace the link (or device) itself."""
    piped = subprocess.run([sys.executable, "-c", WRITE_DEV_STDOUT], capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == "through fd 1\n" and piped.stderr.strip() == "True"
    with open(tmp_path / "redirected.txt", "w") as file:  # `> redirected.txt`: fd 1 is a regular file
        redirected = subprocess.run([sys.executable, "-c", WRITE_DEV_STDOUT], stdout=file, stderr=subprocess.PIPE,
                                    text=True, timeout=120)
    assert redirected.stderr.strip() == "True"
    assert (tmp_path / "redirected.txt").read_text() == "through fd 1\n" and os.listdir(tmp_path) == ["redirected.txt"]


def test_atomic_folder_replaces_a_folder_whole(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "stale.txt").write_text("x")
    with pytest.raises(RuntimeError):
        with atomic_folder(folder) as tmp:
            (tmp / "model.safetensors").write_bytes(b"half")
            raise RuntimeError
    assert os.listdir(folder) == ["stale.txt"]
    with atomic_folder(folder) as tmp:
        (tmp / "config.json").write_text("{}")
    assert os.listdir(folder) == ["config.json"] and sorted(os.listdir(tmp_path)) == ["ckpt"]


def test_spool_input_copies_stdin_and_fifos(tmp_path):
    regular = tmp_path / "in.vcf"
    regular.write_text("x")
    assert spool_input(regular, tmp_path) == regular
    code = ("import sys; from genosparse.io import spool_input\n"
            "print(open(spool_input('-', sys.argv[1])).read(), end='')\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], input="##fileformat=VCFv4.2\n",
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "##fileformat=VCFv4.2\n"
