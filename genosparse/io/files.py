"""Output files written atomically, standard streams, and spooled inputs: the one place outputs are opened.

Every output goes through :func:`atomic_output` (a handle) or :func:`atomic_path` (a path, for
writers that open files by name: pysam, libBigWig, safetensors, Lightning), or
:func:`atomic_folder` (a folder of files): the data is written to a hidden temporary folder
beside the target, ``<dir>/.<name>.<8 random>/<name>``, and renamed onto the target only when the
block succeeds, so a failed or interrupted run leaves no half-written output, and a reader never
sees one. Permissions are the usual ``0666``/``0777`` less the umask.

Streams: ``-`` is standard output, and names of file descriptors (``/dev/stdout``) and targets
that exist and are not regular files (``/dev/null``, a FIFO, a socket) are written directly: never atomically, and never replaced by a file (renaming onto ``/dev/stdout`` as root
would replace the device). :func:`is_stream` tells them apart. A symbolic link to a regular
file is followed: the file it points to is replaced, the link stays.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterator

STDIO = "-"
"""The name of standard input or output on the command line."""


_DESCRIPTOR = re.compile(r"/dev/(stdin|stdout|stderr|fd/\d+)|/proc/(self|thread-self|\d+)/fd/\d+")
"""Names of a file descriptor, whatever it is open on (a pipe, a terminal or a regular file)."""


def is_stream(path: str | os.PathLike) -> bool:
    """True for ``-``, for a file descriptor's name (``/dev/stdout``, ``/dev/fd/3``, ``/proc/self/fd/1``:
    links to whatever the descriptor is open on, a pipe or a file), and for an existing target that
    is not a regular file (device, FIFO, socket)."""
    if str(path) == STDIO or _DESCRIPTOR.fullmatch(os.path.abspath(path)):
        return True
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def display_name(path: str | os.PathLike) -> str:
    """``path`` for messages: ``standard output`` for ``-``."""
    return "standard output" if str(path) == STDIO else str(path)


def _target(path: str | os.PathLike) -> Path:
    """The regular file a rename must replace: ``path`` with symbolic links followed."""
    return Path(os.path.realpath(path))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _temporary_folder(target: Path) -> Iterator[Path]:
    """A private folder ``<dir>/.<name>.<random>`` beside ``target``, removed with what is left in it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, commit: bool = True) -> Iterator[Path]:
    """A temporary path to write ``path`` to, by name; renamed onto ``path`` when the block succeeds.

    The temporary path has ``path``'s file name (extensions intact) inside a hidden folder beside
    it, so writers that add files next to theirs (an index) can write them there too.

    Args:
        path: the output; a symbolic link is followed (its target is replaced).
        commit: False to discard what was written (e.g. on a DDP rank that writes nothing).
    Raises:
        IsADirectoryError: ``path`` is a directory.
        ValueError: ``path`` is a stream (``-``, a device, a FIFO), which cannot be renamed onto;
            writers that can stream check :func:`is_stream` first.
    """
    if is_stream(path):
        raise ValueError(f"{display_name(path)} is not a regular file; it cannot be written atomically")
    target = _target(path)
    if target.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name")
    with _temporary_folder(target) as folder:
        tmp = folder / target.name
        yield tmp
        if commit:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp-style writers create 0600 files
            os.replace(tmp, target)


def remove_leftovers(path: str | os.PathLike) -> None:
    """Remove the temporary folders a killed writer of ``path`` left beside it (``.<name>.<8 random>/``).

    Only for a caller that knows no other process is writing ``path`` now (e.g. under a lock).
    """
    target = _target(path)
    for folder in target.parent.glob(f".{glob.escape(target.name)}.????????"):
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """An open handle (text ``"w"`` or binary ``"wb"``) whose data lands at ``path`` only if the block succeeds.

    A stream (see the module doc) is written directly: ``-`` yields ``sys.stdout`` (its binary
    buffer for ``"wb"``; flushed, not closed), a device or FIFO is opened as it is. Then a failed
    run may have written part of its output to the stream.
    """
    if str(path) == STDIO:
        handle = sys.stdout.buffer if "b" in mode else sys.stdout
        try:
            yield handle
        finally:
            handle.flush()
        return
    if is_stream(path):
        with open(path, mode) as handle:
            yield handle
        return
    with atomic_path(path) as tmp, open(tmp, mode) as handle:
        yield handle


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder whose files become the folder ``path`` when the block succeeds.

    An existing ``path`` is replaced (removed, then the new folder renamed onto it).

    Raises:
        NotADirectoryError: ``path`` exists and is a file or a stream.
    """
    target = _target(path)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a folder; give a folder name")
    with _temporary_folder(target) as folder:
        content = folder / target.name
        content.mkdir()
        yield content
        umask = _umask()
        os.chmod(content, 0o777 & ~umask)
        for file in content.rglob("*"):
            os.chmod(file, (0o777 if file.is_dir() else 0o666) & ~umask)
        if target.exists():
            shutil.rmtree(target)
        os.replace(content, target)


def spool_input(path: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """An input that must be read more than once, as a regular file.

    ``-`` (standard input) and streams (a FIFO such as ``<(bcftools view ...)``, ``/dev/stdin``)
    are copied into ``folder`` (the caller removes it); a regular file is returned as it is.
    """
    if not is_stream(path):
        return Path(path)
    copy = Path(folder) / "stdin"
    with open(copy, "wb") as out:
        if str(path) == STDIO:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        else:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
    return copy
