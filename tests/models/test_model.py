"""The model: shapes, padding, reverse complement, checkpoints."""

import dataclasses
import json

import pytest
import torch

from genosparse.attention import AttentionConfig, build_layout
from genosparse.errors import ConfigError
from genosparse.models import GenomicModel, ModelConfig, load_model, save_model
from genosparse.models.inference import classification_logits, reverse_complement_padded
from genosparse.sequence.vocab import PAD, reverse_complement


def _config(head="classification", **kw):
    att = AttentionConfig(block_size=16, num_global_blocks=1, num_random_blocks=1, backend="torch")
    return ModelConfig(head=head, d_model=32, num_layers=2, num_heads=2, dropout=0.0, context_length=128,
                       attention=att, **kw)


def _tokens(batch, length, seed=0):
    return torch.randint(0, 4, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_shapes():
    torch.manual_seed(0)
    assert GenomicModel(_config("mlm")).eval()(_tokens(2, 100)).shape == (2, 100, 4)
    assert GenomicModel(_config(num_outputs=3)).eval()(_tokens(2, 100)).shape == (2, 3)
    assert GenomicModel(_config()).eval().embed(_tokens(2, 50)).shape == (2, 50, 32)


def test_padding_does_not_change_a_sequence_score():
    """With a length-independent pattern (sliding window) padding keys are fully masked.
    (BigBird's global and random blocks depend on the padded length, so scoring batches
    only equal-length sequences; see tests/scoring.)"""
    torch.manual_seed(0)
    cfg = _config()
    cfg.attention = AttentionConfig(pattern="window", window=20, block_size=16, backend="torch")
    model = GenomicModel(cfg).eval()
    short = _tokens(1, 70, seed=1)
    padded = torch.cat([short, torch.full((1, 30), PAD)], dim=1)
    torch.testing.assert_close(model(padded), model(short), rtol=1e-5, atol=1e-5)


def test_reverse_complement_padded_matches_per_sequence_rc():
    tokens = torch.full((2, 8), PAD)
    tokens[0, :5] = torch.tensor([0, 1, 2, 3, 4])
    tokens[1] = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    rc = reverse_complement_padded(tokens)
    assert rc[0, :5].tolist() == reverse_complement(tokens[0, :5]).tolist() and (rc[0, 5:] == PAD).all()
    assert rc[1].tolist() == reverse_complement(tokens[1]).tolist()


def test_rc_average_is_strand_symmetric():
    torch.manual_seed(0)
    model = GenomicModel(_config()).eval()
    tokens = _tokens(3, 64)
    forward = classification_logits(model, tokens, rc_average=True)
    backward = classification_logits(model, reverse_complement(tokens), rc_average=True)
    torch.testing.assert_close(forward, backward, rtol=1e-5, atol=1e-5)


def test_checkpoint_round_trip_is_exact(tmp_path):
    torch.manual_seed(0)
    model = GenomicModel(_config("mlm")).eval()
    save_model(model, tmp_path / "ckpt")
    meta = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert meta["model"]["attention"]["block_size"] == 16 and meta["vocabulary"][4] == "N"
    restored = load_model(tmp_path / "ckpt")
    assert restored.config == model.config
    for (name, a), (_, b) in zip(model.state_dict().items(), restored.state_dict().items()):
        assert torch.equal(a, b), name
    tokens = _tokens(2, 100)
    assert torch.equal(model(tokens), restored(tokens))


def test_layout_is_the_same_in_train_and_eval_and_across_instances():
    torch.manual_seed(0)
    model = GenomicModel(_config("mlm"))
    layer = model.backbone.blocks[1].attn
    train_layout = layer.core.layout(256, torch.device("cpu"))
    model.eval()
    other = GenomicModel(_config("mlm")).backbone.blocks[1].attn.core.layout(256, torch.device("cpu"))
    assert layer.core.layout(256, torch.device("cpu")) is train_layout
    assert torch.equal(train_layout.kv_indices, other.kv_indices)
    first = model.backbone.blocks[0].attn.core.layout(256, torch.device("cpu"))
    assert not torch.equal(first.kv_indices, train_layout.kv_indices)  # seeded per layer


def test_load_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="config.json"):
        load_model(tmp_path / "empty")
    model = GenomicModel(_config())
    save_model(model, tmp_path / "ok")
    meta = json.loads((tmp_path / "ok" / "config.json").read_text())
    meta["model"]["d_model"] = 64
    (tmp_path / "ok" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="do not match"):
        load_model(tmp_path / "ok")


