"""Random access to a reference FASTA (plain or BGZF), built on pyfaidx.

Coordinates are 0-based, end-exclusive. Sequences come back uppercase; IUPAC
ambiguity codes become ``N``; any other byte is an error naming the file, contig and
position (the byte rules live in :mod:`genosparse.sequence.vocab`).

Compression: BGZF (``bgzip``) files are read through pyfaidx, which uses
``Bio.bgzf`` and needs both a ``.fai`` and a ``.gzi`` index. Plain gzip is refused
rather than decompressed, because it has no random access: every fetch would
re-inflate the file from its start. Recompress it once with
``gunzip -c ref.fa.gz | bgzip > ref.fa.bgz``.

Where indexes go: a fresh ``<fasta>.fai`` / ``<fasta>.gzi`` next to the FASTA is used
as is ("fresh" = not older than the FASTA). A ``<fasta>.gzi.gz`` (as Debian ships
it) is unpacked. Missing or stale indexes are built by pyfaidx next to the FASTA when
its folder is writable, otherwise in ``<cache_dir>/<sha256(absolute path)[:16]>/``;
``cache_dir`` defaults to ``$XDG_CACHE_HOME/genosparse`` or ``~/.cache/genosparse``.
Writable means by the folder's mode for the process's class (owner, group or others), so
for root too (whom :func:`os.access` lets write anywhere) a folder that is read-only by its
mode stays untouched; a folder holding a packaged ``<fasta>.gzi.gz`` (Debian's layout) is
never written to either.
Indexes are built under an exclusive lock (``fcntl.flock`` on a hidden ``.<fasta>.lock``
in the index folder, removed afterwards) into temporary files renamed into place
(:func:`genosparse.io.atomic_path`), so several processes opening the same un-indexed FASTA at once build it once, and
none ever reads a half-written index.

A BGZF file must end with the BGZF end-of-file block; one without it is truncated (an
interrupted download or copy) and refused before indexing.

Line layout: pyfaidx computes byte offsets from the first line of each record. It
reads CRLF files correctly (it strips ``\\r``) and one blank line after a record; it
refuses to index other blank lines (two in a row, CRLF blank lines, blank lines
inside a record) or unequal lines, and those errors are re-raised as
:class:`FastaError`. But it silently returns wrong bases when the last line of a
record is longer than the others or ends differently (mixed ``\\r\\n``/``\\n``), and
it truncates at contig ends. So on first open every record's end (and the next
header) is checked against the index, every fetch is bounds-checked and
length-checked, and every byte is validated.
"""

from __future__ import annotations

import contextlib
import gzip
import fcntl
import hashlib
import logging
import math
import operator
import os
import re
import stat
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyfaidx
from Bio import bgzf

from genosparse.errors import PATH, ArgumentError, FastaError, check_type, input_file
from genosparse.genome.contigs import contig_name, resolve_contig
from genosparse.io import STDIO, atomic_output, atomic_path, is_stream, remove_leftovers
from genosparse.sequence.vocab import BYTE_TO_TOKEN, INVALID, N, TOKEN_TO_BYTE, invalid_message

log = logging.getLogger(__name__)

_OTHER_COMPRESSION = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}
_LINE_END = {0: b"", 1: b"\n", 2: b"\r\n"}
_BETWEEN_RECORDS = re.compile(rb"(?:\r?\n)*>[ \t]*(\S*)[^\r\n]*\r?\n")  # `> r1` is r1 (pyfaidx, samtools)
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_CORRUPT_DATA = (OSError, EOFError, ValueError, struct.error, zlib.error)
"""What reading a truncated or corrupt (BGZF) file or index raises."""
_NORMALISE_HINT = (
    "Delete the index to rebuild it; if that does not help, normalise the file "
    "(e.g. `seqkit seq -w 60 in.fa > out.fa`: one line ending style, equal line "
    "lengths within each record)"
)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/genosparse``, or ``~/.cache/genosparse`` when it is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "genosparse"


