"""Fine-tuning step time and memory of XLS-R 300M / 1B / 2B with a CTC head: what a GPU
run of a benchmark recipe costs per update, and how long the paper's schedules take.

Usage (either lane; meant for a GPU):
    python tests/benchmarks/bench_finetune_step.py [--presets xlsr_300m,xlsr_1b,xlsr_2b]
        [--batch-seconds 80,80,160] [--utt-seconds 10] [--steps 4] [--dtype bfloat16]
        [--hf-reference]

Per preset: random weights, the paper's fine-tuning regime (feature encoder frozen,
feature_grad_mult 0; time and channel masking on; LayerDrop off so every step does the
same work; activation checkpointing for 2B as the release note sets it), one batch of
``--batch-seconds`` of audio (``--utt-seconds`` utterances, fairseq's max_tokens per GPU:
1.28M samples = 80 s for 300M / 1B, 2.56M = 160 s for 2B), forward + torch CTC loss +
backward + Adam step under autocast. Prints the median step time, audio seconds per second,
the peak GPU memory, and the GPU hours of the paper's schedules on this card (updates x
the global batch / throughput; LayerDrop 0.1 would save up to 10 %).

``--hf-reference`` also times transformers' ``Wav2Vec2ForCTC`` of the same shape, batch and
dtype (300M only; transformers installed) and prints the ratio ours / HF (> 1: ours faster).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from xlsr.models import XLSREncoder, preset
from xlsr.models.ctc import CtcConfig, CtcModel

VOCAB = 64
#: (benchmark, updates) of the release note; global batch 1600 s (finetune.yaml) or 3840 s (2B)
SCHEDULES = (("Common Voice", 13000), ("BABEL", 26000), ("MLS 10 h", 20000), ("VoxPopuli", 50000))


def batch(seconds: float, utt_seconds: float, device: str, seed: int = 0):
    n = max(1, round(seconds / utt_seconds))
    samples = int(utt_seconds * 16000)
    g = torch.Generator().manual_seed(seed)
    wav = torch.randn(n, samples, generator=g).to(device)
    lengths = torch.full((n,), samples, dtype=torch.long, device=device)
    # ~15 characters per second of speech, as in read speech
    targets = torch.randint(1, VOCAB, (n, int(15 * utt_seconds)), generator=g).tolist()
    return wav, lengths, targets


def autocast(device: str, dtype: torch.dtype):
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.split(":")[0], dtype=dtype)


def synced(device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter()


def time_steps(step, steps: int, device: str) -> float:
    step()  # warm-up (cuDNN autotuning, allocator)
    times = []
    for _ in range(steps):
        start = synced(device)
        step()
        times.append(synced(device) - start)
    return statistics.median(times)


def ours_step(name: str, wav, lengths, targets, dtype, device: str):
    cfg = preset(
        name,
        feature_grad_mult=0.0,
        mask_prob=0.75,
        mask_channel_prob=0.25,
        mask_channel_length=64,
        layerdrop=0.0,
        checkpoint_activations=name == "xlsr_2b",
    )
    model = CtcModel(XLSREncoder(cfg), CtcConfig(VOCAB, loss="torch")).to(device).train()
    optim = torch.optim.Adam(model.parameters(), lr=1e-5, betas=(0.9, 0.98), eps=1e-8)
    params = sum(p.numel() for p in model.parameters()) / 1e6

    def step():
        optim.zero_grad(set_to_none=True)
        with autocast(device, dtype):
            loss, _ = model(wav, lengths, targets)
        loss.backward()
        optim.step()

    return step, params, model


def hf_step(wav, dtype, device: str):
    import transformers

    transformers.logging.set_verbosity_error()
    cfg = transformers.Wav2Vec2Config(
        vocab_size=VOCAB,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        conv_bias=True,
        feat_extract_activation="gelu",
        mask_time_prob=0.75,
        mask_feature_prob=0.25,
        mask_feature_length=64,
        layerdrop=0.0,
        ctc_loss_reduction="sum",
    )
    model = transformers.Wav2Vec2ForCTC(cfg).to(device).train()
    model.freeze_feature_encoder()
    optim = torch.optim.Adam(model.parameters(), lr=1e-5, betas=(0.9, 0.98), eps=1e-8)
    labels = torch.randint(1, VOCAB, (wav.shape[0], 150), device=device)

    def step():
        optim.zero_grad(set_to_none=True)
        with autocast(device, dtype):
            loss = model(wav, labels=labels).loss
        loss.backward()
        optim.step()

    return step, model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", default="xlsr_300m,xlsr_1b,xlsr_2b")
    p.add_argument("--batch-seconds", default="80,80,160", help="per preset, comma-separated")
    p.add_argument("--utt-seconds", type=float, default=10.0)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--hf-reference", action="store_true")
    a = p.parse_args()
    dtype = getattr(torch, a.dtype)
    names = a.presets.split(",")
    seconds = [float(s) for s in a.batch_seconds.split(",")]
    if len(seconds) != len(names):
        raise SystemExit(f"--batch-seconds needs one value per preset ({len(names)})")
    gpu = torch.cuda.get_device_name(0) if a.device.startswith("cuda") else "cpu"
    print(f"{gpu}, torch {torch.__version__}, {a.dtype}, {a.utt_seconds:g} s utterances")
    for name, secs in zip(names, seconds):
        wav, lengths, targets = batch(secs, a.utt_seconds, a.device)
        if a.device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        step, params, model = ours_step(name, wav, lengths, targets, dtype, a.device)
        t = time_steps(step, a.steps, a.device)
        peak = torch.cuda.max_memory_allocated() / 2**30 if a.device.startswith("cuda") else 0
        rate = secs / t
        print(
            f"{name}: {params:.0f}M params, batch {secs:g} s ({wav.shape[0]} utts): "
            f"{t:.3f} s/step, {rate:.0f} audio-s/s, peak memory {peak:.1f} GiB"
        )
        global_batch = 3840.0 if name == "xlsr_2b" else 1600.0
        hours = ", ".join(
            f"{bench} {updates * global_batch / rate / 3600:.0f}" for bench, updates in SCHEDULES
        )
        print(f"  GPU hours for the paper's schedules ({global_batch:g} s per update): {hours}")
        if a.hf_reference and name == "xlsr_300m":
            del step, model
            if a.device.startswith("cuda"):
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            hstep, hmodel = hf_step(wav, dtype, a.device)
            th = time_steps(hstep, a.steps, a.device)
            hpeak = torch.cuda.max_memory_allocated() / 2**30 if a.device.startswith("cuda") else 0
            print(
                f"  HF Wav2Vec2ForCTC, same shape and batch: {th:.3f} s/step, peak memory "
                f"{hpeak:.1f} GiB; ratio ours/HF speed {th / t:.2f}, memory {peak / max(hpeak, 1e-9):.2f}"
            )
            del hstep, hmodel
        else:
            del step, model


if __name__ == "__main__":
    main()
