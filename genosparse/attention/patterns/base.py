"""What a pattern module declares: its :class:`Option` settings and one :class:`Pattern`.

A pattern is one module of this package (``bigbird.py``, ``window.py``, ...) that defines
``PATTERN = Pattern(...)``; :mod:`~genosparse.attention.patterns.registry` lists the modules once.
Everything else (``AttentionConfig``, the Hydra group ``conf/attention/``, the tests, the GPU
check and the benchmarks) reads the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import torch

from genosparse.attention.layouts import BlockLayout
from genosparse.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

MaskMod = Callable[[Any, Any, torch.Tensor, torch.Tensor], torch.Tensor]
"""FlexAttention's ``mask_mod(b, h, q_idx, kv_idx) -> bool``, written with tensor ops only, so it is
evaluated as well on broadcast index grids (CPU tests) as inside ``flex_attention``."""


@dataclass(frozen=True)
class Option:
    """One ``AttentionConfig`` setting: its name, default, meaning and check.

    Attributes:
        name: the field name (also the key in Hydra configs and checkpoints' ``config.json``).
        default: value when a config does not set it.
        doc: one line: meaning and unit (tokens, blocks).
        check: ``check(value) -> value``: the value as stored (e.g. an int made a one-element list);
            raises :class:`~genosparse.errors.ConfigError` naming ``attention.<name>``.
        exclusive: a value other than the default is refused unless the config's pattern uses this
            option (``causal``: only the patterns that implement it may be causal).
    """

    name: str
    default: Any
    doc: str
    check: Callable[[Any], Any]
    exclusive: bool = False


def integer(name: str, minimum: int) -> Callable[[Any], int]:
    """Check of an integer setting ``>= minimum`` (bools refused)."""
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ConfigError(f"attention.{name} must be an integer >= {minimum}, got {value!r}")
        return value
    return check


def boolean(name: str) -> Callable[[Any], bool]:
    """Check of a true/false setting."""
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ConfigError(f"attention.{name} must be true or false, got {value!r}")
        return value
    return check


def _odd_window(value: Any) -> int:
    integer("num_window_blocks", 1)(value)
    if value % 2 == 0:
        raise ConfigError(f"attention.num_window_blocks must be odd (the block plus equal neighbours on each side), "
                          f"got {value}")
    return value


NUM_WINDOW_BLOCKS = Option("num_window_blocks", 3, "window blocks per query block (odd: the block and equal "
                           "neighbours on each side)", _odd_window)
NUM_GLOBAL_BLOCKS = Option("num_global_blocks", 2, "global blocks: full rows and columns (the first ceil(g/2) and "
                           "last floor(g/2) blocks)", integer("num_global_blocks", 0))
"""Options several patterns share (one object, so one default and one check)."""


def global_rows_and_columns(num_global_blocks: int, n: int) -> torch.Tensor:
    """``(n, n)`` bool block mask of the global blocks' full rows and columns among ``n`` blocks: the
    first ``ceil(g/2)`` and the last ``floor(g/2)`` blocks (BigBird ITC), written from the definition."""
    g = min(num_global_blocks, n)
    ids = torch.arange(n)
    glob = (ids < (g + 1) // 2) | (ids >= n - g // 2)
    return glob[:, None] | glob[None, :]


def tokens_of_blocks(blocks: torch.Tensor, block_size: int, seq_len: int) -> torch.Tensor:
    """``(H, n, n)`` bool block mask -> ``(H, L, L)`` token mask (the tail of a partial last block cut off)."""
    return blocks.repeat_interleave(block_size, 1).repeat_interleave(block_size, 2)[:, :seq_len, :seq_len]


def index_grid(num_heads: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``h (H, 1, 1)``, ``q_idx (1, L, 1)``, ``kv_idx (1, 1, L)`` int64: a mask_mod's arguments as
    broadcast grids, so ``mask_mod(0, *index_grid(H, L))`` is its ``(H, L, L)`` token mask."""
    pos = torch.arange(seq_len)
    return torch.arange(num_heads)[:, None, None], pos[None, :, None], pos[None, None, :]


WIDE_ROW = 16
"""Rows with more key blocks use a dense block table in :func:`layout_mask_mod` (compiling one
comparison per key block of the row is slow) when the table has at most :data:`TABLE_MAX_ENTRIES`."""
TABLE_MAX_ENTRIES = 2 ** 28


def layout_mask_mod(layout: BlockLayout, wide_row: int = WIDE_ROW, table_max: int = TABLE_MAX_ENTRIES) -> MaskMod:
    """A layout as a FlexAttention ``mask_mod``: whether ``layout`` attends ``(q_idx, kv_idx)`` in head ``h``.

    Reads the layout's own blocks: a per-row list of key blocks (rows of at most ``wide_row``
    blocks; full rows by a flag), or the dense ``(H, nQ, nK)`` block table when rows are wider
    and the table has at most ``table_max`` entries; then the layout's token band (exact
    window, causal). The default ``mask_mod`` of patterns that do not write their own (the
    construction of the issue-14 benchmark table).
    """
    bs, n = layout.block_size, layout.num_blocks
    degree = layout.row_degrees()  # (H, nQ)
    full = degree == n
    width = int(torch.where(full, 0, degree).max())

    def banded(hit: torch.Tensor, q_idx: torch.Tensor, kv_idx: torch.Tensor) -> torch.Tensor:
        band = layout.pair_mask(q_idx, kv_idx)
        return hit if band is None else hit & band

    if width > wide_row and layout.num_heads * n * n <= table_max:
        table = layout.to_block_mask()
        return lambda b, h, q_idx, kv_idx: banded(table[h, q_idx // bs, kv_idx // bs], q_idx, kv_idx)
    slot = torch.arange(width, device=layout.device)
    pos = (layout.kv_indptr[:, :-1, None].long() + slot).clamp_max(layout.kv_indices.shape[1] - 1)
    ell = torch.gather(layout.kv_indices, 1, pos.flatten(1)).view(layout.num_heads, n, width)
    ell = torch.where((slot < degree[..., None]) & ~full[..., None], ell, -1)

    def mask_mod(b, h, q_idx, kv_idx):
        qb, kb = q_idx // bs, kv_idx // bs
        hit = full[h, qb]
        for j in range(width):
            hit = hit | (ell[h, qb, j] == kb)
        return banded(hit, q_idx, kv_idx)

    return mask_mod


LayoutBuilder = Callable[[Any, int, int, int, "torch.device | str"], BlockLayout]
"""``layout(cfg, seq_len, num_heads, layer, device) -> BlockLayout`` of a static pattern."""
DenseDefinition = Callable[[Any, int, int, int], torch.Tensor]
"""``dense(cfg, seq_len, num_heads, layer) -> (H, L, L)`` bool token mask, written from the definition."""


@dataclass(frozen=True)
class Pattern:
    """One attention pattern: what it reads from ``AttentionConfig`` and how it attends.

    A static pattern (``layout`` set) attends the same way for every input of a length; a
    dynamic one (``core`` set) builds its layout from each input.

    Attributes:
        name: the ``attention.pattern`` value (and the Hydra option ``conf/attention/<name>.yaml``).
        summary: one line: the pattern and its source.
        options: the settings it reads besides the common ones (``backend``, ``block_size``, ``seed``),
            in the order ``AttentionConfig`` lists them; one :class:`Option` object per name
            across patterns.
        check: cross-setting checks when the config's pattern is this one (raises ConfigError).
        layout: static patterns: :data:`LayoutBuilder` (random blocks seeded by ``cfg.seed + layer``).
        dense: static patterns: :data:`DenseDefinition`, written from the paper's definition,
            independent of :mod:`~genosparse.attention.layouts`, for tests; with ``random_blocks``
            it omits the random blocks.
        random_blocks: the option giving the random key blocks each row draws besides ``dense``
            (``"num_random_blocks"``), or None.
        mask_mod: ``mask_mod(cfg, layout) -> MaskMod``, a FlexAttention ``mask_mod`` written from the
            definition (FlexAttention then builds its own ``BlockMask``); None: the layout's blocks
            (:func:`layout_mask_mod`, ``BlockMask`` from the layout).
        core: dynamic patterns: the ``nn.Module`` class ``core(cfg, num_heads, head_dim, layer_index)``
            with ``forward(q, k, v, key_padding_mask)``.
        reference: dynamic patterns: ``reference(core, q, k, v, key_padding_mask) -> out``, the
            module's output by its definition (loops, full score matrices), for tests.
        cases: named test settings (overrides of the config; block size and lengths are the
            test's), small enough for CPU tests and the Triton interpreter; one is named after the
            pattern. ``tests/ops`` and the GPU check's matrix run every static case, the model tests
            the pattern-named ones.
        benchmarks: named benchmark settings (overrides, 64-token blocks): the static ones are the
            rows of the issue-14 table (``benchmarks/benchutil.py``), the dynamic ones
            ``benchmarks/patterns.py``'s.
    """

    name: str
    summary: str
    options: tuple[Option, ...] = ()
    check: Callable[[Any], None] | None = None
    layout: LayoutBuilder | None = None
    dense: DenseDefinition | None = None
    random_blocks: str | None = None
    mask_mod: Callable[[Any, BlockLayout], MaskMod] | None = None
    core: type[nn.Module] | None = None
    reference: Callable[..., torch.Tensor] | None = None
    cases: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    benchmarks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        static = self.layout is not None and self.dense is not None and self.core is None
        dynamic = self.layout is None and self.dense is None and self.core is not None and self.reference is not None
        if not (static or dynamic):
            raise TypeError(f"pattern {self.name!r} must give layout and dense (static) or core and reference "
                            "(dynamic)")

    @property
    def dynamic(self) -> bool:
        """True when the layout is built from each input (no ``layout``)."""
        return self.core is not None

    def flex_mask_mod(self, cfg: Any, layout: BlockLayout) -> MaskMod:
        """The FlexAttention ``mask_mod`` of ``layout`` built by this pattern from ``cfg``."""
        return self.mask_mod(cfg, layout) if self.mask_mod is not None else layout_mask_mod(layout)
