"""Transducer decoding speed: real-time factor of each method, and the encoder for scale.

Usage (k2 lane, after egs/numbers/ASR stages 0-4 with --head transducer):
    cd egs/numbers/ASR
    ../../../.venv/bin/python ../../../tests/benchmarks/bench_transducer_decode.py \\
        --exp-dir exp/transducer --lang-dir data/lang_char \\
        --cuts data/manifests/numbers_cuts_test.jsonl.gz [--num-utts 100] \\
        [--methods greedy_search,modified_beam_search,fast_beam_search,fast_beam_search_nbest_LG]

The encoder runs once; every method then decodes the same encoder output (decoder and
joiner included), so a method's RTF is its search alone: seconds per second of audio, lower
is faster. The encoder's own RTF is printed as the reference the searches compare with.
Options of decode_transducer (--beam-size, --beam, --max-contexts, --max-states,
--num-paths) apply; fast_beam_search_nbest_LG uses the first of --ngram-lm-scales.
"""

from __future__ import annotations

import argparse
import time

import torch

from xlsr.bin.decode_transducer import build_context, decode_batch, load_model
from xlsr.bin.decode_transducer import parse_args as decode_args
from xlsr.data.dataset import DataConfig, make_dataloader


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-utts", type=int, default=100)
    a, rest = p.parse_known_args()
    args = decode_args(rest)
    from lhotse import load_manifest

    methods = args.methods.split(",")
    model = load_model(args)
    ctx = build_context(args, methods, model)
    ctx["ngram_lm_scales"] = ctx.get("ngram_lm_scales", ["0.1"])[:1]
    cuts = load_manifest(args.cuts).subset(first=a.num_utts)
    cfg = DataConfig(max_duration=60.0, min_cut_duration=0.01, max_cut_duration=60.0)
    loader, _ = make_dataloader(cuts, cfg, train=False)
    batches, audio, enc_time = [], 0.0, 0.0
    with torch.no_grad():
        for b in loader:
            start = time.perf_counter()
            batches.append(model(b["waveforms"], b["lengths"]))
            enc_time += time.perf_counter() - start
            audio += float(b["lengths"].sum()) / 16000
    print(f"{len(cuts)} utterances, {audio:.1f} s of audio, torch {torch.__version__}")
    print(f"| method | RTF | time / encoder time |\n|---|---|---|\n| (encoder) | {enc_time / audio:.4f} | 1.00 |")  # fmt: skip
    for m in methods:
        start = time.perf_counter()
        with torch.no_grad():
            for enc, frames in batches:
                decode_batch(model, [m], enc, frames, ctx)
        took = time.perf_counter() - start
        print(f"| {m} | {took / audio:.4f} | {took / enc_time:.2f} |")


if __name__ == "__main__":
    main()