def test_bad_config():
    with pytest.raises(ConfigError, match="head"):
        ModelConfig(head="regression")
    with pytest.raises(ConfigError, match="divisible"):
        ModelConfig(d_model=30, num_heads=4)
    with pytest.raises(ConfigError, match="pattern"):
        AttentionConfig(pattern="longformer")


def test_lightning_ckpt_loads(tmp_path):
    import lightning as L
    from torch.utils.data import DataLoader

    from genosparse.tasks import PromoterTask

    torch.manual_seed(0)
    task = PromoterTask(_config())
    batches = [{"tokens": _tokens(4, 32, seed=i), "label": torch.tensor([0.0, 1.0, 0.0, 1.0])} for i in range(2)]
    trainer = L.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(task, DataLoader(batches, batch_size=None))
    trainer.save_checkpoint(tmp_path / "run.ckpt")
    restored = load_model(tmp_path / "run.ckpt")
    tokens = _tokens(2, 40)
    assert torch.equal(restored(tokens), task.model.eval()(tokens))


@pytest.mark.parametrize("corrupt,match", [
    (lambda d: (d / "model.safetensors").write_bytes(b"garbage"), "corrupt"),
    (lambda d: (d / "config.json").write_text("null"), "not a genosparse checkpoint"),
    (lambda d: (d / "config.json").write_text(json.dumps({**json.loads((d / "config.json").read_text()),
                                                          "model": {"num_heads": 0}})), "num_heads"),
    (lambda d: (d / "config.json").write_text(json.dumps({**json.loads((d / "config.json").read_text()),
                                                          "model": {"foo": 1}})), "foo"),
])
def test_corrupt_checkpoint_folders(tmp_path, corrupt, match):
    save_model(GenomicModel(_config()), tmp_path / "c")
    corrupt(tmp_path / "c")
    with pytest.raises(ConfigError, match=match):
        load_model(tmp_path / "c")


def test_non_finite_weights_are_refused(tmp_path):
    model = GenomicModel(_config())
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    save_model(model, tmp_path / "c")
    with pytest.raises(ConfigError, match="not finite"):
        load_model(tmp_path / "c")


