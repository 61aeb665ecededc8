"""The one nucleotide vocabulary of genosparse.

Token ids::

    A=0  C=1  G=2  T=3  N=4  [PAD]=5  [MASK]=6  [CLS]=7

Byte rules (shared by :func:`encode` and :class:`genosparse.genome.Genome`):

- ``A C G T N`` in either case encode to their token; lowercase (soft-masked) bases
  encode like uppercase.
- The IUPAC ambiguity codes ``R Y S W K M B D H V`` (either case) encode to ``N``.
- Any other byte (digits, ``-``, ``*``, ``.``, whitespace, CR, ``U`` ...) is an error.

Everything is vectorised through the 256-entry table :data:`BYTE_TO_TOKEN`.
"""

from __future__ import annotations

import numpy as np
import torch

from genosparse.errors import SequenceError

A, C, G, T, N, PAD, MASK, CLS = range(8)
TOKENS: tuple[str, ...] = ("A", "C", "G", "T", "N", "[PAD]", "[MASK]", "[CLS]")
VOCAB_SIZE = len(TOKENS)
NUM_BASES = 4

IUPAC_AMBIGUITY = "RYSWKMBDHV"
INVALID = -1
"""Value of :data:`BYTE_TO_TOKEN` for bytes that are not allowed in a sequence."""


def _byte_table() -> np.ndarray:
    table = np.full(256, INVALID, dtype=np.int8)
    for token, base in enumerate("ACGTN"):
        table[ord(base)] = table[ord(base.lower())] = token
    for code in IUPAC_AMBIGUITY:
        table[ord(code)] = table[ord(code.lower())] = N
    table.flags.writeable = False
    return table


BYTE_TO_TOKEN: np.ndarray = _byte_table()
"""(256,) int8 lookup table: byte value -> token id, or :data:`INVALID`."""

TOKEN_TO_BYTE: np.ndarray = np.frombuffer(b"ACGTN", dtype=np.uint8)
"""(5,) uint8: base token id -> uppercase ASCII byte (bases and N only)."""

_COMPLEMENT = np.array([T, G, C, A, N, PAD, MASK, CLS], dtype=np.int64)
_STR_COMPLEMENT = str.maketrans(
    "ACGTNRYSWKMBDHVacgtnryswkmbdhv", "TGCANYRSWMKVHDBtgcanyrswmkvhdb"
)
_TOKEN_NAMES = np.array(TOKENS)


def invalid_message(byte: int, position: int, where: str) -> str:
    """Describe an invalid ``byte`` at 0-based ``position`` of ``where`` (for errors)."""
    return (
        f"invalid base {chr(byte)!r} (byte 0x{byte:02x}) at 0-based position {position}"
        f" of {where}; allowed are A C G T N and the IUPAC codes "
        f"{' '.join(IUPAC_AMBIGUITY)} in either case. Fix or remove this sequence"
    )


def encode(seq: str | bytes, *, name: str | None = None) -> np.ndarray:
    """Encode a nucleotide sequence to token ids.

    Args:
        seq: bases as ``str`` (ASCII) or ``bytes``; length ``L``.
        name: record name used in the error message.

    Returns:
        ``(L,)`` int64 token ids (see the module docstring for the byte rules).

    Raises:
        SequenceError: on any byte outside the alphabet, naming the record, the 0-based
            position and the byte.
    """
    where = f"sequence {name!r}" if name is not None else "the sequence"
    if isinstance(seq, str):
        try:
            seq = seq.encode("ascii")
        except UnicodeEncodeError as err:
            raise SequenceError(
                f"non-ASCII character {seq[err.start]!r} at 0-based position {err.start}"
                f" of {where}; only A C G T N and IUPAC codes are allowed"
            ) from None
    tokens = BYTE_TO_TOKEN[np.frombuffer(seq, dtype=np.uint8)]
    bad = np.flatnonzero(tokens == INVALID)
    if bad.size:
        raise SequenceError(invalid_message(seq[bad[0]], int(bad[0]), where))
    return tokens.astype(np.int64)


def decode(tokens: np.ndarray | torch.Tensor) -> str:
    """Decode a 1-D sequence of token ids to a string.

    Bases decode to ``A C G T N``; the special tokens decode to their bracketed names
    (``[PAD]``, ``[MASK]``, ``[CLS]``), so ``decode(encode(s)) == s.upper()`` for
    ``s`` over ``ACGTN`` and masked/padded inputs stay readable.

    Args:
        tokens: ``(L,)`` integer ids, numpy array or torch tensor (any device).

    Raises:
        SequenceError: if ``tokens`` is not 1-D or holds an id outside ``[0, VOCAB_SIZE)``.
    """
    ids = _as_numpy(tokens)
    if ids.ndim != 1:
        raise SequenceError(f"decode expects a 1-D token array, got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= VOCAB_SIZE):
        raise SequenceError(
            f"token ids must lie in [0, {VOCAB_SIZE}), got values in "
            f"[{ids.min()}, {ids.max()}]"
        )
    if not ids.size or ids.max() <= N:
        return TOKEN_TO_BYTE[ids].tobytes().decode("ascii")
    return "".join(_TOKEN_NAMES[ids])


def reverse_complement(tokens: np.ndarray | torch.Tensor, *, check: bool = True) -> np.ndarray | torch.Tensor:
    """Reverse complement token ids along the last axis.

    A<->T and C<->G; N and the special tokens are unchanged.

    Args:
        tokens: ``(..., L)`` integer ids, numpy array or torch tensor.
        check: validate the ids (for a device tensor a host synchronisation; pass False for
            ids built from the vocabulary, as the scorers' device loops do).

    Returns:
        Same type, dtype, shape (and device) as ``tokens``; a new, contiguous array.

    Raises:
        SequenceError: on ids outside ``[0, VOCAB_SIZE)``.
    """
    if isinstance(tokens, torch.Tensor):
        if check and tokens.numel() and (tokens.min() < 0 or tokens.max() >= VOCAB_SIZE):
            raise SequenceError(f"token ids must lie in [0, {VOCAB_SIZE})")
        table = torch.as_tensor(_COMPLEMENT, device=tokens.device).to(tokens.dtype)
        return table[tokens.long()].flip(-1)
    tokens = np.asarray(tokens)
    if check and tokens.size and (tokens.min() < 0 or tokens.max() >= VOCAB_SIZE):
        raise SequenceError(f"token ids must lie in [0, {VOCAB_SIZE})")
    return np.ascontiguousarray(_COMPLEMENT.astype(tokens.dtype)[tokens][..., ::-1])


def reverse_complement_str(seq: str) -> str:
    """Reverse complement a base string, keeping case.

    IUPAC codes map to their complement code (R<->Y, K<->M, B<->V, D<->H; S, W, N
    unchanged).

    Raises:
        SequenceError: on characters outside the alphabet (see :func:`encode`).
    """
    encode(seq)
    return seq.translate(_STR_COMPLEMENT)[::-1]


def _as_numpy(tokens: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(tokens, torch.Tensor):
        return tokens.detach().cpu().numpy()
    return np.asarray(tokens)