class Genome:
    """Lazily opened, picklable random access to one FASTA file.

    Args:
        path: plain or BGZF-compressed FASTA (``.gz``/``.bgz``); kept as the absolute
            :attr:`path` (symlinks not resolved).
        cache_dir: where to build indexes when the FASTA's folder is read-only
            (default :func:`default_cache_dir`); see the module docstring.

    The file is opened on first access, reopened in a forked child, and the handle is
    dropped on pickling, so a torch ``Dataset`` holding a ``Genome`` can go to
    ``DataLoader`` workers. Open a genome once in the main process before starting
    workers so that a missing index is built once.

    Raises:
        FastaError: missing file (here), plain gzip or other compression, unusable
            line layout or index (on first access).
        ArgumentError: ``path`` neither a string nor a path.
    """

    def __init__(self, path: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None):
        check_type("path", path, PATH, "a FASTA path (str or os.PathLike)")
        if is_stream(path):
            raise FastaError(f"the FASTA cannot be read from {'standard input' if str(path) == STDIO else path}: "
                             "it is read at random positions through its index, so it must be a file (plain or "
                             "bgzip); save it to a file and give its path")
        self.path = input_file(os.path.abspath(os.path.expanduser(path)), "FASTA", FastaError)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._faidx: pyfaidx.Faidx | None = None
        self._pid: int | None = None
        self._layout_checked = False
        self._resolved: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Genome({str(self.path)!r})"

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_faidx"] = None
        state["_pid"] = None
        return state

    # ------------------------------------------------------------------ contigs
    @property
    def contigs(self) -> list[str]:
        """Contig names in FASTA order."""
        return list(self._index.index)

    @property
    def lengths(self) -> dict[str, int]:
        """Contig name -> length in bases, in FASTA order."""
        return {name: record.rlen for name, record in self._index.index.items()}

    def resolve(self, contig: str | int) -> str:
        """Return ``contig`` as spelled in this FASTA (``chr20`` -> ``20``, ``MT`` -> ``chrM``, ``20`` -> ``20``).

        Raises:
            FastaError: unknown or ambiguous contig (lists the closest names).
            ArgumentError: ``contig`` is neither a string nor an integer.
        """
        contig = contig_name(contig)  # before the cache: 20.0 == 20 as a key
        if contig not in self._resolved:
            self._resolved[contig] = resolve_contig(contig, self.contigs, str(self.path))
        return self._resolved[contig]

    def length(self, contig: str | int) -> int:
        """Length of ``contig`` in bases (aliases accepted)."""
        return self._index.index[self.resolve(contig)].rlen

    # ------------------------------------------------------------------ fetching
    def fetch(
        self, contig: str | int, start: int, end: int, *, pad: bool = False, soft_mask: bool = False
    ) -> str | tuple[str, np.ndarray]:
        """Sequence of ``contig[start:end]`` (0-based, end-exclusive), uppercase.

        Args:
            contig: contig name; aliases accepted (``chr20`` on a FASTA with ``20``), an integer
                means its decimal name (``20``).
            start, end: 0-based half-open interval in bases, ``start <= end``.
            pad: if True, positions outside ``[0, length)`` come back as ``N``
                (logged at DEBUG; compare with :attr:`lengths` to know). If False
                they raise.
            soft_mask: also return the soft mask.

        Returns:
            ``str`` of length ``end - start``; with ``soft_mask=True`` a tuple
            ``(seq, mask)`` where ``mask`` is a ``(end - start,)`` bool array, True
            where the FASTA base was lowercase (False on padding).

        Raises:
            FastaError: unknown contig, ``start > end``, out-of-range interval without
                ``pad``, an invalid byte (naming file, contig, 0-based position), or a
                read whose length disagrees with the index.
            ArgumentError: ``contig`` not a string or integer, ``start``/``end`` not integers.
        """
        left, raw, tokens, right = self._fetch(contig, start, end, pad)
        seq = TOKEN_TO_BYTE[_pad(tokens, left, right, N)].tobytes().decode("ascii")
        if not soft_mask:
            return seq
        return seq, _pad(raw >= ord("a"), left, right, False)

    def fetch_tokens(self, contig: str | int, start: int, end: int, *, pad: bool = False) -> np.ndarray:
        """Token ids of ``contig[start:end]`` (0-based, end-exclusive).

        Returns:
            ``(end - start,)`` int8 ids of :mod:`genosparse.sequence.vocab` (bases and
            ``N``; padding is ``N``). Arguments and errors as :meth:`fetch`.
        """
        left, _, tokens, right = self._fetch(contig, start, end, pad)
        return _pad(tokens, left, right, N)

    def _fetch(
        self, contig: str | int, start: int, end: int, pad: bool
    ) -> tuple[int, np.ndarray, np.ndarray, int]:
        """Validated raw bytes and tokens of the in-range part, and the padding sizes."""
        name = self.resolve(contig)
        try:
            start, end = operator.index(start), operator.index(end)
        except TypeError:
            raise ArgumentError(f"start and end must be integers (0-based, end-exclusive), got {start!r} and "
                                f"{end!r}") from None
        length = self._index.index[name].rlen
        if start > end:
            raise FastaError(
                f"invalid interval {name}:{start}-{end} in {self.path}: start > end "
                "(coordinates are 0-based, end-exclusive)"
            )
        lo, hi = min(max(start, 0), length), min(max(end, 0), length)
        hi = max(hi, lo)
        if (lo, hi) != (start, end):
            if not pad:
                raise FastaError(
                    f"interval {name}:{start}-{end} (0-based, end-exclusive) is outside "
                    f"contig {name!r} of length {length} in {self.path}; pass pad=True "
                    "to pad the outside part with N"
                )
            log.debug("padding %s:%d-%d with N beyond [0, %d)", name, start, end, length)
        left = min(max(lo - start, 0), end - start)
        raw = self._read(name, lo, hi)
        tokens = BYTE_TO_TOKEN[raw]
        bad = np.flatnonzero(tokens == INVALID)
        if bad.size:
            where = f"contig {name!r} in {self.path}"
            raise FastaError(invalid_message(int(raw[bad[0]]), lo + int(bad[0]), where))
        return left, raw, tokens, end - start - left - (hi - lo)

    def _read(self, name: str, lo: int, hi: int) -> np.ndarray:
        """Raw bytes of ``name[lo:hi]`` through pyfaidx, length-checked, as uint8."""
        if hi == lo:
            return np.empty(0, dtype=np.uint8)
        try:
            seq = self._index.fetch(name, lo + 1, hi)  # pyfaidx: 1-based, inclusive
            data = seq.encode("ascii")
        except FastaError:
            raise
        except UnicodeError as err:
            raise FastaError(
                f"non-ASCII byte in contig {name!r} of {self.path} within {lo}-{hi} "
                "(0-based); a FASTA must be plain ASCII. Fix or replace the file"
            ) from err
        except (pyfaidx.FetchError, *_CORRUPT_DATA) as err:
            raise FastaError(f"cannot read {name}:{lo}-{hi} from {self.path}: {err!r}; the file is truncated "
                             "or corrupt, or its index is stale (delete the index to rebuild it)") from err
        if len(data) != hi - lo:
            raise FastaError(
                f"reading {name}:{lo}-{hi} (0-based) from {self.path} gave {len(data)} "
                f"bases instead of {hi - lo}: the record's line layout disagrees with its "
                f"index {self._index.indexname} (stray carriage return or newline, mixed "
                f"line endings or a stale index). {_NORMALISE_HINT}"
            )
        return np.frombuffer(data, dtype=np.uint8)

    # ------------------------------------------------------------------ opening
    @property
    def _index(self) -> pyfaidx.Faidx:
        if self._faidx is None or self._pid != os.getpid():
            self._faidx = self._open()
            self._pid = os.getpid()
        return self._faidx

    def _open(self) -> pyfaidx.Faidx:
        is_bgzf = self._sniff_compression()
        try:
            fai, gzi = self._index_paths(is_bgzf)
        except FastaError:
            raise
        except PermissionError as err:
            raise FastaError(
                f"cannot write an index for {self.path}: {err}. Make its folder writable, or set "
                "XDG_CACHE_HOME (or Genome's cache_dir) to a writable folder"
            ) from err
        except _CORRUPT_DATA as err:
            raise FastaError(f"cannot read the index of {self.path}: {err}. Delete it so it is rebuilt") from err
        try:
            if not (_fresh(fai, self.path) and (gzi is None or _fresh(gzi, self.path))):
                self._build_indexes(fai, gzi)
            faidx = pyfaidx.Faidx(
                str(self.path),
                indexname=str(fai),
                gzi_indexname=str(gzi) if gzi else None,
                as_raw=True,
                strict_bounds=True,
                rebuild=False,
            )
        except (
            pyfaidx.FastaIndexingError,
            pyfaidx.UnsupportedCompressionFormat,
            pyfaidx.IndexNotFoundError,
            RuntimeError,  # pyfaidx's "Unhandled exception during fasta indexing" (e.g. blank lines)
            *_CORRUPT_DATA,
        ) as err:
            raise FastaError(
                f"cannot index FASTA {self.path} (index {fai}): {str(err).rstrip('.')}. "
                + _NORMALISE_HINT
            ) from err
        if not self._layout_checked:
            try:
                self._check_line_endings(gzi)
                self._check_record_ends(faidx, gzi)
            except FastaError:
                raise
            except _CORRUPT_DATA as err:
                raise FastaError(f"cannot read {self.path}: {err}; the file is truncated or corrupt") from err
            self._layout_checked = True
        return faidx

    def _check_line_endings(self, gzi: Path | None) -> None:
        """Refuse classic-Mac CR-only line endings, which pyfaidx reads as one empty record."""
        with _RawReader(self.path, gzi) as read:
            head = read(0, 1 << 16)
        if re.search(rb"\r(?!\n)", head.rstrip(b"\r")):
            raise FastaError(
                f"{self.path} uses CR-only (classic Mac) line endings; convert them to LF, e.g. "
                f"`tr '\\r' '\\n' < {self.path.name} > fixed.fa`"
            )

    def _sniff_compression(self) -> bool:
        """True for BGZF; raise on plain gzip, other compressions and misleading names."""
        with open(self.path, "rb") as handle:
            head = handle.read(18)
        for magic, kind in _OTHER_COMPRESSION.items():
            if head.startswith(magic):
                raise FastaError(
                    f"{self.path} is {kind}-compressed; random access needs plain text or "
                    "BGZF. Decompress it and recompress with `bgzip`"
                )
        is_gzip = head[:2] == b"\x1f\x8b"
        is_bgzf = is_gzip and len(head) >= 14 and bool(head[3] & 4) and head[12:14] == b"BC"
        if is_gzip and not is_bgzf:
            raise FastaError(
                f"{self.path} is plain gzip, which has no random access. Recompress it "
                f"with bgzip: `gunzip -c {self.path.name} | bgzip > "
                f"{self.path.name.removesuffix('.gz')}.bgz`"
            )
        if is_bgzf != self.path.name.lower().endswith((".gz", ".bgz")):
            raise FastaError(
                f"{self.path} is {'BGZF-compressed' if is_bgzf else 'not compressed'} but "
                f"its name {'does not end' if is_bgzf else 'ends'} in .gz/.bgz; rename it"
            )
        if is_bgzf:
            with open(self.path, "rb") as handle:
                handle.seek(max(self.path.stat().st_size - len(_BGZF_EOF), 0))
                if handle.read() != _BGZF_EOF:
                    raise FastaError(
                        f"{self.path} is truncated or corrupt: it does not end with the BGZF end-of-file "
                        "block (an interrupted download or copy). Fetch it again"
                    )
        return is_bgzf

    def _build_indexes(self, fai: Path, gzi: Path | None) -> None:
        """Build the missing or stale ``fai`` (and ``gzi``) with pyfaidx, once across processes.

        Under an exclusive lock on the index folder's ``.<fasta>.lock``, into ``<index>.tmp``
        files renamed into place (``.gzi`` first), so no process reads a half-written index.
        """
        lock = fai.parent / f".{self.path.name}.lock"
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes
            try:
                self._build_locked(fai, gzi)
            finally:
                # safe under the lock: a process waiting on this file, or locking a new one, finds the
                # indexes fresh and builds nothing
                lock.unlink(missing_ok=True)

    def _build_locked(self, fai: Path, gzi: Path | None) -> None:
        """The body of :meth:`_build_indexes`, run under its lock."""
        build_gzi = gzi is not None and not _fresh(gzi, self.path)
        if _fresh(fai, self.path) and not build_gzi:
            return  # another process built them while this one waited
        log.info("building %s index of %s in %s", "BGZF and FASTA" if build_gzi else "FASTA", self.path,
                 fai.parent)
        for index in (fai, gzi):
            if index is not None:
                remove_leftovers(index)  # of a killed build; safe under the lock
        with contextlib.ExitStack() as files:  # unwinds in reverse: the .gzi is renamed first
            tmp_fai = files.enter_context(atomic_path(fai))
            tmp_gzi = files.enter_context(atomic_path(gzi)) if build_gzi else gzi
            pyfaidx.Faidx(str(self.path), indexname=str(tmp_fai), gzi_indexname=tmp_gzi and str(tmp_gzi),
                          rebuild=True).close()

    def _index_paths(self, is_bgzf: bool) -> tuple[Path, Path | None]:
        """Choose the ``.fai`` (and ``.gzi``) paths; unpack a fresh ``.gzi.gz``."""
        def fresh(path: Path) -> bool:
            return _fresh(path, self.path)
        beside = str(self.path)
        index_dir = self.path.parent
        if not _writable(index_dir) or Path(beside + ".gzi.gz").exists():
            digest = hashlib.sha256(str(self.path).encode()).hexdigest()[:16]
            index_dir = (self.cache_dir or default_cache_dir()) / digest
            index_dir.mkdir(parents=True, exist_ok=True)
        built_fai = index_dir / (self.path.name + ".fai")
        gzi = None
        if is_bgzf:
            gzi = Path(beside + ".gzi")
            if not fresh(gzi):
                gzi = index_dir / (self.path.name + ".gzi")
            packed = Path(beside + ".gzi.gz")
            if not fresh(gzi) and fresh(packed):
                _unpack_gzi(packed, gzi, self.path)
            if not fresh(gzi):
                return built_fai, gzi  # the .fai is rebuilt along with the .gzi
        fai = Path(beside + ".fai")
        if not fresh(fai):
            fai = built_fai
        return fai, gzi

    def _check_record_ends(self, faidx: pyfaidx.Faidx, gzi: Path | None) -> None:
        """Check that each record ends, and the next header sits, where the index says.

        Each record's last base must be followed by exactly its line ending, then
        optional blank lines and the next header (or only blank lines at the end of
        the file). Costs one small read per record.
        """
        records = sorted(faidx.index.items(), key=lambda item: item[1].offset)
        with _RawReader(self.path, gzi) as read:
            first = _BETWEEN_RECORDS.fullmatch(read(0, records[0][1].offset)) if records else None
            if records and not (first and first[1].decode("ascii", "replace") == records[0][0]):
                raise FastaError(f"the index {faidx.indexname} does not describe {self.path}: its first record "
                                 f"{records[0][0]!r} is not the file's first header. Delete the index to rebuild it")
            for k, (name, rec) in enumerate(records):
                nl = rec.lenb - rec.lenc
                pos = rec.offset
                if rec.rlen:
                    pos += rec.rlen + math.ceil(rec.rlen / rec.lenc) * nl - nl - 1
                last = k + 1 == len(records)
                stop = pos + 1 + max(nl, 0) + 4096 if last else records[k + 1][1].offset
                chunk = read(pos, stop - pos)
                ok = nl in _LINE_END
                if ok and rec.rlen:
                    ending = chunk[1 : 1 + nl]
                    ok = chunk[:1] not in (b"", b"\r", b"\n", b">") and (
                        ending == _LINE_END[nl] or (last and ending == b"")
                    )
                    chunk = chunk[1 + nl :]
                if ok and last:
                    ok = not chunk.strip(b"\r\n")
                elif ok:
                    header = _BETWEEN_RECORDS.fullmatch(chunk)
                    ok = bool(header) and header[1].decode("ascii", "replace") == records[k + 1][0]
                if not ok:
                    raise FastaError(
                        f"record {name!r} of {self.path} does not end where its index "
                        f"{faidx.indexname} says (byte {pos}): its last line is longer than "
                        "the others, its line endings are mixed, or the index is stale. "
                        + _NORMALISE_HINT
                    )


