"""The pattern registry: every registered pattern's layout, FlexAttention mask_mod and config against its
dense definition, and AttentionConfig built from the registry's options (CPU, no flex_attention compile)."""

import dataclasses
import hashlib
import json
import subprocess
import sys
from importlib import resources

import pytest
import torch
import yaml

from genosparse.attention.patterns import (BENCHMARKS, CASES, OPTIONS, PATTERNS, AttentionConfig, Option, Pattern,
                                           benchmark_config, build_layout, case_config, layout_mask_mod)
from genosparse.attention.patterns.base import index_grid
from genosparse.errors import ConfigError

STATIC_CASES = [name for name, (pattern, _) in CASES.items() if not pattern.dynamic]
SIZES = [(200, 3, 16), (37, 2, 16), (150, 2, 32), (64 * 9, 4, 64)]  # (L, H, block): odd lengths, one block, 64
COMMON = ["pattern", "backend", "block_size", "seed", "layers"]


def _blocks(tokens: torch.Tensor, block_size: int) -> torch.Tensor:
    """``(H, L, L)`` token mask -> ``(H, n, n)``: blocks holding an attended pair."""
    heads, length, _ = tokens.shape
    n = -(-length // block_size)
    pad = n * block_size - length
    padded = torch.nn.functional.pad(tokens, (0, pad, 0, pad))
    return padded.view(heads, n, block_size, n, block_size).any(4).any(2)


@pytest.mark.parametrize("case", STATIC_CASES)
@pytest.mark.parametrize("length,heads,block", SIZES)
def test_layout_is_the_dense_definition(case, length, heads, block):
    """The layout attends exactly the definition's token pairs; patterns with random blocks attend it
    plus exactly ``num_random_blocks`` other blocks per row (fewer where fewer are left)."""
    pattern, cfg = case_config(case, block_size=block)
    layout = build_layout(cfg, length, heads)
    layout.validate()
    tokens, definition = layout.to_token_mask(), pattern.dense(cfg, length, heads, 0)
    assert definition.shape == (heads, length, length) and definition.dtype == torch.bool
    if pattern.random_blocks is None:
        assert torch.equal(tokens, definition)
        return
    assert (tokens >= definition).all()
    ours, theirs = layout.to_block_mask(), _blocks(definition, block)
    extra = (ours & ~theirs).sum(-1)
    free = ours.shape[-1] - theirs.sum(-1)
    assert torch.equal(extra, free.clamp_max(getattr(cfg, pattern.random_blocks)))
    assert torch.equal(_blocks(tokens, block), ours)  # random blocks are attended whole


@pytest.mark.parametrize("case", STATIC_CASES)
@pytest.mark.parametrize("length,heads,block", SIZES[:3])
def test_mask_mod_is_the_layout(case, length, heads, block):
    """The pattern's FlexAttention mask_mod on index grids (b, h, q_idx, kv_idx) is the layout's token mask,
    and so is the layout lookup through both of its forms (per-row block lists, block table)."""
    pattern, cfg = case_config(case, block_size=block)
    layout = build_layout(cfg, length, heads)
    tokens = layout.to_token_mask()
    grid = index_grid(heads, length)
    for mask_mod in (pattern.flex_mask_mod(cfg, layout), layout_mask_mod(layout),
                     layout_mask_mod(layout, wide_row=0)):
        assert torch.equal(mask_mod(0, *grid).expand_as(tokens), tokens)
    if pattern.random_blocks is None:
        assert torch.equal(pattern.flex_mask_mod(cfg, layout)(0, *grid).expand_as(tokens),
                           pattern.dense(cfg, length, heads, 0))


def test_window_mask_mod_is_its_definition():
    """The window writes its own mask_mod (FlexAttention builds its BlockMask from it): |q - kv| <= window."""
    pattern, cfg = benchmark_config("window")
    assert pattern.mask_mod is not None
    q, kv = torch.tensor([1000, 1000, 1000, 0]), torch.tensor([744, 743, 1256, 257])
    assert pattern.mask_mod(cfg, None)(0, 0, q, kv).tolist() == [True, False, True, False]


def test_benchmarks_are_the_issue_14_table():
    """The static benchmark settings are the issue-14 table's rows, built as the table describes."""
    static = {name for name, (pattern, _) in BENCHMARKS.items() if not pattern.dynamic}
    assert static == {"window", "bigbird", "dilated", "fixed", "strided", "fixed causal"}
    heads, length = 8, 64 * 40
    degrees = {}
    for name in sorted(static):
        pattern, cfg = benchmark_config(name)
        assert cfg.block_size == 64
        degrees[name] = build_layout(cfg, length, heads).row_degrees()[:, 20]  # a middle row of every head
    assert degrees["window"].tolist() == [9] * heads  # +-256 tokens: 4 blocks on each side
    assert degrees["dilated"].tolist() == [3] * heads and degrees["bigbird"].tolist() == [3 + 2 + 3] * heads
    assert degrees["fixed"].tolist() == [16 + 1] * heads  # its group (16..31) + the summary block 15
    assert build_layout(benchmark_config("fixed causal")[1], length, heads).causal
    dilated = build_layout(benchmark_config("dilated")[1], length, heads).to_block_mask()[:, 20]
    assert [row.nonzero().flatten().tolist() for row in dilated[:5]] == [
        [19, 20, 21], [18, 20, 22], [16, 20, 24], [12, 20, 28], [19, 20, 21]]  # dilations 1/2/4/8 over the heads


def test_every_pattern_declares_its_parts():
    for name, pattern in PATTERNS.items():
        assert pattern.name == name and pattern.summary
        assert name in pattern.cases, f"{name}: a test setting named after the pattern"
        assert (pattern.layout is None) == pattern.dynamic == (pattern.dense is None)
        if pattern.dynamic:
            with pytest.raises(ConfigError, match="every forward"):
                build_layout(case_config(name)[1], 256, 2)
    with pytest.raises(TypeError, match="layout and dense"):
        Pattern(name="half", summary="a layout builder without its dense definition", layout=lambda *a: None)


def test_config_fields_are_the_registered_options():
    """AttentionConfig has the common fields plus each registered option once, at its default, in
    the order checkpoints were written (flat, as config.json holds them)."""
    fields = {f.name: f for f in dataclasses.fields(AttentionConfig)}
    assert list(fields) == COMMON[:3] + list(OPTIONS) + COMMON[3:]
    defaults = AttentionConfig()
    for name, (option, users) in OPTIONS.items():
        assert isinstance(option, Option) and users
        assert getattr(defaults, name) == option.default
        assert all(option in PATTERNS[user].options for user in users)
    for path in resources.files("genosparse.pretrained").iterdir():
        if path.joinpath("config.json").is_file():
            stored = json.loads(path.joinpath("config.json").read_text())["model"]["attention"]
            assert set(stored) | {"layers"} == set(fields)
            assert dataclasses.asdict(AttentionConfig(**stored)) == {**stored, "layers": []}


@pytest.mark.parametrize("name", list(OPTIONS))
def test_every_option_is_checked(name):
    """A value of the wrong type is refused with a message naming the setting."""
    with pytest.raises(ConfigError, match=rf"attention\.{name}"):
        AttentionConfig(**{name: "x" if not isinstance(OPTIONS[name][0].default, str) else 7})


def test_exclusive_option_needs_a_pattern_using_it():
    users = OPTIONS["causal"][1]
    assert users == ("fixed",)
    for pattern in set(PATTERNS) - set(users):
        with pytest.raises(ConfigError, match="supported by the fixed pattern only"):
            AttentionConfig(pattern=pattern, causal=True)
    assert AttentionConfig(pattern="fixed", causal=True).causal
    assert not AttentionConfig(pattern="window", causal=False).causal  # the default is always allowed


def test_registry_imports_no_flex_attention():
    """Patterns write their mask_mods with tensor ops; FlexAttention is imported by its users only."""
    code = ("import sys, genosparse.attention, genosparse.models; "
            "print('torch.nn.attention.flex_attention' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


BIGBIRD_SEED0 = ["f0cb147cad83672c", "19c4b1d437738948", "a4c2a43b2cb2dde5", "8f70cf47fad4fc64"]
LAYOUT_DIGESTS = {
    "bigbird": BIGBIRD_SEED0, "dense": ["337c4d463441ec40"] * 4, "dilated": ["fc63a1774e5be2c0"] * 4,
    "dilated_growing": ["5e058d58ef1b0108", "617a9b315b70b779", "ab56c8c53907f0aa", "88f0468a6384d4f3"],
    "fixed": ["7c0a2b6ccaaa8124"] * 4, "longrange": BIGBIRD_SEED0[:2] + [None, None],
    "window": ["f1f66a04965ed90f"] * 4, "learned": [None] * 4, "lsh": [None] * 4,
    "chr20-mlm": BIGBIRD_SEED0,
    "chr20-promoter": ["4430eb37da7dcb40", "bce22ace8835226b", "c8d2dc1b2fb49f0a", "1793f2fc31f670d5"],
}
"""sha256 (first 16 hex digits) of the index tensors, length, block size, token window, causal and tile
group of layers 0-3 at 8,199 tokens and 8 heads, as the code before the registry (66b9c7c) built them;
None: a dynamic pattern."""


def _digest(layout) -> str:
    meta = [layout.seq_len, layout.block_size, -1 if layout.token_window is None else layout.token_window,
            int(layout.causal), -1 if layout.tile_group is None else layout.tile_group]
    h = hashlib.sha256()
    for t in (layout.kv_indptr, layout.kv_indices, layout.q_indptr, layout.q_indices, torch.tensor(meta)):
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def test_hydra_options_and_checkpoints_build_the_layouts_they_built_before():
    """Every Hydra attention option and shipped checkpoint builds, layer by layer, the layouts bit for bit."""
    configs = {p.stem: yaml.safe_load(p.read_text()) for p in resources.files("genosparse.conf").joinpath(
        "attention").iterdir() if p.name.endswith(".yaml")}
    for path in resources.files("genosparse.pretrained").iterdir():
        if path.joinpath("config.json").is_file():
            configs[path.name] = json.loads(path.joinpath("config.json").read_text())["model"]["attention"]
    assert set(configs) == set(LAYOUT_DIGESTS)
    for name, values in configs.items():
        cfg = AttentionConfig(**values)
        digests = [None if cfg.for_layer(i).spec.dynamic else _digest(build_layout(cfg.for_layer(i), 8199, 8, i))
                   for i in range(4)]
        assert digests == LAYOUT_DIGESTS[name], name
