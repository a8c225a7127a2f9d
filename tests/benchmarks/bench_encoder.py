"""Encoder speed: ours against Hugging Face's Wav2Vec2Model, same config, weights and batch.

Usage (modern lane, transformers installed):
    .venv-modern/bin/python tests/benchmarks/bench_encoder.py [--layers 4] [--batch 2]
        [--seconds 4] [--iters 5] [--device cpu|cuda] [--dtype float32|bfloat16]

Times forward+backward (and forward alone under no_grad) of both models, alternating them
so drift hits both, and prints the median time, throughput in audio seconds per second,
achieved GFLOP/s (analytic count of the model's multiply-adds, backward = 2 x forward) and
the ratio ours/HF (> 1 means ours is faster).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from xlsr.models import XLSREncoder, load_encoder, xlsr_300m
from xlsr.models.components import conv_output_lengths
from xlsr.testing.checkpoints import write_hf_dir


def forward_flops(cfg, samples: int, batch: int) -> float:
    """Multiply-add FLOPs (x2) of one forward pass over ``batch`` utterances of ``samples``."""
    flops, t, c_in = 0.0, samples, 1
    for c, k, s in cfg.conv_layers:
        t = (t - k) // s + 1
        flops += 2 * c_in * c * k * t
        c_in = c
    d, f = cfg.embed_dim, cfg.ffn_dim
    flops += 2 * c_in * d * t  # feature projection
    flops += 2 * d * (d // cfg.conv_pos_groups) * cfg.conv_pos * t  # positional conv
    per_layer = 2 * 4 * d * d * t + 2 * 2 * t * t * d + 2 * 2 * d * f * t
    return batch * (flops + cfg.num_layers * per_layer)


def time_step(fn, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=4, help="Transformer layers of XLS-R 300M")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args()
    import transformers

    transformers.logging.set_verbosity_error()
    dtype = getattr(torch, args.dtype)
    cfg = xlsr_300m(num_layers=args.layers)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_hf_dir(XLSREncoder(cfg), Path(tmp) / "hf")
        hf = transformers.Wav2Vec2Model.from_pretrained(path)
        ours = load_encoder(path)
    models = {"ours": ours.to(args.device, dtype).eval(), "hf": hf.to(args.device, dtype).eval()}
    samples = int(args.seconds * 16000)
    wav = torch.randn(args.batch, samples, device=args.device, dtype=dtype)
    lengths = torch.full((args.batch,), samples, device=args.device)
    frames = int(conv_output_lengths(lengths[:1].cpu(), cfg.conv_layers)[0])

    def run(name: str, train: bool):
        model = models[name]
        if train:
            model.zero_grad(set_to_none=True)
            out = model(wav, lengths)[0] if name == "ours" else model(wav).last_hidden_state
            out.float().pow(2).mean().backward()
        else:
            with torch.no_grad():
                model(wav, lengths) if name == "ours" else model(wav)

    fwd = forward_flops(cfg, samples, args.batch)
    audio = args.batch * args.seconds
    print(
        f"XLS-R 300M shape, {args.layers} layers, batch {args.batch} x {args.seconds:g} s "
        f"({frames} frames), {args.device} {args.dtype}, torch {torch.__version__}, "
        f"transformers {transformers.__version__}, {torch.get_num_threads()} threads"
    )
    for mode, flop_mult in (("forward+backward", 3.0), ("forward (no_grad)", 1.0)):
        train = mode.startswith("forward+")
        times = {"ours": [], "hf": []}
        for name in times:  # warm-up
            time_step(lambda n=name, tr=train: run(n, tr), args.device)
        for _ in range(args.iters):
            for name in times:
                times[name].append(time_step(lambda n=name, tr=train: run(n, tr), args.device))
        med = {k: statistics.median(v) for k, v in times.items()}
        for name in ("ours", "hf"):
            print(
                f"  {mode:18s} {name:4s} {med[name] * 1000:8.1f} ms  "
                f"{audio / med[name]:7.1f} audio-s/s  {fwd * flop_mult / med[name] / 1e9:7.1f} GFLOP/s"
            )
        print(f"  {mode:18s} ratio ours/HF speed: {med['hf'] / med['ours']:.3f}")


if __name__ == "__main__":
    main()