def _writable(folder: Path) -> bool:
    """Whether ``folder``'s mode lets this process write in it: the owner's, group's or others' write
    bit, whichever class the process is in. Not :func:`os.access`, which is always true for root."""
    info = folder.stat()
    if os.geteuid() == info.st_uid:
        bit = stat.S_IWUSR
    elif info.st_gid == os.getegid() or info.st_gid in os.getgroups():
        bit = stat.S_IWGRP
    else:
        bit = stat.S_IWOTH
    return bool(info.st_mode & bit) and os.access(folder, os.W_OK)


def _fresh(index: Path, fasta: Path) -> bool:
    """True when ``index`` exists and is not older than ``fasta``."""
    return index.is_file() and index.stat().st_mtime >= fasta.stat().st_mtime


def _pad(values: np.ndarray, left: int, right: int, fill: int | bool) -> np.ndarray:
    if not (left or right):
        return values
    return np.concatenate(
        [np.full(left, fill, values.dtype), values, np.full(right, fill, values.dtype)]
    )


def _unpack_gzi(packed: Path, target: Path, fasta: Path) -> None:
    """Write the gunzipped ``packed`` .gzi to ``target`` atomically, after sanity checks."""
    data = gzip.decompress(packed.read_bytes())
    count = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    entries = np.frombuffer(data[8:], dtype="<u8").reshape(-1, 2) if count >= 0 else None
    if (
        entries is None
        or len(data) != 8 + 16 * count
        or (count and not (np.diff(entries, axis=0) > 0).all())
        or (count and entries[-1, 0] > fasta.stat().st_size)
    ):
        raise FastaError(
            f"{packed} is not a valid .gzi index of {fasta}. Delete it so the index is rebuilt"
        )
    log.info("unpacking BGZF index %s to %s", packed, target)
    with atomic_output(target, "wb") as out:
        out.write(data)


