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
Options: --beam-size, --beam, --max-contexts, --max-states, --num-paths (the defaults of
xlsr.bin.decode --task asr_transducer); fast_beam_search_nbest_LG uses --ngram-lm-scale.
"""

from __future__ import annotations

import argparse
import time

import torch

from xlsr.data.dataset import DataConfig, make_dataloader
from xlsr.tasks import get_task
from xlsr.tasks.decode_plan import batch_decoder
from xlsr.tasks.decoding import load_decoder

METHODS = "greedy_search,modified_beam_search,fast_beam_search,fast_beam_search_nbest_LG"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("--exp-dir", "--lang-dir", "--cuts"):
        p.add_argument(name, required=True)
    p.add_argument("--num-utts", type=int, default=100)
    p.add_argument("--methods", default=METHODS)
    for name, kind in (
        ("beam_size", int),
        ("beam", float),
        ("max_contexts", int),
        ("max_states", int),
        ("num_paths", int),
        ("ngram_lm_scale", float),
    ):
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=argparse.SUPPRESS)
    a = p.parse_args()
    from lhotse import load_manifest

    task, methods = get_task("asr_transducer"), a.methods.split(",")
    values = {
        k: v
        for k, v in vars(a).items()
        if k not in ("exp_dir", "lang_dir", "cuts", "num_utts", "methods", "ngram_lm_scale")
    }
    values["ngram_lm_scales"] = (getattr(a, "ngram_lm_scale", 0.1),)
    model, ctx, options = load_decoder(task, a.exp_dir, a.lang_dir, methods, **values)
    cuts = load_manifest(a.cuts).subset(first=a.num_utts)
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
    print(
        f"| method | RTF | time / encoder time |\n|---|---|---|\n| (encoder) | {enc_time / audio:.4f} | 1.00 |"
    )
    for m in methods:
        start = time.perf_counter()
        with torch.no_grad():
            for enc, frames in batches:
                batch_decoder(task, ctx, [m], options)(enc, frames)
        took = time.perf_counter() - start
        print(f"| {m} | {took / audio:.4f} | {took / enc_time:.2f} |")


if __name__ == "__main__":
    main()