@pytest.mark.parametrize("pattern", ["fixed", "learned", "lsh"])
def test_every_pattern_trains_and_round_trips(pattern, tmp_path):
    """A model on each pattern family learns (loss falls over a few steps) and reloads exactly
    (learned: the router and gates are saved; lsh: the seeded rotations are rebuilt)."""
    torch.manual_seed(0)
    cfg = _config("mlm")
    cfg.attention = AttentionConfig(pattern=pattern, block_size=16, stride=2, num_selected_blocks=2, num_buckets=4,
                                    backend="torch")
    model = GenomicModel(cfg)
    tokens = _tokens(4, 96, seed=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(model(tokens).flatten(0, 1), tokens.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1
    if pattern == "learned":
        router = model.backbone.blocks[0].attn.core.router.weight
        assert not torch.equal(router, torch.eye(router.shape[0]))  # the router was trained
    save_model(model.eval(), tmp_path / "ckpt")
    restored = load_model(tmp_path / "ckpt").eval()
    assert torch.equal(model(tokens), restored(tokens))


@pytest.mark.parametrize("pattern", ["bigbird", "learned"])
def test_activation_checkpointing_gives_the_same_gradients(pattern):
    torch.manual_seed(0)
    cfg = _config("mlm")
    cfg.attention.pattern = pattern
    plain = GenomicModel(cfg).train()
    cfg.activation_checkpointing = True
    checkpointed = GenomicModel(cfg).train()
    checkpointed.load_state_dict(plain.state_dict())
    tokens = _tokens(2, 80, seed=4)
    grads, calls = [], []
    for model in (plain, checkpointed):
        count = [0]
        for block in model.backbone.blocks:
            block.register_forward_pre_hook(lambda *_, count=count: count.__setitem__(0, count[0] + 1))
        model(tokens).square().mean().backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
        calls.append(count[0])
    assert calls == [2, 4]  # two blocks; checkpointing runs each again in the backward
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-5, atol=1e-6, msg=name)
    with pytest.raises(ConfigError, match="activation_checkpointing"):
        ModelConfig(activation_checkpointing="yes")


@pytest.mark.parametrize("pattern", ["bigbird", "window", "dilated", "fixed", "learned", "lsh", "dense"])
def test_an_empty_batch_gives_empty_outputs(pattern):
    for head, shape in (("mlm", (0, 100, 4)), ("classification", (0, 1))):
        model = GenomicModel(ModelConfig(d_model=32, num_layers=1, num_heads=2, context_length=256, head=head,
                                         attention=AttentionConfig(pattern=pattern, block_size=16, backend="torch")))
        assert model.eval()(torch.zeros(0, 100, dtype=torch.long)).shape == shape


def test_per_layer_attention_overrides_build_each_layers_own_pattern(tmp_path):
    """``attention.layers`` gives each layer its own settings: the layers' layouts are exactly those of
    models built with that pattern everywhere, and the overrides survive a checkpoint round trip."""
    cfg = _config("mlm")
    cfg.attention = AttentionConfig(pattern="bigbird", block_size=16, num_global_blocks=1, num_random_blocks=1,
                                    backend="torch", layers=[{"pattern": "window", "window": 16},
                                                             {"pattern": "dilated", "dilations": [2, 3]}])
    model = GenomicModel(cfg).eval()
    for i, block in enumerate(model.backbone.blocks):
        alone = dataclasses.replace(cfg.attention, layers=[], **cfg.attention.layers[i])
        ours, theirs = block.attn.core.layout(96, "cpu"), build_layout(alone, 96, 2, i)
        assert torch.equal(ours.to_token_mask(), theirs.to_token_mask())
    assert cfg.attention.patterns == ["window", "dilated"]
    save_model(model, tmp_path / "ckpt")
    restored = load_model(tmp_path / "ckpt").eval()
    assert restored.config.attention.layers == cfg.attention.layers
    tokens = _tokens(2, 96, seed=4)
    assert torch.equal(model(tokens), restored(tokens))


@pytest.mark.parametrize("layers,match", [
    ([{"windw": 3}], "layers\\[0\\] sets unknown attention options windw"),
    ([{}, {"pattern": "nope"}], "layers\\[1\\]: unknown attention pattern 'nope'"),
    ([{"num_window_blocks": 2}], "layers\\[0\\]: .*must be odd"),
    ("learned", "must be a list of mappings"),
    ([{}, {"block_size": 32}], "layers\\[1\\] sets block_size"),
])
def test_per_layer_attention_overrides_are_checked(layers, match):
    with pytest.raises(ConfigError, match=match):
        AttentionConfig(layers=layers)


def test_more_per_layer_overrides_than_layers_is_refused():
    """Entries past the last layer would be silently ignored (e.g. attention=longrange on a 2-layer model)."""
    with pytest.raises(ConfigError, match="4 entries but the model has 2 layers"):
        ModelConfig(num_layers=2, d_model=32, num_heads=2, attention=AttentionConfig(layers=[{}] * 4))