class _RawReader:
    """Context manager yielding ``read(offset, size) -> bytes`` at uncompressed offsets.

    Plain files are read directly; BGZF files through ``Bio.bgzf`` and the ``.gzi``
    block table (htslib format: count, then (compressed, uncompressed) offset pairs).
    """

    def __init__(self, path: Path, gzi: Path | None):
        self.path, self.gzi = path, gzi

    def __enter__(self) -> Callable[[int, int], bytes]:
        self.handle = open(self.path, "rb")
        if self.gzi is None:
            return self._read_plain
        table = np.frombuffer(self.gzi.read_bytes()[8:], dtype="<u8").reshape(-1, 2)
        self.blocks = np.vstack([np.zeros((1, 2), dtype=np.uint64), table]).astype(np.int64)
        self.reader = bgzf.BgzfReader(fileobj=self.handle, mode="rb")
        return self._read_bgzf

    def __exit__(self, *exc) -> None:
        self.handle.close()

    def _read_plain(self, offset: int, size: int) -> bytes:
        self.handle.seek(offset)
        return self.handle.read(size)

    def _read_bgzf(self, offset: int, size: int) -> bytes:
        k = int(np.searchsorted(self.blocks[:, 1], offset, side="right")) - 1
        block_start, block_offset = int(self.blocks[k, 0]), offset - int(self.blocks[k, 1])
        try:
            self.reader.seek(bgzf.make_virtual_offset(block_start, block_offset))
        except ValueError:  # offset beyond the end of the data
            return b""
        return self.reader.read(size)
