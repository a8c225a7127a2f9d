"""Pruned RNN-T loss (k2) against the full RNN-T loss (torchaudio): time and peak memory.

Usage (k2 lane):
    .venv/bin/python tests/benchmarks/bench_transducer_loss.py \\
        [--batch 8] [--frames 500] [--tokens 60] [--vocab 500] [--joiner-dim 512] \\
        [--dim 512] [--prune-range 5] [--runs 5]

Both variants start from the same random encoder output (B, T, dim) and targets and run
forward+backward of the head on the CPU, joiner included:

- pruned: ``TransducerModel.rnnt_losses`` (decoder, simple projections, k2's smoothed loss,
  pruning ranges, the joiner on (B, T, prune_range), k2's pruned loss), simple + pruned;
- full: the decoder and the joiner on every (t, u) pair (B, T, U + 1, vocab), then
  ``torchaudio.functional.rnnt_loss``.

Each variant runs in a fresh subprocess; its peak memory is the growth of ``ru_maxrss``
over the set-up (inputs and weights allocated), its time the median of ``--runs`` runs
after one warm-up run. The script prints the ratios full/pruned.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from xlsr.models.transducer import TransducerConfig, TransducerModel


def build(a: argparse.Namespace):
    """Head, encoder output (B, T, dim) (a leaf with gradient), frames (B,), targets."""
    torch.manual_seed(0)
    stub = nn.Identity()  # the loss only needs the encoder's output width
    stub.output_dim = a.dim
    cfg = TransducerConfig(
        vocab_size=a.vocab, decoder_dim=a.dim, joiner_dim=a.joiner_dim, prune_range=a.prune_range
    )
    model = TransducerModel(stub, cfg)
    frames = torch.linspace(a.frames, 0.7 * a.frames, a.batch).long()
    tokens = (frames * a.tokens // a.frames).clamp(min=1)  # the longest has exactly --tokens
    targets = [torch.randint(1, a.vocab, (int(n),)).tolist() for n in tokens]
    enc = torch.randn(a.batch, a.frames, a.dim, requires_grad=True)
    return model, enc, frames, targets


def pruned_step(model: TransducerModel, enc, frames, targets) -> None:
    simple, pruned = model.rnnt_losses(enc, frames, targets)
    (0.5 * simple.sum() + pruned.sum()).backward()


def full_step(model: TransducerModel, enc, frames, targets) -> None:
    import torchaudio

    lens = torch.tensor([len(t) for t in targets])
    y = torch.zeros(len(targets), int(lens.max()), dtype=torch.long)
    for i, t in enumerate(targets):
        y[i, : len(t)] = torch.tensor(t)
    dec = model.decoder(F.pad(y, (1, 0), value=0))
    logits = model.joiner(enc[:, :, None], dec[:, None])  # (B, T, U + 1, vocab)
    loss = torchaudio.functional.rnnt_loss(
        logits, y.int(), frames.int(), lens.int(), blank=0, reduction="sum"
    )
    loss.backward()


def run_variant(a: argparse.Namespace) -> None:
    """In the subprocess: one warm-up and ``runs`` timed steps; prints one JSON line."""
    model, enc, frames, targets = build(a)
    step = pruned_step if a.variant == "pruned" else full_step
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: KiB
    times = []
    for i in range(a.runs + 1):
        model.zero_grad(set_to_none=True)
        enc.grad = None
        start = time.perf_counter()
        step(model, enc, frames, targets)
        if i > 0:
            times.append(time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_kib
    print(
        json.dumps(
            {
                "time_s": statistics.median(times),
                "min_s": min(times),
                "max_s": max(times),
                "peak_mib": peak_kib / 1024,
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=500)
    p.add_argument("--tokens", type=int, default=60)
    p.add_argument("--vocab", type=int, default=500)
    p.add_argument("--joiner-dim", type=int, default=512)
    p.add_argument("--dim", type=int, default=512, help="encoder and decoder width")
    p.add_argument("--prune-range", type=int, default=5)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--variant", choices=["pruned", "full"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.variant:
        run_variant(a)
        return
    print(
        f"B={a.batch} T={a.frames} U={a.tokens} V={a.vocab} joiner_dim={a.joiner_dim} "
        f"dim={a.dim} prune_range={a.prune_range}, CPU x {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, median of {a.runs}"
    )
    results = {}
    for variant in ("pruned", "full"):
        out = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--variant", variant],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])
        r = results[variant]
        print(
            f"  {variant:7s} forward+backward {1000 * r['time_s']:8.1f} ms "
            f"(min {1000 * r['min_s']:.1f}, max {1000 * r['max_s']:.1f})   "
            f"peak memory {r['peak_mib']:8.1f} MiB"
        )
    pr, fu = results["pruned"], results["full"]
    print(
        f"  ratio full/pruned: time {fu['time_s'] / pr['time_s']:.1f}x, "
        f"peak memory {fu['peak_mib'] / max(pr['peak_mib'], 1e-3):.1f}x"
    )


if __name__ == "__main__":
    main()
