"""A few masked-LM training steps of ``GenomicModel`` at 131,072 tokens with ``backend="triton"``.

Real DNA: human chr20 (GRCh37) bases 30,000,000-32,200,000 (0-based, end-exclusive), tokenised
once on a machine that has the FASTA (``--prepare``) into a ``.npy`` of token ids that travels
to the GPU machine. Training windows of 131,072 tokens are drawn from the first 2,000,000
bases; a fixed held-out window from the last 200,000 bases, with a fixed masking, is scored
before and after training. BERT masking (:func:`genosparse.tasks.mlm.mask_tokens`, 15%), AdamW,
linear warm-up, bf16 autocast, BigBird ITC layout (block 64; D = d_model / heads = 64).

Usage:
    here (FASTA available): ``python benchmarks/train_triton.py --prepare
        --fasta ../shared/data/reference/20.fa.gz`` -> ``.gpu_data/chr20_30000000_32200000.npy``
    GPU: ``python benchmarks/train_triton.py [--steps 40] [--compile]`` (genosparse installed, or
        ``ln -s ../kernels genosparse/kernels`` and ``PYTHONPATH=.`` in a bare checkout)
Prints one line per step (loss, accuracy on the masked bases, ms, peak memory) and the
held-out loss before and after; with ``$OUT`` set also writes ``$OUT/train_triton.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

CONTIG, START, END = "20", 30_000_000, 32_200_000
TRAIN_BASES = 2_000_000
DATA = Path(__file__).resolve().parents[1] / ".gpu_data" / f"chr{CONTIG}_{START}_{END}.npy"


def prepare(fasta: str) -> None:
    from genosparse.genome import Genome

    DATA.parent.mkdir(exist_ok=True)
    tokens = Genome(fasta).fetch_tokens(CONTIG, START, END)
    np.save(DATA, tokens.astype(np.int8))
    print(f"wrote {DATA} ({tokens.size:,} tokens, {np.mean(tokens == 4):.2%} N)")


def train(args) -> None:
    import torch.nn.functional as F

    from genosparse.attention.patterns import AttentionConfig
    from genosparse.models import GenomicModel, ModelConfig
    from genosparse.tasks.mlm import mask_tokens

    device = torch.device("cuda")
    tokens = torch.from_numpy(np.load(DATA).astype(np.int64)).to(device)
    length = args.length
    cfg = ModelConfig(head="mlm", d_model=args.d_model, num_layers=args.layers, num_heads=args.heads, dropout=0.0,
                      context_length=length, attention=AttentionConfig(pattern="bigbird", backend="triton"))
    torch.manual_seed(0)
    model = GenomicModel(cfg).to(device)
    step_model = torch.compile(model) if args.compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / args.warmup))
    g = torch.Generator(device=device).manual_seed(1)
    held_out = tokens[TRAIN_BASES:TRAIN_BASES + length][None]
    held_inputs, held_targets = mask_tokens(held_out, 0.15, torch.Generator(device=device).manual_seed(2))

    def loss_of(inputs, targets):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = step_model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100)
        selected = targets != -100
        accuracy = (logits.argmax(-1)[selected] == targets[selected]).float().mean()
        return loss, accuracy

    def held_out_loss() -> float:
        with torch.no_grad():
            return loss_of(held_inputs, held_targets)[0].item()

    before = held_out_loss()
    print(f"model: {sum(p.numel() for p in model.parameters()):,} parameters, {args.layers} layers, d_model "
          f"{args.d_model}, {args.heads} heads, L={length:,}, bigbird/triton, bf16 autocast"
          f"{', torch.compile' if args.compile else ''}; held-out loss before {before:.4f}", flush=True)
    log = []
    for step in range(args.steps):
        offset = int(torch.randint(0, TRAIN_BASES - length, (1,), generator=g, device=device))
        inputs, targets = mask_tokens(tokens[offset:offset + length][None], 0.15, g)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        loss, accuracy = loss_of(inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        torch.cuda.synchronize()
        ms = (time.perf_counter() - start) * 1e3
        entry = dict(step=step, loss=loss.item(), accuracy=accuracy.item(), ms=ms,
                     peak_gb=torch.cuda.max_memory_allocated() / 1024 ** 3)
        log.append(entry)
        print(f"step {step:3d}  loss {entry['loss']:.4f}  masked-base accuracy {entry['accuracy']:.3f}  "
              f"{ms:7.1f} ms  peak {entry['peak_gb']:.1f} GB", flush=True)
    after = held_out_loss()
    first, last = np.mean([e["loss"] for e in log[:5]]), np.mean([e["loss"] for e in log[-5:]])
    print(f"held-out loss: before {before:.4f}, after {after:.4f}; mean train loss first 5 steps {first:.4f}, "
          f"last 5 steps {last:.4f}")
    out_dir = os.environ.get("OUT")
    if out_dir:
        with open(os.path.join(out_dir, "train_triton.json"), "w") as fh:
            json.dump({"config": cfg.to_dict(), "steps": log, "held_out_before": before, "held_out_after": after,
                       "device": torch.cuda.get_device_name(), "torch": torch.__version__}, fh, indent=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepare", action="store_true", help="tokenise the chr20 slice (needs --fasta)")
    parser.add_argument("--fasta", default=str(Path(__file__).resolve().parents[2] / "shared/data/reference/20.fa.gz"))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--length", type=int, default=131072)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = parser.parse_args()
    if args.prepare:
        prepare(args.fasta)
    else:
        train(args)


if __name__ == "__main__":
    main()
